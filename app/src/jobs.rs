//! One command as a cluster job: a `shell.run` node with the job's
//! environment, resources, outputs and (on Kubernetes) image and volume
//! mounts, run on the chosen cluster; the job id, its logs, artifacts and
//! provenance come back.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::BackendKind;
use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;
use crate::program::{CompileOptions, Program};
use crate::run::{Cancellation, NodeResult, NodeStatus, Observer, RunSettings, RunStatus};
use crate::trust::Grants;

/// What a job may use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobResources {
    pub cpus: Option<u32>,
    pub gpus: Option<u32>,
    pub mem_mb: Option<u64>,
    pub time_s: Option<u64>,
}

/// A volume mounted into a Kubernetes job's container: a claim or a folder
/// of the node, at `path`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeMount {
    /// Where it appears in the container (absolute).
    pub path: String,
    /// A PersistentVolumeClaim of the namespace.
    pub claim: Option<String>,
    /// A folder of the Kubernetes node (hostPath).
    pub host_path: Option<String>,
    #[serde(default)]
    pub read_only: bool,
}

/// A command to run on a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Run by /bin/sh on the cluster, in the job's working folder.
    pub command: String,
    /// Environment variables (names of letters, digits and `_`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: JobResources,
    /// Files the command writes, returned as artifacts.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// The container image (Kubernetes; default: the cluster's phx image).
    pub image: Option<String>,
    /// Volumes to mount (Kubernetes).
    #[serde(default)]
    pub mounts: Vec<VolumeMount>,
}

/// A job's log files.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct JobLog {
    pub stdout: String,
    pub stderr: String,
}

/// A file the job made.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct JobArtifact {
    pub output: String,
    pub kind: String,
    pub sha256: String,
    /// Absolute.
    pub path: String,
}

/// Where and how the job ran.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct JobProvenance {
    pub backend: BackendKind,
    pub placement: Option<String>,
    pub device: Option<String>,
    pub duration_ms: u64,
    pub attempts: u32,
    pub dag_id: String,
}

/// A finished (or failed) job.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct JobResult {
    /// `succeeded`, `failed` or `cancelled` (`skipped` when it could not start).
    pub status: NodeStatus,
    pub backend: BackendKind,
    pub job_id: Option<String>,
    pub run_id: String,
    pub log: JobLog,
    pub artifacts: Vec<JobArtifact>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// The program the job ran as.
    pub program: String,
    pub provenance: JobProvenance,
}

fn is_variable_name(k: &str) -> bool {
    !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with(|c: char| c.is_ascii_digit())
}

/// A `.phx` string literal holding `s` exactly (the formatter's own).
pub fn phx_string(s: &str) -> String {
    phx_fmt::plain_string_lit(s)
}

/// A Kubernetes name: lower-case letters, digits and `-`, at most 63.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl JobResult {
    /// Whether the job succeeded.
    pub fn ok(&self) -> bool {
        self.status == NodeStatus::Succeeded
    }
}

/// Where mounts may go and come from: the folders of the cluster's nodes
/// that `[k8s] host_paths` allows, and the paths a job's pod needs for
/// itself (the store's mount, phx's own binary), which no mount may cover.
#[derive(Clone, Debug, Default)]
pub struct MountRules {
    pub host_paths: Vec<String>,
    pub reserved: Vec<String>,
}

impl MountRules {
    /// The rules of the experiment's `[k8s]` table.
    pub fn of(exp: &Experiment) -> AppResult<MountRules> {
        let k8s = exp.cluster_config()?.k8s.unwrap_or_default();
        let store = k8s.mount_path.clone().unwrap_or_else(|| exp.dir.display().to_string());
        Ok(MountRules {
            host_paths: k8s.host_paths.unwrap_or_default(),
            reserved: vec![store, phx_k8s::PHX_BIN_DIR.to_string()],
        })
    }
}

/// Whether `inner` is `outer` or below it, comparing path components.
fn within(inner: &str, outer: &str) -> bool {
    std::path::Path::new(inner).starts_with(std::path::Path::new(outer))
}

/// Checks the mounts: each an absolute path of its own (not `/`, not over
/// or under a path the pod needs), exactly one source, a claim's name as
/// Kubernetes takes it, a host folder only inside one that `[k8s]
/// host_paths` allows. They apply to Kubernetes only.
pub fn validate_mounts(mounts: &[VolumeMount], rules: &MountRules) -> AppResult<Vec<phx_backends::Mount>> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for m in mounts {
        let path = m.path.trim_end_matches('/');
        if !m.path.starts_with('/') || m.path.contains("..") || path.is_empty() {
            return Err(AppError::usage(format!("mount path `{}` is not an absolute path of its own", m.path))
                .with_help("mount at an absolute path such as /data"));
        }
        if let Some(r) = rules.reserved.iter().find(|r| within(path, r) || within(r, path)) {
            return Err(AppError::usage(format!("mount path `{}` covers `{r}`, which the job's pod needs", m.path))
                .with_help("mount somewhere else, such as /data"));
        }
        if !seen.insert(path.to_string()) {
            return Err(AppError::usage(format!("two mounts at `{}`", m.path)));
        }
        let source = match (&m.claim, &m.host_path) {
            (Some(c), None) if is_dns_label(c) => phx_backends::MountSource::Claim(c.clone()),
            (Some(c), None) => {
                return Err(AppError::usage(format!("`{c}` is not a claim name"))
                    .with_help("lower-case letters, digits and `-`, at most 63"));
            }
            (None, Some(h)) if h.starts_with('/') && !h.contains("..") => {
                if !rules.host_paths.iter().any(|allowed| within(h, allowed)) {
                    return Err(AppError::invalid(
                        "phx::not-granted",
                        format!("the host folder `{h}` is not one that phx.toml lets jobs mount"),
                    )
                    .with_help("list it (or a folder above it) in `[k8s] host_paths` of phx.toml"));
                }
                phx_backends::MountSource::HostPath(h.clone())
            }
            (None, Some(h)) => return Err(AppError::usage(format!("host_path `{h}` is not an absolute path"))),
            _ => {
                return Err(AppError::usage(format!(
                    "mount `{}` needs exactly one of `claim` and `host_path`",
                    m.path
                )));
            }
        };
        out.push(phx_backends::Mount { path: m.path.clone(), source, read_only: m.read_only });
    }
    Ok(out)
}

/// The program a job runs as, and the warnings of settings the backend
/// ignores.
pub fn job_program(req: &JobRequest, backend: BackendKind) -> AppResult<(String, Vec<String>)> {
    if req.command.trim().is_empty() {
        return Err(AppError::usage("`job.command` is required: the shell command the job runs"));
    }
    let mut script = String::new();
    for (k, v) in &req.env {
        if !is_variable_name(k) {
            return Err(AppError::usage(format!("`job.env` key `{k}` is not a variable name (letters, digits, _)")));
        }
        script.push_str(&format!("export {k}={}\n", phx_backends::sh_quote(v)));
    }
    script.push_str(&req.command);
    let mut resources = Vec::new();
    let r = &req.resources;
    let limits: [(&str, Option<u64>, &str, u64); 4] = [
        ("cpus", r.cpus.map(u64::from), "", 4096),
        ("gpus", r.gpus.map(u64::from), "", 64),
        ("mem", r.mem_mb, " MiB", 1_000_000_000),
        ("time", r.time_s, " s", 100_000_000),
    ];
    for (name, value, unit, max) in limits {
        if let Some(v) = value {
            if v > max {
                return Err(AppError::usage(format!("`job.resources` {name} is at most {max}")));
            }
            resources.push(format!("{name} = {v}{unit}"));
        }
    }
    let mut warnings = Vec::new();
    if backend == BackendKind::Slurm {
        if req.image.is_some() {
            warnings.push("`image` applies to Kubernetes jobs; a Slurm job runs on the cluster's own system".into());
        }
        if !req.mounts.is_empty() {
            warnings
                .push("`mounts` apply to Kubernetes jobs; a Slurm job sees the cluster's shared file system".into());
        }
    }
    let outputs: Vec<String> = req.outputs.iter().map(|o| phx_string(o)).collect();
    let image = match (&req.image, backend) {
        (Some(i), BackendKind::K8s) => format!(", image = {}", phx_string(i)),
        _ => String::new(),
    };
    let mut props = vec![format!("backend = {}", backend.as_str())];
    if !resources.is_empty() {
        props.push(format!("resources = {{ {} }}", resources.join(", ")));
    }
    props.push("cache = false".into());
    Ok((
        format!(
            "/// A job submitted through MCP.\nnode job = shell.run(command = {}, outputs = [{}]{image}) {{\n  {}\n}}\n",
            phx_string(&script),
            outputs.join(", "),
            props.join("\n  ")
        ),
        warnings,
    ))
}

/// Runs `req` on `backend` and waits for it.
pub fn submit(
    exp: &Experiment,
    req: &JobRequest,
    backend: BackendKind,
    grants: &Grants,
    observer: &Observer<'_>,
    cancel: &Cancellation,
) -> AppResult<JobResult> {
    if backend == BackendKind::Local {
        return Err(AppError::usage("a job goes to a cluster: `backend` is slurm or k8s"));
    }
    grants.cluster(&format!("a job runs a command on the {backend} cluster"))?;
    let mounts = validate_mounts(&req.mounts, &MountRules::of(exp)?)?;
    let (source, warnings) = job_program(req, backend)?;
    let (dag_id, path) = crate::authoring::save(exp, &source)?;
    let program = Program::from_text(&path, &source, &CompileOptions::default())?;
    let checked = program.check();
    if checked.has_errors() {
        return Err(AppError::usage(format!(
            "the job does not make a valid node: {}",
            crate::authoring::error_lines(&checked.report()).join("; ")
        )));
    }
    // The grant to use the cluster is the grant to run this command there.
    let grants = Grants { commands: true, cluster: true, paths: grants.paths.clone() };
    let settings = RunSettings { backend: Some(backend), jobs: Some(1), mounts, grants, ..RunSettings::default() };
    let run = crate::run::run(exp, program, &checked, &settings, observer, cancel)?;
    let node: Option<&NodeResult> = run.nodes.first();
    let work = work_dir(exp, &run.run_id);
    let artifacts = node
        .map(|n| {
            n.outputs
                .iter()
                .map(|(name, o)| JobArtifact {
                    output: name.clone(),
                    kind: o.kind.clone(),
                    sha256: o.sha256.clone(),
                    path: exp.absolute(&o.path).display().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let status = node
        .map_or(if run.status == RunStatus::Cancelled { NodeStatus::Cancelled } else { NodeStatus::Failed }, |n| {
            n.status
        });
    Ok(JobResult {
        status,
        backend,
        job_id: node.and_then(|n| n.job_id.clone()),
        run_id: run.run_id.clone(),
        log: JobLog {
            stdout: work.join("job.out").display().to_string(),
            stderr: work.join("job.err").display().to_string(),
        },
        artifacts,
        error: node.and_then(|n| n.error.clone()),
        warnings,
        program: source,
        provenance: JobProvenance {
            backend: node.map_or(backend, |n| n.backend),
            placement: node.and_then(|n| n.placement.clone()),
            device: node.and_then(|n| n.device.clone()),
            duration_ms: node.map_or(0, |n| n.duration_ms),
            attempts: node.map_or(0, |n| n.attempts),
            dag_id,
        },
    })
}

/// The job's working folder in the run's folder (its logs are there).
fn work_dir(exp: &Experiment, run_id: &str) -> PathBuf {
    let work = exp.store.run_dir(run_id).join("work");
    std::fs::read_dir(&work)
        .ok()
        .and_then(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.join("job.out").exists()).max())
        .unwrap_or_else(|| work.join("job-1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_program_quotes_everything_it_is_given() {
        let req = JobRequest {
            command: "echo '{braces}' \"$X\"".into(),
            env: BTreeMap::from([("X".to_string(), "it's $(id)".to_string())]),
            outputs: vec!["out.txt".into()],
            resources: JobResources { cpus: Some(2), mem_mb: Some(100), ..Default::default() },
            ..Default::default()
        };
        let (text, warnings) = job_program(&req, BackendKind::Slurm).unwrap();
        assert!(warnings.is_empty());
        assert!(text.contains("{{braces}}"), "{text}");
        assert!(text.contains("resources = { cpus = 2, mem = 100 MiB }"), "{text}");
        let dir = std::env::temp_dir();
        let checked = crate::program::check_text(&dir.join("job.phx"), &text).unwrap();
        assert!(checked.ok, "{:?}", checked.diagnostics);
    }

    #[test]
    fn mounts_are_validated() {
        let m = |path: &str, claim: Option<&str>, host: Option<&str>| VolumeMount {
            path: path.into(),
            claim: claim.map(Into::into),
            host_path: host.map(Into::into),
            read_only: false,
        };
        let rules =
            MountRules { host_paths: vec!["/tmp".into()], reserved: vec!["/exp".into(), "/opt/phx-bin".into()] };
        assert!(
            validate_mounts(&[m("/data", Some("results"), None), m("/scratch", None, Some("/tmp/x"))], &rules).is_ok()
        );
        for bad in [
            vec![m("data", Some("c"), None)],
            vec![m("/data", None, None)],
            vec![m("/data", Some("c"), Some("/x"))],
            vec![m("/data", Some("Bad_Name"), None)],
            vec![m("/data", Some("c"), None), m("/data/", Some("d"), None)],
            vec![m("/x/../etc", Some("c"), None)],
            vec![m("/", Some("c"), None)],
            vec![m("/exp/sub", Some("c"), None)],
            vec![m("/opt", Some("c"), None)],
        ] {
            assert_eq!(validate_mounts(&bad, &rules).unwrap_err().code, "phx::usage", "{bad:?}");
        }
        for host in ["/", "/etc", "/var/run/docker.sock", "/tmpfoo"] {
            let e = validate_mounts(&[m("/data", None, Some(host))], &rules).unwrap_err();
            assert_eq!(e.code, "phx::not-granted", "{host}");
        }
    }
}
