//! The SQLite database of the store: runs, node executions, artifacts,
//! lineage edges and cache entries (with the components of their keys, so a
//! miss can say what changed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 5;

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
];

/// A share link's record: what it grants, to whom, until when.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShareRow {
    pub id: String,
    /// `run`, `bundle` or `session`.
    pub resource_kind: String,
    pub resource_id: String,
    /// `read` or `write`.
    pub access: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub participants: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A comment left through a write link.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CommentRow {
    pub id: i64,
    pub share_id: String,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

/// One notebook entry as stored: the signed body (canonical JSON), its
/// SHA-256 and the ed25519 signature over the body.
#[derive(Clone, Debug, PartialEq)]
pub struct NotebookRow {
    pub seq: i64,
    pub body_json: String,
    pub hash: String,
    pub signature: String,
}

/// One run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRow {
    pub id: String,
    pub file: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub phx_version: String,
    pub host: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub settings_json: String,
}

/// A node execution as it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct NewExecution {
    pub run_id: String,
    pub vertex: String,
    pub node: String,
    pub tool: String,
    pub tool_version: String,
    pub static_key: String,
    pub cache_key: Option<String>,
    pub args_json: String,
    pub attempt: u32,
    pub started_at: String,
}

/// A node execution, finished or not.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExecutionRow {
    pub id: i64,
    pub run_id: String,
    pub vertex: String,
    pub node: String,
    pub tool: String,
    pub tool_version: String,
    pub status: String,
    pub cached: bool,
    pub static_key: String,
    pub cache_key: Option<String>,
    pub device: Option<String>,
    pub fallback: Option<String>,
    pub backend: String,
    pub job_id: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub attempt: i64,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub args_json: String,
    /// Why the node ran on its backend (the policy's decision).
    #[serde(default)]
    pub placement: Option<String>,
}

/// One named output of an execution.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputRow {
    pub name: String,
    pub sha256: String,
    pub kind: String,
    pub meta_json: String,
}

/// An artifact (a stored object with a kind).
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactRow {
    pub sha256: String,
    pub kind: String,
    pub size: i64,
    pub created_at: String,
}

/// A cache entry: the key, its components, and the outputs it stands for.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheEntry {
    pub cache_key: String,
    pub file: String,
    pub vertex: String,
    pub tool: String,
    pub components_json: String,
    pub outputs_json: String,
    pub execution_id: i64,
    pub created_at: String,
}

/// The database, safe to share between the scheduler's tasks.
pub struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn row_execution(r: &rusqlite::Row) -> rusqlite::Result<ExecutionRow> {
    Ok(ExecutionRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        vertex: r.get(2)?,
        node: r.get(3)?,
        tool: r.get(4)?,
        tool_version: r.get(5)?,
        status: r.get(6)?,
        cached: r.get::<_, i64>(7)? != 0,
        static_key: r.get(8)?,
        cache_key: r.get(9)?,
        device: r.get(10)?,
        fallback: r.get(11)?,
        backend: r.get(12)?,
        job_id: r.get(13)?,
        started_at: r.get(14)?,
        finished_at: r.get(15)?,
        duration_ms: r.get(16)?,
        attempt: r.get(17)?,
        exit_code: r.get(18)?,
        error: r.get(19)?,
        args_json: r.get(20)?,
        placement: r.get(21)?,
    })
}

const EXECUTION_COLUMNS: &str = "id, run_id, vertex, node, tool, tool_version, status, cached, static_key, cache_key, device, fallback, backend, job_id, started_at, finished_at, duration_ms, attempt, exit_code, error, args_json, placement";

fn row_run(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        file: r.get(1)?,
        started_at: r.get(2)?,
        finished_at: r.get(3)?,
        status: r.get(4)?,
        phx_version: r.get(5)?,
        host: r.get(6)?,
        git_commit: r.get(7)?,
        git_dirty: r.get::<_, Option<i64>>(8)?.map(|d| d != 0),
        settings_json: r.get(9)?,
    })
}

const RUN_COLUMNS: &str =
    "id, file, started_at, finished_at, status, phx_version, host, git_commit, git_dirty, settings_json";

fn row_cache(r: &rusqlite::Row) -> rusqlite::Result<CacheEntry> {
    Ok(CacheEntry {
        cache_key: r.get(0)?,
        file: r.get(1)?,
        vertex: r.get(2)?,
        tool: r.get(3)?,
        components_json: r.get(4)?,
        outputs_json: r.get(5)?,
        execution_id: r.get(6)?,
        created_at: r.get(7)?,
    })
}

const CACHE_COLUMNS: &str = "cache_key, file, vertex, tool, components_json, outputs_json, execution_id, created_at";

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
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            self.with(|c| {
                let tx = c.transaction()?;
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", (i + 1) as i64)?;
                tx.commit()
            })?;
        }
        Ok(())
    }

    /// The schema version on disk.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }

    /// Records a run as started.
    pub fn insert_run(&self, r: &RunRow) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                &format!("INSERT INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    r.id,
                    r.file,
                    r.started_at,
                    r.finished_at,
                    r.status,
                    r.phx_version,
                    r.host,
                    r.git_commit,
                    r.git_dirty.map(i64::from),
                    r.settings_json
                ],
            )
            .map(|_| ())
        })
    }

    /// Records how a run ended.
    pub fn finish_run(&self, id: &str, status: &str, finished_at: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1", params![id, status, finished_at])
                .map(|_| ())
        })
    }

    /// Runs that never finished (their process died): marked cancelled.
    pub fn close_abandoned_runs(&self, finished_at: &str) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE executions SET status = 'cancelled', finished_at = ?1, error = 'the run was interrupted' WHERE status = 'running'",
                params![finished_at],
            )?;
            let n = tx.execute("UPDATE runs SET status = 'cancelled', finished_at = ?1 WHERE status = 'running'", params![finished_at])?;
            tx.commit()?;
            Ok(n)
        })
    }

    /// All runs, newest first.
    pub fn runs(&self) -> Result<Vec<RunRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC"))?;
            st.query_map([], row_run)?.collect()
        })
    }

    /// One run by id, or by a unique prefix of its id.
    pub fn run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE id LIKE ?1 || '%' ORDER BY started_at DESC LIMIT 2"
            ))?;
            let rows: Vec<RunRow> = st.query_map(params![id], row_run)?.collect::<rusqlite::Result<_>>()?;
            Ok(if rows.len() == 1 { rows.into_iter().next() } else { rows.into_iter().find(|r| r.id == id) })
        })
    }

    /// Records an execution as running; returns its id.
    pub fn start_execution(&self, e: &NewExecution) -> Result<i64, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO executions (run_id, vertex, node, tool, tool_version, status, static_key, cache_key, args_json, attempt, started_at) VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?8, ?9, ?10)",
                params![e.run_id, e.vertex, e.node, e.tool, e.tool_version, e.static_key, e.cache_key, e.args_json, e.attempt, e.started_at],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Records an execution that did not run (cached, or skipped).
    pub fn record_execution(
        &self,
        e: &NewExecution,
        status: &str,
        cached: bool,
        device: Option<&str>,
        error: Option<&str>,
    ) -> Result<i64, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO executions (run_id, vertex, node, tool, tool_version, status, cached, static_key, cache_key, args_json, attempt, started_at, finished_at, duration_ms, device, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, 0, ?13, ?14)",
                params![e.run_id, e.vertex, e.node, e.tool, e.tool_version, status, i64::from(cached), e.static_key, e.cache_key, e.args_json, e.attempt, e.started_at, device, error],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Records many reused (cached) executions and their outputs in one
    /// transaction: a no-op re-run of thousands of nodes is one commit.
    pub fn record_cached(&self, batch: &[(NewExecution, String, Vec<OutputRow>)]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO executions (run_id, vertex, node, tool, tool_version, status, cached, static_key, cache_key, args_json, attempt, started_at, finished_at, duration_ms, device) VALUES (?1, ?2, ?3, ?4, ?5, 'succeeded', 1, ?6, ?7, ?8, ?9, ?10, ?10, 0, ?11)",
                )?;
                let mut out = tx.prepare_cached("INSERT OR REPLACE INTO outputs (execution_id, name, sha256, kind, meta_json) VALUES (?1, ?2, ?3, ?4, ?5)")?;
                for (e, device, outputs) in batch {
                    ins.execute(params![e.run_id, e.vertex, e.node, e.tool, e.tool_version, e.static_key, e.cache_key, e.args_json, e.attempt, e.started_at, device])?;
                    let id = tx.last_insert_rowid();
                    for o in outputs {
                        out.execute(params![id, o.name, o.sha256, o.kind, o.meta_json])?;
                    }
                }
            }
            tx.commit()
        })
    }

    /// Records how an execution ended.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_execution(
        &self,
        id: i64,
        status: &str,
        finished_at: &str,
        duration_ms: i64,
        device: Option<&str>,
        fallback: Option<&str>,
        exit_code: Option<i64>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE executions SET status = ?2, finished_at = ?3, duration_ms = ?4, device = ?5, fallback = ?6, exit_code = ?7, error = ?8 WHERE id = ?1",
                params![id, status, finished_at, duration_ms, device, fallback, exit_code, error],
            )
            .map(|_| ())
        })
    }

    /// Records where an execution runs: its backend, the job id there (once
    /// submitted) and the reason the policy gave.
    pub fn set_execution_placement(
        &self,
        id: i64,
        backend: &str,
        job_id: Option<&str>,
        placement: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE executions SET backend = ?2, job_id = ?3, placement = ?4 WHERE id = ?1",
                params![id, backend, job_id, placement],
            )
            .map(|_| ())
        })
    }

    /// Records a successful execution's outputs, their artifacts and lineage,
    /// and the cache entry, in one transaction: either all of it is there
    /// or none of it.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_outputs(
        &self,
        execution_id: i64,
        outputs: &[OutputRow],
        sizes: &[i64],
        parents: &[String],
        cache: Option<&CacheEntry>,
        now: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for (o, size) in outputs.iter().zip(sizes) {
                tx.execute(
                    "INSERT OR IGNORE INTO artifacts (sha256, kind, size, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![o.sha256, o.kind, size, now],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO outputs (execution_id, name, sha256, kind, meta_json) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![execution_id, o.name, o.sha256, o.kind, o.meta_json],
                )?;
                for p in parents {
                    if *p != o.sha256 {
                        tx.execute("INSERT OR IGNORE INTO lineage (child, parent) VALUES (?1, ?2)", params![o.sha256, p])?;
                    }
                }
            }
            if let Some(ce) = cache {
                tx.execute(
                    &format!("INSERT OR REPLACE INTO cache_entries ({CACHE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    params![ce.cache_key, ce.file, ce.vertex, ce.tool, ce.components_json, ce.outputs_json, ce.execution_id, ce.created_at],
                )?;
            }
            tx.commit()
        })
    }

    /// The executions of a run, in the order they were recorded.
    pub fn executions(&self, run_id: &str) -> Result<Vec<ExecutionRow>, StoreError> {
        self.with(|c| {
            let mut st =
                c.prepare(&format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE run_id = ?1 ORDER BY id"))?;
            st.query_map(params![run_id], row_execution)?.collect()
        })
    }

    /// One execution by id.
    pub fn execution(&self, id: i64) -> Result<Option<ExecutionRow>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?1"),
                params![id],
                row_execution,
            )
            .optional()
        })
    }

    /// The outputs of an execution.
    pub fn outputs(&self, execution_id: i64) -> Result<Vec<OutputRow>, StoreError> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT name, sha256, kind, meta_json FROM outputs WHERE execution_id = ?1 ORDER BY name")?;
            st.query_map(params![execution_id], |r| {
                Ok(OutputRow { name: r.get(0)?, sha256: r.get(1)?, kind: r.get(2)?, meta_json: r.get(3)? })
            })?
            .collect()
        })
    }

    /// The cache entry with this key.
    pub fn cache_entry(&self, key: &str) -> Result<Option<CacheEntry>, StoreError> {
        // Prepared once per connection: a run looks up every node's key.
        self.with(|c| {
            c.prepare_cached(&format!("SELECT {CACHE_COLUMNS} FROM cache_entries WHERE cache_key = ?1"))?
                .query_row(params![key], row_cache)
                .optional()
        })
    }

    /// A cache entry without the components of its key (a hit needs only
    /// the outputs; the components, the largest column, explain misses).
    pub fn cache_entry_outputs(&self, key: &str) -> Result<Option<CacheEntry>, StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT cache_key, file, vertex, tool, '', outputs_json, execution_id, created_at FROM cache_entries WHERE cache_key = ?1",
            )?
            .query_row(params![key], row_cache)
            .optional()
        })
    }

    /// The newest cache entry of a vertex of a file (to explain a miss).
    pub fn latest_cache_entry(&self, file: &str, vertex: &str) -> Result<Option<CacheEntry>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {CACHE_COLUMNS} FROM cache_entries WHERE file = ?1 AND vertex = ?2 ORDER BY created_at DESC, execution_id DESC LIMIT 1"),
                params![file, vertex],
                row_cache,
            )
            .optional()
        })
    }

    /// Drops a cache entry (its object was found corrupt or missing).
    pub fn drop_cache_entry(&self, key: &str) -> Result<(), StoreError> {
        self.with(|c| c.execute("DELETE FROM cache_entries WHERE cache_key = ?1", params![key]).map(|_| ()))
    }

    /// One artifact.
    pub fn artifact(&self, sha256: &str) -> Result<Option<ArtifactRow>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT sha256, kind, size, created_at FROM artifacts WHERE sha256 = ?1",
                params![sha256],
                |r| Ok(ArtifactRow { sha256: r.get(0)?, kind: r.get(1)?, size: r.get(2)?, created_at: r.get(3)? }),
            )
            .optional()
        })
    }

    /// Artifacts whose hash starts with `prefix`.
    pub fn artifacts_by_prefix(&self, prefix: &str) -> Result<Vec<ArtifactRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT sha256, kind, size, created_at FROM artifacts WHERE sha256 LIKE ?1 || '%' ORDER BY sha256 LIMIT 20")?;
            st.query_map(params![prefix], |r| Ok(ArtifactRow { sha256: r.get(0)?, kind: r.get(1)?, size: r.get(2)?, created_at: r.get(3)? }))?
                .collect()
        })
    }

    /// The direct parents and children of an artifact.
    pub fn lineage_of(&self, sha256: &str) -> Result<(Vec<String>, Vec<String>), StoreError> {
        self.with(|c| {
            let mut p = c.prepare("SELECT parent FROM lineage WHERE child = ?1 ORDER BY parent")?;
            let parents = p.query_map(params![sha256], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
            let mut ch = c.prepare("SELECT child FROM lineage WHERE parent = ?1 ORDER BY child")?;
            let children = ch.query_map(params![sha256], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
            Ok((parents, children))
        })
    }

    /// The executions that produced an artifact (newest first).
    pub fn producers(&self, sha256: &str) -> Result<Vec<(ExecutionRow, String)>, StoreError> {
        self.with(|c| {
            let cols: Vec<String> = EXECUTION_COLUMNS.split(", ").map(|x| format!("e.{x}")).collect();
            let mut st = c.prepare(&format!(
                "SELECT {}, o.name FROM outputs o JOIN executions e ON e.id = o.execution_id WHERE o.sha256 = ?1 ORDER BY e.id DESC",
                cols.join(", ")
            ))?;
            // The output's name comes after every execution column.
            let name_at = cols.len();
            st.query_map(params![sha256], |r| Ok((row_execution(r)?, r.get(name_at)?)))?.collect()
        })
    }

    /// Every object hash that a run output or cache entry refers to.
    pub fn referenced_objects(&self) -> Result<BTreeSet<String>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT sha256 FROM outputs UNION SELECT sha256 FROM artifacts UNION SELECT sha256 FROM notebook_objects",
            )?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    /// Appends a notebook entry and the objects it holds on to. Fails with
    /// `Ok(false)` when an entry with this `seq` exists already (another
    /// writer came first: build the entry again on the new last one).
    pub fn append_notebook_entry(&self, row: &NotebookRow, objects: &[String]) -> Result<bool, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let taken: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM notebook_entries WHERE seq = ?1)", params![row.seq], |r| {
                    r.get(0)
                })?;
            if taken {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO notebook_entries (seq, body_json, hash, signature) VALUES (?1, ?2, ?3, ?4)",
                params![row.seq, row.body_json, row.hash, row.signature],
            )?;
            for sha in objects {
                tx.execute(
                    "INSERT OR IGNORE INTO notebook_objects (seq, sha256) VALUES (?1, ?2)",
                    params![row.seq, sha],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
    }

    /// Every notebook entry, in the order of `seq`.
    pub fn notebook_entries(&self) -> Result<Vec<NotebookRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT seq, body_json, hash, signature FROM notebook_entries ORDER BY seq")?;
            st.query_map([], |r| {
                Ok(NotebookRow { seq: r.get(0)?, body_json: r.get(1)?, hash: r.get(2)?, signature: r.get(3)? })
            })?
            .collect()
        })
    }

    /// The last notebook entry, if any.
    pub fn last_notebook_entry(&self) -> Result<Option<NotebookRow>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT seq, body_json, hash, signature FROM notebook_entries ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok(NotebookRow { seq: r.get(0)?, body_json: r.get(1)?, hash: r.get(2)?, signature: r.get(3)? }),
            )
            .optional()
        })
    }

    /// Adds a run that another store recorded (from a bundle): the run, its
    /// executions with their outputs and artifacts, and lineage, in one
    /// transaction.
    pub fn import_run(
        &self,
        run: &RunRow,
        executions: &[(ExecutionRow, Vec<OutputRow>, Vec<i64>)],
        lineage: &[(String, String)],
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO runs (id, file, started_at, finished_at, status, phx_version, host, git_commit, git_dirty, settings_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![run.id, run.file, run.started_at, run.finished_at, run.status, run.phx_version, run.host, run.git_commit, run.git_dirty, run.settings_json],
            )?;
            for (e, outputs, sizes) in executions {
                tx.execute(
                    "INSERT INTO executions (run_id, vertex, node, tool, tool_version, status, cached, static_key, cache_key, device, fallback, backend, job_id, started_at, finished_at, duration_ms, attempt, exit_code, error, args_json, placement) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
                    params![run.id, e.vertex, e.node, e.tool, e.tool_version, e.status, e.cached, e.static_key, e.cache_key, e.device, e.fallback, e.backend, e.job_id, e.started_at, e.finished_at, e.duration_ms, e.attempt, e.exit_code, e.error, e.args_json, e.placement],
                )?;
                let id = tx.last_insert_rowid();
                for (o, size) in outputs.iter().zip(sizes) {
                    tx.execute(
                        "INSERT OR IGNORE INTO artifacts (sha256, kind, size, created_at) VALUES (?1, ?2, ?3, ?4)",
                        params![o.sha256, o.kind, size, run.started_at],
                    )?;
                    tx.execute(
                        "INSERT OR REPLACE INTO outputs (execution_id, name, sha256, kind, meta_json) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, o.name, o.sha256, o.kind, o.meta_json],
                    )?;
                }
            }
            for (child, parent) in lineage {
                tx.execute("INSERT OR IGNORE INTO lineage (child, parent) VALUES (?1, ?2)", params![child, parent])?;
            }
            tx.commit()
        })
    }

    /// Records a new share link.
    pub fn insert_share(&self, s: &ShareRow) -> Result<(), StoreError> {
        let participants = serde_json::to_string(&s.participants).unwrap_or_else(|_| "[]".into());
        self.with(|c| {
            c.execute(
                "INSERT INTO shares (id, resource_kind, resource_id, access, expires_at, participants, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![s.id, s.resource_kind, s.resource_id, s.access, s.expires_at, participants, s.created_at, s.revoked_at],
            )
            .map(|_| ())
        })
    }

    fn share_rows(&self, filter: &str, arg: Option<&str>) -> Result<Vec<ShareRow>, StoreError> {
        self.with(|c| {
            let sql = format!("SELECT id, resource_kind, resource_id, access, expires_at, participants, created_at, revoked_at FROM shares {filter} ORDER BY created_at, id");
            let mut st = c.prepare(&sql)?;
            let map = |r: &rusqlite::Row| {
                let p: String = r.get(5)?;
                Ok(ShareRow {
                    id: r.get(0)?,
                    resource_kind: r.get(1)?,
                    resource_id: r.get(2)?,
                    access: r.get(3)?,
                    expires_at: r.get(4)?,
                    participants: serde_json::from_str(&p).unwrap_or_default(),
                    created_at: r.get(6)?,
                    revoked_at: r.get(7)?,
                })
            };
            let rows = match arg {
                Some(a) => st.query_map([a], map)?.collect::<Result<Vec<_>, _>>()?,
                None => st.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
            };
            Ok(rows)
        })
    }

    /// Every share link, oldest first.
    pub fn shares(&self) -> Result<Vec<ShareRow>, StoreError> {
        self.share_rows("", None)
    }

    /// One share link by id.
    pub fn share(&self, id: &str) -> Result<Option<ShareRow>, StoreError> {
        Ok(self.share_rows("WHERE id = ?1", Some(id))?.into_iter().next())
    }

    /// Revokes a link; `false` when there is no such link.
    pub fn revoke_share(&self, id: &str, at: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute("UPDATE shares SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1", params![id, at])
                .map(|n| n > 0)
        })
    }

    /// Adds a comment on a shared resource.
    pub fn add_comment(
        &self,
        share_id: &str,
        kind: &str,
        resource: &str,
        author: &str,
        body: &str,
        at: &str,
    ) -> Result<i64, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO comments (share_id, resource_kind, resource_id, author, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![share_id, kind, resource, author, body, at],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The comments on a resource, oldest first.
    pub fn comments(&self, kind: &str, resource: &str) -> Result<Vec<CommentRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, share_id, author, body, created_at FROM comments WHERE resource_kind = ?1 AND resource_id = ?2 ORDER BY id",
            )?;
            let rows = st
                .query_map(params![kind, resource], |r| {
                    Ok(CommentRow {
                        id: r.get(0)?,
                        share_id: r.get(1)?,
                        author: r.get(2)?,
                        body: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Runs SQL on the database directly. Tests use it to tamper with the
    /// store the way someone with file access could.
    #[doc(hidden)]
    pub fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        self.with(|c| c.execute_batch(sql))
    }

    /// Every object's fingerprint at its last successful hash check.
    pub fn verified_fingerprints(&self) -> Result<std::collections::HashMap<String, crate::Fingerprint>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT sha256, size, ino, mtime_ns, ctime_ns FROM verified")?;
            st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    crate::Fingerprint { size: r.get(1)?, ino: r.get(2)?, mtime_ns: r.get(3)?, ctime_ns: r.get(4)? },
                ))
            })?
            .collect()
        })
    }

    /// Records fingerprints of objects that just hashed correctly.
    pub fn record_verified(&self, items: &[(String, crate::Fingerprint)]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached("INSERT OR REPLACE INTO verified (sha256, size, ino, mtime_ns, ctime_ns) VALUES (?1, ?2, ?3, ?4, ?5)")?;
                for (sha, f) in items {
                    st.execute(params![sha, f.size, f.ino, f.mtime_ns, f.ctime_ns])?;
                }
            }
            tx.commit()
        })
    }

    /// Forgets an artifact whose object is gone (gc of unreferenced data).
    pub fn forget_artifact(&self, sha256: &str) -> Result<(), StoreError> {
        self.with(|c| c.execute("DELETE FROM artifacts WHERE sha256 = ?1", params![sha256]).map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
