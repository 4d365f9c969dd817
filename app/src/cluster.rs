//! Which cluster and policy a run uses (the request, the experiment,
//! phx.toml), and connecting to the cluster before anything runs.

use std::path::Path;
use std::sync::Arc;

use phx_backends::ClusterConfig;
use phx_dag::Dag;
use phx_runtime::scheduler::RemoteSetup;
pub use phx_runtime::status::{BackendKind, Policy};
use phx_runtime::worker::ProgramSource;
use phx_sema::value::Value;

use crate::error::{AppError, AppResult};

/// The run's policy and cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub policy: Policy,
    /// `None` runs everything here.
    pub cluster: Option<BackendKind>,
    /// Whether the request asked for the cluster (then an unreachable
    /// cluster stops the run instead of warning).
    pub asked: bool,
}

/// Decides the policy and cluster: the request's policy, else the
/// experiment's `policy`, else `[run] policy`, else `remote_first` when a
/// cluster backend was asked for, else `local_first`; the request's
/// backend, else phx.toml's.
pub fn plan(
    config: &ClusterConfig,
    backend: Option<BackendKind>,
    policy: Option<Policy>,
    dag: &Dag,
) -> AppResult<Plan> {
    let cluster = match backend {
        Some(BackendKind::Local) => None,
        Some(b) => Some(b),
        None => config.cluster().and_then(BackendKind::parse).filter(|b| *b != BackendKind::Local),
    };
    let in_program = dag.experiment.as_ref().and_then(|e| match e.field("policy") {
        Some(Value::Enum(_, p)) => Policy::parse(p),
        _ => None,
    });
    let in_config = match config.run.policy.as_deref() {
        Some(p) => Some(Policy::parse(p).ok_or_else(|| {
            AppError::usage(format!("`[run] policy = \"{p}\"` in phx.toml is not a policy"))
                .with_help("local_first, remote_first or auto")
        })?),
        None => None,
    };
    let asked = backend.is_some_and(|b| b != BackendKind::Local);
    let policy =
        policy.or(in_program).or(in_config).unwrap_or(if asked { Policy::RemoteFirst } else { Policy::LocalFirst });
    Ok(Plan { policy, cluster, asked })
}

/// Connects to the plan's cluster. A cluster the request asked for (or that
/// `remote_first`/`auto` depends on) that cannot be reached is an error;
/// under `local_first` it is a note, and only nodes that need it fail.
/// `note` receives what a person should read (the cluster's version).
pub async fn connect(
    config: &ClusterConfig,
    plan: &Plan,
    program: Arc<ProgramSource>,
    experiment_dir: &Path,
    mounts: &[phx_backends::Mount],
    note: &(dyn Fn(&str) + Sync),
) -> AppResult<Option<RemoteSetup>> {
    let Some(cluster) = plan.cluster else { return Ok(None) };
    let required = plan.asked || plan.policy != Policy::LocalFirst;
    let failed = |message: String, hint: &str| {
        if required {
            Err(AppError::environment("phx::backend-unreachable", message).with_help(hint))
        } else {
            note(&format!("warning: {message}; nodes that need the cluster will fail\n  help: {hint}"));
            Ok(None)
        }
    };
    match cluster {
        BackendKind::Local => Ok(None),
        BackendKind::K8s => {
            let k8s = match phx_k8s::K8s::connect(config.k8s.clone().unwrap_or_default(), experiment_dir).await {
                Ok(k) => k,
                Err(e) => return failed(e.to_string(), e.hint()),
            };
            let version = phx_backends::Backend::check(&k8s).await.unwrap_or_default();
            note(&format!("phx: cluster {version}, policy {}", plan.policy.as_str()));
            Ok(Some(RemoteSetup { backend: Arc::new(k8s), program, mounts: mounts.to_vec() }))
        }
        BackendKind::Slurm => {
            let exe = worker_binary();
            let slurm = match phx_backends::slurm::Slurm::connect(config.slurm.clone().unwrap_or_default(), &exe).await
            {
                Ok(s) => s,
                Err(e) => return failed(e.to_string(), e.hint()),
            };
            let layout = if slurm.is_remote() { "files moved over ssh" } else { "shared file system" };
            let version = phx_backends::Backend::check(&slurm).await.unwrap_or_default();
            note(&format!("phx: cluster {version} ({layout}), policy {}", plan.policy.as_str()));
            Ok(Some(RemoteSetup { backend: Arc::new(slurm), program, mounts: Vec::new() }))
        }
    }
}

/// The binary that cluster jobs run as `phx worker`, and runs run as
/// `phx watchdog` (`crate::processes`): this one. (The one place a front
/// end's process names itself; workers and watchdogs stay processes by
/// design.)
pub fn worker_binary() -> std::path::PathBuf {
    std::env::current_exe().unwrap_or_else(|_| "phx".into())
}

/// Removes every Job and pod phx made in the namespace of `[k8s]` (what a
/// killed run could not delete); returns how many objects went.
pub fn clean_k8s(dir: &Path) -> AppResult<usize> {
    let config = ClusterConfig::load(dir).map_err(|e| AppError::usage(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| AppError::environment("phx::runtime", format!("cannot start a runtime: {e}")))?;
    let dir = dir.canonicalize().unwrap_or(dir.to_path_buf());
    rt.block_on(async {
        let k8s = phx_k8s::K8s::connect(config.k8s.clone().unwrap_or_default(), &dir)
            .await
            .map_err(|e| AppError::environment("phx::backend-unreachable", e.to_string()).with_help(e.hint()))?;
        k8s.clean().await.map_err(|e| AppError::environment("phx::backend", e.to_string()).with_help(e.hint()))
    })
}
