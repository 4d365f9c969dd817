//! Setting up: a new experiment folder (`phx init`), and what this machine
//! offers (`phx doctor`): devices, backends, the store.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// The `phx.toml` that `phx init` writes.
pub const PHX_TOML: &str = r#"# phx.toml: settings of this experiment folder. Every setting has a
# default; uncomment what you want to change.

# [run]
# policy = "local_first"     # local_first | remote_first | auto
# jobs = 0                   # nodes at once; 0 means the machine's cores

# The object store and the provenance database are `.phx/` in this folder.

# [slurm]
# partition = "gpu"
# account = "my-project"
# login = "user@cluster"     # run sbatch over ssh; leave out on a login node

# [k8s]
# context = "my-cluster"
# namespace = "phx"
# image = "ghcr.io/example/phx-worker:latest"
# claim = "phx-store"        # a PersistentVolumeClaim holding this folder
# mount_path = "/data/exp"   # where it is mounted in the pods (default: this folder's path)

# [notebook]
# key = "~/.config/phx/notebook.key"   # signs notebook entries and bundles
"#;

/// The files of a new experiment folder.
pub fn init_files() -> [(&'static str, &'static str); 3] {
    [
        ("phx.toml", PHX_TOML),
        ("experiment.phx", include_str!("../../examples/command_pipeline.phx")),
        (".gitignore", ".phx/\n# Links to the store's objects, by name; `phx results` makes them again.\nresults/\n"),
    ]
}

/// Makes `dir` an experiment folder: `phx.toml`, an example program and a
/// `.gitignore`; never over a file that exists.
pub fn init(dir: &Path) -> AppResult<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| AppError::environment("phx::io", format!("cannot create `{}`: {e}", dir.display())))?;
    for (name, _) in init_files() {
        if dir.join(name).exists() {
            return Err(AppError::usage(format!(
                "`{}` exists already; phx init writes only into a new folder",
                dir.join(name).display()
            ))
            .with_help("choose another folder"));
        }
    }
    for (name, text) in init_files() {
        phx_store::write_atomic(&dir.join(name), text.as_bytes()).map_err(|e| {
            AppError::environment("phx::io", format!("cannot write `{}`: {e}", dir.join(name).display()))
        })?;
    }
    Ok(())
}

/// A GPU as the machine reports it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct GpuInfo {
    pub ordinal: u32,
    pub name: String,
    pub total_memory: u64,
    pub free_memory: u64,
}

/// Whether each backend answers, and why not.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct BackendsStatus {
    pub local: String,
    pub slurm: String,
    pub k8s: String,
}

/// What this machine offers (`phx doctor`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Doctor {
    pub cpus: usize,
    pub gpus: Vec<GpuInfo>,
    /// Why there is no GPU, when there is none.
    pub no_gpu_reason: Option<String>,
    pub nvrtc: bool,
    pub backends: BackendsStatus,
    /// The store's health.
    pub store: String,
    pub phx_version: String,
}

/// Checks devices, backends and the store of the experiment `dir` belongs to.
pub fn doctor(dir: &Path) -> Doctor {
    let dir = crate::experiment::discover(dir);
    let devices = phx_devices::detect();
    let store_dir = dir.join(".phx");
    let store = if store_dir.is_dir() {
        match phx_store::Store::open(&dir) {
            Ok(s) => {
                let objects = s.objects.list().map(|o| o.len()).unwrap_or(0);
                let runs = s.db.runs().map(|r| r.len()).unwrap_or(0);
                format!(
                    "{}: {objects} objects, {runs} runs, schema v{}",
                    store_dir.display(),
                    s.db.schema_version().unwrap_or(0)
                )
            }
            Err(e) => format!("{}: cannot open: {e} ({})", store_dir.display(), e.hint()),
        }
    } else {
        format!("{}: none yet (created by the first run)", store_dir.display())
    };
    Doctor {
        cpus: devices.cpus,
        gpus: devices
            .gpus
            .iter()
            .map(|g| GpuInfo {
                ordinal: g.ordinal as u32,
                name: g.name.clone(),
                total_memory: g.total_memory,
                free_memory: g.free_memory,
            })
            .collect(),
        no_gpu_reason: devices.no_gpu_reason.clone(),
        nvrtc: devices.nvrtc,
        backends: BackendsStatus { local: "available".into(), slurm: slurm_status(&dir), k8s: k8s_status(&dir) },
        store,
        phx_version: phx_runtime::provenance::PHX_VERSION.to_string(),
    }
}

fn found(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|p| p.join(program)).find(|p| p.is_file()).map(|p| p.display().to_string())
}

/// Whether Slurm answers, as configured in the folder's phx.toml (or
/// here, when no `[slurm]` is configured).
fn slurm_status(dir: &Path) -> String {
    let config = match phx_backends::ClusterConfig::load(dir) {
        Ok(c) => c,
        Err(e) => return format!("phx.toml cannot be read: {e}"),
    };
    let configured = config.slurm.is_some();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return "unknown: cannot start a runtime".into();
    };
    let exe = crate::cluster::worker_binary();
    let answer = rt.block_on(async {
        let slurm = phx_backends::slurm::Slurm::connect(config.slurm.clone().unwrap_or_default(), &exe).await?;
        phx_backends::Backend::check(&slurm).await
    });
    match (answer, configured) {
        (Ok(v), true) => format!("available: {v} (configured in phx.toml)"),
        (Ok(v), false) => format!("{v} answers here; add a [slurm] table to phx.toml to send nodes there"),
        (Err(e), true) => format!("configured in phx.toml but not reachable: {e} ({})", e.hint()),
        (Err(_), false) => match found("sbatch") {
            Some(p) => format!("sbatch at {p} does not answer"),
            None => "not available: sbatch is not on PATH and phx.toml has no [slurm]".into(),
        },
    }
}

/// Whether a Kubernetes API server answers, through phx.toml's [k8s] or
/// the default kubeconfig.
fn k8s_status(dir: &Path) -> String {
    let config = match phx_backends::ClusterConfig::load(dir) {
        Ok(c) => c,
        Err(e) => return format!("phx.toml cannot be read: {e}"),
    };
    let configured = config.k8s.is_some();
    let k8s = config.k8s.unwrap_or_default();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return "unknown: cannot start a runtime".into();
    };
    let answer = rt.block_on(async {
        let cluster = tokio::time::timeout(std::time::Duration::from_secs(10), phx_k8s::K8s::connect_only(k8s, dir))
            .await
            .map_err(|_| "no answer within 10 s".to_string())?
            .map_err(|e| format!("{e} ({})", e.hint()))?;
        phx_backends::Backend::check(&cluster).await.map_err(|e| e.to_string())
    });
    match (answer, configured) {
        (Ok(v), true) => format!("available: {v} (configured in phx.toml)"),
        (Ok(v), false) => format!("{v} answers here; add a [k8s] table (image, claim) to phx.toml to send nodes there"),
        (Err(e), true) => format!("configured in phx.toml but not reachable: {e}"),
        (Err(_), false) => {
            "not available: no kubeconfig or in-cluster account answers, and phx.toml has no [k8s]".into()
        }
    }
}
