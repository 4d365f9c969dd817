//! `phx watchdog SUPERVISOR` (hidden): what a run starts beside itself
//! (`phx_app::processes`). It waits on its stdin, a pipe only the run's
//! phx can write to; if the pipe ends without a goodbye (phx was killed),
//! it ends every process the run's commands started.

use super::{common, exit};

#[derive(clap::Args)]
pub struct Args {
    /// The phx process it watches: `PID_START`.
    supervisor: String,
}

pub fn run(a: Args) -> u8 {
    match phx_app::processes::serve_watchdog(&a.supervisor) {
        Ok(_) => exit::OK,
        Err(e) => common::fail(&e),
    }
}
