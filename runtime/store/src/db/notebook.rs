//! Lab notebook entries and the objects they hold on to.

use rusqlite::{OptionalExtension, params};

use super::Db;
use crate::StoreError;

/// One notebook entry as stored: the signed body (canonical JSON), its
/// SHA-256 and the ed25519 signature over the body.
#[derive(Clone, Debug, PartialEq)]
pub struct NotebookRow {
    pub seq: i64,
    pub body_json: String,
    pub hash: String,
    pub signature: String,
}

impl Db {
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
}
