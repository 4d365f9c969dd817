//! `phx artifact log|show|lineage|verify`: provenance of stored artifacts.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use phx_store::{ExecutionRow, Store, Verified};
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
        /// A node name, a vertex id or an artifact name (`density`, `scan[2]`, `density.radial`).
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
    /// What changed between two runs: arguments, inputs, code versions and
    /// outputs, node by node.
    Diff {
        /// The earlier run.
        run_a: String,
        /// The later run.
        run_b: String,
        #[arg(long, default_value = ".")]
        dir: String,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// Re-hash one artifact; exit 1 when its bytes do not match its name.
    Verify {
        id: String,
        #[arg(long, default_value = ".")]
        dir: String,
    },
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
    let store = common::open_store(Path::new(dir))?;
    let sha = resolve(&store, id)?;
    Ok((store, sha))
}

fn label(store: &Store, sha: &str) -> String {
    match store.db.producers(sha).ok().and_then(|p| p.into_iter().next()) {
        Some((e, name)) => format!("{}.{name} ({})", e.vertex, &sha[..12]),
        None => format!("input ({})", &sha[..12.min(sha.len())]),
    }
}

/// The components of an execution's cache key (arguments as written, input
/// hashes, code version), when the run recorded them.
fn components(store: &Store, e: &ExecutionRow) -> Option<Json> {
    let key = e.cache_key.as_deref()?;
    let entry = store.db.cache_entry(key).ok()??;
    serde_json::from_str(&entry.components_json).ok()
}

/// Each argument as written (`24 bohr`), from the key's components or else
/// from the execution's own record.
fn arguments(store: &Store, e: &ExecutionRow) -> BTreeMap<String, String> {
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

/// What produced an artifact, for lineage: node, tool and version, code
/// version, arguments.
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

fn producer_line(p: &Json) -> String {
    if p["vertex"].is_null() {
        return "an input".into();
    }
    let args: Vec<String> = p["args"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} = {}", v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    format!(
        "{} {}{}; {}",
        p["tool"].as_str().unwrap_or(""),
        p["tool_version"].as_str().unwrap_or(""),
        p["code_version"].as_str().map(|c| format!(", code {}", c.rsplit('@').next().unwrap_or(c))).unwrap_or_default(),
        args.join(", ")
    )
}

pub fn run(c: ArtifactCommand) -> u8 {
    match c {
        ArtifactCommand::Log { node, dir, format } => {
            let store = match common::open_store(Path::new(&dir)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut rows = Vec::new();
            // `density`, `scan[2]`, or an artifact's name: `density.radial`.
            let (who, only) = match node.rsplit_once('.') {
                Some((n, out)) if !n.is_empty() && !out.contains(']') => (n.to_string(), Some(out.to_string())),
                _ => (node.clone(), None),
            };
            for r in store.db.runs().unwrap_or_default() {
                for e in store.db.executions(&r.id).unwrap_or_default() {
                    if (e.node == who || e.vertex == who) && e.status == "succeeded" {
                        for o in store.db.outputs(e.id).unwrap_or_default() {
                            if only.as_ref().is_some_and(|x| *x != o.name) {
                                continue;
                            }
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
            let mut producers: BTreeMap<String, Json> = BTreeMap::new();
            for s in ancestors.iter().chain(descendants.iter()).chain([&sha]) {
                labels.insert(s.clone(), label(&store, s));
                producers.insert(s.clone(), producer(&store, s));
            }
            let text = match format {
                LineageFormat::Json => {
                    common::print_json(&json!({
                        "artifact": sha, "ancestors": ancestors, "descendants": descendants,
                        "edges": edges.iter().map(|(a, b)| json!({"parent": a, "child": b})).collect::<Vec<_>>(),
                        "labels": labels, "producers": producers,
                    }));
                    return exit::OK;
                }
                LineageFormat::Dot => {
                    let mut t = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
                    for (s, l) in &labels {
                        let detail = producer_line(&producers[s]);
                        t.push_str(&format!(
                            "  \"{}\" [label=\"{}\\n{}\"{}];\n",
                            &s[..12],
                            l.replace('"', "\\\""),
                            detail.replace('"', "\\\""),
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
                        let detail = producer_line(&producers[s]);
                        t.push_str(&format!(
                            "  a{}[\"{}<br/>{}\"]\n",
                            &s[..12],
                            l.replace('"', "#quot;"),
                            detail.replace('"', "#quot;")
                        ));
                    }
                    for (a, b) in &edges {
                        t.push_str(&format!("  a{} --> a{}\n", &a[..12], &b[..12]));
                    }
                    t
                }
                LineageFormat::Text => {
                    let mut t = format!("{}\n  {}\n", labels[&sha], producer_line(&producers[&sha]));
                    t.push_str(&format!("ancestors ({}):\n", ancestors.len()));
                    for a in &ancestors {
                        t.push_str(&format!("  {}\n    {}\n", labels[a], producer_line(&producers[a])));
                    }
                    t.push_str(&format!("descendants ({}):\n", descendants.len()));
                    for d in &descendants {
                        t.push_str(&format!("  {}\n    {}\n", labels[d], producer_line(&producers[d])));
                    }
                    t
                }
            };
            common::out(&text);
            exit::OK
        }
        ArtifactCommand::Diff { run_a, run_b, dir, format } => diff(&dir, &run_a, &run_b, format),
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

/// The last execution of each vertex of a run.
fn last_executions(store: &Store, run: &str) -> BTreeMap<String, ExecutionRow> {
    let mut out = BTreeMap::new();
    for e in store.db.executions(run).unwrap_or_default() {
        out.insert(e.vertex.clone(), e);
    }
    out
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

fn short12(s: &str) -> &str {
    &s[..12.min(s.len())]
}

/// `phx artifact diff RUN_A RUN_B`.
fn diff(dir: &str, run_a: &str, run_b: &str, format: TextOrJson) -> u8 {
    let store = match common::open_store(Path::new(dir)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut runs = Vec::new();
    for id in [run_a, run_b] {
        match store.db.run(id) {
            Ok(Some(r)) => runs.push(r),
            _ => {
                eprintln!("error: no run `{id}` in {}\n  help: `phx runs` lists them", store.root.display());
                return exit::INVALID;
            }
        }
    }
    let (a, b) = (last_executions(&store, &runs[0].id), last_executions(&store, &runs[1].id));
    let mut nodes = Vec::new();
    let mut text = String::new();
    if runs[0].file != runs[1].file {
        text.push_str(&format!("note: the runs are of different programs ({} and {})\n", runs[0].file, runs[1].file));
    }
    let vertices: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut unchanged = 0;
    for v in vertices {
        let (ea, eb) = (a.get(v), b.get(v));
        let (Some(ea), Some(eb)) = (ea, eb) else {
            let (status, e) = if let Some(e) = eb { ("added", e) } else { ("removed", ea.expect("one side has it")) };
            text.push_str(&format!("{status:<9} {v} ({})\n", e.tool));
            nodes.push(json!({"vertex": v, "status": status, "tool": e.tool}));
            continue;
        };
        let (ca, cb) = (components(&store, ea), components(&store, eb));
        let mut changes = Vec::new();
        let (args_a, args_b) = (arguments(&store, ea), arguments(&store, eb));
        for k in args_a.keys().chain(args_b.keys()).collect::<BTreeSet<_>>() {
            let (x, y) = (args_a.get(k), args_b.get(k));
            if x != y {
                changes.push(json!({"what": "argument", "name": k, "before": x, "after": y}));
            }
        }
        let code = |c: &Option<Json>, e: &ExecutionRow| {
            c.as_ref()
                .and_then(|c| c["code_version"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{}@{}", e.tool, e.tool_version))
        };
        let (code_a, code_b) = (code(&ca, ea), code(&cb, eb));
        if code_a != code_b || ea.tool_version != eb.tool_version {
            changes.push(json!({"what": "code", "name": ea.tool, "before": code_a, "after": code_b}));
        }
        let (in_a, in_b) = (input_hashes(&ca), input_hashes(&cb));
        for k in in_a.keys().chain(in_b.keys()).collect::<BTreeSet<_>>() {
            let (x, y) = (in_a.get(k), in_b.get(k));
            if x != y {
                changes.push(json!({"what": "input", "name": k, "before": x, "after": y}));
            }
        }
        if ea.device != eb.device {
            changes.push(json!({"what": "device", "name": "device", "before": ea.device, "after": eb.device}));
        }
        let outs = |e: &ExecutionRow| -> BTreeMap<String, String> {
            store.db.outputs(e.id).unwrap_or_default().into_iter().map(|o| (o.name, o.sha256)).collect()
        };
        let (oa, ob) = (outs(ea), outs(eb));
        for k in oa.keys().chain(ob.keys()).collect::<BTreeSet<_>>() {
            let (x, y) = (oa.get(k), ob.get(k));
            if x != y {
                changes.push(json!({"what": "output", "name": k, "before": x, "after": y}));
            }
        }
        if ea.status != eb.status {
            changes.push(json!({"what": "status", "name": "status", "before": ea.status, "after": eb.status}));
        }
        if changes.is_empty() {
            unchanged += 1;
            nodes.push(json!({"vertex": v, "status": "unchanged", "tool": ea.tool}));
            continue;
        }
        text.push_str(&format!("changed   {v} ({})\n", ea.tool));
        for c in &changes {
            let show = |x: &Json| match x.as_str() {
                Some(s) if c["what"] == "input" || c["what"] == "output" => short12(s).to_string(),
                Some(s) => s.to_string(),
                None if x.is_null() => "(none)".to_string(),
                None => x.to_string(),
            };
            text.push_str(&format!(
                "  {:<8} {}: {} -> {}\n",
                c["what"].as_str().unwrap_or(""),
                c["name"].as_str().unwrap_or(""),
                show(&c["before"]),
                show(&c["after"])
            ));
        }
        nodes.push(json!({"vertex": v, "status": "changed", "tool": ea.tool, "changes": changes}));
    }
    text.push_str(&format!("{unchanged} node(s) unchanged\n"));
    match format {
        TextOrJson::Json => common::print_json(
            &json!({"run_a": runs[0].id, "run_b": runs[1].id, "file_a": runs[0].file, "file_b": runs[1].file, "nodes": nodes}),
        ),
        TextOrJson::Text => common::out(&text),
    }
    exit::OK
}
