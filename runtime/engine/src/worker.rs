//! Worker mode: one node executed from a node spec file, away from the
//! scheduler (on a Slurm compute node, in a pod). The spec carries the
//! program's sources (the worker compiles them again and finds the vertex
//! by id, checking its static key), the staged inputs with their hashes,
//! the device and the timeout; the worker writes `result.json` beside it.
//! Stdlib and command-backed nodes run through the same [`Tool`] as
//! locally, so deterministic tools give byte-identical artifacts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use phx_dag::Vertex;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tokio::sync::watch;

use crate::tool::{Invocation, Produced, StagedInput, Tool, ToolError};

/// The spec format this build writes and reads.
pub const SPEC_FORMAT: u32 = 1;

/// The program a vertex comes from, complete: a worker needs nothing else.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ProgramSource {
    /// The root file's path, as loaded.
    pub path: String,
    /// Every loaded file's text (the root and its imports) by path.
    pub sources: BTreeMap<String, String>,
    /// `--set` overrides.
    pub overrides: BTreeMap<String, String>,
    pub allow_large: bool,
}

/// One staged input.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SpecInput {
    pub reference: String,
    pub sha256: String,
    pub kind: String,
    /// Relative to the working folder (`in/field_0.nc`).
    pub path: String,
}

/// What a worker is asked to do.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NodeSpec {
    pub format: u32,
    pub run_id: String,
    pub vertex: String,
    /// The vertex's static key when the run planned it: a worker that
    /// compiles to a different key refuses to run.
    pub static_key: String,
    pub program: ProgramSource,
    pub inputs: BTreeMap<String, Vec<SpecInput>>,
    pub device: String,
    pub timeout_s: Option<f64>,
}

/// One output, as the worker reports it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SpecOutput {
    pub name: String,
    /// Relative to the working folder.
    pub path: String,
    pub kind: String,
    pub sha256: String,
    pub meta: Json,
    pub value: Option<Json>,
}

/// What the worker did: `result.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WorkerResult {
    pub ok: bool,
    pub device: String,
    pub fallback: Option<String>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// The node's own timeout ended it.
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default)]
    pub cancelled: bool,
    pub outputs: Vec<SpecOutput>,
    pub host: String,
    pub duration_ms: u64,
}

impl WorkerResult {
    /// A failure before or outside the tool.
    pub fn failure(message: impl Into<String>) -> WorkerResult {
        WorkerResult {
            ok: false,
            device: "cpu".into(),
            fallback: None,
            exit_code: None,
            error: Some(message.into()),
            timed_out: false,
            cancelled: false,
            outputs: vec![],
            host: crate::provenance::host(),
            duration_ms: 0,
        }
    }

    /// The result as a tool outcome, with output paths under `work_dir`.
    pub fn into_produced(self, work_dir: &Path) -> Result<(Produced, Vec<String>), ToolError> {
        if self.cancelled {
            return Err(ToolError::Cancelled);
        }
        if !self.ok {
            let message = self.error.unwrap_or_else(|| "the worker failed without a message".into());
            return Err(ToolError::Failed { message, exit_code: self.exit_code });
        }
        let mut outputs = Vec::new();
        let mut hashes = Vec::new();
        for o in self.outputs {
            let rel = Path::new(&o.path);
            if rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(ToolError::failed(format!("the worker named an output outside its folder: `{}`", o.path)));
            }
            hashes.push(o.sha256.clone());
            outputs.push(crate::tool::ProducedOutput {
                name: o.name,
                path: work_dir.join(rel),
                kind: o.kind,
                meta: o.meta,
                value: o.value,
            });
        }
        Ok((Produced { outputs, device: self.device, fallback: self.fallback, exit_code: self.exit_code }, hashes))
    }
}

/// A job array's manifest (`manifest.json` in the array's folder): the
/// node specs each array task runs, one after another, in one worker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchManifest {
    pub format: u32,
    pub run_id: String,
    /// Per task, the `spec.json` of each of its instances (absolute paths
    /// where the job runs); each instance writes its own `result.json`.
    pub tasks: Vec<Vec<String>>,
}

/// Reads a batch manifest, refusing another format.
pub fn read_manifest(path: &Path) -> Result<BatchManifest, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the batch manifest `{}`: {e}", path.display()))?;
    let m: BatchManifest =
        serde_json::from_slice(&bytes).map_err(|e| format!("`{}` is not a phx batch manifest: {e}", path.display()))?;
    if m.format != SPEC_FORMAT {
        return Err(format!(
            "the batch manifest `{}` has format {}, this phx reads format {SPEC_FORMAT}; run the same phx version on both ends",
            path.display(),
            m.format
        ));
    }
    Ok(m)
}

/// Reads a spec, refusing another format.
pub fn read_spec(path: &Path) -> Result<NodeSpec, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the node spec `{}`: {e}", path.display()))?;
    let spec: NodeSpec =
        serde_json::from_slice(&bytes).map_err(|e| format!("`{}` is not a phx node spec: {e}", path.display()))?;
    if spec.format != SPEC_FORMAT {
        return Err(format!(
            "the node spec `{}` has format {}, this phx reads format {SPEC_FORMAT}; run the same phx version on both ends",
            path.display(),
            spec.format
        ));
    }
    Ok(spec)
}

/// Checks that every staged input hashes to what the spec says (a copy
/// damaged on its way to the cluster is caught before anything runs).
pub fn verify_inputs(spec: &NodeSpec, work_dir: &Path) -> Result<(), String> {
    for input in spec.inputs.values().flatten() {
        let p = work_dir.join(&input.path);
        let (sha, _) = phx_store::hash_file(&p)
            .map_err(|e| format!("the input `{}` is missing at `{}`: {e}", input.reference, p.display()))?;
        if sha != input.sha256 {
            return Err(format!(
                "the input `{}` at `{}` hashes to {} but the run staged {}: it was damaged in transit",
                input.reference,
                p.display(),
                &sha[..12],
                &input.sha256[..12.min(input.sha256.len())]
            ));
        }
    }
    Ok(())
}

/// Runs `vertex` with `tool` in `work_dir` as the spec says; never fails,
/// the result says what happened.
pub async fn execute(
    spec: &NodeSpec,
    vertex: &Vertex,
    tool: &dyn Tool,
    work_dir: &Path,
    cancel: watch::Receiver<bool>,
) -> WorkerResult {
    let started = Instant::now();
    let mut inputs: BTreeMap<String, Vec<StagedInput>> = BTreeMap::new();
    for (arg, list) in &spec.inputs {
        for i in list {
            inputs.entry(arg.clone()).or_default().push(StagedInput {
                reference: i.reference.clone(),
                sha256: i.sha256.clone(),
                kind: i.kind.clone(),
                path: PathBuf::from(&i.path),
            });
        }
    }
    let timeout = spec.timeout_s.map(Duration::from_secs_f64);
    let inv = Invocation {
        vertex,
        inputs: &inputs,
        work_dir,
        device: &spec.device,
        timeout,
        cancel,
        deadline: timeout.map(|t| Instant::now() + t),
    };
    let outcome = tool.run(inv).await;
    let mut result = WorkerResult::failure("");
    result.duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(produced) => {
            let mut outputs = Vec::new();
            for o in &produced.outputs {
                let (sha, _) = match phx_store::hash_file(&o.path) {
                    Ok(x) => x,
                    Err(e) => {
                        result.error = Some(format!("the output `{}` cannot be read: {e}", o.name));
                        return result;
                    }
                };
                let rel = o.path.strip_prefix(work_dir).unwrap_or(&o.path).display().to_string();
                outputs.push(SpecOutput {
                    name: o.name.clone(),
                    path: rel,
                    kind: o.kind.clone(),
                    sha256: sha,
                    meta: o.meta.clone(),
                    value: o.value.clone(),
                });
            }
            result.ok = true;
            result.error = None;
            result.device = produced.device;
            result.fallback = produced.fallback;
            result.exit_code = produced.exit_code;
            result.outputs = outputs;
        }
        Err(ToolError::Cancelled) => {
            result.cancelled = true;
            result.error = Some("cancelled".into());
        }
        Err(ToolError::Timeout(d)) => {
            result.timed_out = true;
            result.error = Some(format!("timed out after {d:?}"));
        }
        Err(ToolError::Failed { message, exit_code }) => {
            result.error = Some(message);
            result.exit_code = exit_code;
        }
    }
    result
}
