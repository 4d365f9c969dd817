//! The SQLite database of the store: runs, node executions, artifacts,
//! lineage edges and cache entries (with the components of their keys, so a
//! miss can say what changed), notebook entries, shares and comments.
//!
//! The connection, the migrations and the schema live here; the queries
//! live in one module per table family: `runs` (with executions and
//! outputs), `cache`, `lineage`, `notebook`, `shares`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use crate::StoreError;

mod cache;
mod lineage;
mod notebook;
mod runs;
mod shares;

pub use cache::CacheEntry;
pub use lineage::ArtifactRow;
pub use notebook::NotebookRow;
pub use runs::{ExecutionRow, NewExecution, OutputRow, ReusedExecution, RunRow, Succeeded};
pub use shares::{CommentRow, ShareRow};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 6;

/// Each migration takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
  id            TEXT PRIMARY KEY,
  file          TEXT NOT NULL,
  started_at    TEXT NOT NULL,
  finished_at   TEXT,
  status        TEXT NOT NULL,
  phx_version   TEXT NOT NULL,
  host          TEXT NOT NULL,
  git_commit    TEXT,
  git_dirty     INTEGER,
  settings_json TEXT NOT NULL
);
CREATE TABLE executions (
  id           INTEGER PRIMARY KEY,
  run_id       TEXT NOT NULL REFERENCES runs(id),
  vertex       TEXT NOT NULL,
  node         TEXT NOT NULL,
  tool         TEXT NOT NULL,
  tool_version TEXT NOT NULL,
  status       TEXT NOT NULL,
  cached       INTEGER NOT NULL DEFAULT 0,
  static_key   TEXT NOT NULL,
  cache_key    TEXT,
  device       TEXT,
  fallback     TEXT,
  backend      TEXT NOT NULL DEFAULT 'local',
  job_id       TEXT,
  started_at   TEXT,
  finished_at  TEXT,
  duration_ms  INTEGER,
  attempt      INTEGER NOT NULL DEFAULT 1,
  exit_code    INTEGER,
  error        TEXT,
  args_json    TEXT NOT NULL
);
CREATE INDEX executions_by_run ON executions(run_id);
CREATE TABLE artifacts (
  sha256     TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,
  size       INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE outputs (
  execution_id INTEGER NOT NULL REFERENCES executions(id),
  name         TEXT NOT NULL,
  sha256       TEXT NOT NULL,
  kind         TEXT NOT NULL,
  meta_json    TEXT NOT NULL,
  PRIMARY KEY (execution_id, name)
);
CREATE INDEX outputs_by_sha ON outputs(sha256);
CREATE TABLE lineage (
  child  TEXT NOT NULL,
  parent TEXT NOT NULL,
  PRIMARY KEY (child, parent)
);
CREATE INDEX lineage_by_parent ON lineage(parent);
CREATE TABLE cache_entries (
  cache_key       TEXT PRIMARY KEY,
  file            TEXT NOT NULL,
  vertex          TEXT NOT NULL,
  tool            TEXT NOT NULL,
  components_json TEXT NOT NULL,
  outputs_json    TEXT NOT NULL,
  execution_id    INTEGER NOT NULL,
  created_at      TEXT NOT NULL
);
CREATE INDEX cache_by_vertex ON cache_entries(file, vertex, created_at);
"#,
    r#"
CREATE INDEX executions_running ON executions(status) WHERE status = 'running';
CREATE TABLE verified (
  sha256   TEXT PRIMARY KEY,
  size     INTEGER NOT NULL,
  ino      INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE notebook_entries (
  seq       INTEGER PRIMARY KEY,
  body_json TEXT NOT NULL,
  hash      TEXT NOT NULL,
  signature TEXT NOT NULL
);
CREATE TABLE notebook_objects (
  seq    INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (seq, sha256)
);
"#,
    // Where a node ran and why there: the policy's decision, kept with the
    // backend and the job id (backend and job_id exist since version 1).
    r#"
ALTER TABLE executions ADD COLUMN placement TEXT;
"#,
    // Share links (only their ids and what they grant: the token itself is
    // never stored) and the comments people with write links leave.
    r#"
CREATE TABLE shares (
  id            TEXT PRIMARY KEY,
  resource_kind TEXT NOT NULL,
  resource_id   TEXT NOT NULL,
  access        TEXT NOT NULL,
  expires_at    INTEGER NOT NULL,
  participants  TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  revoked_at    TEXT
);
CREATE TABLE comments (
  id            INTEGER PRIMARY KEY,
  share_id      TEXT NOT NULL,
  resource_kind TEXT NOT NULL,
  resource_id   TEXT NOT NULL,
  author        TEXT NOT NULL,
  body          TEXT NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE INDEX comments_by_resource ON comments(resource_kind, resource_id);
"#,
    // A cache hit's execution names the execution whose outputs it reused,
    // instead of copying its output rows (a re-run of 100,000 cached nodes
    // wrote 100,000 of them, each into the index by hash).
    r#"
ALTER TABLE executions ADD COLUMN reused_from INTEGER;
CREATE INDEX executions_by_reused ON executions(reused_from) WHERE reused_from IS NOT NULL;
"#,
];

/// The database, safe to share between the scheduler's tasks.
pub struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens the database, applying any migrations it lacks.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let err = |source| StoreError::Db { path: path.to_path_buf(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        // 64 MiB of page cache: recording thousands of nodes does not spill.
        conn.pragma_update(None, "cache_size", -65_536).map_err(err)?;
        let db = Db { path: path.to_path_buf(), conn: Mutex::new(conn) };
        db.migrate()?;
        Ok(db)
    }

    /// A second connection to the same database, for a thread that writes
    /// beside this one's work (WAL lets it read meanwhile).
    pub fn another_connection(&self) -> Result<Db, StoreError> {
        Db::open(&self.path)
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Db { path: self.path.clone(), source }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard).map_err(|e| self.err(e))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let version: i64 = self.with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { path: self.path.clone(), found: version, supported: SCHEMA_VERSION });
        }
        if version as usize >= MIGRATIONS.len() {
            return Ok(());
        }
        // Two processes may open a new store at once (`phx run` and `phx
        // runs` in a fresh folder): the write lock is taken first (waiting
        // for the other, within the busy timeout), and the version is read
        // again under it, so each migration runs exactly once.
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            }
            tx.commit()
        })?;
        Ok(())
    }

    /// The schema version on disk.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }

    /// Runs SQL on the database directly. Tests use it to tamper with the
    /// store the way someone with file access could.
    #[doc(hidden)]
    pub fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        self.with(|c| c.execute_batch(sql))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;

    #[test]
    fn a_new_store_opened_by_many_at_once_migrates_once() {
        // `phx run` and `phx runs` in a fresh folder at the same moment.
        for round in 0..5 {
            let dir = std::env::temp_dir().join(format!("phx-migrate-race-{}-{round}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("phx.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let opened: Vec<_> = (0..8)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Db::open(&path).map(|db| db.schema_version().unwrap()).map_err(|e| e.to_string())
                    })
                })
                .collect();
            for o in opened {
                assert_eq!(o.join().unwrap(), Ok(SCHEMA_VERSION));
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn an_old_store_migrates_and_keeps_its_data() {
        let dir = std::env::temp_dir().join(format!("phx-migrate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("phx.db");
        {
            // A store as version 1 left it.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO runs (id, file, started_at, status, phx_version, host, settings_json) VALUES ('r1', 'a.phx', 't', 'succeeded', '0.1.0', 'h', '{}')",
                [],
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(db.runs().unwrap().len(), 1, "the old run is still there");
        assert!(db.verified_fingerprints().unwrap().is_empty(), "the new table exists");
        // A store from a newer phx is refused, not damaged.
        drop(db);
        Connection::open(&path).unwrap().pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        assert!(matches!(Db::open(&path), Err(StoreError::NewerSchema { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cache_hit_has_the_outputs_of_the_execution_it_reused() {
        let dir = std::env::temp_dir().join(format!("phx-reused-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::open(&dir.join("phx.db")).unwrap();
        db.with(|c| {
            c.execute_batch(
                "INSERT INTO runs (id, file, started_at, status, phx_version, host, settings_json) VALUES ('r1', 'a.phx', 't', 'succeeded', '0.1.0', 'h', '{}'), ('r2', 'a.phx', 'u', 'succeeded', '0.1.0', 'h', '{}')",
            )
        })
        .unwrap();
        let execution = |run: &str| NewExecution {
            run_id: run.into(),
            vertex: "t[3]".into(),
            node: "t".into(),
            tool: "x.y".into(),
            tool_version: "1".into(),
            static_key: "k".into(),
            cache_key: Some("key".into()),
            args_json: "{}".into(),
            attempt: 1,
            started_at: "t".into(),
        };
        let made = db.start_execution(&execution("r1")).unwrap();
        let out = OutputRow { name: "out".into(), sha256: "abc".into(), kind: "File".into(), meta_json: "{}".into() };
        let ended = Succeeded { duration_ms: 5, device: Some("cpu"), fallback: None, exit_code: Some(0) };
        db.commit_outputs(made, std::slice::from_ref(&out), &[2], &[], None, "t", &ended).unwrap();
        db.record_cached(&[ReusedExecution { execution: execution("r2"), device: "cpu".into(), from: made }]).unwrap();
        let reused = db.executions("r2").unwrap();
        assert_eq!(reused.len(), 1);
        assert!(reused[0].cached);
        // No rows of its own: the reused execution's are its outputs.
        let own: i64 = db
            .with(|c| c.query_row("SELECT COUNT(*) FROM outputs WHERE execution_id = ?1", [reused[0].id], |r| r.get(0)))
            .unwrap();
        assert_eq!(own, 0);
        assert_eq!(db.outputs(reused[0].id).unwrap(), vec![out.clone()]);
        assert_eq!(db.outputs(made).unwrap(), vec![out]);
        // Both are found from the artifact, newest first.
        let runs: Vec<String> = db.producers("abc").unwrap().into_iter().map(|(e, _)| e.run_id).collect();
        assert_eq!(runs, ["r2", "r1"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn producers_name_the_output_whatever_the_placement() {
        let dir = std::env::temp_dir().join(format!("phx-producers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::open(&dir.join("phx.db")).unwrap();
        db.with(|c| {
            c.execute(
                "INSERT INTO runs (id, file, started_at, status, phx_version, host, settings_json) VALUES ('r1', 'a.phx', 't', 'succeeded', '0.1.0', 'h', '{}')",
                [],
            )
        })
        .unwrap();
        for (vertex, placement) in [("here", None), ("there", Some("backend = slurm: asked for"))] {
            let id = db
                .start_execution(&NewExecution {
                    run_id: "r1".into(),
                    vertex: vertex.into(),
                    node: vertex.into(),
                    tool: "t".into(),
                    tool_version: "1".into(),
                    static_key: "k".into(),
                    cache_key: None,
                    args_json: "{}".into(),
                    attempt: 1,
                    started_at: "t".into(),
                })
                .unwrap();
            db.with(|c| {
                c.execute("UPDATE executions SET placement = ?2 WHERE id = ?1", params![id, placement])?;
                c.execute(
                    "INSERT INTO outputs (execution_id, name, sha256, kind, meta_json) VALUES (?1, ?2, 'abc', 'Float', '{}')",
                    params![id, format!("out_{vertex}")],
                )
            })
            .unwrap();
        }
        let found = db.producers("abc").unwrap();
        let names: Vec<(&str, &str)> = found.iter().map(|(e, n)| (e.vertex.as_str(), n.as_str())).collect();
        assert_eq!(names, [("there", "out_there"), ("here", "out_here")]);
        assert_eq!(found[0].0.placement.as_deref(), Some("backend = slurm: asked for"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
