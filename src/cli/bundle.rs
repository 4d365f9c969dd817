//! `phx bundle export RUN -o FILE` and `phx bundle import FILE`: a run with
//! its program, DAG, artifacts, report, provenance and notebook entries in
//! one signed file, verified completely before anything enters the store.

use std::path::Path;

use super::common::{self, DirArg};
use super::exit;

#[derive(clap::Subcommand)]
pub enum BundleCommand {
    /// Write a run as a signed bundle.
    Export {
        run: String,
        #[arg(short, long)]
        output: String,
        #[command(flatten)]
        dir: DirArg,
        /// The signing key (default: the notebook's key in ~/.config/phx).
        #[arg(long)]
        key: Option<String>,
    },
    /// Verify a bundle (signature, key, every hash) and add it to the store.
    Import {
        file: String,
        #[command(flatten)]
        dir: DirArg,
        /// Also trust this public key (hex; repeatable).
        #[arg(long)]
        trust: Vec<String>,
    },
}

pub fn run(c: BundleCommand) -> u8 {
    let (BundleCommand::Export { dir, .. } | BundleCommand::Import { dir, .. }) = &c;
    let exp = match dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    let store = exp.store.clone();
    match c {
        BundleCommand::Export { run, output, key, .. } => {
            match phx_app::share::export_bundle(&exp, &run, Path::new(&output), key.as_deref().map(Path::new)) {
                Ok(m) => {
                    common::out(&format!(
                        "wrote {output}: run {}, {} payloads, {} notebook entries, signed by {}…\n",
                        m.run_id,
                        m.payloads,
                        m.notebook_entries,
                        &m.public_key[..16.min(m.public_key.len())]
                    ));
                    exit::OK
                }
                Err(e) => common::fail(&e),
            }
        }
        BundleCommand::Import { file, trust, .. } => {
            let mut trusted = phx_notebook::trusted_keys(&store);
            trusted.extend(trust);
            if let Some(own) =
                phx_app::share::key_path(&exp, None).ok().and_then(|p| phx_notebook::keys::load(&p, false).ok())
            {
                trusted.push(phx_notebook::keys::hex(own.verifying_key().as_bytes()));
            }
            match phx_bundle::import(&store, Path::new(&file), &trusted) {
                Ok(imported) => {
                    let run_dir = store.run_dir(&imported.manifest.run.id);
                    let _ = std::fs::create_dir_all(run_dir.join("bundle"));
                    for (role, name, bytes) in &imported.extras {
                        let leaf =
                            Path::new(name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        let target =
                            if role == "report" { run_dir.join(&leaf) } else { run_dir.join("bundle").join(&leaf) };
                        if let Err(e) = common::write_atomic(&target.to_string_lossy(), bytes) {
                            eprintln!("warning: cannot write {}: {e}", target.display());
                        }
                    }
                    if !imported.manifest.notebook.is_empty() {
                        let entries = serde_json::to_vec_pretty(&imported.manifest.notebook).unwrap_or_default();
                        let _ = common::write_atomic(
                            &run_dir.join("bundle").join("notebook.json").to_string_lossy(),
                            &entries,
                        );
                    }
                    common::out(&format!(
                        "imported run {} ({} executions, {} payloads verified)\n",
                        imported.manifest.run.id,
                        imported.manifest.executions.len(),
                        imported.manifest.payloads.len()
                    ));
                    exit::OK
                }
                Err(e) => common::fail(&e.into()),
            }
        }
    }
}
