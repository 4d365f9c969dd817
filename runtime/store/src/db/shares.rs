//! Share links and the comments added through them.

use rusqlite::params;

use super::Db;
use crate::StoreError;

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

impl Db {
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
}
