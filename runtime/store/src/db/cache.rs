//! Cache entries (with the components of their keys, so a miss can say
//! what changed) and the fingerprints of verified objects.

use rusqlite::{OptionalExtension, params};

use super::Db;
use crate::StoreError;

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

pub(super) const CACHE_COLUMNS: &str =
    "cache_key, file, vertex, tool, components_json, outputs_json, execution_id, created_at";

pub(super) fn row_cache(r: &rusqlite::Row) -> rusqlite::Result<CacheEntry> {
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

impl Db {
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

    /// Every cache key, as the 32 bytes it is the hex of: enough for a run
    /// to know which keys miss without asking (a plan of a million
    /// never-run instances asked a million times).
    pub fn cache_keys(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT cache_key FROM cache_entries")?;
            let keys = st.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for k in keys {
                let mut bytes = [0u8; 32];
                if hex::decode_to_slice(k?, &mut bytes).is_ok() {
                    out.push(bytes);
                }
            }
            Ok(out)
        })
    }

    /// The cache entries made for these vertices of this file (without
    /// the components of their keys), in one query: a run reads a sweep's
    /// entries a window at a time instead of one look-up an instance.
    pub fn cache_entries_of_vertices(&self, file: &str, vertices: &[String]) -> Result<Vec<CacheEntry>, StoreError> {
        if vertices.is_empty() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            let marks = vec!["?"; vertices.len()].join(",");
            let mut st = c.prepare_cached(&format!(
                "SELECT cache_key, file, vertex, tool, '', outputs_json, execution_id, created_at FROM cache_entries WHERE file = ?1 AND vertex IN ({marks})"
            ))?;
            let params = std::iter::once(file).chain(vertices.iter().map(String::as_str));
            st.query_map(rusqlite::params_from_iter(params), row_cache)?.collect()
        })
    }

    /// Whether any cache entry was made from this file.
    pub fn file_has_cache_entries(&self, file: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.query_row("SELECT EXISTS (SELECT 1 FROM cache_entries WHERE file = ?1)", params![file], |r| r.get(0))
        })
    }

    /// The newest cache entry of a vertex of a file (to explain a miss).
    pub fn latest_cache_entry(&self, file: &str, vertex: &str) -> Result<Option<CacheEntry>, StoreError> {
        self.with(|c| {
            c.prepare_cached(&format!("SELECT {CACHE_COLUMNS} FROM cache_entries WHERE file = ?1 AND vertex = ?2 ORDER BY created_at DESC, execution_id DESC LIMIT 1"))?
                .query_row(params![file, vertex], row_cache)
                .optional()
        })
    }

    /// Drops a cache entry (its object was found corrupt or missing).
    pub fn drop_cache_entry(&self, key: &str) -> Result<(), StoreError> {
        self.with(|c| c.execute("DELETE FROM cache_entries WHERE cache_key = ?1", params![key]).map(|_| ()))
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
}
