//! The application layer of phx: every use case as a typed function, over
//! the compiler and runtime crates. The command line, the MCP server and
//! the web viewer are thin front ends over this crate: they parse their
//! input into these requests, call one function, and present its result.
//!
//! - [`experiment`]: the experiment folder (found the same way by every
//!   front end) and its store.
//! - [`program`]: loading and checking programs.
//! - [`run`]: running and planning, with progress events and cancellation;
//!   explaining why a node would run.
//! - [`history`]: past runs. [`report`]: reports. [`notebook`]: the lab
//!   notebook. [`artifacts`]: provenance and lineage. [`share`]: links and
//!   bundles. [`jobs`]: commands as cluster jobs. [`authoring`]: programs
//!   saved by id, from the JSON form, or written by a model.
//!   [`processes`]: the watchdog that ends a killed run's processes.
//!   [`results`]: outputs by name in the experiment's `results/`.
//!
//! Requests and results are plain serde structs with JSON schemas
//! (`schemars`), so what an agent is told a method takes or returns is
//! generated from the type that does it. Every error is an [`AppError`]:
//! a stable code, a hint, and its exit code.

pub mod artifacts;
pub mod authoring;
pub mod cluster;
pub mod config;
pub mod error;
pub mod experiment;
pub mod history;
pub mod jobs;
pub mod maintenance;
pub mod notebook;
pub mod processes;
pub mod program;
pub mod report;
pub mod results;
pub mod run;
pub mod setup;
pub mod share;
pub mod trust;

pub use cluster::{BackendKind, Policy};
pub use error::{AppError, AppResult, ErrorKind};
pub use experiment::Experiment;
/// Times as phx records them (RFC 3339, unix seconds).
pub use phx_runtime::clock;
pub use program::{Checked, CompileOptions, Program};
pub use run::{Cancellation, Observer, RunResult, RunSettings};
