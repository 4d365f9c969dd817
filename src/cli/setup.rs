//! `phx init` and `phx doctor`.

use std::path::Path;

use serde_json::json;

use super::common::{self, TextOrJson};
use super::exit;

const PHX_TOML: &str = r#"# phx.toml: settings of this experiment folder. Every setting has a
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

#[derive(clap::Args)]
pub struct InitArgs {
    /// The folder to create (default: the current folder).
    #[arg(default_value = ".")]
    dir: String,
}

/// `phx init [DIR]`: a new experiment folder.
pub fn init(a: InitArgs) -> u8 {
    let dir = Path::new(&a.dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create `{}`: {e}", dir.display());
        return exit::ENVIRONMENT;
    }
    let files = [
        ("phx.toml", PHX_TOML),
        ("experiment.phx", include_str!("../../examples/command_pipeline.phx")),
        (".gitignore", ".phx/\n"),
    ];
    for (name, _) in &files {
        if dir.join(name).exists() {
            eprintln!(
                "error: `{}` exists already; phx init writes only into a new folder\n  help: choose another folder",
                dir.join(name).display()
            );
            return exit::USAGE;
        }
    }
    for (name, text) in &files {
        if let Err(e) = common::write_atomic(&dir.join(name).to_string_lossy(), text.as_bytes()) {
            eprintln!("error: cannot write `{}`: {e}", dir.join(name).display());
            return exit::ENVIRONMENT;
        }
    }
    common::out(&format!(
        "created {} with phx.toml and experiment.phx\nnext: phx run {}\n",
        dir.display(),
        dir.join("experiment.phx").display()
    ));
    exit::OK
}

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// An experiment folder whose store to check (default: the current folder).
    #[arg(long, default_value = ".")]
    dir: String,
    #[arg(long, value_enum, default_value_t)]
    format: TextOrJson,
}

fn found(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|p| p.join(program)).find(|p| p.is_file()).map(|p| p.display().to_string())
}

/// `phx doctor`: what this machine offers, and why not when it does not.
pub fn doctor(a: DoctorArgs) -> u8 {
    let devices = phx_devices::detect();
    let slurm = slurm_status(Path::new(&a.dir));
    let k8s = k8s_status(Path::new(&a.dir));
    let store_dir = Path::new(&a.dir).join(".phx");
    let store = if store_dir.is_dir() {
        match phx_store::Store::open(Path::new(&a.dir)) {
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
    if a.format == TextOrJson::Json {
        common::print_json(&json!({
            "cpus": devices.cpus,
            "gpus": devices.gpus.iter().map(|g| json!({"ordinal": g.ordinal, "name": g.name, "total_memory": g.total_memory, "free_memory": g.free_memory})).collect::<Vec<_>>(),
            "no_gpu_reason": devices.no_gpu_reason,
            "nvrtc": devices.nvrtc,
            "backends": {"local": "available", "slurm": slurm, "k8s": k8s},
            "store": store,
            "phx_version": phx_runtime::provenance::PHX_VERSION,
        }));
        return exit::OK;
    }
    let mut text = format!("phx {}\n\ndevices\n  cpu: {} cores\n", phx_runtime::provenance::PHX_VERSION, devices.cpus);
    for g in &devices.gpus {
        text.push_str(&format!(
            "  gpu {}: {} ({:.1} GiB, {:.1} GiB free)\n",
            g.ordinal,
            g.name,
            g.total_memory as f64 / 1073741824.0,
            g.free_memory as f64 / 1073741824.0
        ));
    }
    if let Some(r) = &devices.no_gpu_reason {
        text.push_str(&format!(
            "  gpu: none: {r}; nodes that ask for a GPU run on the CPU (warning phx::device-fallback)\n"
        ));
    }
    text.push_str(&format!("  nvrtc: {}\n", if devices.nvrtc { "available" } else { "not available" }));
    text.push_str(&format!("\nbackends\n  local: available\n  slurm: {slurm}\n  k8s: {k8s}\n\nstore\n  {store}\n"));
    common::out(&text);
    exit::OK
}

/// Whether Slurm answers, as configured in the folder's phx.toml (or
/// here, when no `[slurm]` is configured).
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

fn slurm_status(dir: &Path) -> String {
    let config = match phx_backends::ClusterConfig::load(dir) {
        Ok(c) => c,
        Err(e) => return format!("phx.toml cannot be read: {e}"),
    };
    let configured = config.slurm.is_some();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return "unknown: cannot start a runtime".into();
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| "phx".into());
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
