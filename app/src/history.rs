//! Past runs: the list, and one run's nodes as they were recorded.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::BackendKind;
use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;
use crate::run::{NodeStatus, RunStatus};

/// A store record with a word this build does not know.
fn unknown(what: &str, word: &str) -> AppError {
    AppError::environment("phx::store", format!("the store records an unknown {what} `{word}`"))
        .with_help("a newer phx wrote it; use that version")
}

fn run_status(word: &str) -> AppResult<RunStatus> {
    RunStatus::parse(word).ok_or_else(|| unknown("run status", word))
}

/// A past run, as `phx runs` lists it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunListing {
    pub run_id: String,
    pub file: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub host: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
}

/// Every run of the experiment, newest first.
pub fn runs(exp: &Experiment) -> AppResult<Vec<RunListing>> {
    exp.settle_dead_runs();
    exp.store
        .db
        .runs()?
        .into_iter()
        .map(|r| {
            Ok(RunListing {
                status: run_status(&r.status)?,
                run_id: r.id,
                file: r.file,
                started_at: r.started_at,
                finished_at: r.finished_at,
                host: r.host,
                git_commit: r.git_commit,
                git_dirty: r.git_dirty,
            })
        })
        .collect()
}

/// An output as recorded.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RecordedOutput {
    pub kind: String,
    pub sha256: String,
    /// What the tool said of it when it was made (the graphics contract:
    /// `device`, `dtype`, `samples`, `mesh`, `duration_ms`, `bytes`, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub meta: serde_json::Value,
}

/// An execution of a vertex, as recorded.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RecordedNode {
    pub id: String,
    pub tool: String,
    pub status: NodeStatus,
    pub cached: bool,
    pub device: Option<String>,
    pub fallback: Option<String>,
    pub backend: BackendKind,
    pub job_id: Option<String>,
    pub placement: Option<String>,
    pub duration_ms: Option<u64>,
    pub attempt: u32,
    pub error: Option<String>,
    pub outputs: BTreeMap<String, RecordedOutput>,
}

/// One run in full (`phx show RUN`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunDetail {
    pub run_id: String,
    pub status: RunStatus,
    pub file: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub host: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub nodes: Vec<RecordedNode>,
}

/// The run `id` names (a full id or a unique prefix), with every execution.
pub fn show(exp: &Experiment, id: &str) -> AppResult<RunDetail> {
    let run = exp.run(id)?;
    let mut nodes = Vec::new();
    for e in exp.store.db.executions(&run.id)? {
        let outputs = exp
            .store
            .db
            .outputs(e.id)?
            .into_iter()
            .map(|o| {
                let meta = serde_json::from_str(&o.meta_json).unwrap_or(serde_json::Value::Null);
                (o.name, RecordedOutput { kind: o.kind, sha256: o.sha256, meta })
            })
            .collect();
        nodes.push(RecordedNode {
            status: NodeStatus::parse(&e.status).ok_or_else(|| unknown("node status", &e.status))?,
            backend: BackendKind::parse(&e.backend).ok_or_else(|| unknown("backend", &e.backend))?,
            id: e.vertex,
            tool: e.tool,
            cached: e.cached,
            device: e.device,
            fallback: e.fallback,
            job_id: e.job_id,
            placement: e.placement,
            duration_ms: e.duration_ms.map(|d| d as u64),
            attempt: e.attempt as u32,
            error: e.error,
            outputs,
        });
    }
    Ok(RunDetail {
        status: run_status(&run.status)?,
        run_id: run.id,
        file: run.file,
        started_at: run.started_at,
        finished_at: run.finished_at,
        host: run.host,
        git_commit: run.git_commit,
        git_dirty: run.git_dirty,
        nodes,
    })
}

/// A run as a viewer shows it: the latest execution of each vertex, in
/// order, with its outputs.
pub struct RunRecord {
    pub run: phx_store::RunRow,
    pub nodes: Vec<(phx_store::ExecutionRow, Vec<phx_store::OutputRow>)>,
}

/// The latest execution of each vertex of `run`, in the order they began.
fn latest_executions(exp: &Experiment, run: &str) -> AppResult<Vec<phx_store::ExecutionRow>> {
    let mut by_vertex: Vec<phx_store::ExecutionRow> = Vec::new();
    for e in exp.store.db.executions(run)? {
        match by_vertex.iter_mut().find(|x| x.vertex == e.vertex) {
            Some(x) if e.id > x.id => *x = e,
            Some(_) => {}
            None => by_vertex.push(e),
        }
    }
    Ok(by_vertex)
}

/// The run `id` names, with the latest execution of each vertex.
pub fn record(exp: &Experiment, id: &str) -> AppResult<RunRecord> {
    let run = exp.run(id)?;
    let mut nodes = Vec::new();
    for e in latest_executions(exp, &run.id)? {
        let outputs = exp.store.db.outputs(e.id)?;
        nodes.push((e, outputs));
    }
    Ok(RunRecord { run, nodes })
}

/// Each vertex's state in run `id` (`cached` for a cache hit), sorted by
/// vertex, so the same states always read the same.
pub fn node_states(exp: &Experiment, id: &str) -> AppResult<BTreeMap<String, String>> {
    Ok(latest_executions(exp, id)?
        .into_iter()
        .map(|e| (e.vertex.clone(), if e.cached { "cached".to_string() } else { e.status }))
        .collect())
}

/// The DAG of run `id`, compiled from the program kept with it (`None`
/// when the run kept none).
pub fn dag_of_run(exp: &Experiment, id: &str) -> Option<std::sync::Arc<phx_dag::Dag>> {
    let kept = exp.store.run_dir(id).join("program.json");
    let program: phx_runtime::worker::ProgramSource = serde_json::from_slice(&std::fs::read(kept).ok()?).ok()?;
    // What of it still checks: the graph of a run kept from an older phx.
    Some(crate::program::compile_source(&program).0)
}

/// What a summary of a sweep needs to know of one execution.
#[derive(Clone, Copy, Debug)]
pub struct InstanceFacts<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub cached: bool,
    pub duration_ms: Option<u64>,
    pub device: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// A sweep of a run with more instances than are listed one by one.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct FamilySummary {
    pub node: String,
    pub instances: usize,
    /// How many instances ended in each state (by the latest execution of
    /// each), in the states' order.
    pub states: Vec<(String, usize)>,
    pub cached: usize,
    /// The median time of the instances that ran (not the cached ones).
    pub median_ms: Option<u64>,
    pub devices: Vec<String>,
    /// The first failures: `(instance, state, the error's first line)`.
    pub failures: Vec<(String, String, String)>,
    /// Failures beyond those.
    pub more_failures: usize,
}

/// How many failures of a sweep a summary names.
const NAMED_FAILURES: usize = 3;

/// How many instances of a sweep `phx show` and the run page list one by
/// one; a larger sweep is summarised (states, cache hits, median time,
/// first failures).
pub const SHOWN_INSTANCES: usize = 8;

/// The node a vertex id belongs to (`scan` for `scan[3]`).
pub fn family_of(id: &str) -> &str {
    phx_store::parse_vertex_id(id).map_or(id, |(name, _)| name)
}

/// The first line of an error, and the one after it when the first only
/// introduces it (`the command exited with 3:` then what it printed).
pub fn first_words(error: &str) -> String {
    let mut lines = error.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {next}"),
        _ => first.to_string(),
    }
}

/// One summary per sweep with more than `limit` instances, by node name
/// (what `phx show` and the shared run page print instead of a line per
/// instance).
pub fn summarise_families<'a>(
    items: impl IntoIterator<Item = InstanceFacts<'a>>,
    limit: usize,
) -> std::collections::HashMap<String, FamilySummary> {
    use std::collections::{BTreeSet, HashMap};
    // By index, so that the instances named come in the sweep's order.
    let mut by_family: HashMap<&str, BTreeMap<usize, InstanceFacts<'a>>> = HashMap::new();
    for f in items {
        if let Some((family, Some(index))) = phx_store::parse_vertex_id(f.id) {
            // The latest execution of each instance tells its state.
            by_family.entry(family).or_default().insert(index, f);
        }
    }
    let mut out = HashMap::new();
    for (family, latest) in by_family {
        if latest.len() <= limit {
            continue;
        }
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        let mut times: Vec<u64> = Vec::new();
        let mut devices = BTreeSet::new();
        for e in latest.values() {
            *states.entry(e.status).or_default() += 1;
            if !e.cached {
                times.extend(e.duration_ms);
            }
            devices.extend(e.device);
        }
        times.sort_unstable();
        // Whatever did not succeed, with a reason or not (an instance
        // cancelled before it started has none).
        let failed: Vec<&InstanceFacts> =
            latest.values().filter(|e| e.status != "succeeded" || e.error.is_some()).collect();
        out.insert(
            family.to_string(),
            FamilySummary {
                node: family.to_string(),
                instances: latest.len(),
                states: states.into_iter().map(|(s, n)| (s.to_string(), n)).collect(),
                cached: latest.values().filter(|e| e.cached).count(),
                median_ms: times.get(times.len() / 2).copied(),
                devices: devices.into_iter().map(str::to_string).collect(),
                failures: failed
                    .iter()
                    .take(NAMED_FAILURES)
                    .map(|e| (e.id.to_string(), e.status.to_string(), e.error.map(first_words).unwrap_or_default()))
                    .collect(),
                more_failures: failed.len().saturating_sub(NAMED_FAILURES),
            },
        );
    }
    out
}

impl FamilySummary {
    /// `40 instances: 1 failed, 39 succeeded (3 cached) · median 6 ms · cpu`
    pub fn line(&self) -> String {
        let states: Vec<String> =
            self.states.iter().map(|(s, n)| format!("{} {s}", crate::run::thousands(*n))).collect();
        format!(
            "{} instances: {}{}{} · {}",
            crate::run::thousands(self.instances),
            states.join(", "),
            if self.cached > 0 { format!(" ({} cached)", crate::run::thousands(self.cached)) } else { String::new() },
            self.median_ms.map(|t| format!(" · median {t} ms")).unwrap_or_default(),
            self.devices.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_s_summary_names_what_did_not_succeed_in_the_sweep_s_order() {
        let ids: Vec<String> = (0..30).map(|i| format!("t[{i}]")).collect();
        let facts = ids.iter().enumerate().map(|(i, id)| {
            let (status, error) = match i {
                0 | 5 | 10 | 20 | 25 => ("failed", Some("the command exited with 1")),
                // Cancelled before it started: no reason.
                29 => ("cancelled", None),
                _ => ("succeeded", None),
            };
            InstanceFacts { id, status, cached: false, duration_ms: Some(5), device: Some("cpu"), error }
        });
        let summaries = summarise_families(facts, 8);
        let t = &summaries["t"];
        assert_eq!(t.instances, 30);
        let named: Vec<&str> = t.failures.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(named, vec!["t[0]", "t[5]", "t[10]"]);
        assert_eq!(t.more_failures, 3, "t[20], t[25] and the cancelled t[29]");
    }
}
