//! The one small trait through which every tool runs, and the staging of
//! input artifacts into a fresh working folder.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use phx_dag::Vertex;
use serde_json::Value as Json;
use tokio::sync::watch;

/// An input artifact, staged (hard-linked or copied) into the working
/// folder.
#[derive(Clone, Debug, PartialEq)]
pub struct StagedInput {
    /// `density.density`, or `orb[3].density`.
    pub reference: String,
    pub sha256: String,
    /// The kind of the artifact (`Series`, `File`, `Field3D`, ...).
    pub kind: String,
    /// The staged path, relative to the working folder.
    pub path: PathBuf,
}

/// What a tool is asked to do.
#[derive(Clone)]
pub struct Invocation<'a> {
    pub vertex: &'a Vertex,
    /// Input artifacts by argument name, in reference order.
    pub inputs: &'a BTreeMap<String, Vec<StagedInput>>,
    /// A fresh, empty folder (apart from the staged inputs) for the tool.
    pub work_dir: &'a Path,
    /// The device the scheduler picked (`cpu` or `gpu`).
    pub device: &'a str,
    pub timeout: Option<Duration>,
    /// Becomes `true` when the run is cancelled.
    pub cancel: watch::Receiver<bool>,
    /// When the tool must have finished (from `timeout`).
    pub deadline: Option<std::time::Instant>,
}

impl Invocation<'_> {
    /// Why the tool must stop now, if it must: the run was cancelled or the
    /// node's time is up. In-process tools call this between slices of work
    /// (their loops never yield to the scheduler, so it cannot stop them).
    pub fn interrupted(&self) -> Option<ToolError> {
        if *self.cancel.borrow() {
            return Some(ToolError::Cancelled);
        }
        match (self.deadline, self.timeout) {
            (Some(d), Some(t)) if std::time::Instant::now() >= d => Some(ToolError::Timeout(t)),
            _ => None,
        }
    }

    /// Whether the tool must stop now; for loops on worker threads.
    pub fn should_stop(&self) -> bool {
        self.interrupted().is_some()
    }
}

/// One output a tool produced: a file in the working folder.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducedOutput {
    pub name: String,
    pub path: PathBuf,
    pub kind: String,
    /// Metadata for provenance (`samples`, `mesh`, `dtype`, ...).
    pub meta: Json,
    /// The value of a scalar output (`Float`, `Int`, `Bool`, `String`).
    pub value: Option<Json>,
}

/// What a successful tool run gives back.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Produced {
    pub outputs: Vec<ProducedOutput>,
    /// The device it actually ran on.
    pub device: String,
    /// Why it ran on the CPU when a GPU was asked for.
    pub fallback: Option<String>,
    pub exit_code: Option<i32>,
}

/// How a tool run fails.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ToolError {
    #[error("{message}")]
    Failed { message: String, exit_code: Option<i32> },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cancelled")]
    Cancelled,
}

impl ToolError {
    /// A failure with a message and no exit code.
    pub fn failed(message: impl Into<String>) -> ToolError {
        ToolError::Failed { message: message.into(), exit_code: None }
    }
}

/// A boxed future, as the trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A tool implementation. Stdlib tools and command-backed tools implement
/// it alike; the scheduler knows nothing else about them.
pub trait Tool: Send + Sync {
    /// The version of the implementation's code: part of every cache key,
    /// so changing an implementation re-runs its nodes.
    fn code_version(&self) -> String;

    /// Runs one vertex.
    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>>;

    /// Whether the tool can compute on a GPU when the node asks for one
    /// (it then gets `device = "gpu"` and falls back itself, with the
    /// reason, when the GPU fails it).
    fn gpu(&self) -> bool {
        false
    }
}

/// The file extension that suits an artifact kind.
pub fn extension(kind: &str) -> &'static str {
    match kind {
        "Series" => "csv",
        "Image" => "png",
        "Animation" => "mp4",
        // Fields are NetCDF files (CF conventions), as the stdlib writes them.
        "Field1D" | "Field2D" | "Field3D" | "Field" => "nc",
        _ => "dat",
    }
}

/// Stages an object into `work_dir/in/NAME`: a hard link (objects are
/// read-only, so this is safe and free), or a copy across file systems.
pub fn stage(object: &Path, work_dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let rel = PathBuf::from("in").join(name);
    let dest = work_dir.join(&rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Never onto a file that is there: a copy onto a link to another
    // object would write into the store.
    if std::fs::symlink_metadata(&dest).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("`{}` is staged already", rel.display()),
        ));
    }
    if std::fs::hard_link(object, &dest).is_err() {
        std::fs::copy(object, &dest)?;
    }
    Ok(rel)
}
