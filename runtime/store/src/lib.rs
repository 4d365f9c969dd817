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
    ArtifactRow, CacheEntry, CommentRow, Db, ExecutionRow, NewExecution, NotebookRow, OutputRow, RunRow,
    SCHEMA_VERSION, ShareRow,
};
pub use objects::{Fingerprint, ObjectStore, Verified, hash_file};

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
        let path = self.root.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("open", &path, e))?;
        let mut waited = false;
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Some(RunLock { _file: file }));
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(StoreError::io("lock", &path, err));
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

    /// The folder of one run (logs, working folders).
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }
}
