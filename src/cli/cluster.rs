//! `phx clean --k8s`: removes what runs left on a cluster.

use super::common::{self, DirArg};
use super::exit;

#[derive(clap::Args)]
pub struct CleanArgs {
    /// Delete every Job and pod phx made in the namespace of `[k8s]`.
    #[arg(long)]
    k8s: bool,
    /// The experiment folder whose phx.toml names the cluster.
    #[command(flatten)]
    dir: DirArg,
}

/// `phx clean --k8s`: removes what runs left on the cluster (a run that was
/// killed before it could delete its Jobs).
pub fn clean(a: CleanArgs) -> u8 {
    if !a.k8s {
        eprintln!("error: say what to clean\n  help: `phx clean --k8s` deletes phx's Jobs and pods from the cluster");
        return exit::USAGE;
    }
    let dir = phx_app::experiment::discover(&a.dir.dir);
    match phx_app::cluster::clean_k8s(&dir) {
        Ok(n) => {
            common::out(&format!("deleted {n} object(s) labelled {}\n", phx_k8s::MANAGED_BY));
            exit::OK
        }
        Err(e) => common::fail(&e),
    }
}
