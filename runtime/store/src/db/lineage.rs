//! Artifacts and the lineage edges between them.

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, params};

use super::Db;
use super::runs::{EXECUTION_COLUMNS, ExecutionRow, row_execution};
use crate::StoreError;

/// An artifact (a stored object with a kind).
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactRow {
    pub sha256: String,
    pub kind: String,
    pub size: i64,
    pub created_at: String,
}

impl Db {
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
            // Those that made it, and the cache hits that reused one of them.
            let mut st = c.prepare(&format!(
                "SELECT {cols}, o.name FROM outputs o JOIN executions e ON e.id = o.execution_id WHERE o.sha256 = ?1 \
                 UNION ALL SELECT {cols}, o.name FROM outputs o JOIN executions e ON e.reused_from = o.execution_id WHERE o.sha256 = ?1 \
                 ORDER BY 1 DESC",
                cols = cols.join(", ")
            ))?;
            // The output's name comes after every execution column.
            let name_at = cols.len();
            st.query_map(params![sha256], |r| Ok((row_execution(r)?, r.get(name_at)?)))?.collect()
        })
    }

    /// The object hashes that a run output, an artifact or a notebook
    /// entry refers to and that begin with `shard` (two hex digits): one
    /// range of each table's index by hash.
    pub fn referenced_objects_in(&self, shard: &str) -> Result<BTreeSet<String>, StoreError> {
        // Hashes are lower-case hex: those starting with `shard` sort
        // between it and `shard` followed by `g`.
        let end = format!("{shard}g");
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT sha256 FROM outputs WHERE sha256 >= ?1 AND sha256 < ?2 \
                 UNION SELECT sha256 FROM artifacts WHERE sha256 >= ?1 AND sha256 < ?2 \
                 UNION SELECT sha256 FROM notebook_objects WHERE sha256 >= ?1 AND sha256 < ?2",
            )?;
            st.query_map(params![shard, end], |r| r.get(0))?.collect()
        })
    }

    /// Forgets an artifact whose object is gone (gc of unreferenced data).
    pub fn forget_artifact(&self, sha256: &str) -> Result<(), StoreError> {
        self.with(|c| c.execute("DELETE FROM artifacts WHERE sha256 = ?1", params![sha256]).map(|_| ()))
    }
}
