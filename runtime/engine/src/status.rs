//! The typed words of a run that cross the runtime→front-end boundary:
//! what became of a vertex and of a run (with the language's `Policy` and
//! `BackendKind`, from `phx_sema::enums`). Each has the name the store and
//! the JSON use (`as_str`) and parses from it. Each has the name the
//! store, provenance and the JSON of `phx run` use (`as_str`), parses from
//! it, and carries a JSON schema for the agents that read it.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use phx_sema::enums::{BackendKind, Policy};

/// What became of a vertex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NodeStatus {
    Succeeded,
    Failed,
    Cancelled,
    /// An input did not succeed, so it did not run.
    Skipped,
    /// In a plan: it would run.
    WouldRun,
    /// In a plan: its outputs are cached.
    Cached,
    /// Recorded while it runs (an execution in the store; never an outcome).
    Running,
}

impl NodeStatus {
    /// The name the store and the JSON use.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Failed => "failed",
            NodeStatus::Cancelled => "cancelled",
            NodeStatus::Skipped => "skipped",
            NodeStatus::WouldRun => "would-run",
            NodeStatus::Cached => "cached",
            NodeStatus::Running => "running",
        }
    }

    /// The status a record names.
    pub fn parse(name: &str) -> Option<NodeStatus> {
        [
            NodeStatus::Succeeded,
            NodeStatus::Failed,
            NodeStatus::Cancelled,
            NodeStatus::Skipped,
            NodeStatus::WouldRun,
            NodeStatus::Cached,
            NodeStatus::Running,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Whether its consumers may go on: it succeeded, or (in a plan) is
    /// cached or would run.
    pub fn lets_consumers_run(self) -> bool {
        matches!(self, NodeStatus::Succeeded | NodeStatus::Cached | NodeStatus::WouldRun)
    }

    /// Whether it makes its run fail.
    pub fn fails_the_run(self) -> bool {
        matches!(self, NodeStatus::Failed | NodeStatus::Skipped | NodeStatus::Cancelled)
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What became of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// Its process ended without recording how the run ended (it was
    /// killed, or the machine went down): the run lock has no owner.
    Dead,
}

impl RunStatus {
    /// The name the store and the JSON use.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Dead => "dead",
        }
    }

    /// The status a record names.
    pub fn parse(name: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled, RunStatus::Dead]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_json_and_parse() {
        for s in [
            NodeStatus::Succeeded,
            NodeStatus::Failed,
            NodeStatus::Cancelled,
            NodeStatus::Skipped,
            NodeStatus::WouldRun,
            NodeStatus::Cached,
            NodeStatus::Running,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(NodeStatus::parse(s.as_str()), Some(s));
        }
        for s in [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled, RunStatus::Dead] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        for p in [Policy::LocalFirst, Policy::RemoteFirst, Policy::Auto] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert_eq!(Policy::parse(p.as_str()), Some(p));
        }
        for b in [BackendKind::Local, BackendKind::Slurm, BackendKind::K8s] {
            assert_eq!(serde_json::to_value(b).unwrap(), b.as_str());
            assert_eq!(BackendKind::parse(b.as_str()), Some(b));
        }
        assert_eq!(Policy::parse("fastest"), None);
    }
}
