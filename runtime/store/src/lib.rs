//! The store of an experiment folder: immutable objects named by their
//! SHA-256 under `.phx/objects/`, and one SQLite database (`.phx/phx.db`) of
//! runs, node executions, artifacts, lineage and cache entries.
//!
//! Writes are atomic: an object is written to a temporary file in the same
//! file system, fsynced, and renamed into place, so a reader never sees half
//! an object and a crash at any moment leaves either nothing or the whole
//! object. The database runs in WAL mode with a busy timeout, and its schema
//! moves forward by numbered migrations.

mod db;
mod objects;

pub use db::{
    ArtifactRow, CacheEntry, CommentRow, Db, ExecutionRow, NewExecution, NotebookRow, OutputRow, ReusedExecution,
    RunRow, SCHEMA_VERSION, ShareRow, Succeeded,
};
pub use objects::{Fingerprint, ObjectStore, Verified, hash_file};

/// The shards of the object store, in order: `00` to `ff`, the first two
/// hex digits of the hashes they hold.
pub fn shards() -> impl Iterator<Item = String> {
    (0..=255u8).map(|b| format!("{b:02x}"))
}

use std::path::{Path, PathBuf};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {action} `{path}`: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("the store database `{path}` failed: {source}")]
    Db { path: PathBuf, source: rusqlite::Error },
    #[error("the store database `{path}` has schema version {found}, newer than this phx understands ({supported})")]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    #[error("object {sha256} is corrupt: its bytes hash to {actual}")]
    Corrupt { sha256: String, actual: String },
    #[error("object {0} is not in the store")]
    Missing(String),
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io { action, path: path.to_path_buf(), source }
    }

    /// A one-line hint for a person: what to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            StoreError::Io { source, .. }
                if matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EFBIG | libc::EDQUOT)) =>
            {
                "the disk is full (or a size limit was reached): free space, or run `phx store gc` to drop unreferenced objects"
            }
            StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                "the store is not writable: check the permissions of the experiment folder's `.phx/`"
            }
            StoreError::Io { .. } => "check that the experiment folder is on a writable, local file system",
            StoreError::Db { source, .. } if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) => {
                "the disk is full: free space, then run again; finished nodes are kept"
            }
            StoreError::Db { .. } => "another phx may hold the database; if none runs, `phx store verify` checks it",
            StoreError::NewerSchema { .. } => "use the phx version that wrote this store, or a newer one",
            StoreError::Corrupt { .. } => "the object will be recomputed on the next run; `phx store verify` lists all",
            StoreError::Missing(_) => "`phx store verify` checks the store; the next run recomputes what is missing",
        }
    }
}

/// Whether `id` is a vertex id a program can make: a node name, or a
/// sweep instance `name[N]`. Records from elsewhere (a bundle) must hold
/// only these, since folders are named after them.
pub fn is_vertex_id(id: &str) -> bool {
    parse_vertex_id(id).is_some()
}

/// A vertex id's node name and, for a sweep instance `name[N]`, its index;
/// `None` for anything a program cannot make.
pub fn parse_vertex_id(id: &str) -> Option<(&str, Option<usize>)> {
    let ident = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match id.split_once('[') {
        Some((name, rest)) => {
            let digits = rest.strip_suffix(']').filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))?;
            ident(name).then_some((name, Some(digits.parse().ok()?)))
        }
        None => ident(id).then_some((id, None)),
    }
}

/// Writes a file so that a reader never sees half of it: a temporary file
/// beside it, fsynced, then renamed into place (the temporary is removed
/// when the rename fails).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.phx-tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The files of a working folder that are always kept: the command's logs
/// and scripts, for `phx show` and a person reading them.
const LOGS: &[&str] = &[".phx-stdout", ".phx-stderr", ".phx-run.sh", "job.out", "job.err", "job.sh"];

/// What a succeeded node's working folder also keeps, so that it can be run
/// again by hand (`phx worker spec.json`): its spec, its result record and
/// its inputs (links to store objects: no bytes of their own).
const TO_RERUN: &[&str] = &["spec.json", "result.json", "in"];

/// How much of a working folder to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The logs and what runs the node again by hand (a node that just
    /// succeeded).
    Rerunnable,
    /// The logs alone (`phx store gc`).
    Logs,
}

/// Empties a working folder down to what `keep` says (its outputs are safe
/// in the store by then); removes the folder when nothing is left. Returns
/// the bytes freed.
pub fn prune_work_dir(dir: &Path, keep: Keep) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut freed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        if LOGS.iter().any(|k| name == *k) || (keep == Keep::Rerunnable && TO_RERUN.iter().any(|k| name == *k)) {
            continue;
        }
        let path = e.path();
        freed += disk_bytes(&path);
        let removed = match e.file_type() {
            Ok(t) if t.is_dir() => remove_tree(&path),
            _ => std::fs::remove_file(&path),
        };
        if removed.is_err() {
            freed = freed.saturating_sub(disk_bytes(&path));
        }
    }
    // Only an empty folder goes; one with logs stays.
    let _ = std::fs::remove_dir(dir);
    // Bytes that were another link to an object were not freed.
    fn disk_bytes(p: &Path) -> u64 {
        let Ok(m) = std::fs::symlink_metadata(p) else { return 0 };
        if m.is_dir() {
            std::fs::read_dir(p).into_iter().flatten().flatten().map(|e| disk_bytes(&e.path())).sum()
        } else if m.nlink() > 1 {
            0
        } else {
            m.blocks() * 512
        }
    }
    freed
}

/// Removes a folder tree, also one a command left read-only.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    if std::fs::remove_dir_all(dir).is_ok() {
        return Ok(());
    }
    use std::os::unix::fs::PermissionsExt;
    for e in walk(dir) {
        // Never through a symbolic link: only the folder's own directories.
        if std::fs::symlink_metadata(&e).is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o700));
        }
    }
    std::fs::remove_dir_all(dir)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = std::fs::read_dir(&out[i])
            && std::fs::symlink_metadata(&out[i]).is_ok_and(|m| m.is_dir())
        {
            out.extend(rd.flatten().map(|e| e.path()));
        }
        i += 1;
    }
    out
}

/// Held while a run uses the store; released when dropped (or when the
/// process dies, however it dies).
pub struct RunLock {
    _file: std::fs::File,
}

/// The `.phx/` folder of an experiment and everything in it.
pub struct Store {
    pub root: PathBuf,
    pub objects: ObjectStore,
    pub db: Db,
}

impl Store {
    /// Opens (creating if needed) the store under `experiment_dir/.phx`.
    pub fn open(experiment_dir: &Path) -> Result<Store, StoreError> {
        let root = experiment_dir.join(".phx");
        for sub in ["", "objects", "tmp", "runs"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
        }
        let objects = ObjectStore::new(root.join("objects"), root.join("tmp"));
        let db = Db::open(&root.join("phx.db"))?;
        Ok(Store { root, objects, db })
    }

    /// The run lock's file (`.phx/lock`), opened for `flock`.
    fn lock_file(&self) -> Result<std::fs::File, StoreError> {
        let path = self.root.join("lock");
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("open", &path, e))
    }

    /// Takes the folder's run lock: two `phx run` in one folder never
    /// interleave. When another process holds it, `on_wait` is called once
    /// and the call blocks until the lock is free.
    pub fn lock(&self, on_wait: &dyn Fn()) -> Result<RunLock, StoreError> {
        self.lock_unless(on_wait, &|| false).map(|l| l.expect("never given up"))
    }

    /// Like [`Store::lock`], but gives up (`Ok(None)`) as soon as
    /// `give_up` says so while it waits: a cancelled run stops waiting.
    pub fn lock_unless(&self, on_wait: &dyn Fn(), give_up: &dyn Fn() -> bool) -> Result<Option<RunLock>, StoreError> {
        use std::os::fd::AsRawFd;
        let file = self.lock_file()?;
        let mut waited = false;
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Some(RunLock { _file: file }));
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(StoreError::io("lock", &self.root.join("lock"), err));
            }
            if !waited {
                on_wait();
                waited = true;
            }
            if give_up() {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Takes the run lock only if no run holds it now (`None` then).
    pub fn try_lock(&self) -> Result<Option<RunLock>, StoreError> {
        use std::os::fd::AsRawFd;
        let file = self.lock_file()?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Ok(None);
        }
        Ok(Some(RunLock { _file: file }))
    }

    /// Prunes the working folders of every run that is not running (see
    /// [`prune_work_dir`]); call with the run lock held. Returns the
    /// folders pruned and the bytes freed.
    pub fn prune_work_dirs(&self) -> Result<(usize, u64), StoreError> {
        let runs = self.root.join("runs");
        let Ok(entries) = std::fs::read_dir(&runs) else { return Ok((0, 0)) };
        let (mut folders, mut bytes) = (0, 0);
        for run in entries.flatten() {
            let id = run.file_name().to_string_lossy().into_owned();
            if self.db.run(&id)?.is_some_and(|r| r.status == "running") {
                continue;
            }
            let work = run.path().join("work");
            for w in std::fs::read_dir(&work).into_iter().flatten().flatten() {
                if w.file_type().is_ok_and(|t| t.is_dir()) {
                    bytes += prune_work_dir(&w.path(), Keep::Logs);
                    folders += 1;
                }
            }
            let _ = std::fs::remove_dir(&work);
        }
        Ok((folders, bytes))
    }

    /// Marks runs `dead` that say they are running while nobody holds the
    /// run lock (their process was killed: the lock went with it). Does
    /// nothing while a run holds the lock; returns how many were marked.
    pub fn settle_dead_runs(&self, now: &str, host: &str) -> Result<usize, StoreError> {
        if !self.db.any_running()? {
            return Ok(0);
        }
        match self.try_lock()? {
            Some(_lock) => self.db.close_abandoned_runs(now, host),
            None => Ok(0),
        }
    }

    /// The folder of one run (logs, working folders).
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }
}

#[cfg(test)]
mod vertex_id_tests {
    use super::is_vertex_id;

    #[test]
    fn vertex_ids_are_names_or_instances() {
        for ok in ["density", "_x1", "scan[0]", "scan[123]"] {
            assert!(is_vertex_id(ok), "{ok}");
        }
        for bad in ["", "../x", "a/b", "1a", "scan[]", "scan[-1]", "scan[1]x", "scan[../1]", "a b", "ψ"] {
            assert!(!is_vertex_id(bad), "{bad}");
        }
    }
}
