//! Running a node through a [`Backend`]: the spec is written into the
//! node's working folder, the folder staged, the job submitted and
//! watched (one poll per interval for every job of the run), its output
//! streamed into the log, and its result read back as if a local tool had
//! produced it. Cancelling the run cancels the job and waits until the
//! cluster says it has ended.
//!
//! On a backend that takes job arrays (Slurm), the instances of a sweep
//! are not a job each: those ready together are gathered for a moment
//! (until none has arrived for [`QUIET`], at most [`GATHER_MAX`]) and go
//! out as one array per `MaxArraySize` tasks, each task running a batch of
//! instances in one `phx worker --batch` (`resources.batch`, else about
//! [`phx_backends::array::AUTO_TASKS`] tasks for the whole family). Every
//! instance keeps its own folder, spec, result, log and retries: it
//! watches its task's state and reads its own `result.json`, so a failed
//! instance fails alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phx_backends::{ArraySpec, Backend, BackendError, JobSpec, JobState, Resources, array};
use phx_dag::Vertex;
use phx_sema::value::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::tool::{Produced, StagedInput, ToolError};
use crate::worker::{BatchManifest, NodeSpec, ProgramSource, SPEC_FORMAT, SpecInput, WorkerResult};

/// A line a job printed, for the run's log.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub vertex: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    pub line: String,
}

/// Watches every submitted job of a run with one poll per interval.
struct Watcher {
    jobs: Mutex<HashMap<String, watch::Sender<Option<JobState>>>>,
}

/// Runs nodes on one backend for one run.
pub struct Remote {
    backend: Arc<dyn Backend>,
    program: Arc<ProgramSource>,
    /// Volumes every job of the run mounts (backends that run containers).
    mounts: Vec<phx_backends::Mount>,
    watcher: Arc<Watcher>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
    logs: mpsc::UnboundedSender<LogLine>,
    /// How many instances each sweep of the run has (by node name): an
    /// automatic batch spreads the whole family over a few dozen tasks.
    families: HashMap<String, usize>,
    /// Instances waiting to go out together, by family.
    gathering: Mutex<HashMap<String, Gathering>>,
    /// Arrays submitted so far (names their folders).
    arrays: AtomicU64,
    /// Arrays already cancelled: one `scancel` each, not one per instance.
    cancelled: Mutex<HashSet<String>>,
}

/// After no instance of a family has arrived for this long, those gathered
/// go out.
pub const QUIET: Duration = Duration::from_millis(300);

/// However fast instances keep arriving, the first one waits no longer.
pub const GATHER_MAX: Duration = Duration::from_secs(3);

/// The instances of one family gathered so far.
struct Gathering {
    first: Instant,
    last: Instant,
    items: Vec<Gathered>,
}

/// One instance waiting for its array task.
struct Gathered {
    /// Its index in the sweep: a task runs neighbours.
    index: usize,
    /// Its `spec.json`, where the job runs.
    spec: PathBuf,
    reply: oneshot::Sender<Result<Assigned, BackendError>>,
}

/// The array task an instance runs in.
#[derive(Clone)]
struct Assigned {
    /// `<array>_<task>`.
    id: String,
    state: watch::Receiver<Option<JobState>>,
    /// The task's own stderr (the worker's lines for the whole batch).
    task_err: PathBuf,
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Ok(mut p) = self.poller.lock()
            && let Some(h) = p.take()
        {
            h.abort();
        }
    }
}

/// After this many failed polls in a row, the jobs are given up.
const POLL_FAILURES_TOLERATED: u32 = 20;

fn backend_failure(e: BackendError) -> ToolError {
    ToolError::failed(format!("{e}\nhelp: {}", e.hint()))
}

/// The last lines of a file, for error messages.
fn tail_of(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn minutes(s: u64) -> u64 {
    s.div_ceil(60).max(1)
}

/// The resources a job asks for: the node's `resources`, its timeout as a
/// time limit when it declares none (with a minute of slack for staging).
/// The container image a node asks for: its tool's `image`, or the `image`
/// argument of `shell.run`; `None` runs in the cluster's phx image.
pub fn image_of(v: &Vertex) -> Option<String> {
    let from_arg = v.args.iter().find(|(name, _)| name == "image").and_then(|(_, value)| match value {
        Value::Str(s) if v.tool == "shell.run" && !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    });
    from_arg.or_else(|| v.image.clone().filter(|i| !i.trim().is_empty()))
}

pub fn resources_of(v: &Vertex) -> Resources {
    let get = |n: &str| v.props.resources.iter().find(|(k, _)| k == n).map(|(_, x)| x);
    let num = |x: &Value| match x {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Quantity { si, .. } => Some(*si),
        _ => None,
    };
    Resources {
        cpus: get("cpus").and_then(num).map_or(1, |c| c.max(1.0) as u32),
        mem_mb: get("mem").and_then(num).map(|b| (b / (1024.0 * 1024.0)).ceil().max(1.0) as u64),
        time_s: get("time").and_then(num).map(|t| t.ceil() as u64).or(v.props.timeout_s.map(|t| t.ceil() as u64 + 60)),
        gpus: get("gpus").and_then(num).map_or(0, |g| g.max(0.0) as u32),
        partition: None,
        account: None,
    }
}

impl Remote {
    /// A runner on `backend` for a run of `program`; job output lines go
    /// to `logs`.
    pub fn new(
        backend: Arc<dyn Backend>,
        program: Arc<ProgramSource>,
        mounts: Vec<phx_backends::Mount>,
        logs: mpsc::UnboundedSender<LogLine>,
    ) -> Remote {
        Remote {
            backend,
            program,
            mounts,
            watcher: Arc::new(Watcher { jobs: Mutex::new(HashMap::new()) }),
            poller: Mutex::new(None),
            logs,
            families: HashMap::new(),
            gathering: Mutex::new(HashMap::new()),
            arrays: AtomicU64::new(0),
            cancelled: Mutex::new(HashSet::new()),
        }
    }

    /// How many instances each sweep of the run has, by node name.
    pub fn with_families(mut self, families: HashMap<String, usize>) -> Remote {
        self.families = families;
        self
    }

    /// Whether `v` goes out as part of a job array: an instance of a sweep
    /// of several, on a backend that takes arrays.
    pub fn batches(&self, v: &Vertex) -> bool {
        v.index.is_some()
            && self.families.get(&v.node).is_some_and(|n| *n > 1)
            && self.backend.max_array_size().is_some()
    }

    /// The backend's name, for provenance.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Starts watching `id`; the first job starts the poller.
    fn watch(&self, id: &str) -> watch::Receiver<Option<JobState>> {
        let (tx, rx) = watch::channel(None);
        if let Ok(mut jobs) = self.watcher.jobs.lock() {
            jobs.insert(id.to_string(), tx);
        }
        let mut poller = self.poller.lock().unwrap_or_else(|p| p.into_inner());
        if poller.is_none() {
            let backend = self.backend.clone();
            let watcher = self.watcher.clone();
            *poller = Some(tokio::spawn(async move { poll_loop(backend, watcher).await }));
        }
        rx
    }

    /// Runs `v` in `work` (inputs staged there already) as job `attempt`;
    /// `submitted` hears the job id as soon as there is one.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        v: &Vertex,
        run_id: &str,
        work: &Path,
        inputs: &BTreeMap<String, Vec<StagedInput>>,
        device: &str,
        mut cancel: watch::Receiver<bool>,
        submitted: &(dyn Fn(&str) + Sync),
    ) -> Result<(Produced, Option<String>), (ToolError, Option<String>)> {
        let spec = NodeSpec {
            format: SPEC_FORMAT,
            run_id: run_id.to_string(),
            vertex: v.id.clone(),
            static_key: v.static_key.clone(),
            program: (*self.program).clone(),
            inputs: inputs
                .iter()
                .map(|(arg, list)| {
                    let items = list
                        .iter()
                        .map(|i| SpecInput {
                            reference: i.reference.clone(),
                            sha256: i.sha256.clone(),
                            kind: i.kind.clone(),
                            path: i.path.display().to_string(),
                        })
                        .collect();
                    (arg.clone(), items)
                })
                .collect(),
            device: device.to_string(),
            timeout_s: v.props.timeout_s,
        };
        let text = serde_json::to_vec_pretty(&spec).map_err(|e| (ToolError::failed(e.to_string()), None))?;
        phx_store::write_atomic(&work.join("spec.json"), &text)
            .map_err(|e| (ToolError::failed(format!("cannot write the node spec: {e}")), None))?;
        let dir_name = work.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let job = JobSpec {
            name: format!("phx-{}", v.id),
            run_id: run_id.to_string(),
            vertex: v.id.clone(),
            local_dir: work.to_path_buf(),
            dir_name,
            resources: resources_of(v),
            image: image_of(v),
            env: vec![("PHX_RUN_ID".into(), run_id.to_string()), ("PHX_NODE".into(), v.id.clone())],
            mounts: self.mounts.clone(),
        };
        let batched = self.batches(v);
        let (id, mut state_rx, task_err) = if batched {
            if *cancel.borrow() {
                return Err((ToolError::Cancelled, None));
            }
            let spec = std::path::absolute(work.join("spec.json")).unwrap_or_else(|_| work.join("spec.json"));
            let a = self.gather(v, run_id, &spec).await.map_err(|e| (backend_failure(e), None))?;
            (a.id, a.state, Some(a.task_err))
        } else {
            self.backend.stage_in(&job).await.map_err(|e| (backend_failure(e), None))?;
            if *cancel.borrow() {
                return Err((ToolError::Cancelled, None));
            }
            let id = self.backend.submit(&job).await.map_err(|e| (backend_failure(e), None))?;
            let rx = self.watch(&id);
            (id, rx, None)
        };
        submitted(&id);
        let some_id = Some(id.clone());
        let mut offsets = (0u64, 0u64);
        let mut partial = (String::new(), String::new());
        let log_every = self.backend.poll_interval().max(Duration::from_millis(250));
        let state = loop {
            if let Some(s) = state_rx.borrow().clone()
                && s.is_terminal()
            {
                break s;
            }
            tokio::select! {
                changed = state_rx.changed() => {
                    if changed.is_err() {
                        // The poller let go of the job: its last word stands.
                        break state_rx.borrow().clone().filter(JobState::is_terminal).unwrap_or(JobState::Gone);
                    }
                }
                _ = cancel.changed() => {
                    if *cancel.borrow() {
                        self.cancel_job(&id, batched).await;
                        // Wait (bounded) until the cluster has ended it, so
                        // that no job is left behind.
                        let wait = tokio::time::timeout(Duration::from_secs(60), async {
                            loop {
                                if state_rx.borrow().as_ref().is_some_and(JobState::is_terminal) {
                                    break;
                                }
                                if state_rx.changed().await.is_err() {
                                    break;
                                }
                            }
                        });
                        let _ = wait.await;
                        self.forward_logs(&job, &mut offsets, &mut partial, true).await;
                        self.backend.release(&id).await;
                        return Err((ToolError::Cancelled, some_id));
                    }
                }
                _ = tokio::time::sleep(log_every) => {
                    self.forward_logs(&job, &mut offsets, &mut partial, false).await;
                }
            }
        };
        self.forward_logs(&job, &mut offsets, &mut partial, true).await;
        let staged = self.backend.stage_out(&job).await;
        // Whatever came back, the cluster's side is let go of now.
        self.backend.release(&id).await;
        if let Err(e) = staged {
            return Err((backend_failure(e), some_id));
        }
        let result = read_result(work);
        let mut err_tail = tail_of(&work.join("job.err"), 10);
        if result.is_none()
            && let Some(task_err) = &task_err
        {
            // The instance never wrote its result: what its array task
            // said (the worker's own lines, a crash) is the evidence.
            let task_tail = tail_of(task_err, 10);
            if !task_tail.trim().is_empty() {
                err_tail = format!("{err_tail}\narray task {id} ({}):\n{task_tail}", task_err.display());
            }
        }
        let with_tail = |msg: String| {
            if err_tail.trim().is_empty() { msg } else { format!("{msg}\nstderr (last lines):\n{err_tail}") }
        };
        let limit = job.resources.time_s.map(|s| format!(" of {} min", minutes(s))).unwrap_or_default();
        let outcome = match (&state, result) {
            (JobState::Completed | JobState::Gone, Some(r)) | (JobState::Failed { .. }, Some(r)) => {
                // The worker's own account (with the tool's stderr) is
                // the error; the job's stderr would repeat it.
                r.into_produced(work)
                    .and_then(|(produced, hashes)| verify_outputs(&produced, &hashes).map(|_| produced))
            }
            (JobState::Completed, None) => {
                Err(ToolError::failed(with_tail("the job completed but left no result.json".into())))
            }
            (JobState::Gone, None) => Err(ToolError::failed(with_tail(
                "the job left the controller, no accounting has a record of it, and it left no result.json".into(),
            ))),
            (JobState::Failed { exit_code, signal, reason }, None) => Err(ToolError::Failed {
                message: with_tail(format!(
                    "the job failed: {reason}{}{}",
                    exit_code.map(|c| format!(", exit code {c}")).unwrap_or_default(),
                    signal.map(|s| format!(", signal {s}")).unwrap_or_default()
                )),
                exit_code: *exit_code,
            }),
            (JobState::Timeout, _) => Err(ToolError::failed(with_tail(format!(
                "TIMEOUT: the cluster stopped the job at its time limit{limit}\nhelp: raise `resources.time` (or `timeout`) of the node"
            )))),
            (JobState::OutOfMemory, _) => Err(ToolError::failed(with_tail(format!(
                "OUT_OF_MEMORY: the job used more memory than it asked for{}\nhelp: raise `resources.mem` of the node",
                job.resources.mem_mb.map(|m| format!(" ({m} MiB)")).unwrap_or_default()
            )))),
            (JobState::Cancelled, _) => Err(ToolError::failed(
                "CANCELLED: the job was cancelled on the cluster (scancel, or preempted), not by this run".to_string(),
            )),
            (JobState::NodeFail { reason }, _) => Err(ToolError::failed(format!(
                "NODE_FAIL: the compute node failed ({reason})\nhelp: `retries = 1` on the node resubmits it"
            ))),
            (JobState::Pending { .. } | JobState::Running, _) => {
                Err(ToolError::failed("the job's state was lost while it ran".to_string()))
            }
        };
        outcome.map(|p| (p, some_id.clone())).map_err(|e| (e, some_id))
    }

    /// Cancels a job; an array task's whole array, once, since a run that
    /// is cancelled cancels every instance in it.
    async fn cancel_job(&self, id: &str, batched: bool) {
        if !batched {
            let _ = self.backend.cancel(&[id.to_string()]).await;
            return;
        }
        let (array_id, _) = array::split_task_id(id);
        let first = self.cancelled.lock().map(|mut c| c.insert(array_id.to_string())).unwrap_or(true);
        if first {
            let _ = self.backend.cancel(&[array_id.to_string()]).await;
        }
    }

    /// Gathers `v` with the other instances of its family that are ready
    /// now, and answers with the array task it runs in. The first instance
    /// of a gathering waits for the rest and submits them all.
    async fn gather(&self, v: &Vertex, run_id: &str, spec: &Path) -> Result<Assigned, BackendError> {
        let resources = resources_of(v);
        let image = image_of(v);
        // Instances that ask for different resources do not share a job.
        let key = format!("{}\u{0}{resources:?}\u{0}{image:?}", v.node);
        let (tx, rx) = oneshot::channel();
        let leads = {
            let mut g = self.gathering.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let entry = g.entry(key.clone()).or_insert_with(|| Gathering { first: now, last: now, items: Vec::new() });
            entry.last = now;
            entry.items.push(Gathered { index: v.index.unwrap_or(0), spec: spec.to_path_buf(), reply: tx });
            entry.items.len() == 1
        };
        if leads {
            let items = loop {
                tokio::time::sleep(QUIET / 3).await;
                let mut g = self.gathering.lock().unwrap_or_else(|p| p.into_inner());
                let done = g.get(&key).is_none_or(|e| e.last.elapsed() >= QUIET || e.first.elapsed() >= GATHER_MAX);
                if done {
                    break g.remove(&key).map(|e| e.items).unwrap_or_default();
                }
            };
            self.submit_arrays(v, run_id, resources, items).await;
        }
        rx.await.unwrap_or_else(|_| {
            Err(BackendError::Other {
                message: "the instance was never given an array task".into(),
                hint: "this is a bug in phx".into(),
            })
        })
    }

    /// Submits gathered instances of `v`'s family as job arrays (split at
    /// the cluster's `MaxArraySize`) and tells each its task.
    async fn submit_arrays(&self, v: &Vertex, run_id: &str, resources: Resources, mut items: Vec<Gathered>) {
        items.sort_by_key(|i| i.index);
        let family = self.families.get(&v.node).copied().unwrap_or(items.len());
        let explicit = v
            .props
            .resources
            .iter()
            .find(|(k, _)| k == "batch")
            .and_then(|(_, x)| x.as_int())
            .map(|b| b.max(1) as usize);
        let batch = array::batch_size(family, explicit).min(items.len().max(1));
        let tasks = array::tasks(items.len(), batch);
        let max = self.backend.max_array_size().unwrap_or(array::DEFAULT_MAX_ARRAY_SIZE);
        // A task runs `batch` instances one after another: its time limit
        // is theirs together.
        let resources = Resources { time_s: resources.time_s.map(|t| t.saturating_mul(batch as u64)), ..resources };
        let mut items = items.into_iter().map(Some).collect::<Vec<_>>();
        let base = items.iter().flatten().next().and_then(|i| i.spec.parent()?.parent().map(Path::to_path_buf));
        for range in array::arrays(tasks.len(), max) {
            let mine: Vec<Vec<Gathered>> =
                tasks[range].iter().map(|t| items[t.clone()].iter_mut().filter_map(Option::take).collect()).collect();
            let seq = self.arrays.fetch_add(1, Ordering::Relaxed);
            let dir = base
                .clone()
                .unwrap_or_default()
                .join(format!("array-{}-{seq}", crate::scheduler::safe_dir_name(&v.node)));
            let submitted = self.submit_array(v, run_id, &resources, &dir, &mine).await;
            for (t, group) in mine.into_iter().enumerate() {
                let answer = submitted.as_ref().map(|array_id| {
                    let id = format!("{array_id}_{t}");
                    Assigned { state: self.watch(&id), id, task_err: dir.join(format!("task-{t}.err")) }
                });
                for item in group {
                    let _ = item.reply.send(answer.clone().map_err(Clone::clone));
                }
            }
        }
    }

    /// Writes one array's manifest and submits it; the array's id.
    async fn submit_array(
        &self,
        v: &Vertex,
        run_id: &str,
        resources: &Resources,
        dir: &Path,
        tasks: &[Vec<Gathered>],
    ) -> Result<String, BackendError> {
        let failed = |e: String| BackendError::Other {
            message: format!("cannot write the array's manifest in `{}`: {e}", dir.display()),
            hint: "check the space and permissions of the store".into(),
        };
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        let manifest = BatchManifest {
            format: SPEC_FORMAT,
            run_id: run_id.to_string(),
            tasks: tasks.iter().map(|t| t.iter().map(|i| i.spec.display().to_string()).collect()).collect(),
        };
        let text = serde_json::to_vec(&manifest).map_err(|e| failed(e.to_string()))?;
        phx_store::write_atomic(&dir.join("manifest.json"), &text).map_err(|e| failed(e.to_string()))?;
        let spec = ArraySpec {
            name: format!("phx-{}", v.node),
            run_id: run_id.to_string(),
            local_dir: dir.to_path_buf(),
            tasks: tasks.len(),
            throttle: self.backend.array_throttle(),
            resources: resources.clone(),
            env: vec![("PHX_RUN_ID".into(), run_id.to_string()), ("PHX_NODE".into(), v.node.clone())],
        };
        self.backend.submit_array(&spec).await
    }

    /// Sends the job's new output lines to the log; a partial last line
    /// waits for its end unless `flush`.
    async fn forward_logs(&self, job: &JobSpec, offsets: &mut (u64, u64), partial: &mut (String, String), flush: bool) {
        let Ok(chunk) = self.backend.logs(job, *offsets).await else { return };
        offsets.0 += chunk.stdout.len() as u64;
        offsets.1 += chunk.stderr.len() as u64;
        for (stream, bytes, rest) in
            [("stdout", &chunk.stdout, &mut partial.0), ("stderr", &chunk.stderr, &mut partial.1)]
        {
            rest.push_str(&String::from_utf8_lossy(bytes));
            while let Some(pos) = rest.find('\n') {
                let line: String = rest.drain(..=pos).collect();
                let _ =
                    self.logs.send(LogLine { vertex: job.vertex.clone(), stream, line: line.trim_end().to_string() });
            }
            if flush && !rest.is_empty() {
                let _ = self.logs.send(LogLine { vertex: job.vertex.clone(), stream, line: std::mem::take(rest) });
            }
        }
    }
}

/// `result.json`, when the worker got to write it.
fn read_result(work: &Path) -> Option<WorkerResult> {
    let bytes = std::fs::read(work.join("result.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Each output, as it arrived here, must hash to what the worker saw.
fn verify_outputs(p: &Produced, hashes: &[String]) -> Result<(), ToolError> {
    for (o, want) in p.outputs.iter().zip(hashes) {
        let (sha, _) = phx_store::hash_file(&o.path)
            .map_err(|e| ToolError::failed(format!("the output `{}` did not arrive: {e}", o.name)))?;
        if &sha != want {
            return Err(ToolError::failed(format!(
                "the output `{}` hashes to {} here but {} where it was made: it was damaged in transit",
                o.name,
                &sha[..12],
                &want[..12.min(want.len())]
            )));
        }
    }
    Ok(())
}

async fn poll_loop(backend: Arc<dyn Backend>, watcher: Arc<Watcher>) {
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(backend.poll_interval()).await;
        let ids: Vec<String> = match watcher.jobs.lock() {
            Ok(jobs) => jobs.keys().cloned().collect(),
            Err(_) => return,
        };
        if ids.is_empty() {
            continue;
        }
        let states = match backend.poll(&ids).await {
            Ok(s) => {
                failures = 0;
                s
            }
            Err(e) => {
                failures += 1;
                if failures < POLL_FAILURES_TOLERATED {
                    continue;
                }
                let reason = format!("the cluster stopped answering: {e}");
                ids.iter().map(|id| (id.clone(), JobState::NodeFail { reason: reason.clone() })).collect()
            }
        };
        let Ok(mut jobs) = watcher.jobs.lock() else { return };
        for (id, state) in states {
            let terminal = state.is_terminal();
            if let Some(tx) = jobs.get(&id) {
                tx.send_replace(Some(state));
            }
            if terminal {
                jobs.remove(&id);
            }
        }
    }
}
