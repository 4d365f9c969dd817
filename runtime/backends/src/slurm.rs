//! Slurm: `sbatch --parsable` from each node's resources, one `squeue`
//! call per poll for every job of a run (`sacct` for jobs the controller
//! has forgotten), `scancel`, and the job's output files as its logs.
//!
//! Two layouts: a shared file system (the working folder is visible on
//! the compute nodes; commands run here) and a login node over ssh
//! (commands over ssh, the folder moved with rsync or scp).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use crate::config::SlurmConfig;
use crate::shell::{self, Output, Runner, Transfer};
use crate::{ArraySpec, Backend, BackendError, BoxFuture, JobSpec, JobState, LogChunk, sh_quote};

/// A Slurm cluster, reached here or through a login node.
pub struct Slurm {
    runner: Runner,
    config: SlurmConfig,
    /// The `phx` that jobs run.
    phx: String,
    /// The ssh layout's folder of working folders (absolute, on the login
    /// node); `None` on a shared file system.
    remote_root: Option<String>,
    transfer: Transfer,
    /// Bounds concurrent sbatch/scancel calls.
    gate: Semaphore,
    /// How many `squeue` calls were made: one per interval, whatever the
    /// number of jobs.
    polls: AtomicU64,
    /// The cluster's `MaxArraySize` (read once at connect), when job
    /// arrays are used: on a shared file system only, since the ssh layout
    /// moves each job's folder by itself.
    max_array: Option<usize>,
}

fn unreachable(message: String, hint: &str) -> BackendError {
    BackendError::Unreachable { message, hint: hint.into() }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Slurm {
    /// Connects: checks that `sbatch` answers (here or over ssh), and in
    /// the ssh layout makes the remote folder and picks rsync or scp.
    /// `local_phx` is this binary, which jobs run on a shared file system.
    pub async fn connect(config: SlurmConfig, local_phx: &Path) -> Result<Slurm, BackendError> {
        let runner = match &config.login {
            Some(target) => Runner::Ssh { target: target.clone(), options: config.ssh_options.clone() },
            None => Runner::Local,
        };
        let max_submit = config.max_submit.unwrap_or(4).max(1);
        let mut slurm = Slurm {
            runner,
            phx: String::new(),
            remote_root: None,
            transfer: Transfer::Rsync,
            gate: Semaphore::new(max_submit),
            polls: AtomicU64::new(0),
            max_array: None,
            config,
        };
        slurm.version().await?;
        if let Runner::Ssh { target, .. } = &slurm.runner {
            let dir = slurm.config.remote_dir.clone().unwrap_or_else(|| "phx-work".into());
            let probe = format!(
                "mkdir -p {d} && cd {d} && pwd && (command -v rsync >/dev/null && echo rsync || echo no-rsync)",
                d = sh_quote(&dir)
            );
            let out = slurm.runner.run(&probe).await?;
            let mut lines = out.stdout.lines();
            let (Some(root), Some(rsync)) = (lines.next(), lines.next()) else {
                return Err(unreachable(
                    format!("cannot make the folder `{dir}` on {target}: {}", tail(&out.stderr, 3)),
                    "set slurm.remote_dir in phx.toml to a folder you may write on the login node",
                ));
            };
            slurm.remote_root = Some(root.trim().to_string());
            let local_rsync = std::process::Command::new("rsync")
                .arg("--version")
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            slurm.transfer = match slurm.config.transfer.as_deref() {
                Some("scp") => Transfer::Scp,
                Some(_) => Transfer::Rsync,
                None if local_rsync && rsync == "rsync" => Transfer::Rsync,
                None => Transfer::Scp,
            };
            slurm.phx = slurm.config.phx.clone().unwrap_or_else(|| "phx".into());
        } else {
            slurm.phx = slurm.config.phx.clone().unwrap_or_else(|| local_phx.display().to_string());
            // Arrays may hold at most MaxArraySize tasks; an unreadable
            // configuration gets Slurm's default.
            let config = slurm.runner.run("scontrol show config").await.map(|o| o.stdout).unwrap_or_default();
            slurm.max_array =
                Some(crate::array::max_array_size(&config).unwrap_or(crate::array::DEFAULT_MAX_ARRAY_SIZE));
        }
        Ok(slurm)
    }

    async fn version(&self) -> Result<String, BackendError> {
        let out = self.runner.run("sbatch --version").await?;
        if !out.ok() {
            let why = if out.code == Some(127) { "sbatch is not installed".to_string() } else { tail(&out.stderr, 3) };
            return Err(unreachable(
                format!("Slurm cannot be reached ({}): {why}", self.runner.describe()),
                "run phx where sbatch works, or set slurm.login in phx.toml to a login node reachable by ssh",
            ));
        }
        Ok(out.stdout.trim().to_string())
    }

    /// How many `squeue` calls this backend made.
    pub fn poll_calls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Whether folders are moved over ssh (the login-node layout).
    pub fn is_remote(&self) -> bool {
        self.remote_root.is_some()
    }

    /// The job's folder where the job runs.
    fn job_dir(&self, job: &JobSpec) -> String {
        match &self.remote_root {
            Some(root) => format!("{root}/{}/{}", job.run_id, job.dir_name),
            None => job.local_dir.display().to_string(),
        }
    }

    /// The sbatch options for a job, as separate arguments.
    pub fn sbatch_args(&self, job: &JobSpec) -> Vec<String> {
        let dir = self.job_dir(job);
        let args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", job_name(&job.name)),
            format!("--chdir={dir}"),
            format!("--output={dir}/job.out"),
            format!("--error={dir}/job.err"),
        ];
        self.resource_args(args, &job.resources)
    }

    /// The sbatch options for a job array: each task's output in the
    /// array's folder (`task-I.out`), at most `throttle` tasks at once.
    pub fn array_args(&self, array: &ArraySpec) -> Vec<String> {
        let dir = array.local_dir.display().to_string();
        let args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", job_name(&array.name)),
            crate::array::array_option(array.tasks, array.throttle),
            format!("--chdir={dir}"),
            format!("--output={dir}/task-%a.out"),
            format!("--error={dir}/task-%a.err"),
        ];
        self.resource_args(args, &array.resources)
    }

    /// The batch script of an array: each task runs its share of the
    /// manifest in one `phx worker`.
    pub fn array_script(&self, array: &ArraySpec) -> String {
        let mut s = String::from("#!/bin/sh\n# Written by phx: each array task runs a batch of a sweep's instances.\n");
        s.push_str(&format!("# run {} node family {}\n", array.run_id, array.name));
        for (k, v) in &array.env {
            s.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
        s.push_str(&format!(
            "exec {} worker --batch {} --task \"$SLURM_ARRAY_TASK_ID\"\n",
            sh_quote(&self.phx),
            sh_quote(&array.local_dir.join("manifest.json").display().to_string())
        ));
        s
    }

    fn resource_args(&self, mut args: Vec<String>, r: &crate::Resources) -> Vec<String> {
        args.push(format!("--cpus-per-task={}", r.cpus.max(1)));
        args.push("--export=ALL".to_string());
        if let Some(mb) = r.mem_mb {
            args.push(format!("--mem={mb}M"));
        }
        if let Some(s) = r.time_s {
            // Slurm counts minutes; round up, at least one.
            args.push(format!("--time={}", s.div_ceil(60).max(1)));
        }
        if r.gpus > 0 {
            args.push(format!("--gres=gpu:{}", r.gpus));
        }
        if let Some(p) = r.partition.as_ref().or(self.config.partition.as_ref()) {
            args.push(format!("--partition={p}"));
        }
        if let Some(a) = r.account.as_ref().or(self.config.account.as_ref()) {
            args.push(format!("--account={a}"));
        }
        args.extend(self.config.sbatch_options.iter().cloned());
        args
    }

    /// The batch script: the environment, then `phx worker`.
    pub fn script(&self, job: &JobSpec) -> String {
        let dir = self.job_dir(job);
        let mut s = String::from("#!/bin/sh\n# Written by phx: runs one node of a run with `phx worker`.\n");
        s.push_str(&format!("# run {} node {}\n", job.run_id, job.vertex));
        for (k, v) in &job.env {
            s.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
        s.push_str(&format!("exec {} worker {}\n", sh_quote(&self.phx), sh_quote(&format!("{dir}/spec.json"))));
        s
    }
}

/// A job name Slurm shows well: no spaces or odd characters.
fn job_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).take(100).collect()
}

/// Maps a Slurm state and its exit code (squeue's raw wait status) to ours.
pub fn map_state(state: &str, reason: &str, raw_exit: Option<i64>) -> JobState {
    let state = state.split_whitespace().next().unwrap_or("").trim_end_matches('+');
    let (code, signal) = match raw_exit {
        Some(raw) if raw >= 0 => (Some(((raw >> 8) & 0xff) as i32), Some((raw & 0x7f) as i32).filter(|s| *s != 0)),
        _ => (None, None),
    };
    match state {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" | "SUSPENDED"
        | "STOPPED" | "RESIZING" => JobState::Pending { reason: reason.to_string() },
        "RUNNING" | "COMPLETING" | "SIGNALING" | "STAGE_OUT" => JobState::Running,
        "COMPLETED" => JobState::Completed,
        "TIMEOUT" | "DEADLINE" => JobState::Timeout,
        "OUT_OF_MEMORY" => JobState::OutOfMemory,
        "CANCELLED" | "PREEMPTED" | "REVOKED" => JobState::Cancelled,
        "NODE_FAIL" | "BOOT_FAIL" => JobState::NodeFail { reason: format!("{state} ({reason})") },
        _ => JobState::Failed { exit_code: code, signal, reason: format!("{state} ({reason})") },
    }
}

/// Parses `squeue -r -O JobArrayID:|,State:|,Reason:|,exit_code:` lines
/// (array tasks as `1234_7`).
pub fn parse_squeue(text: &str) -> HashMap<String, JobState> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        if parts.len() < 4 || parts[0].is_empty() {
            continue;
        }
        let raw = parts[3].parse::<i64>().ok();
        out.insert(parts[0].to_string(), map_state(parts[1], parts[2], raw));
    }
    out
}

/// Parses `sacct -X -n -P -o JobID,State,ExitCode` lines (`3:0`).
pub fn parse_sacct(text: &str) -> HashMap<String, JobState> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        if parts.len() < 3 || parts[0].is_empty() {
            continue;
        }
        let raw =
            parts[2].split_once(':').and_then(|(c, s)| Some((c.parse::<i64>().ok()? << 8) | s.parse::<i64>().ok()?));
        out.insert(parts[0].to_string(), map_state(parts[1], "", raw));
    }
    out
}

impl Slurm {
    async fn squeue(&self, ids: &[String]) -> Result<HashMap<String, JobState>, BackendError> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        // `-r` lists every task of an array on its own line, and
        // JobArrayID names it `1234_7` (a plain job: its id).
        let cmd = format!("squeue -h -t all -r -j {} -O 'JobArrayID:|,State:|,Reason:|,exit_code:'", ids.join(","));
        let out = self.runner.run(&cmd).await?;
        if out.code == Some(127) {
            return Err(unreachable("squeue is not installed".into(), "install Slurm's client tools"));
        }
        // squeue exits 1 when every id is unknown: then nothing is known.
        Ok(parse_squeue(&out.stdout))
    }

    async fn sacct(&self, ids: &[String]) -> HashMap<String, JobState> {
        let cmd = format!("sacct -X -n -P -j {} -o JobID,State,ExitCode", ids.join(","));
        match self.runner.run(&cmd).await {
            // Without accounting storage sacct exits 1; then the jobs'
            // own result files decide.
            Ok(out) if out.ok() => parse_sacct(&out.stdout),
            _ => HashMap::new(),
        }
    }

    /// One `sbatch` call; the job's id.
    async fn sbatch(&self, args: &[String], script: &str) -> Result<String, BackendError> {
        let mut cmd = String::from("sbatch");
        for a in args {
            cmd.push(' ');
            cmd.push_str(&sh_quote(a));
        }
        cmd.push(' ');
        cmd.push_str(&sh_quote(script));
        let out = self.runner.run(&cmd).await?;
        if out.code == Some(127) {
            return Err(unreachable("sbatch is not installed".into(), "install Slurm's client tools"));
        }
        if !out.ok() {
            return Err(rejected(&out));
        }
        let id = out.stdout.lines().next().unwrap_or("").split(';').next().unwrap_or("").trim().to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return Err(BackendError::Other {
                message: format!("sbatch printed no job id: {:?}", out.stdout.trim()),
                hint: "check that sbatch supports --parsable".into(),
            });
        }
        Ok(id)
    }

    fn remote_parts(&self) -> Option<(&str, &[String])> {
        match &self.runner {
            Runner::Ssh { target, options } => Some((target, options)),
            Runner::Local => None,
        }
    }
}

fn write_local(path: &Path, text: &str) -> Result<(), BackendError> {
    std::fs::write(path, text).map_err(|e| BackendError::Other {
        message: format!("cannot write `{}`: {e}", path.display()),
        hint: "check the space and permissions of the store".into(),
    })
}

fn rejected(out: &Output) -> BackendError {
    let msg = tail(&out.stderr, 4);
    let msg = msg.trim();
    BackendError::Rejected {
        message: format!("sbatch refused the job: {}", if msg.is_empty() { "(no message)" } else { msg }),
        hint: "check the node's resources (cpus, mem, gpus, time) against the partition, and slurm.partition / slurm.account in phx.toml".into(),
    }
}

/// Reads `path` from `offset` on, when it exists.
fn read_from(path: &PathBuf, offset: u64) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else { return Vec::new() };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(1 << 20).read_to_end(&mut buf);
    buf
}

impl Backend for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn check(&self) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let v = self.version().await?;
            Ok(match &self.runner {
                Runner::Local => v,
                Runner::Ssh { target, .. } => {
                    format!("{v} via ssh {target} ({})", if self.transfer == Transfer::Rsync { "rsync" } else { "scp" })
                }
            })
        })
    }

    fn stage_in<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            write_local(&job.local_dir.join("job.sh"), &self.script(job))?;
            if let Some((target, options)) = self.remote_parts() {
                shell::push(self.transfer, target, options, &job.local_dir, &self.job_dir(job)).await?;
            }
            Ok(())
        })
    }

    fn submit<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async move {
            let _permit = self.gate.acquire().await.map_err(|_| BackendError::Other {
                message: "the submission gate closed".into(),
                hint: "this is a bug in phx".into(),
            })?;
            self.sbatch(&self.sbatch_args(job), &format!("{}/job.sh", self.job_dir(job))).await
        })
    }

    fn max_array_size(&self) -> Option<usize> {
        self.max_array
    }

    fn array_throttle(&self) -> Option<usize> {
        Some(self.config.max_jobs.unwrap_or(100).max(1))
    }

    fn submit_array<'a>(&'a self, array: &'a ArraySpec) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async move {
            if array.tasks == 0 || self.max_array.is_none_or(|m| array.tasks > m) {
                return Err(BackendError::Other {
                    message: format!("an array of {} tasks does not fit this cluster's arrays", array.tasks),
                    hint: "this is a bug in phx: arrays are split at MaxArraySize".into(),
                });
            }
            let script = array.local_dir.join("array.sh");
            write_local(&script, &self.array_script(array))?;
            let _permit = self.gate.acquire().await.map_err(|_| BackendError::Other {
                message: "the submission gate closed".into(),
                hint: "this is a bug in phx".into(),
            })?;
            self.sbatch(&self.array_args(array), &script.display().to_string()).await
        })
    }

    fn poll<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<HashMap<String, JobState>, BackendError>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(HashMap::new());
            }
            let mut states = self.squeue(ids).await?;
            let missing: Vec<String> = ids.iter().filter(|id| !states.contains_key(*id)).cloned().collect();
            if !missing.is_empty() {
                let mut found = self.sacct(&missing).await;
                for id in missing {
                    // sacct can lag behind: a non-terminal row there is
                    // not news; the next poll asks again.
                    let state = found.remove(&id).unwrap_or(JobState::Gone);
                    states.insert(id, state);
                }
            }
            Ok(states)
        })
    }

    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            let _permit = self.gate.acquire().await.ok();
            let out = self.runner.run(&format!("scancel {}", ids.join(" "))).await?;
            if !out.ok() {
                return Err(BackendError::Other {
                    message: format!("scancel failed: {}", tail(&out.stderr, 3)),
                    hint: format!("cancel by hand: scancel {}", ids.join(" ")),
                });
            }
            Ok(())
        })
    }

    fn logs<'a>(&'a self, job: &'a JobSpec, offsets: (u64, u64)) -> BoxFuture<'a, Result<LogChunk, BackendError>> {
        Box::pin(async move {
            if self.remote_root.is_none() {
                return Ok(LogChunk {
                    stdout: read_from(&job.local_dir.join("job.out"), offsets.0),
                    stderr: read_from(&job.local_dir.join("job.err"), offsets.1),
                });
            }
            // Over ssh: one call brings both files' new bytes, separated
            // by a marker line.
            let dir = self.job_dir(job);
            let marker = "\n--phx-log-split--\n";
            let cmd = format!(
                "tail -c +{} {o} 2>/dev/null; printf '{}'; tail -c +{} {e} 2>/dev/null",
                offsets.0 + 1,
                marker.replace('\n', "\\n"),
                offsets.1 + 1,
                o = sh_quote(&format!("{dir}/job.out")),
                e = sh_quote(&format!("{dir}/job.err")),
            );
            let out = self.runner.run(&cmd).await?;
            let (o, e) = out.stdout.split_once(marker).unwrap_or((&out.stdout, ""));
            Ok(LogChunk { stdout: o.as_bytes().to_vec(), stderr: e.as_bytes().to_vec() })
        })
    }

    fn stage_out<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            if let Some((target, options)) = self.remote_parts() {
                let remote = self.job_dir(job);
                shell::pull(self.transfer, target, options, &remote, &job.local_dir).await?;
                // The working folder on the cluster has done its job.
                let _ = self.runner.run(&format!("rm -rf {}", sh_quote(&remote))).await;
            }
            Ok(())
        })
    }

    fn poll_interval(&self) -> std::time::Duration {
        crate::config::poll_interval(self.config.poll_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_exit_codes_map() {
        let s = parse_squeue(
            "12|FAILED|NonZeroExitCode|768\n13|RUNNING|None|0\n14|PENDING|Resources|0\n15|TIMEOUT|TimeLimit|15\n16|OUT_OF_MEMORY|OutOfMemory|0\n17|CANCELLED|None|15\n18|NODE_FAIL|NodeDown|0\n19|COMPLETED|None|0\n",
        );
        assert_eq!(
            s["12"],
            JobState::Failed { exit_code: Some(3), signal: None, reason: "FAILED (NonZeroExitCode)".into() }
        );
        assert_eq!(s["13"], JobState::Running);
        assert_eq!(s["14"], JobState::Pending { reason: "Resources".into() });
        assert_eq!(s["15"], JobState::Timeout);
        assert_eq!(s["16"], JobState::OutOfMemory);
        assert_eq!(s["17"], JobState::Cancelled);
        assert!(matches!(s["18"], JobState::NodeFail { .. }));
        assert_eq!(s["19"], JobState::Completed);
        let killed = map_state("FAILED", "", Some(9));
        assert_eq!(killed, JobState::Failed { exit_code: Some(0), signal: Some(9), reason: "FAILED ()".into() });
    }

    #[test]
    fn sacct_lines_map() {
        let s = parse_sacct("21|FAILED|3:0\n22|CANCELLED by 0|0:15\n23|COMPLETED|0:0\n");
        assert!(matches!(s["21"], JobState::Failed { exit_code: Some(3), .. }));
        assert_eq!(s["22"], JobState::Cancelled);
        assert_eq!(s["23"], JobState::Completed);
    }

    #[test]
    fn sbatch_options_follow_the_resources() {
        let slurm = Slurm {
            runner: Runner::Local,
            config: SlurmConfig {
                partition: Some("debug".into()),
                sbatch_options: vec!["--qos=low".into()],
                ..Default::default()
            },
            phx: "/opt/phx bin/phx".into(),
            remote_root: None,
            transfer: Transfer::Rsync,
            gate: Semaphore::new(1),
            polls: AtomicU64::new(0),
            max_array: Some(1001),
        };
        let job = JobSpec {
            name: "phx-r1-scan[3]".into(),
            run_id: "r1".into(),
            vertex: "scan[3]".into(),
            local_dir: PathBuf::from("/store/work/scan_3_-1"),
            dir_name: "scan_3_-1".into(),
            resources: crate::Resources {
                cpus: 4,
                mem_mb: Some(2048),
                time_s: Some(61),
                gpus: 1,
                partition: None,
                account: Some("lab".into()),
            },
            image: None,
            env: vec![("OMP_NUM_THREADS".into(), "4".into())],
            mounts: vec![],
        };
        let args = slurm.sbatch_args(&job);
        for want in [
            "--job-name=phx-r1-scan_3_",
            "--chdir=/store/work/scan_3_-1",
            "--cpus-per-task=4",
            "--mem=2048M",
            "--time=2",
            "--gres=gpu:1",
            "--partition=debug",
            "--account=lab",
            "--qos=low",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} missing from {args:?}");
        }
        let script = slurm.script(&job);
        assert!(script.contains("export OMP_NUM_THREADS=4\n"), "{script}");
        assert!(script.contains("exec '/opt/phx bin/phx' worker /store/work/scan_3_-1/spec.json"), "{script}");
    }

    #[test]
    fn array_tasks_are_read_from_squeue_by_their_own_ids() {
        let s = parse_squeue(
            "31941_0|COMPLETED|None|0\n31941_1|RUNNING|None|0\n31941_4|PENDING|JobArrayTaskLimit|0\n31941_5|FAILED|NonZeroExitCode|256\n31950|RUNNING|None|0\n",
        );
        assert_eq!(s["31941_0"], JobState::Completed);
        assert_eq!(s["31941_1"], JobState::Running);
        assert_eq!(s["31941_4"], JobState::Pending { reason: "JobArrayTaskLimit".into() });
        assert!(matches!(s["31941_5"], JobState::Failed { exit_code: Some(1), .. }));
        assert_eq!(s["31950"], JobState::Running, "a plain job keeps its id");
    }

    #[test]
    fn an_array_is_one_sbatch_of_throttled_tasks() {
        let slurm = Slurm {
            runner: Runner::Local,
            config: SlurmConfig { max_jobs: Some(16), ..Default::default() },
            phx: "/opt/phx".into(),
            remote_root: None,
            transfer: Transfer::Rsync,
            gate: Semaphore::new(1),
            polls: AtomicU64::new(0),
            max_array: Some(1001),
        };
        let array = ArraySpec {
            name: "phx-r1-sq".into(),
            run_id: "r1".into(),
            local_dir: PathBuf::from("/store/work/array-sq-0"),
            tasks: 100,
            throttle: slurm.array_throttle(),
            resources: crate::Resources { cpus: 2, ..Default::default() },
            env: vec![],
        };
        let args = slurm.array_args(&array);
        for want in [
            "--array=0-99%16",
            "--output=/store/work/array-sq-0/task-%a.out",
            "--error=/store/work/array-sq-0/task-%a.err",
            "--cpus-per-task=2",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} missing from {args:?}");
        }
        let script = slurm.array_script(&array);
        assert!(
            script.contains(
                "exec /opt/phx worker --batch /store/work/array-sq-0/manifest.json --task \"$SLURM_ARRAY_TASK_ID\""
            ),
            "{script}"
        );
    }
}
