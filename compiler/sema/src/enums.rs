//! The enumerations of the language's properties (spec section 3: emits
//! `static series animation`, devices `gpu cpu`, policies `local_first
//! remote_first auto`, backends `local slurm k8s`) as Rust enums: what the
//! checker validated travels typed through the DAG IR to the runtime and
//! the front ends. Each has the name the language, the store and the JSON
//! use (`as_str`), parses from it, and carries a JSON schema.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A visual output a node can emit (`emit = [...]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Emit {
    /// A picture: PNG and SVG.
    Static,
    /// A table: CSV.
    Series,
    /// An animation with a thumbnail strip.
    Animation,
}

impl Emit {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Emit::Static => "static",
            Emit::Series => "series",
            Emit::Animation => "animation",
        }
    }

    /// The emit a name gives, if any.
    pub fn parse(name: &str) -> Option<Emit> {
        [Emit::Static, Emit::Series, Emit::Animation].into_iter().find(|e| e.as_str() == name)
    }
}

impl fmt::Display for Emit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where a node can run (`device = [...]`, in order of preference).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Gpu,
    Cpu,
}

impl Device {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Gpu => "gpu",
            Device::Cpu => "cpu",
        }
    }

    /// The device a name gives, if any.
    pub fn parse(name: &str) -> Option<Device> {
        [Device::Gpu, Device::Cpu].into_iter().find(|d| d.as_str() == name)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where nodes run when a cluster is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Here, unless a node needs what this machine lacks.
    #[cfg_attr(feature = "cli", value(name = "local_first"))]
    LocalFirst,
    /// Every node to the cluster.
    #[cfg_attr(feature = "cli", value(name = "remote_first"))]
    RemoteFirst,
    /// Heavy nodes to the cluster.
    #[cfg_attr(feature = "cli", value(name = "auto"))]
    Auto,
}

impl Policy {
    /// The name the language, phx.toml and provenance use.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::LocalFirst => "local_first",
            Policy::RemoteFirst => "remote_first",
            Policy::Auto => "auto",
        }
    }

    /// The policy a name gives, if any.
    pub fn parse(name: &str) -> Option<Policy> {
        [Policy::LocalFirst, Policy::RemoteFirst, Policy::Auto].into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where a run's remote nodes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Everything on this machine.
    Local,
    /// The Slurm cluster of phx.toml's `[slurm]`.
    Slurm,
    /// The Kubernetes cluster of phx.toml's `[k8s]`.
    K8s,
}

impl BackendKind {
    /// The name provenance and phx.toml use.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Slurm => "slurm",
            BackendKind::K8s => "k8s",
        }
    }

    /// The backend a name gives, if any.
    pub fn parse(name: &str) -> Option<BackendKind> {
        [BackendKind::Local, BackendKind::Slurm, BackendKind::K8s].into_iter().find(|b| b.as_str() == name)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EnumKind;

    /// The Rust enums and the checker's table of variants say the same.
    #[test]
    fn every_variant_the_checker_knows_parses() {
        for v in EnumKind::Emit.variants() {
            assert_eq!(Emit::parse(v).map(Emit::as_str), Some(*v));
        }
        for v in EnumKind::Device.variants() {
            assert_eq!(Device::parse(v).map(Device::as_str), Some(*v));
        }
        for v in EnumKind::Policy.variants() {
            assert_eq!(Policy::parse(v).map(Policy::as_str), Some(*v));
        }
        for v in EnumKind::Backend.variants() {
            assert_eq!(BackendKind::parse(v).map(BackendKind::as_str), Some(*v));
        }
        for e in [Emit::Static, Emit::Series, Emit::Animation] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert_eq!(format!("{:<5}|", Device::Gpu), "gpu  |");
    }
}
