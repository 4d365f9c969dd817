//! `phx artifact log|show|lineage|verify`: provenance of stored artifacts.

use phx_app::artifacts::{self, Lineage, LineageEdge};
use phx_app::maintenance::ObjectProblem;
use serde_json::Value as Json;

use super::common::{self, DirArg, FormatArg, TextOrJson};
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
        #[command(flatten)]
        format: FormatArg,
    },
    /// One artifact: its kind, size, producer and provenance.
    Show {
        /// A SHA-256 (or a unique prefix of one).
        id: String,
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        format: FormatArg,
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
        #[command(flatten)]
        format: FormatArg,
    },
    /// Re-hash one artifact; exit 1 when its bytes do not match its name.
    Verify {
        id: String,
        #[command(flatten)]
        dir: DirArg,
    },
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
        ArtifactCommand::Log { node, dir, format: FormatArg { format } } => {
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
        ArtifactCommand::Show { id, dir, format: FormatArg { format } } => {
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
                let meta = common::meta_line(&doc.meta);
                if !meta.is_empty() {
                    text.push_str(&format!("  meta {meta}\n"));
                }
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
        ArtifactCommand::Diff { run_a, run_b, dir, format: FormatArg { format } } => diff(&dir, &run_a, &run_b, format),
        ArtifactCommand::Verify { id, dir } => {
            let exp = match dir.open() {
                Ok(e) => e,
                Err(code) => return code,
            };
            let check = match artifacts::verify(&exp, &id) {
                Ok(c) => c,
                Err(e) => return common::fail(&e),
            };
            match &check.problem {
                None => {
                    common::out(&format!("ok: {}\n", check.sha256));
                    exit::OK
                }
                Some(ObjectProblem::Corrupt { actual }) => {
                    eprintln!("corrupt: {} (its bytes hash to {actual}); the next run recomputes it", check.sha256);
                    exit::INVALID
                }
                Some(ObjectProblem::Unreadable { error }) => {
                    eprintln!("unreadable: {}: {error}", check.sha256);
                    exit::INVALID
                }
                Some(ObjectProblem::Missing) => {
                    eprintln!("missing: {}", check.sha256);
                    exit::INVALID
                }
            }
        }
    }
}

fn short12(s: &str) -> &str {
    &s[..12.min(s.len())]
}

/// `phx artifact diff RUN_A RUN_B`.
fn diff(dir: &DirArg, run_a: &str, run_b: &str, format: TextOrJson) -> u8 {
    let exp = match dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    let d = match artifacts::diff(&exp, run_a, run_b) {
        Ok(d) => d,
        Err(e) => return common::fail(&e),
    };
    if format == TextOrJson::Json {
        common::print_value(&d);
        return exit::OK;
    }
    let mut text = String::new();
    if d.file_a != d.file_b {
        text.push_str(&format!("note: the runs are of different programs ({} and {})\n", d.file_a, d.file_b));
    }
    let mut unchanged = 0;
    for n in &d.nodes {
        match n.status.as_str() {
            "unchanged" => unchanged += 1,
            "changed" => {
                text.push_str(&format!("changed   {} ({})\n", n.vertex, n.tool));
                for c in &n.changes {
                    let show = |x: &Option<String>| match x.as_deref() {
                        Some(s) if c.what == "input" || c.what == "output" => short12(s).to_string(),
                        Some(s) => s.to_string(),
                        None => "(none)".to_string(),
                    };
                    text.push_str(&format!("  {:<8} {}: {} -> {}\n", c.what, c.name, show(&c.before), show(&c.after)));
                }
            }
            status => text.push_str(&format!("{status:<9} {} ({})\n", n.vertex, n.tool)),
        }
    }
    text.push_str(&format!("{unchanged} node(s) unchanged\n"));
    common::out(&text);
    exit::OK
}
