//! The runtime: runs a DAG IR on this machine, through one small [`Tool`]
//! trait, with a content-addressed store, an explainable cache and
//! provenance for every artifact.
//!
//! The layers, from the bottom: `clock` (timestamps), `cache` (run cache
//! keys and why a key missed), `tool` (the trait and the staging of inputs),
//! `command` (command-backed tools and `shell.run`), `containment` (every
//! process a node starts ends with it, and with phx), `placement` (the
//! policies: which node runs where, and why), `worker` (one node from a
//! spec file, for jobs elsewhere), `remote` (a node through a cluster
//! backend of `phx-backends`), `scheduler` (tokio, over the DAG),
//! `provenance` (host, git). The store lives in `phx-store`.

pub mod cache;
pub mod clock;
pub mod command;
pub mod containment;
pub mod contract;
pub mod placement;
pub mod provenance;
pub mod remote;
pub mod scheduler;
pub mod status;
pub mod tally;
pub mod tool;
pub mod worker;

pub use scheduler::{NodeOutcome, RunOptions, RunReport, run};
pub use status::{BackendKind, NodeStatus, Policy, RunStatus};
pub use tool::{Invocation, Produced, ProducedOutput, StagedInput, Tool, ToolError};
