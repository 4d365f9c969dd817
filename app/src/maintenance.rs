//! Keeping the store healthy: re-hashing every object, and removing what
//! nothing refers to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;

/// What is wrong with one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectProblem {
    /// Its bytes hash to something else.
    Corrupt { actual: String },
    /// It cannot be read.
    Unreadable { error: String },
    /// Recorded, but not in the store (the next run recomputes it).
    Missing,
}

/// One object with a problem.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct BadObject {
    pub sha256: String,
    pub problem: ObjectProblem,
}

/// `phx store verify`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct StoreCheck {
    /// How many objects were re-hashed.
    pub checked: usize,
    pub problems: Vec<BadObject>,
}

impl StoreCheck {
    /// Corrupt or unreadable objects (missing ones are recomputed by the
    /// next run, so they do not fail the check).
    pub fn damaged(&self) -> usize {
        self.problems.iter().filter(|p| p.problem != ObjectProblem::Missing).count()
    }
}

/// Re-hashes every object and looks for recorded objects that are gone.
pub fn verify(exp: &Experiment) -> AppResult<StoreCheck> {
    let store = &exp.store;
    let mut problems = Vec::new();
    let mut checked = 0;
    // A shard at a time: memory stays a 256th of the store's names.
    for shard in phx_store::shards() {
        let objects = store.objects.list_shard(&shard)?;
        for sha in &objects {
            let problem = match store.objects.verify(sha) {
                phx_store::Verified::Ok => continue,
                phx_store::Verified::Corrupt { actual } => ObjectProblem::Corrupt { actual },
                phx_store::Verified::Unreadable(e) => ObjectProblem::Unreadable { error: e.to_string() },
            };
            problems.push(BadObject { sha256: sha.clone(), problem });
        }
        checked += objects.len();
        let present: std::collections::BTreeSet<&String> = objects.iter().collect();
        for sha in store.db.referenced_objects_in(&shard)? {
            if !present.contains(&sha) {
                problems.push(BadObject { sha256: sha, problem: ObjectProblem::Missing });
            }
        }
    }
    Ok(StoreCheck { checked, problems })
}

/// `phx store gc`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Collected {
    /// Objects no run output, cache entry or notebook entry referred to.
    pub removed: usize,
    /// Temporary files left by interrupted writes.
    pub temporary: usize,
    /// Working folders of finished or dead runs emptied down to their logs.
    pub work_folders: usize,
    /// Bytes those working folders held (links to objects not counted).
    pub work_bytes: u64,
}

/// Removes unreferenced objects, leftover temporary files, and the working
/// folders of runs that are over (finished, or dead: killed). Refused while
/// a run holds the folder: what it is writing is not yet referenced.
pub fn gc(exp: &Experiment) -> AppResult<Collected> {
    let store = &exp.store;
    let Some(_lock) = store.try_lock()? else {
        return Err(AppError::environment("phx::store-busy", "a run is in progress in this experiment folder")
            .with_help("run `phx store gc` when it has ended"));
    };
    store.db.close_abandoned_runs(&crate::clock::now_rfc3339(), &phx_runtime::provenance::host())?;
    let (work_folders, work_bytes) = store.prune_work_dirs()?;
    let mut removed = 0;
    // A shard at a time: memory stays a 256th of the store's names.
    for shard in phx_store::shards() {
        let referenced = store.db.referenced_objects_in(&shard)?;
        for sha in store.objects.list_shard(&shard)? {
            if !referenced.contains(&sha) && store.objects.remove(&sha).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(Collected { removed, temporary: store.objects.clean_temp(), work_folders, work_bytes })
}
