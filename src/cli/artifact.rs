//! `phx artifact log|show|lineage|verify`: provenance of stored artifacts.

use std::collections::{BTreeMap, BTreeSet};

use phx_app::Experiment;
use phx_app::artifacts::{self, Lineage, LineageEdge, arguments, components};
use phx_store::{ExecutionRow, Store, Verified};
use serde_json::{Value as Json, json};

use super::common::{self, DirArg, TextOrJson};
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
        #[command(flatten)]
        dir: DirArg,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// One artifact: its kind, size, producer and provenance.
    Show {
        /// A SHA-256 (or a unique prefix of one).
        id: String,
        #[command(flatten)]
        dir: DirArg,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// An artifact's ancestors and descendants.
    Lineage {
        id: String,
        #[command(flatten)]
        dir: DirArg,
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
        #[command(flatten)]
        dir: DirArg,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// Re-hash one artifact; exit 1 when its bytes do not match its name.
    Verify {
        id: String,
        #[command(flatten)]
        dir: DirArg,
    },
}

/// The experiment and the full hash that `id` names.
fn open_resolved(dir: &DirArg, id: &str) -> Result<(Experiment, String), u8> {
    let exp = dir.open()?;
    let sha = artifacts::resolve(&exp, id).map_err(|e| common::fail(&e))?;
    Ok((exp, sha))
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
            let exp = match dir.open() {
                Ok(e) => e,
                Err(code) => return code,
            };
            let log = match artifacts::log(&exp, &node) {
                Ok(l) => l,
                Err(e) => return common::fail(&e),
            };
            if format == TextOrJson::Json {
                common::print_value(&log);
            } else {
                let mut text = String::new();
                for r in &log.artifacts {
                    text.push_str(&format!(
                        "{}  {:<20} {:<12} {:<9} {}{}\n",
                        r.run_id,
                        r.vertex,
                        r.output,
                        r.kind,
                        r.sha256,
                        if r.cached { "  (cached)" } else { "" }
                    ));
                }
                if log.artifacts.is_empty() {
                    text = format!("no artifacts of `{node}` yet\n");
                }
                common::out(&text);
            }
            exit::OK
        }
        ArtifactCommand::Show { id, dir, format } => {
            let exp = match dir.open() {
                Ok(e) => e,
                Err(code) => return code,
            };
            let doc = match artifacts::show(&exp, &id) {
                Ok(d) => d,
                Err(e) => return common::fail(&e),
            };
            if format == TextOrJson::Json {
                common::print_value(&doc);
            } else {
                let mut text = format!(
                    "artifact {}\n  kind {}  size {} bytes\n  path {}\n",
                    doc.sha256,
                    doc.kind.as_deref().unwrap_or("?"),
                    doc.size.map_or("?".to_string(), |s| s.to_string()),
                    doc.path
                );
                for p in &doc.produced_by {
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
                text.push_str(&format!("  inputs {}\n  used by {}\n", doc.parents.len(), doc.children.len()));
                common::out(&text);
            }
            exit::OK
        }
        ArtifactCommand::Lineage { id, dir, format } => {
            let exp = match dir.open() {
                Ok(e) => e,
                Err(code) => return code,
            };
            let lineage = match artifacts::lineage(&exp, &id) {
                Ok(l) => l,
                Err(e) => return common::fail(&e),
            };
            let Lineage { artifact: sha, ancestors, descendants, edges, labels, producers } = &lineage;
            let text = match format {
                LineageFormat::Json => {
                    common::print_value(&lineage);
                    return exit::OK;
                }
                LineageFormat::Dot => {
                    let mut t = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
                    for (s, l) in labels {
                        let detail = producer_line(&producers[s]);
                        t.push_str(&format!(
                            "  \"{}\" [label=\"{}\\n{}\"{}];\n",
                            &s[..12],
                            l.replace('"', "\\\""),
                            detail.replace('"', "\\\""),
                            if s == sha { ", penwidth=2" } else { "" }
                        ));
                    }
                    for LineageEdge { parent: a, child: b } in edges {
                        t.push_str(&format!("  \"{}\" -> \"{}\";\n", &a[..12], &b[..12]));
                    }
                    t.push_str("}\n");
                    t
                }
                LineageFormat::Mermaid => {
                    let mut t = String::from("flowchart LR\n");
                    for (s, l) in labels {
                        let detail = producer_line(&producers[s]);
                        t.push_str(&format!(
                            "  a{}[\"{}<br/>{}\"]\n",
                            &s[..12],
                            l.replace('"', "#quot;"),
                            detail.replace('"', "#quot;")
                        ));
                    }
                    for LineageEdge { parent: a, child: b } in edges {
                        t.push_str(&format!("  a{} --> a{}\n", &a[..12], &b[..12]));
                    }
                    t
                }
                LineageFormat::Text => {
                    let mut t = format!("{}\n  {}\n", labels[sha], producer_line(&producers[sha]));
                    t.push_str(&format!("ancestors ({}):\n", ancestors.len()));
                    for a in ancestors {
                        t.push_str(&format!("  {}\n    {}\n", labels[a], producer_line(&producers[a])));
                    }
                    t.push_str(&format!("descendants ({}):\n", descendants.len()));
                    for d in descendants {
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
            let (exp, sha) = match open_resolved(&dir, &id) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match exp.store.objects.verify(&sha) {
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
fn diff(dir: &DirArg, run_a: &str, run_b: &str, format: TextOrJson) -> u8 {
    let store = match dir.open() {
        Ok(e) => e.store,
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
