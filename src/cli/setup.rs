//! `phx init` and `phx doctor`.

use std::path::Path;

use super::common::{self, DirArg, FormatArg, TextOrJson};
use super::exit;

#[derive(clap::Args)]
pub struct InitArgs {
    /// The folder to create (default: the current folder).
    #[arg(default_value = ".")]
    dir: String,
}

/// `phx init [DIR]`: a new experiment folder.
pub fn init(a: InitArgs) -> u8 {
    let dir = Path::new(&a.dir);
    if let Err(e) = phx_app::setup::init(dir) {
        return common::fail(&e);
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
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    format: FormatArg,
}

/// `phx doctor`: what this machine offers, and why not when it does not.
pub fn doctor(a: DoctorArgs) -> u8 {
    let d = phx_app::setup::doctor(&a.dir.dir);
    if a.format.format == TextOrJson::Json {
        common::print_value(&d);
        return exit::OK;
    }
    let mut text = format!("phx {}\n\ndevices\n  cpu: {} cores\n", d.phx_version, d.cpus);
    for g in &d.gpus {
        text.push_str(&format!(
            "  gpu {}: {} ({:.1} GiB, {:.1} GiB free)\n",
            g.ordinal,
            g.name,
            g.total_memory as f64 / 1073741824.0,
            g.free_memory as f64 / 1073741824.0
        ));
    }
    if let Some(r) = &d.no_gpu_reason {
        text.push_str(&format!(
            "  gpu: none: {r}; nodes that ask for a GPU run on the CPU (warning phx::device-fallback)\n"
        ));
    }
    text.push_str(&format!("  nvrtc: {}\n", if d.nvrtc { "available" } else { "not available" }));
    text.push_str(&format!(
        "\nbackends\n  local: {}\n  slurm: {}\n  k8s: {}\n\nstore\n  {}\n",
        d.backends.local, d.backends.slurm, d.backends.k8s, d.store
    ));
    common::out(&text);
    exit::OK
}
