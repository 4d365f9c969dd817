//! Which cluster and policy a run uses (flags, the experiment, phx.toml),
//! and connecting to the cluster before anything runs.

use std::sync::Arc;

use phx_backends::ClusterConfig;
use phx_dag::Dag;
use phx_runtime::scheduler::RemoteSetup;
use phx_runtime::worker::ProgramSource;
use phx_sema::value::Value;

use super::common::Loaded;
use super::exit;

/// The run's policy and cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub policy: String,
    /// `slurm` or `k8s`; `None` runs everything here.
    pub cluster: Option<String>,
    /// Whether the user asked for the cluster by flag (then an unreachable
    /// cluster stops the run instead of warning).
    pub asked: bool,
}

/// Decides the policy and cluster: `--policy`, else the experiment's
/// `policy`, else `[run] policy`, else `remote_first` when `--backend
/// slurm` was given, else `local_first`; `--backend`, else phx.toml.
pub fn plan(config: &ClusterConfig, backend: Option<&str>, policy: Option<&str>, dag: &Dag) -> Result<Plan, u8> {
    let cluster = match backend {
        Some("local") => None,
        Some(b) => Some(b.to_string()),
        None => config.cluster().map(str::to_string),
    };
    let in_program = dag.experiment.as_ref().and_then(|e| match e.field("policy") {
        Some(Value::Enum(_, p)) => Some(p.clone()),
        _ => None,
    });
    let policy =
        policy.map(str::to_string).or(in_program).or(config.run.policy.clone()).unwrap_or_else(|| {
            if backend.is_some_and(|b| b != "local") { "remote_first" } else { "local_first" }.into()
        });
    Ok(Plan { policy, cluster, asked: backend.is_some_and(|b| b != "local") })
}

/// The program as a worker needs it: every loaded file's text.
pub fn program_of(loaded: &Loaded) -> ProgramSource {
    let db = &loaded.db;
    let mut sources = std::collections::BTreeMap::new();
    sources.insert(loaded.file.path(db).clone(), loaded.file.text(db).clone());
    for f in db.imported_files(loaded.file) {
        sources.insert(f.path(db).clone(), f.text(db).clone());
    }
    ProgramSource {
        path: loaded.file.path(db).clone(),
        sources,
        overrides: loaded.overrides.clone(),
        allow_large: loaded.allow_large,
    }
}

/// Connects to the plan's cluster. A cluster the user asked for (or that
/// `remote_first`/`auto` depends on) that cannot be reached stops the run
/// with exit code 3; under `local_first` it is a warning, and only nodes
/// that need it fail.
pub async fn connect(
    config: &ClusterConfig,
    plan: &Plan,
    program: Arc<ProgramSource>,
    experiment_dir: &std::path::Path,
) -> Result<Option<RemoteSetup>, u8> {
    let Some(cluster) = plan.cluster.as_deref() else { return Ok(None) };
    let required = plan.asked || plan.policy != "local_first";
    let failed = |message: String, hint: &str| {
        if required {
            eprintln!("error: {message}\n  help: {hint}");
            Err(exit::ENVIRONMENT)
        } else {
            eprintln!("warning: {message}; nodes that need the cluster will fail\n  help: {hint}");
            Ok(None)
        }
    };
    if cluster == "k8s" {
        let k8s = match phx_k8s::K8s::connect(config.k8s.clone().unwrap_or_default(), experiment_dir).await {
            Ok(k) => k,
            Err(e) => return failed(e.to_string(), e.hint()),
        };
        let version = phx_backends::Backend::check(&k8s).await.unwrap_or_default();
        eprintln!("phx: cluster {version}, policy {}", plan.policy);
        return Ok(Some(RemoteSetup { backend: Arc::new(k8s), program }));
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| "phx".into());
    let slurm = match phx_backends::slurm::Slurm::connect(config.slurm.clone().unwrap_or_default(), &exe).await {
        Ok(s) => s,
        Err(e) => return failed(e.to_string(), e.hint()),
    };
    let layout = if slurm.is_remote() { "files moved over ssh" } else { "shared file system" };
    let version = phx_backends::Backend::check(&slurm).await.unwrap_or_default();
    eprintln!("phx: cluster {version} ({layout}), policy {}", plan.policy);
    Ok(Some(RemoteSetup { backend: Arc::new(slurm), program }))
}

#[derive(clap::Args)]
pub struct CleanArgs {
    /// Delete every Job and pod phx made in the namespace of `[k8s]`.
    #[arg(long)]
    k8s: bool,
    /// The experiment folder whose phx.toml names the cluster.
    #[arg(long, default_value = ".")]
    dir: String,
}

/// `phx clean --k8s`: removes what runs left on the cluster (a run that was
/// killed before it could delete its Jobs).
pub fn clean(a: CleanArgs) -> u8 {
    if !a.k8s {
        eprintln!("error: say what to clean\n  help: `phx clean --k8s` deletes phx's Jobs and pods from the cluster");
        return exit::USAGE;
    }
    let dir = std::path::Path::new(&a.dir);
    let config = match ClusterConfig::load(dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() else {
        eprintln!("error: cannot start a runtime");
        return exit::ENVIRONMENT;
    };
    let dir = dir.canonicalize().unwrap_or(dir.to_path_buf());
    rt.block_on(async {
        let k8s = match phx_k8s::K8s::connect(config.k8s.clone().unwrap_or_default(), &dir).await {
            Ok(k) => k,
            Err(e) => {
                eprintln!("error: {e}\n  help: {}", e.hint());
                return exit::ENVIRONMENT;
            }
        };
        match k8s.clean().await {
            Ok(n) => {
                super::common::out(&format!("deleted {n} object(s) labelled {}\n", phx_k8s::MANAGED_BY));
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}\n  help: {}", e.hint());
                exit::ENVIRONMENT
            }
        }
    })
}
