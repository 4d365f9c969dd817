//! The runtime: runs a DAG IR on this machine, through one small [`Tool`]
//! trait, with a content-addressed store, an explainable cache and
//! provenance for every artifact.
//!
//! The layers, from the bottom: `clock` (timestamps), `cache` (run cache
//! keys and why a key missed), `tool` (the trait and the staging of inputs),
//! `command` (command-backed tools and `shell.run`), `scheduler` (tokio,
//! over the DAG), `provenance` (host, git). The store lives in `phx-store`.

pub mod cache;
pub mod clock;
pub mod command;
pub mod provenance;
pub mod scheduler;
pub mod tool;

pub use scheduler::{NodeOutcome, RunOptions, RunReport, run};
pub use tool::{Invocation, Produced, ProducedOutput, StagedInput, Tool, ToolError};
