//! Runs, node executions and their outputs.

use rusqlite::{OptionalExtension, params};

use super::Db;
use super::cache::{CACHE_COLUMNS, CacheEntry};
use crate::StoreError;

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

/// A cache hit as it is recorded: the execution, the device it was
/// decided for, and the execution whose outputs it reused.
#[derive(Clone, Debug, PartialEq)]
pub struct ReusedExecution {
    pub execution: NewExecution,
    pub device: String,
    pub from: i64,
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

pub(super) fn row_execution(r: &rusqlite::Row) -> rusqlite::Result<ExecutionRow> {
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

pub(super) const EXECUTION_COLUMNS: &str = "id, run_id, vertex, node, tool, tool_version, status, cached, static_key, cache_key, device, fallback, backend, job_id, started_at, finished_at, duration_ms, attempt, exit_code, error, args_json, placement";

pub(super) fn row_run(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
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

pub(super) const RUN_COLUMNS: &str =
    "id, file, started_at, finished_at, status, phx_version, host, git_commit, git_dirty, settings_json";

/// How a successful execution ended, recorded with its outputs.
#[derive(Clone, Copy, Debug)]
pub struct Succeeded<'a> {
    pub duration_ms: i64,
    pub device: Option<&'a str>,
    pub fallback: Option<&'a str>,
    pub exit_code: Option<i64>,
}

impl Db {
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

    /// Runs that never finished (their process died): marked `dead`, and
    /// their executions in flight `cancelled`. Only while the run lock is
    /// held (see `Store::settle_dead_runs`): then no run is live.
    /// Only runs started on `host`: a lock on a shared file system may be
    /// local to each machine, so a run elsewhere is never judged from here.
    pub fn close_abandoned_runs(&self, finished_at: &str, host: &str) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE executions SET status = 'cancelled', finished_at = ?1, error = 'its run died (the phx process was killed)' WHERE status = 'running' AND run_id IN (SELECT id FROM runs WHERE status = 'running' AND host = ?2)",
                params![finished_at, host],
            )?;
            let n = tx.execute(
                "UPDATE runs SET status = 'dead', finished_at = ?1 WHERE status = 'running' AND host = ?2",
                params![finished_at, host],
            )?;
            tx.commit()?;
            Ok(n)
        })
    }

    /// Whether any run is recorded as running.
    pub fn any_running(&self) -> Result<bool, StoreError> {
        self.with(|c| c.query_row("SELECT EXISTS (SELECT 1 FROM runs WHERE status = 'running')", [], |r| r.get(0)))
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

    /// Records many reused (cached) executions in one transaction: a no-op
    /// re-run of thousands of nodes is one commit. Their outputs are those
    /// of the executions they reused ([`Db::outputs`] follows the link).
    pub fn record_cached(&self, batch: &[ReusedExecution]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO executions (run_id, vertex, node, tool, tool_version, status, cached, static_key, cache_key, args_json, attempt, started_at, finished_at, duration_ms, device, reused_from) VALUES (?1, ?2, ?3, ?4, ?5, 'succeeded', 1, ?6, ?7, ?8, ?9, ?10, ?10, 0, ?11, ?12)",
                )?;
                for r in batch {
                    let e = &r.execution;
                    ins.execute(params![e.run_id, e.vertex, e.node, e.tool, e.tool_version, e.static_key, e.cache_key, e.args_json, e.attempt, e.started_at, r.device, r.from])?;
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
    /// the cache entry and the execution's end (`succeeded`), in one
    /// transaction: either all of it is there or none of it (a run killed
    /// in between never leaves a cached node recorded as unfinished).
    #[allow(clippy::too_many_arguments)]
    pub fn commit_outputs(
        &self,
        execution_id: i64,
        outputs: &[OutputRow],
        sizes: &[i64],
        parents: &[String],
        cache: Option<&CacheEntry>,
        now: &str,
        ended: &Succeeded<'_>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE executions SET status = 'succeeded', finished_at = ?2, duration_ms = ?3, device = ?4, fallback = ?5, exit_code = ?6, error = NULL WHERE id = ?1",
                params![execution_id, now, ended.duration_ms, ended.device, ended.fallback, ended.exit_code],
            )?;
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
            // A cache hit's outputs are those of the execution it reused.
            let mut st = c.prepare_cached(
                "SELECT name, sha256, kind, meta_json FROM outputs WHERE execution_id = COALESCE((SELECT reused_from FROM executions WHERE id = ?1), ?1) ORDER BY name",
            )?;
            st.query_map(params![execution_id], |r| {
                Ok(OutputRow { name: r.get(0)?, sha256: r.get(1)?, kind: r.get(2)?, meta_json: r.get(3)? })
            })?
            .collect()
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
}
