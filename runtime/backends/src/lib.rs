//! Where a node runs when it does not run inside the `phx` process: one
//! small trait ([`Backend`]: submit, poll many at once, cancel, logs, stage
//! in and out) with Slurm behind it (on a shared file system, or through a
//! login node over ssh). Nodes that stay on this machine run inside the
//! `phx` process (the scheduler's local path) and are recorded as backend
//! `local`.
//!
//! A job is always `phx worker SPEC`: the same binary, executing one node
//! from a node spec file in a working folder that holds the staged inputs.
//! The backend only moves that folder, starts the job and watches it; it
//! knows nothing of tools or the store.

pub mod array;
pub mod config;
pub mod shell;
pub mod slurm;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

pub use config::{ClusterConfig, K8sConfig};

/// A boxed future, as the trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a node asks of the machine that runs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    pub cpus: u32,
    pub mem_mb: Option<u64>,
    /// The wall-clock limit in seconds (Slurm rounds up to minutes).
    pub time_s: Option<u64>,
    pub gpus: u32,
    /// A partition or account for this node only (else the config's).
    pub partition: Option<String>,
    pub account: Option<String>,
}

/// Where a mounted volume comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountSource {
    /// A PersistentVolumeClaim of the cluster's namespace.
    Claim(String),
    /// A folder of the machine that runs the job (Kubernetes `hostPath`).
    HostPath(String),
}

/// A volume the job's container sees at `path` (backends that run
/// containers; others ignore it: their jobs see the shared file system).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub path: String,
    pub source: MountSource,
    pub read_only: bool,
}

/// One job: a node's working folder and what it needs.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// `phx-<run>-<node>`: shown in `squeue`.
    pub name: String,
    pub run_id: String,
    /// The vertex id (`scan[3]`).
    pub vertex: String,
    /// The working folder on this machine: `spec.json`, `in/`, and after
    /// the job its outputs, `result.json`, `job.out` and `job.err`.
    pub local_dir: PathBuf,
    /// The folder's name, unique within the run (`scan_3_-1`).
    pub dir_name: String,
    pub resources: Resources,
    /// The container image the node's tool names (`image = "..."`), for
    /// backends that run containers; `None`: the backend's own image.
    pub image: Option<String>,
    /// Extra environment for the job.
    pub env: Vec<(String, String)>,
    /// Volumes the run asked for, besides the store's.
    pub mounts: Vec<Mount>,
}

/// One job array: `tasks` array tasks, each running
/// `phx worker --batch MANIFEST --task I` over the instances the manifest
/// lists for task `I` (their working folders exist and hold `spec.json`).
#[derive(Clone, Debug)]
pub struct ArraySpec {
    /// `phx-<run>-<node>`: shown in `squeue`.
    pub name: String,
    pub run_id: String,
    /// The array's own folder on this machine: its manifest, script and
    /// each task's `task-I.out` / `task-I.err`.
    pub local_dir: PathBuf,
    /// How many array tasks (indices `0..tasks`).
    pub tasks: usize,
    /// At most this many tasks of the array run at once (`%K`).
    pub throttle: Option<usize>,
    /// What each task asks for (every instance of a family asks the same).
    pub resources: Resources,
    pub env: Vec<(String, String)>,
}

/// Where a job is, as the backend sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum JobState {
    Pending {
        reason: String,
    },
    Running,
    Completed,
    Failed {
        exit_code: Option<i32>,
        signal: Option<i32>,
        reason: String,
    },
    Timeout,
    OutOfMemory,
    Cancelled,
    NodeFail {
        reason: String,
    },
    /// The backend no longer knows the job (its record was purged and no
    /// accounting is kept): the job's own result file decides.
    Gone,
}

impl JobState {
    /// Whether the job will not change any more.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, JobState::Pending { .. } | JobState::Running)
    }

    /// A short name, as Slurm spells it.
    pub fn label(&self) -> &'static str {
        match self {
            JobState::Pending { .. } => "PENDING",
            JobState::Running => "RUNNING",
            JobState::Completed => "COMPLETED",
            JobState::Failed { .. } => "FAILED",
            JobState::Timeout => "TIMEOUT",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::Cancelled => "CANCELLED",
            JobState::NodeFail { .. } => "NODE_FAIL",
            JobState::Gone => "GONE",
        }
    }
}

/// New bytes of a job's stdout and stderr since the offsets asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogChunk {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a backend could not do what it was asked.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum BackendError {
    /// The backend cannot be reached at all (no `sbatch`, ssh refused).
    #[error("{message}")]
    Unreachable { message: String, hint: String },
    /// The scheduler refused the job (`sbatch: error: ...`).
    #[error("{message}")]
    Rejected { message: String, hint: String },
    /// Moving files to or from the cluster failed.
    #[error("{message}")]
    Transfer { message: String, hint: String },
    #[error("{message}")]
    Other { message: String, hint: String },
}

impl BackendError {
    /// What to do about it.
    pub fn hint(&self) -> &str {
        match self {
            BackendError::Unreachable { hint, .. }
            | BackendError::Rejected { hint, .. }
            | BackendError::Transfer { hint, .. }
            | BackendError::Other { hint, .. } => hint,
        }
    }
}

/// A place that runs jobs. Every method is cheap to call concurrently;
/// `poll` takes every job of a run at once so that a backend makes one
/// call per interval, never one per job.
pub trait Backend: Send + Sync {
    /// `slurm`, `local`, ...: recorded in every execution's provenance.
    fn name(&self) -> &'static str;

    /// Whether the backend answers, with a line saying what it is
    /// (`slurm 22.05.8 via ssh root@127.0.0.1`).
    fn check(&self) -> BoxFuture<'_, Result<String, BackendError>>;

    /// Makes the job's folder (spec and inputs) visible where it will run.
    fn stage_in<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Submits the job; its id in the backend.
    fn submit<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, Result<String, BackendError>>;

    /// The states of many jobs, in one round trip.
    fn poll<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<HashMap<String, JobState>, BackendError>>;

    /// Cancels jobs (unknown or finished ids are no error).
    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), BackendError>>;

    /// The job's stdout and stderr beyond the given byte offsets.
    fn logs<'a>(&'a self, job: &'a JobSpec, offsets: (u64, u64)) -> BoxFuture<'a, Result<LogChunk, BackendError>>;

    /// Brings the job's folder (outputs, result, logs) back here.
    fn stage_out<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, Result<(), BackendError>>;

    /// The most tasks one job array may have, when this backend submits
    /// arrays (`MaxArraySize` of a Slurm cluster); `None`: one job per node.
    fn max_array_size(&self) -> Option<usize> {
        None
    }

    /// At most this many tasks of one array run at once (`%K`).
    fn array_throttle(&self) -> Option<usize> {
        None
    }

    /// Submits a job array (its folder holds `manifest.json` already); the
    /// array's id. Task `I`'s id is `<id>_<I>`, as [`Backend::poll`] and
    /// [`Backend::cancel`] take it; cancelling `<id>` cancels every task.
    fn submit_array<'a>(&'a self, _array: &'a ArraySpec) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async {
            Err(BackendError::Other {
                message: "this backend does not submit job arrays".into(),
                hint: "this is a bug in phx: arrays go only to backends with a max_array_size".into(),
            })
        })
    }

    /// Lets go of a finished job once its results are safe here (a
    /// Kubernetes Job and its pods are deleted); nothing for Slurm.
    fn release<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// How often to poll.
    fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(500)
    }
}

/// Quotes a string for `/bin/sh`: single quotes, with `'` as `'\''`.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(sh_quote("/a/b.json"), "/a/b.json");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b;rm -rf /"), "'a b;rm -rf /'");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", sh_quote("x'y $HOME `z`")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x'y $HOME `z`");
    }

    #[test]
    fn terminal_states() {
        assert!(!JobState::Running.is_terminal());
        assert!(!JobState::Pending { reason: "Priority".into() }.is_terminal());
        assert!(JobState::Timeout.is_terminal());
        assert!(JobState::Gone.is_terminal());
    }
}
