//! Provenance of stored artifacts: a node's artifacts run by run, one
//! artifact with who made it, and its lineage both ways.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use phx_store::{ExecutionRow, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;

/// The full hash that `id` (a hash or a unique prefix) names.
pub fn resolve(exp: &Experiment, id: &str) -> AppResult<String> {
    let hits = exp.store.db.artifacts_by_prefix(id)?;
    match hits.as_slice() {
        [one] => Ok(one.sha256.clone()),
        [] => Err(AppError::invalid("phx::no-artifact", format!("no artifact `{id}` in {}", exp.store.root.display()))
            .with_help("`phx show RUN` (or run_dag's `artifacts`) lists a run's artifacts")),
        many if many.iter().any(|a| a.sha256 == id) => Ok(id.to_string()),
        many => Err(AppError::usage(format!("`{id}` is the start of {} artifacts", many.len()))
            .with_help("give more of the hash")),
    }
}

/// One artifact a node produced in one run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct LoggedArtifact {
    pub run_id: String,
    pub started_at: Option<String>,
    pub vertex: String,
    pub output: String,
    pub kind: String,
    pub sha256: String,
    pub cached: bool,
}

/// A node's artifacts across runs (`phx artifact log`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactLog {
    pub node: String,
    pub artifacts: Vec<LoggedArtifact>,
}

/// The artifacts `node` produced, run by run, newest first. `node` is a
/// node name, a vertex id (`scan[2]`) or an artifact name (`density.radial`).
pub fn log(exp: &Experiment, node: &str) -> AppResult<ArtifactLog> {
    let (who, only) = match node.rsplit_once('.') {
        Some((n, out)) if !n.is_empty() && !out.contains(']') => (n.to_string(), Some(out.to_string())),
        _ => (node.to_string(), None),
    };
    let mut artifacts = Vec::new();
    for r in exp.store.db.runs()? {
        for e in exp.store.db.executions(&r.id)? {
            if (e.node == who || e.vertex == who) && e.status == "succeeded" {
                for o in exp.store.db.outputs(e.id)? {
                    if only.as_ref().is_some_and(|x| *x != o.name) {
                        continue;
                    }
                    artifacts.push(LoggedArtifact {
                        run_id: r.id.clone(),
                        started_at: e.started_at.clone(),
                        vertex: e.vertex.clone(),
                        output: o.name,
                        kind: o.kind,
                        sha256: o.sha256,
                        cached: e.cached,
                    });
                }
            }
        }
    }
    Ok(ArtifactLog { node: node.to_string(), artifacts })
}

/// One artifact with its producers' full provenance (`phx artifact show`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactDetail {
    pub sha256: String,
    pub kind: Option<String>,
    pub size: Option<u64>,
    /// The object's file in the store.
    pub path: String,
    /// The artifacts it was computed from.
    pub parents: Vec<String>,
    /// The artifacts computed from it.
    pub children: Vec<String>,
    /// Every execution that produced it: run, vertex, tool and version,
    /// arguments, keys, device, backend, times, host and git state.
    pub produced_by: Vec<Json>,
    /// What the tool said of it when it was first made (the graphics
    /// contract: `device`, `dtype`, `samples`, `mesh`, `duration_ms`, ...).
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub meta: Json,
}

/// The artifact `id` names, with its provenance.
pub fn show(exp: &Experiment, id: &str) -> AppResult<ArtifactDetail> {
    let sha = resolve(exp, id)?;
    let store = &exp.store;
    let a = store.db.artifact(&sha)?;
    let (parents, children) = store.db.lineage_of(&sha)?;
    let mut produced_by = Vec::new();
    let mut meta = Json::Null;
    for (e, name) in store.db.producers(&sha)? {
        // Producers come newest first: the last one read made it.
        if let Some(o) = store.db.outputs(e.id)?.into_iter().find(|o| o.name == name) {
            meta = serde_json::from_str(&o.meta_json).unwrap_or(Json::Null);
        }
        let run = store.db.run(&e.run_id)?;
        produced_by.push(json!({
            "run_id": e.run_id, "vertex": e.vertex, "output": name, "tool": e.tool, "tool_version": e.tool_version,
            "args": serde_json::from_str::<Json>(&e.args_json).unwrap_or(Json::Null),
            "cache_key": e.cache_key, "static_key": e.static_key, "cached": e.cached,
            "device": e.device, "fallback": e.fallback, "backend": e.backend, "job_id": e.job_id,
            "started_at": e.started_at, "finished_at": e.finished_at, "duration_ms": e.duration_ms,
            "phx_version": run.as_ref().map(|r| r.phx_version.clone()), "host": run.as_ref().map(|r| r.host.clone()),
            "git_commit": run.as_ref().and_then(|r| r.git_commit.clone()), "git_dirty": run.as_ref().and_then(|r| r.git_dirty),
        }));
    }
    Ok(ArtifactDetail {
        kind: a.as_ref().map(|a| a.kind.clone()),
        size: a.as_ref().map(|a| a.size as u64),
        path: store.objects.path(&sha).display().to_string(),
        sha256: sha,
        parents,
        children,
        produced_by,
        meta,
    })
}

/// An edge of the lineage: `child` was computed from `parent`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct LineageEdge {
    pub parent: String,
    pub child: String,
}

/// An artifact's ancestors and descendants (`phx artifact lineage`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Lineage {
    pub artifact: String,
    pub ancestors: BTreeSet<String>,
    pub descendants: BTreeSet<String>,
    pub edges: Vec<LineageEdge>,
    /// `vertex.output (hash prefix)` of each artifact.
    pub labels: BTreeMap<String, String>,
    /// What produced each artifact: vertex, output, run, tool and version,
    /// code version, arguments as written.
    pub producers: BTreeMap<String, Json>,
}

fn label(store: &Store, sha: &str) -> String {
    match store.db.producers(sha).ok().and_then(|p| p.into_iter().next()) {
        Some((e, name)) => format!("{}.{name} ({})", e.vertex, &sha[..12.min(sha.len())]),
        None => format!("input ({})", &sha[..12.min(sha.len())]),
    }
}

/// The components of an execution's cache key (arguments as written, input
/// hashes, code version), when the run recorded them.
pub fn components(store: &Store, e: &ExecutionRow) -> Option<Json> {
    let key = e.cache_key.as_deref()?;
    let entry = store.db.cache_entry(key).ok()??;
    serde_json::from_str(&entry.components_json).ok()
}

/// Each argument as written (`24 bohr`), from the key's components or else
/// from the execution's own record.
pub fn arguments(store: &Store, e: &ExecutionRow) -> BTreeMap<String, String> {
    if let Some(c) = components(store, e)
        && let Some(args) = c["args"].as_object()
    {
        return args
            .iter()
            .map(|(k, v)| (k.clone(), v["display"].as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect();
    }
    match serde_json::from_str::<Json>(&e.args_json) {
        Ok(Json::Object(m)) => m.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        _ => BTreeMap::new(),
    }
}

fn producer(store: &Store, sha: &str) -> Json {
    match store.db.producers(sha).ok().and_then(|p| p.into_iter().next()) {
        Some((e, output)) => {
            let c = components(store, &e);
            json!({
                "vertex": e.vertex, "output": output, "run_id": e.run_id, "tool": e.tool, "tool_version": e.tool_version,
                "code_version": c.as_ref().and_then(|c| c["code_version"].as_str().map(str::to_string)),
                "args": arguments(store, &e),
            })
        }
        None => json!({"vertex": null, "output": null}),
    }
}

/// The lineage of the artifact `id` names, breadth-first both ways.
pub fn lineage(exp: &Experiment, id: &str) -> AppResult<Lineage> {
    let sha = resolve(exp, id)?;
    let store = &exp.store;
    let mut edges: BTreeSet<LineageEdge> = BTreeSet::new();
    let mut ancestors = BTreeSet::new();
    let mut descendants = BTreeSet::new();
    for up in [true, false] {
        let mut queue = VecDeque::from([sha.clone()]);
        let mut seen = BTreeSet::from([sha.clone()]);
        while let Some(x) = queue.pop_front() {
            let (parents, children) = store.db.lineage_of(&x)?;
            let next = if up { parents } else { children };
            for n in next {
                if up {
                    edges.insert(LineageEdge { parent: n.clone(), child: x.clone() });
                    ancestors.insert(n.clone());
                } else {
                    edges.insert(LineageEdge { parent: x.clone(), child: n.clone() });
                    descendants.insert(n.clone());
                }
                if seen.insert(n.clone()) {
                    queue.push_back(n);
                }
            }
        }
    }
    let mut labels = BTreeMap::new();
    let mut producers = BTreeMap::new();
    for s in ancestors.iter().chain(descendants.iter()).chain([&sha]) {
        labels.insert(s.clone(), label(store, s));
        producers.insert(s.clone(), producer(store, s));
    }
    Ok(Lineage { artifact: sha, ancestors, descendants, edges: edges.into_iter().collect(), labels, producers })
}

/// Whether an object's bytes still hash to its name.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ObjectCheck {
    pub sha256: String,
    pub ok: bool,
    /// What is wrong, when it is not ok.
    pub problem: Option<crate::maintenance::ObjectProblem>,
}

/// Re-hashes the artifact `id` names.
pub fn verify(exp: &Experiment, id: &str) -> AppResult<ObjectCheck> {
    let sha = resolve(exp, id)?;
    let problem = match exp.store.objects.verify(&sha) {
        phx_store::Verified::Ok => None,
        phx_store::Verified::Corrupt { actual } => Some(crate::maintenance::ObjectProblem::Corrupt { actual }),
        phx_store::Verified::Unreadable(error) => Some(crate::maintenance::ObjectProblem::Unreadable { error }),
    };
    Ok(ObjectCheck { sha256: sha, ok: problem.is_none(), problem })
}

/// One difference of a node between two runs.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// `argument`, `code`, `input`, `device`, `output` or `status`.
    pub what: String,
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A node of two runs: `added`, `removed`, `changed` or `unchanged`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NodeDiff {
    pub vertex: String,
    pub status: String,
    pub tool: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub changes: Vec<Change>,
}

/// What changed between two runs (`phx artifact diff`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunDiff {
    pub run_a: String,
    pub run_b: String,
    pub file_a: String,
    pub file_b: String,
    pub nodes: Vec<NodeDiff>,
}

/// The last execution of each vertex of a run.
fn last_executions(store: &Store, run: &str) -> AppResult<BTreeMap<String, ExecutionRow>> {
    let mut out = BTreeMap::new();
    for e in store.db.executions(run)? {
        out.insert(e.vertex.clone(), e);
    }
    Ok(out)
}

fn input_hashes(c: &Option<Json>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(inputs) = c.as_ref().and_then(|c| c["inputs"].as_object()) {
        for (param, refs) in inputs {
            for r in refs.as_array().into_iter().flatten() {
                let name = format!("{param} <- {}", r["ref"].as_str().unwrap_or("?"));
                out.insert(name, r["sha256"].as_str().unwrap_or("").to_string());
            }
        }
    }
    out
}

/// The differences of two maps, as changes of kind `what`.
fn differences(what: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, out: &mut Vec<Change>) {
    for k in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let (x, y) = (a.get(k), b.get(k));
        if x != y {
            out.push(Change { what: what.into(), name: k.clone(), before: x.cloned(), after: y.cloned() });
        }
    }
}

/// Node by node: arguments, inputs, code versions, devices, outputs and
/// statuses that differ between the runs `run_a` and `run_b`.
pub fn diff(exp: &Experiment, run_a: &str, run_b: &str) -> AppResult<RunDiff> {
    let store = &exp.store;
    let (ra, rb) = (exp.run(run_a)?, exp.run(run_b)?);
    let (a, b) = (last_executions(store, &ra.id)?, last_executions(store, &rb.id)?);
    let mut nodes = Vec::new();
    let vertices: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for v in vertices {
        let (ea, eb) = match (a.get(v), b.get(v)) {
            (Some(ea), Some(eb)) => (ea, eb),
            (None, Some(e)) => {
                nodes.push(NodeDiff {
                    vertex: v.clone(),
                    status: "added".into(),
                    tool: e.tool.clone(),
                    changes: vec![],
                });
                continue;
            }
            (Some(e), None) => {
                nodes.push(NodeDiff {
                    vertex: v.clone(),
                    status: "removed".into(),
                    tool: e.tool.clone(),
                    changes: vec![],
                });
                continue;
            }
            (None, None) => continue,
        };
        let (ca, cb) = (components(store, ea), components(store, eb));
        let mut changes = Vec::new();
        differences("argument", &arguments(store, ea), &arguments(store, eb), &mut changes);
        let code = |c: &Option<Json>, e: &ExecutionRow| {
            c.as_ref()
                .and_then(|c| c["code_version"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{}@{}", e.tool, e.tool_version))
        };
        let (code_a, code_b) = (code(&ca, ea), code(&cb, eb));
        if code_a != code_b || ea.tool_version != eb.tool_version {
            changes.push(Change {
                what: "code".into(),
                name: ea.tool.clone(),
                before: Some(code_a),
                after: Some(code_b),
            });
        }
        differences("input", &input_hashes(&ca), &input_hashes(&cb), &mut changes);
        if ea.device != eb.device {
            changes.push(Change {
                what: "device".into(),
                name: "device".into(),
                before: ea.device.clone(),
                after: eb.device.clone(),
            });
        }
        let outs = |e: &ExecutionRow| -> AppResult<BTreeMap<String, String>> {
            Ok(store.db.outputs(e.id)?.into_iter().map(|o| (o.name, o.sha256)).collect())
        };
        differences("output", &outs(ea)?, &outs(eb)?, &mut changes);
        if ea.status != eb.status {
            changes.push(Change {
                what: "status".into(),
                name: "status".into(),
                before: Some(ea.status.clone()),
                after: Some(eb.status.clone()),
            });
        }
        let status = if changes.is_empty() { "unchanged" } else { "changed" };
        nodes.push(NodeDiff { vertex: v.clone(), status: status.into(), tool: ea.tool.clone(), changes });
    }
    Ok(RunDiff { run_a: ra.id, run_b: rb.id, file_a: ra.file, file_b: rb.file, nodes })
}

/// The executions that produced `sha` (newest first) with the output's name.
pub fn producers(exp: &Experiment, sha: &str) -> AppResult<Vec<(ExecutionRow, String)>> {
    Ok(exp.store.db.producers(sha)?)
}

/// The kind of artifact `sha` (`Image`, `Series`, ...), if recorded.
pub fn kind_of(exp: &Experiment, sha: &str) -> AppResult<Option<String>> {
    Ok(exp.store.db.artifact(sha)?.map(|a| a.kind))
}

/// The file that holds object `sha`.
pub fn object_path(exp: &Experiment, sha: &str) -> std::path::PathBuf {
    exp.store.objects.path(sha)
}

/// A small PNG of a picture file (`size` pixels on its longer side), for
/// an agent's inline view; none when the file is no picture.
pub fn thumbnail(path: &std::path::Path, size: u32) -> Option<Vec<u8>> {
    std::fs::read(path).ok().and_then(|b| phx_notebook::thumbnail_png(&b, size))
}
