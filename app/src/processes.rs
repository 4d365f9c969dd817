//! The processes a run starts end with it, even when phx itself is killed
//! (`kill -9`): every command node is contained by the runtime
//! (`phx_runtime::containment`: its cgroup, its environment mark), and
//! while a run goes, a watchdog (this binary again, `phx watchdog`) waits
//! for phx to die, to end whatever its nodes left running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use phx_runtime::containment::{self, Watchdog};

use crate::error::{AppError, AppResult};

/// Whether this process is the phx binary (which has the `watchdog`
/// command); set by the binary itself.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Called by the phx binary at start-up: runs may start watchdogs, which
/// run this binary (a library's tests do not: their executable is not phx).
pub fn enable_watchdog() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The watchdog of this process: started by the first run that needs it,
/// told to leave when the last one using it ends (runs at once share it).
/// `None` in a process that is not phx, and when it cannot start (`note`
/// says so; each node's own containment still works).
pub fn watchdog(note: &(dyn Fn(&str) + Sync)) -> Option<Arc<Watchdog>> {
    static CURRENT: Mutex<Weak<Watchdog>> = Mutex::new(Weak::new());
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(w) = current.upgrade() {
        return Some(w);
    }
    let binary = crate::cluster::worker_binary();
    match Watchdog::start(&binary, &["watchdog", containment::supervisor_id()]) {
        Ok(w) => {
            let w = Arc::new(w);
            *current = Arc::downgrade(&w);
            Some(w)
        }
        Err(e) => {
            note(&format!(
                "phx: warning: cannot start the watchdog ({}: {e}); if phx is killed, processes its commands started may outlive it",
                binary.display()
            ));
            None
        }
    }
}

/// `phx watchdog SUPERVISOR`: waits on stdin for the supervisor's goodbye;
/// if it ends without one (the supervisor died), ends every process the
/// supervisor's nodes started. Returns how many it ended.
pub fn serve_watchdog(supervisor: &str) -> AppResult<usize> {
    containment::watch_stdin(supervisor)
        .map_err(|e| AppError::usage(format!("phx watchdog: {e}")).with_help("it is started by phx run, not by hand"))
}
