//! The backend settings of `phx.toml`: `[run]` (policy, backend) and
//! `[slurm]`. Unknown keys inside `[slurm]` are errors, so a typo does not
//! silently submit to the wrong partition.

use std::path::Path;

use serde::Deserialize;

/// The `[run]` and `[slurm]` tables (other tables belong to other parts).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ClusterConfig {
    #[serde(default)]
    pub run: RunTable,
    pub slurm: Option<SlurmConfig>,
    pub k8s: Option<K8sConfig>,
}

/// `[k8s]`: a Job per node in `namespace`, the working folders on a
/// PersistentVolumeClaim mounted at the same path as here.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct K8sConfig {
    /// A kubeconfig file (default: `$KUBECONFIG`, `~/.kube/config`, or the
    /// in-cluster service account).
    pub kubeconfig: Option<String>,
    /// A context of the kubeconfig (default: its current context).
    pub context: Option<String>,
    /// Default: the context's namespace, else `default`.
    pub namespace: Option<String>,
    /// The image the jobs run (it must hold a `phx` of this version).
    pub image: Option<String>,
    /// The `phx` inside the image (default `phx`).
    pub phx: Option<String>,
    /// The PersistentVolumeClaim holding the experiment folder.
    pub claim: Option<String>,
    /// Where the claim is mounted in the pod (default: the experiment
    /// folder's path here, so paths mean the same on both sides).
    pub mount_path: Option<String>,
    /// `ttlSecondsAfterFinished` of each Job, a safety net (default 3600).
    pub ttl_seconds: Option<i32>,
    /// How often to poll, in milliseconds (default 500).
    pub poll_ms: Option<u64>,
    /// At most this many jobs of a run at once (default 100).
    pub max_jobs: Option<usize>,
    /// Folders of the cluster's nodes that jobs may mount (`hostPath`);
    /// none by default.
    pub host_paths: Option<Vec<String>>,
}

/// How often a backend polls its jobs: `poll_ms` of its table, 500 ms by
/// default and never more often than every 50 ms.
pub fn poll_interval(poll_ms: Option<u64>) -> std::time::Duration {
    std::time::Duration::from_millis(poll_ms.unwrap_or(500).max(50))
}

/// `[run]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct RunTable {
    pub policy: Option<String>,
    /// The cluster remote nodes go to: `slurm` or `k8s`.
    pub backend: Option<String>,
    pub jobs: Option<usize>,
}

/// `[slurm]`: a shared file system by default; `login` makes it the ssh
/// layout (sbatch and polling over ssh, files moved with rsync or scp).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `user@host` of a login node.
    pub login: Option<String>,
    /// Options for ssh and scp (`["-p", "2222", "-i", "key"]`).
    #[serde(default)]
    pub ssh_options: Vec<String>,
    /// Where working folders go on the cluster (ssh layout); default
    /// `phx-work` in the login's home folder.
    pub remote_dir: Option<String>,
    /// The `phx` the jobs run: default this binary on a shared file
    /// system, `phx` on the login node's PATH over ssh.
    pub phx: Option<String>,
    /// `rsync` or `scp`; default rsync where both ends have it.
    pub transfer: Option<String>,
    /// At most this many sbatch/scancel calls at once (default 4).
    pub max_submit: Option<usize>,
    /// At most this many jobs of a run in the queue at once (default 100).
    pub max_jobs: Option<usize>,
    /// How often to poll, in milliseconds (default 500).
    pub poll_ms: Option<u64>,
    /// More sbatch options, one per item (`--qos=debug`).
    #[serde(default)]
    pub sbatch_options: Vec<String>,
}

/// Why `phx.toml` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ClusterConfig {
    /// Reads `dir/phx.toml`; no file is the default configuration.
    pub fn load(dir: &Path) -> Result<ClusterConfig, ConfigError> {
        let path = dir.join("phx.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ClusterConfig::default()),
            Err(e) => return Err(ConfigError { path: path.display().to_string(), message: e.to_string() }),
        };
        ClusterConfig::parse(&text).map_err(|message| ConfigError { path: path.display().to_string(), message })
    }

    /// Parses the text of a `phx.toml`.
    pub fn parse(text: &str) -> Result<ClusterConfig, String> {
        let config: ClusterConfig = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        for (key, value, allowed) in [
            ("run.policy", &config.run.policy, &["local_first", "remote_first", "auto"][..]),
            ("run.backend", &config.run.backend, &["local", "slurm", "k8s"][..]),
        ] {
            if let Some(v) = value
                && !allowed.contains(&v.as_str())
            {
                return Err(format!("`{key} = \"{v}\"` is not one of: {}", allowed.join(", ")));
            }
        }
        if let Some(s) = &config.slurm
            && let Some(t) = &s.transfer
            && !matches!(t.as_str(), "rsync" | "scp")
        {
            return Err(format!("`slurm.transfer = \"{t}\"` is not one of: rsync, scp"));
        }
        Ok(config)
    }

    /// The cluster that remote nodes go to, if one is configured: `[run]
    /// backend`, else the one table of `[slurm]` and `[k8s]` present.
    pub fn cluster(&self) -> Option<&'static str> {
        match self.run.backend.as_deref() {
            Some("slurm") => Some("slurm"),
            Some("k8s") => Some("k8s"),
            Some(_) => None,
            None if self.slurm.is_some() => Some("slurm"),
            None if self.k8s.is_some() => Some("k8s"),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tables_and_ignores_the_others() {
        let c = ClusterConfig::parse(
            "[llm]\nmodel = \"x\"\n[run]\npolicy = \"auto\"\n[slurm]\npartition = \"debug\"\nlogin = \"me@host\"\nssh_options = [\"-p\", \"2222\"]\n",
        )
        .unwrap();
        assert_eq!(c.run.policy.as_deref(), Some("auto"));
        let s = c.slurm.as_ref().unwrap();
        assert_eq!(s.partition.as_deref(), Some("debug"));
        assert_eq!(s.ssh_options, vec!["-p", "2222"]);
        assert_eq!(c.cluster(), Some("slurm"));
        assert_eq!(ClusterConfig::default().cluster(), None);
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let e = ClusterConfig::parse("[slurm]\npartiton = \"debug\"\n").unwrap_err();
        assert!(e.contains("unknown field `partiton`"), "{e}");
        let e = ClusterConfig::parse("[run]\npolicy = \"fast\"\n").unwrap_err();
        assert!(e.contains("not one of: local_first, remote_first, auto"), "{e}");
        let e = ClusterConfig::parse("[slurm]\ntransfer = \"ftp\"\n").unwrap_err();
        assert!(e.contains("rsync, scp"), "{e}");
        assert!(ClusterConfig::parse("[run\n").is_err());
    }

    #[test]
    fn run_backend_local_means_no_cluster() {
        let c = ClusterConfig::parse("[run]\nbackend = \"local\"\n[slurm]\n").unwrap();
        assert_eq!(c.cluster(), None);
    }
}
