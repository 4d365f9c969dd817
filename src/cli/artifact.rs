//! `phx artifact log|show|lineage|verify`: provenance of stored artifacts.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use phx_store::{Store, Verified};
use serde_json::{Value as Json, json};

use super::common::{self, TextOrJson};
use super::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LineageFormat {
    #[default]
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(clap::Subcommand)]
pub enum ArtifactCommand {
    /// The artifacts a node produced, run by run (newest first).
    Log {
        /// A node name or vertex id (`density`, `scan[2]`).
        node: String,
        #[arg(long, default_value = ".")]
        dir: String,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// One artifact: its kind, size, producer and provenance.
    Show {
        /// A SHA-256 (or a unique prefix of one).
        id: String,
        #[arg(long, default_value = ".")]
        dir: String,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// An artifact's ancestors and descendants.
    Lineage {
        id: String,
        #[arg(long, default_value = ".")]
        dir: String,
        #[arg(long, value_enum, default_value_t)]
        format: LineageFormat,
    },
    /// Re-hash one artifact; exit 1 when its bytes do not match its name.
    Verify {
        id: String,
        #[arg(long, default_value = ".")]
        dir: String,
    },
}

fn open(dir: &str) -> Result<Store, u8> {
    Store::open(Path::new(dir)).map_err(|e| {
        eprintln!("error: {e}\n  help: {}", e.hint());
        exit::ENVIRONMENT
    })
}

fn resolve(store: &Store, id: &str) -> Result<String, u8> {
    let hits = store.db.artifacts_by_prefix(id).unwrap_or_default();
    match hits.as_slice() {
        [one] => Ok(one.sha256.clone()),
        [] => {
            eprintln!(
                "error: no artifact `{id}` in {}\n  help: `phx show RUN` lists a run's artifacts",
                store.root.display()
            );
            Err(exit::INVALID)
        }
        many if many.iter().any(|a| a.sha256 == id) => Ok(id.to_string()),
        many => {
            eprintln!("error: `{id}` is the start of {} artifacts; give more of the hash", many.len());
            Err(exit::USAGE)
        }
    }
}

/// The store of `dir` and the full hash that `id` names.
fn open_resolved(dir: &str, id: &str) -> Result<(Store, String), u8> {
    let store = open(dir)?;
    let sha = resolve(&store, id)?;
    Ok((store, sha))
}

fn label(store: &Store, sha: &str) -> String {
    match store.db.producers(sha).ok().and_then(|p| p.into_iter().next()) {
        Some((e, name)) => format!("{}.{name} ({})", e.vertex, &sha[..12]),
        None => format!("input ({})", &sha[..12.min(sha.len())]),
    }
}

pub fn run(c: ArtifactCommand) -> u8 {
    match c {
        ArtifactCommand::Log { node, dir, format } => {
            let store = match open(&dir) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut rows = Vec::new();
            for r in store.db.runs().unwrap_or_default() {
                for e in store.db.executions(&r.id).unwrap_or_default() {
                    if (e.node == node || e.vertex == node) && e.status == "succeeded" {
                        for o in store.db.outputs(e.id).unwrap_or_default() {
                            rows.push(json!({"run_id": r.id, "started_at": e.started_at, "vertex": e.vertex, "output": o.name, "kind": o.kind, "sha256": o.sha256, "cached": e.cached}));
                        }
                    }
                }
            }
            if format == TextOrJson::Json {
                common::print_json(&json!({"node": node, "artifacts": rows}));
            } else {
                let mut text = String::new();
                for r in &rows {
                    text.push_str(&format!(
                        "{}  {:<20} {:<12} {:<9} {}{}\n",
                        r["run_id"].as_str().unwrap_or(""),
                        r["vertex"].as_str().unwrap_or(""),
                        r["output"].as_str().unwrap_or(""),
                        r["kind"].as_str().unwrap_or(""),
                        r["sha256"].as_str().unwrap_or(""),
                        if r["cached"] == true { "  (cached)" } else { "" }
                    ));
                }
                if rows.is_empty() {
                    text = format!("no artifacts of `{node}` yet\n");
                }
                common::out(&text);
            }
            exit::OK
        }
        ArtifactCommand::Show { id, dir, format } => {
            let (store, sha) = match open_resolved(&dir, &id) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let a = store.db.artifact(&sha).ok().flatten();
            let producers = store.db.producers(&sha).unwrap_or_default();
            let (parents, children) = store.db.lineage_of(&sha).unwrap_or_default();
            let provenance: Vec<Json> = producers
                .iter()
                .map(|(e, name)| {
                    let run = store.db.run(&e.run_id).ok().flatten();
                    json!({
                        "run_id": e.run_id, "vertex": e.vertex, "output": name, "tool": e.tool, "tool_version": e.tool_version,
                        "args": serde_json::from_str::<Json>(&e.args_json).unwrap_or(Json::Null),
                        "cache_key": e.cache_key, "static_key": e.static_key, "cached": e.cached,
                        "device": e.device, "fallback": e.fallback, "backend": e.backend, "job_id": e.job_id,
                        "started_at": e.started_at, "finished_at": e.finished_at, "duration_ms": e.duration_ms,
                        "phx_version": run.as_ref().map(|r| r.phx_version.clone()), "host": run.as_ref().map(|r| r.host.clone()),
                        "git_commit": run.as_ref().and_then(|r| r.git_commit.clone()), "git_dirty": run.as_ref().and_then(|r| r.git_dirty),
                    })
                })
                .collect();
            let doc = json!({
                "sha256": sha, "kind": a.as_ref().map(|a| a.kind.clone()), "size": a.as_ref().map(|a| a.size),
                "path": store.objects.path(&sha), "parents": parents, "children": children, "produced_by": provenance,
            });
            if format == TextOrJson::Json {
                common::print_json(&doc);
            } else {
                let mut text = format!(
                    "artifact {sha}\n  kind {}  size {} bytes\n  path {}\n",
                    doc["kind"].as_str().unwrap_or("?"),
                    doc["size"],
                    store.objects.path(&sha).display()
                );
                for p in &provenance {
                    text.push_str(&format!(
                        "  made by {} ({} {}) in run {} on {} ({}), {} ms{}\n",
                        p["vertex"].as_str().unwrap_or(""),
                        p["tool"].as_str().unwrap_or(""),
                        p["tool_version"].as_str().unwrap_or(""),
                        p["run_id"].as_str().unwrap_or(""),
                        p["host"].as_str().unwrap_or("?"),
                        p["device"].as_str().unwrap_or("?"),
                        p["duration_ms"],
                        if p["cached"] == true { ", reused from the cache" } else { "" }
                    ));
                }
                text.push_str(&format!("  inputs {}\n  used by {}\n", parents.len(), children.len()));
                common::out(&text);
            }
            exit::OK
        }
        ArtifactCommand::Lineage { id, dir, format } => {
            let (store, sha) = match open_resolved(&dir, &id) {
                Ok(x) => x,
                Err(code) => return code,
            };
            // Breadth-first both ways; edges are content hash to content hash.
            let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
            let mut ancestors = BTreeSet::new();
            let mut descendants = BTreeSet::new();
            for up in [true, false] {
                let mut queue = VecDeque::from([sha.clone()]);
                let mut seen = BTreeSet::from([sha.clone()]);
                while let Some(x) = queue.pop_front() {
                    let (parents, children) = store.db.lineage_of(&x).unwrap_or_default();
                    let next = if up { parents } else { children };
                    for n in next {
                        if up {
                            edges.insert((n.clone(), x.clone()));
                            ancestors.insert(n.clone());
                        } else {
                            edges.insert((x.clone(), n.clone()));
                            descendants.insert(n.clone());
                        }
                        if seen.insert(n.clone()) {
                            queue.push_back(n);
                        }
                    }
                }
            }
            let mut labels: BTreeMap<String, String> = BTreeMap::new();
            for s in ancestors.iter().chain(descendants.iter()).chain([&sha]) {
                labels.insert(s.clone(), label(&store, s));
            }
            let text = match format {
                LineageFormat::Json => {
                    common::print_json(&json!({
                        "artifact": sha, "ancestors": ancestors, "descendants": descendants,
                        "edges": edges.iter().map(|(a, b)| json!({"parent": a, "child": b})).collect::<Vec<_>>(),
                        "labels": labels,
                    }));
                    return exit::OK;
                }
                LineageFormat::Dot => {
                    let mut t = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
                    for (s, l) in &labels {
                        t.push_str(&format!(
                            "  \"{}\" [label=\"{}\"{}];\n",
                            &s[..12],
                            l.replace('"', "\\\""),
                            if *s == sha { ", penwidth=2" } else { "" }
                        ));
                    }
                    for (a, b) in &edges {
                        t.push_str(&format!("  \"{}\" -> \"{}\";\n", &a[..12], &b[..12]));
                    }
                    t.push_str("}\n");
                    t
                }
                LineageFormat::Mermaid => {
                    let mut t = String::from("flowchart LR\n");
                    for (s, l) in &labels {
                        t.push_str(&format!("  a{}[\"{}\"]\n", &s[..12], l.replace('"', "#quot;")));
                    }
                    for (a, b) in &edges {
                        t.push_str(&format!("  a{} --> a{}\n", &a[..12], &b[..12]));
                    }
                    t
                }
                LineageFormat::Text => {
                    let mut t = format!("{}\n", labels[&sha]);
                    t.push_str(&format!("ancestors ({}):\n", ancestors.len()));
                    for a in &ancestors {
                        t.push_str(&format!("  {}\n", labels[a]));
                    }
                    t.push_str(&format!("descendants ({}):\n", descendants.len()));
                    for d in &descendants {
                        t.push_str(&format!("  {}\n", labels[d]));
                    }
                    t
                }
            };
            common::out(&text);
            exit::OK
        }
        ArtifactCommand::Verify { id, dir } => {
            let (store, sha) = match open_resolved(&dir, &id) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match store.objects.verify(&sha) {
                Verified::Ok => {
                    common::out(&format!("ok: {sha}\n"));
                    exit::OK
                }
                Verified::Corrupt { actual } => {
                    eprintln!("corrupt: {sha} (its bytes hash to {actual}); the next run recomputes it");
                    exit::INVALID
                }
                Verified::Unreadable(e) => {
                    eprintln!("unreadable: {sha}: {e}");
                    exit::INVALID
                }
            }
        }
    }
}
