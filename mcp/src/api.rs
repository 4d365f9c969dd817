//! The contract of every MCP method: what it takes and what it returns,
//! as Rust types. The tools' `inputSchema` and `outputSchema` are generated
//! from these types (`schemars`), and the handlers deserialize into and
//! serialize from them, so a schema cannot disagree with a method.

use std::collections::BTreeMap;

use phx_app::artifacts::{ArtifactDetail, ArtifactLog, Lineage};
use phx_app::authoring::Attempt;
use phx_app::jobs::{JobRequest, JobResult};
use phx_app::program::{CheckReport, DiagnosticView, EdgeSummary, NodeSummary};
use phx_app::report::PublishRequest;
use phx_app::run::NodeResult;
use phx_app::share::Access;
use phx_app::{BackendKind, Policy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// `define_dag`: a program from `.phx` text, the JSON form of a DAG, words
/// (the client's model writes it), or a file of the experiment folder.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineDag {
    /// A .phx program.
    pub source: Option<String>,
    /// The JSON form of a DAG (as `phx export --json` writes it).
    pub spec: Option<Json>,
    /// What the experiment should do, in words; phx asks your model to
    /// write it (MCP sampling) and repairs it with the compiler's diagnostics.
    pub natural_language: Option<String>,
    /// A .phx file of the experiment folder (relative to it).
    pub path: Option<String>,
}

/// Which program a call means: a `dag_id` from define_dag, `source` text,
/// or a `path` in the experiment folder.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct ProgramRef {
    /// From define_dag.
    pub dag_id: Option<String>,
    /// A .phx program, instead of dag_id.
    pub source: Option<String>,
    /// A .phx file of the experiment folder (relative to it), instead of dag_id.
    pub path: Option<String>,
}

/// `validate_dag`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct ValidateDag {
    #[serde(flatten)]
    pub program: ProgramRef,
}

/// `run_dag`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct RunDag {
    #[serde(flatten)]
    pub program: ProgramRef,
    pub policy: Option<Policy>,
    /// `local` (default, unless phx.toml names a cluster), `slurm` or `k8s`.
    pub backend: Option<BackendKind>,
    /// How many nodes run at once (1 to 256).
    #[schemars(range(min = 1, max = 256))]
    pub parallelism: Option<u32>,
    /// Param overrides, `NAME=VALUE`.
    #[serde(default)]
    pub set: Vec<String>,
    /// Only these nodes and their ancestors.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Ignore the cache (outputs are still stored).
    #[serde(default)]
    pub no_cache: bool,
    /// Plan only: which nodes would run and why.
    #[serde(default)]
    pub dry_run: bool,
    /// Count each sweep's instances that went well in `families` instead
    /// of listing each in `nodes` (failures are always listed). Default:
    /// only when the run covers more than 200 vertices.
    pub fold_sweeps: Option<bool>,
}

/// `session_share` and `collaborate_share`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// From run_dag.
    pub run_id: String,
    #[serde(default)]
    pub participants: Vec<String>,
    #[serde(default)]
    pub access: Access,
    /// How long the link works, e.g. 72h (the default), 30m, 7d.
    pub expires: Option<String>,
}

/// `job_submit`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSubmit {
    /// `slurm` or `k8s`.
    pub backend: BackendKind,
    pub job: JobRequest,
}

/// `lab_notebook`: a signed entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabNotebook {
    pub title: String,
    /// Markdown.
    #[serde(default)]
    pub markdown: String,
    /// Run ids, artifact hashes or files of the experiment folder.
    #[serde(default)]
    pub attach: Vec<String>,
    /// The run the entry is about: referred to, with its report attached.
    pub run_id: Option<String>,
}

/// `artifact_versioning`: one artifact, or a node's artifacts across runs.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactVersioning {
    /// A SHA-256 or a unique prefix of one.
    pub artifact: Option<String>,
    /// A node name: its artifacts across runs.
    pub node: Option<String>,
}

/// The methods of `experiment_orchestrator`, chosen by `method`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum OrchestratorCall {
    DefineDag(DefineDag),
    ValidateDag(ValidateDag),
    RunDag(RunDag),
    PublishReport(PublishRequest),
    CollaborateShare(Share),
}

/// The methods of `distributed_collaboration`, chosen by `method`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum CollaborationCall {
    JobSubmit(JobSubmit),
    SessionShare(Share),
    LabNotebook(LabNotebook),
    ArtifactVersioning(ArtifactVersioning),
}

/// Every call, whichever tool name carried it.
#[derive(Clone, Debug)]
pub enum Call {
    Orchestrator(OrchestratorCall),
    Collaboration(CollaborationCall),
}

/// define_dag's result.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Defined {
    pub dag_id: Option<String>,
    pub program: String,
    pub diagnostics: Vec<DiagnosticView>,
    pub nodes: Vec<NodeSummary>,
    pub edges: Vec<EdgeSummary>,
    /// How many repairs the model needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repairs: Option<usize>,
    /// Every answer of the model and its errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<Attempt>>,
    /// True when the client cannot sample: write the program yourself from
    /// `prompt` and `program` (a skeleton), then define it with `source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs_model: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

impl Defined {
    /// A defined program and what checking it found.
    pub fn checked(dag_id: Option<String>, program: String, check: CheckReport) -> Defined {
        Defined {
            dag_id,
            program,
            diagnostics: check.diagnostics,
            nodes: check.nodes,
            edges: check.edges,
            repairs: None,
            attempts: None,
            needs_model: None,
            prompt: None,
        }
    }
}

/// validate_dag's result.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Validated {
    pub diagnostics: Vec<DiagnosticView>,
}

/// An output of a run, with its absolute path.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunArtifact {
    pub node: String,
    pub output: String,
    pub kind: String,
    pub sha256: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Json>,
}

/// A picture or animation to show, with a small PNG inline.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Figure {
    pub node: String,
    pub png: Option<String>,
    pub svg: Option<String>,
    pub animation: Option<String>,
    pub format: Option<Json>,
    /// A thumbnail, base64 PNG.
    pub png_b64: Option<String>,
    pub caption: String,
}

/// A table (CSV) of a run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Table {
    pub node: String,
    pub csv: String,
    pub caption: String,
}

/// What a report could show.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct Reportable {
    pub figures: Vec<Figure>,
    pub tables: Vec<Table>,
}

/// run_dag's result.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Ran {
    pub run_id: String,
    /// None when the program has errors and nothing ran.
    pub status: Option<phx_app::run::RunStatus>,
    pub cache_hits: usize,
    pub nodes: Vec<NodeResult>,
    /// Sweeps whose instances that went well are counted, not listed in
    /// `nodes` (see `fold_sweeps`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<phx_app::run::FamilyTally>,
    pub artifacts: Vec<RunArtifact>,
    /// How many nodes ran on each device.
    pub device_mix: BTreeMap<String, u64>,
    pub reportable: Reportable,
    /// The report's PDF, when the program has a `report` block.
    pub report: Option<String>,
    /// Diagnostics that stopped the run (a program with errors runs nothing).
    pub diagnostics: Vec<DiagnosticView>,
}

/// publish_report's result.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Published {
    pub run_id: String,
    /// The PDF, absolute.
    pub report: String,
    pub bytes: u64,
}

/// session_share's and collaborate_share's result.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Shared {
    pub run_id: String,
    pub url: String,
    pub share_id: String,
    pub access: Access,
    /// Unix seconds.
    pub expires_at: i64,
    pub participants: Vec<String>,
    /// The signed bundle made for the participants (collaborate_share).
    pub bundle: Option<String>,
    /// The command that serves the link.
    pub serve: String,
}

/// lab_notebook's result.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Noted {
    /// The entry: seq, title, markdown, author, time, attachments, refs.
    pub entry: Json,
}

/// artifact_versioning's result.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Versioned {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
    /// `computed` or `reused from the cache`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<ArtifactLog>,
}

/// A result: which method, whether it did what was asked, and its body.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Reply<T> {
    pub method: String,
    pub ok: bool,
    #[serde(flatten)]
    pub body: T,
}

/// A call that could not be carried out: what to change.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    pub method: String,
    /// Always false.
    pub ok: bool,
    pub error: String,
    /// The stable code (`phx::usage`, `phx::no-run`, ...).
    pub code: String,
    pub help: Option<String>,
}

/// job_submit's result is the application's.
pub type Submitted = JobResult;
