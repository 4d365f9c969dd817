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
            match phx_app::share::import_bundle(&exp, Path::new(&file), &trust) {
                Ok(b) => {
                    for w in &b.warnings {
                        eprintln!("warning: {w}");
                    }
                    common::out(&format!(
                        "imported run {} ({} executions, {} payloads verified)\n",
                        b.run_id, b.executions, b.payloads
                    ));
                    exit::OK
                }
                Err(e) => common::fail(&e),
            }
        }
    }
}
