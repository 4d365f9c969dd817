//! Where a run happened: host, phx version, and the git commit of the
//! experiment folder (with a dirty flag) when it is a work tree.

use std::path::Path;
use std::process::Command;

/// The version of phx that records provenance.
pub const PHX_VERSION: &str = env!("CARGO_PKG_VERSION");

/// This machine's host name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The commit of the git work tree holding `dir`, and whether it has
/// uncommitted changes; `None` outside a work tree or without git.
pub fn git_state(dir: &Path) -> Option<(String, bool)> {
    let commit = Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).output().ok()?;
    if !commit.status.success() {
        return None;
    }
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_string();
    let status =
        Command::new("git").arg("-C").arg(dir).args(["status", "--porcelain", "--untracked-files=no"]).output().ok()?;
    let dirty = status.status.success() && !status.stdout.is_empty();
    Some((commit, dirty))
}
