//! `phx bundle export RUN -o FILE` and `phx bundle import FILE`: a run with
//! its program, DAG, artifacts, report, provenance and notebook entries in
//! one signed file, verified completely before anything enters the store.

use std::path::{Path, PathBuf};

use phx_bundle::BundleError;

use super::common;
use super::exit;

#[derive(clap::Subcommand)]
pub enum BundleCommand {
    /// Write a run as a signed bundle.
    Export {
        run: String,
        #[arg(short, long)]
        output: String,
        #[arg(long, default_value = ".")]
        dir: String,
        /// The signing key (default: the notebook's key in ~/.config/phx).
        #[arg(long)]
        key: Option<String>,
    },
    /// Verify a bundle (signature, key, every hash) and add it to the store.
    Import {
        file: String,
        #[arg(long, default_value = ".")]
        dir: String,
        /// Also trust this public key (hex; repeatable).
        #[arg(long)]
        trust: Vec<String>,
    },
}

fn fail(e: &BundleError) -> u8 {
    eprintln!("error[{}]: {e}\n  help: {}", e.code(), e.hint());
    match e {
        BundleError::Io(_) | BundleError::Store(_) => exit::ENVIRONMENT,
        _ => exit::INVALID,
    }
}

fn key_path(key: Option<String>) -> Option<PathBuf> {
    key.map(PathBuf::from).or_else(phx_notebook::keys::default_key_path)
}

pub fn run(c: BundleCommand) -> u8 {
    let (BundleCommand::Export { dir, .. } | BundleCommand::Import { dir, .. }) = &c;
    let store = match common::open_store(Path::new(dir)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match c {
        BundleCommand::Export { run, output, dir, key } => {
            let Some(path) = key_path(key) else {
                eprintln!("error: no HOME for a signing key\n  help: give one with --key FILE");
                return exit::ENVIRONMENT;
            };
            let signing = match phx_notebook::keys::load(&path, true) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("error[{}]: {e}\n  help: {}", e.code(), e.hint());
                    return exit::INVALID;
                }
            };
            let mut extras = Vec::new();
            if let Ok(Some(r)) = store.db.run(&run) {
                let program = Path::new(&dir).join(&r.file);
                if let Ok(text) = std::fs::read_to_string(&program) {
                    if let Ok(dag) = phx_interchange::export(&text) {
                        extras.push(("dag".to_string(), "dag.json".to_string(), dag.to_string().into_bytes()));
                    }
                    extras.push(("source".to_string(), r.file.clone(), text.into_bytes()));
                }
                for name in ["report.pdf", "report.json"] {
                    if let Ok(bytes) = std::fs::read(store.run_dir(&r.id).join(name)) {
                        extras.push(("report".to_string(), name.to_string(), bytes));
                    }
                }
            }
            match phx_bundle::export(&store, &run, &signing, extras, Path::new(&output)) {
                Ok(m) => {
                    common::out(&format!(
                        "wrote {output}: run {}, {} payloads, {} notebook entries, signed by {}…\n",
                        m.run.id,
                        m.payloads.len(),
                        m.notebook.len(),
                        &m.public_key[..16]
                    ));
                    exit::OK
                }
                Err(e) => fail(&e),
            }
        }
        BundleCommand::Import { file, trust, .. } => {
            let mut trusted = phx_notebook::trusted_keys(&store);
            trusted.extend(trust);
            if let Some(own) = key_path(None).and_then(|p| phx_notebook::keys::load(&p, false).ok()) {
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
                Err(e) => fail(&e),
            }
        }
    }
}
