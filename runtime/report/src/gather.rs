//! From a run in the store and its evaluated `report` block to a
//! [`Document`]: figures from the nodes' pictures, tables from their
//! Series, captions written from the tool, its arguments and provenance.

use std::collections::BTreeMap;
use std::path::Path;

use phx_sema::{ReportBlock, ReportSpec};
use phx_store::{ExecutionRow, OutputRow, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::ReportError;
use crate::document::{ArtifactRecord, Bibliography, Block, Document, Figure, Panel, Provenance, Table};
use crate::markdown::citations;

/// What a run keeps of its report (`.phx/runs/RUN/report.json`), so the
/// PDF can be written again without the program: the evaluated block, the
/// experiment's title and authors, and the bibliography's text.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedReport {
    pub spec: ReportSpec,
    /// The program, as the run names it.
    pub file: String,
    pub experiment_title: Option<String>,
    pub experiment_authors: Vec<String>,
    pub bibliography: Option<SavedBibliography>,
}

/// A bibliography's file name and text.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedBibliography {
    pub name: String,
    pub text: String,
}

impl SavedReport {
    /// Reads the bibliography named by `spec` (relative to `program_dir`).
    pub fn new(
        spec: ReportSpec,
        file: String,
        program_dir: &Path,
        experiment_title: Option<String>,
        experiment_authors: Vec<String>,
    ) -> Result<SavedReport, ReportError> {
        let bibliography = match &spec.bibliography {
            None => None,
            Some(rel) => {
                let path = program_dir.join(rel);
                let text = std::fs::read_to_string(&path).map_err(|e| ReportError::Bibliography {
                    file: rel.clone(),
                    message: format!("cannot read `{}`: {e}", path.display()),
                })?;
                let name = Path::new(rel).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                Some(SavedBibliography { name, text })
            }
        };
        Ok(SavedReport { spec, file, experiment_title, experiment_authors, bibliography })
    }
}

/// The keys a BibTeX text defines.
pub fn bibtex_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        rest = &rest[at + 1..];
        let Some(open) = rest.find(['{', '(']) else { break };
        let kind = rest[..open].trim().to_ascii_lowercase();
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        let after = &rest[open + 1..];
        if matches!(kind.as_str(), "comment" | "preamble" | "string") {
            continue;
        }
        if let Some(comma) = after.find(',') {
            let key = after[..comma].trim();
            if !key.is_empty() && !key.contains(char::is_whitespace) {
                keys.push(key.to_string());
            }
        }
    }
    keys
}

/// Every citation in `texts` resolves in `bibliography` (name, text), and
/// a report that cites has a bibliography.
fn check_cited(texts: &[&str], bibliography: Option<(&str, &str)>) -> Result<(), ReportError> {
    let cited: Vec<String> = texts.iter().flat_map(|t| citations(t)).collect();
    let Some(first) = cited.first() else { return Ok(()) };
    let Some((name, text)) = bibliography else {
        return Err(ReportError::Citation {
            key: first.clone(),
            problem: "but the report has no `bibliography`".into(),
        });
    };
    let defined = bibtex_keys(text);
    if defined.is_empty() {
        return Err(ReportError::Bibliography {
            file: name.into(),
            message: "it defines no entries (is it a BibTeX file?)".into(),
        });
    }
    for key in &cited {
        if !defined.contains(key) {
            return Err(ReportError::Citation {
                key: key.clone(),
                problem: format!("which `{name}` does not define (it defines {})", defined.join(", ")),
            });
        }
    }
    Ok(())
}

/// The citations of a document resolve.
pub(crate) fn check_citations(doc: &Document) -> Result<(), ReportError> {
    let mut texts: Vec<&str> = doc.abstract_markdown.iter().map(String::as_str).collect();
    fn walk<'a>(blocks: &'a [Block], out: &mut Vec<&'a str>) {
        for b in blocks {
            match b {
                Block::Section { blocks, .. } => walk(blocks, out),
                Block::Text(t) => out.push(t),
                Block::Figure(f) => out.push(&f.caption),
                Block::Table(t) => out.push(&t.caption),
            }
        }
    }
    walk(&doc.blocks, &mut texts);
    check_cited(&texts, doc.bibliography.as_ref().map(|b| (b.name.as_str(), b.text.as_str())))
}

/// The citations of a saved report resolve (before anything runs).
pub(crate) fn check_spec_citations(saved: &SavedReport) -> Result<(), ReportError> {
    let mut texts: Vec<&str> = saved.spec.abstract_text.iter().map(String::as_str).collect();
    fn walk<'a>(blocks: &'a [ReportBlock], out: &mut Vec<&'a str>) {
        for b in blocks {
            match b {
                ReportBlock::Section { blocks, .. } => walk(blocks, out),
                ReportBlock::Text { markdown } => out.push(markdown),
                ReportBlock::Figure { caption, .. } | ReportBlock::Table { caption, .. } => {
                    out.extend(caption.as_deref())
                }
            }
        }
    }
    walk(&saved.spec.blocks, &mut texts);
    check_cited(&texts, saved.bibliography.as_ref().map(|b| (b.name.as_str(), b.text.as_str())))
}

/// One argument of an execution, as a person writes it (`24 bohr`).
fn argument_text(v: &Json) -> String {
    match v {
        Json::String(s) => format!("{s:?}"),
        Json::Array(items) => format!("[{}]", items.iter().map(argument_text).collect::<Vec<_>>().join(", ")),
        Json::Object(m) => {
            if let (Some(value), Some(unit)) = (m.get("value"), m.get("unit").and_then(Json::as_str)) {
                format!("{} {unit}", number_text(value))
            } else if let Some(r) = m.get("ref").and_then(Json::as_str) {
                r.to_string()
            } else if let Some(f) = m.get("fn").and_then(Json::as_str) {
                f.to_string()
            } else if let Some(list) = m.get("refs").and_then(Json::as_array) {
                format!("[{} outputs]", list.len())
            } else {
                let fields: Vec<String> = m.iter().map(|(k, v)| format!("{k} = {}", argument_text(v))).collect();
                format!("{{{}}}", fields.join(", "))
            }
        }
        other => other.to_string(),
    }
}

/// `24` rather than `24.0`; other numbers as JSON writes them.
fn number_text(v: &Json) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        _ => v.to_string(),
    }
}

/// `(name, value as written)` for each argument.
type Arguments = Vec<(String, String)>;

fn arguments(e: &ExecutionRow) -> Arguments {
    match serde_json::from_str::<Json>(&e.args_json) {
        Ok(Json::Object(m)) => m.iter().map(|(k, v)| (k.clone(), argument_text(v))).collect(),
        _ => Vec::new(),
    }
}

fn joined(args: &[(String, String)]) -> String {
    args.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
}

/// The executions of a run that a figure or table names: one per vertex,
/// the last attempt of each, in sweep order.
fn instances<'a>(
    execs: &'a [ExecutionRow],
    node: &str,
    index: Option<usize>,
    run: &str,
) -> Result<Vec<&'a ExecutionRow>, ReportError> {
    let mut by_vertex: BTreeMap<(usize, &str), &ExecutionRow> = BTreeMap::new();
    for e in execs.iter().filter(|e| e.node == node) {
        if let Some(i) = index
            && e.vertex != format!("{node}[{i}]")
        {
            continue;
        }
        let order = e
            .vertex
            .strip_prefix(node)
            .and_then(|s| s.strip_prefix('['))
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        by_vertex.insert((order, e.vertex.as_str()), e);
    }
    let shown = match index {
        Some(i) => format!("{node}[{i}]"),
        None => node.to_string(),
    };
    if by_vertex.is_empty() {
        return Err(ReportError::NodeUnavailable { node: shown, run: run.into(), why: "did not run".into() });
    }
    let out: Vec<&ExecutionRow> = by_vertex.into_values().collect();
    if let Some(bad) = out.iter().find(|e| e.status != "succeeded") {
        return Err(ReportError::NodeUnavailable {
            node: bad.vertex.clone(),
            run: run.into(),
            why: format!("{}{}", bad.status, bad.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()),
        });
    }
    Ok(out)
}

fn provenance_sentence(e: &ExecutionRow) -> String {
    let device = e.device.as_deref().unwrap_or("cpu").to_uppercase();
    let mut s = if e.cached {
        format!("Taken from the cache (computed on the {device})")
    } else {
        match e.duration_ms {
            Some(ms) => format!("Computed on the {device} in {ms} ms"),
            None => format!("Computed on the {device}"),
        }
    };
    if e.backend != "local" {
        s.push_str(&format!(" by {}", e.backend));
        if let Some(j) = &e.job_id {
            s.push_str(&format!(" (job {j})"));
        }
    }
    if let Some(f) = &e.fallback {
        s.push_str(&format!("; device fallback: {f}"));
    }
    s
}

/// Arguments that differ between the instances of a sweep.
fn varying(instances: &[&ExecutionRow]) -> (Arguments, Vec<Arguments>) {
    let all: Vec<Arguments> = instances.iter().map(|e| arguments(e)).collect();
    let Some(first) = all.first() else { return (Vec::new(), Vec::new()) };
    let common: Arguments = first.iter().filter(|a| all.iter().all(|x| x.contains(a))).cloned().collect();
    let per: Vec<Arguments> = all.iter().map(|x| x.iter().filter(|a| !common.contains(a)).cloned().collect()).collect();
    (common, per)
}

/// The largest SVG embedded as a vector. Line plots stay well under it;
/// heatmaps (one rectangle per pixel: 0.7 MB at 96 x 96) go in as their PNG
/// twin, which is what they are, and typesets about ten times faster.
const SVG_LIMIT: u64 = 256 * 1024;

struct Pictures {
    panels: Vec<Panel>,
    animation_note: Option<String>,
}

fn pictures(store: &Store, e: &ExecutionRow, label: Option<String>) -> Result<Pictures, ReportError> {
    let outputs = store.db.outputs(e.id)?;
    let read = |o: &OutputRow| -> Result<Vec<u8>, ReportError> {
        let path = store.objects.path(&o.sha256);
        std::fs::read(&path).map_err(|source| phx_store::StoreError::Io { action: "read", path, source }.into())
    };
    let is_animation = |name: &str| outputs.iter().any(|x| x.name == name && x.kind == "Animation");
    let mut panels = Vec::new();
    let mut animation_note = None;
    for o in &outputs {
        if o.kind == "Animation" {
            let meta: Json = serde_json::from_str(&o.meta_json).unwrap_or(Json::Null);
            let format = meta.get("format").and_then(Json::as_str).unwrap_or("video").to_uppercase();
            let frames = meta.get("frames").and_then(Json::as_u64).map(|f| format!("{f}-frame ")).unwrap_or_default();
            let fps = meta.get("fps").and_then(Json::as_u64).map(|f| format!(" at {f} fps")).unwrap_or_default();
            let path = store.objects.path(&o.sha256);
            // Relative to the experiment folder, as `phx run` prints paths.
            let experiment = store.root.parent().unwrap_or(&store.root);
            let path = path.strip_prefix(experiment).map(Path::to_path_buf).unwrap_or(path);
            animation_note = Some(format!(
                "Frames of the {frames}{format} animation{fps}: sha256 `{}`, file `{}`.",
                o.sha256,
                path.display()
            ));
            if let Some(strip) = outputs.iter().find(|x| x.name == format!("{}_thumbnails", o.name)) {
                panels.push(Panel { file: format!("{}.png", strip.name), bytes: read(strip)?, label: label.clone() });
            }
            continue;
        }
        if o.kind != "Image" || o.name.strip_suffix("_thumbnails").is_some_and(is_animation) {
            continue;
        }
        let svg = outputs.iter().find(|x| x.name == format!("{}_svg", o.name));
        let size = |x: &OutputRow| store.db.artifact(&x.sha256).ok().flatten().map_or(u64::MAX, |a| a.size as u64);
        let panel = match svg {
            Some(s) if size(s) <= SVG_LIMIT => {
                Panel { file: format!("{}.svg", s.name), bytes: read(s)?, label: label.clone() }
            }
            _ => Panel { file: format!("{}.png", o.name), bytes: read(o)?, label: label.clone() },
        };
        panels.push(panel);
    }
    Ok(Pictures { panels, animation_note })
}

#[allow(clippy::too_many_arguments)]
fn figure(
    store: &Store,
    execs: &[ExecutionRow],
    run: &str,
    node: &str,
    index: Option<usize>,
    caption: Option<&str>,
    width: Option<f64>,
) -> Result<Figure, ReportError> {
    let inst = instances(execs, node, index, run)?;
    let (common, per) = varying(&inst);
    let sweep = inst.len() > 1;
    let mut panels = Vec::new();
    let mut notes = Vec::new();
    for (e, differing) in inst.iter().zip(&per) {
        let label = sweep.then(|| if differing.is_empty() { e.vertex.clone() } else { joined(differing) });
        let p = pictures(store, e, label)?;
        if p.panels.is_empty() {
            let outs: Vec<String> =
                store.db.outputs(e.id)?.iter().map(|o| format!("{} ({})", o.name, o.kind)).collect();
            return Err(ReportError::NotVisual {
                node: e.vertex.clone(),
                outputs: if outs.is_empty() { "none".into() } else { outs.join(", ") },
            });
        }
        panels.extend(p.panels);
        notes.extend(p.animation_note);
    }
    let first = inst[0];
    let caption = match caption {
        Some(c) => c.to_string(),
        None if sweep => format!(
            "`{}` over the {} instances of the sweep `{node}`{}. {}; artifacts {}.",
            first.tool,
            inst.len(),
            if common.is_empty() { String::new() } else { format!(", with `{}`", joined(&common)) },
            provenance_sentence(first),
            inst.iter().map(|e| format!("`{}`", short_hash(store, e))).collect::<Vec<_>>().join(", ")
        ),
        None => format!(
            "`{}` of node `{}` with `{}`. {}; artifact `{}`.",
            first.tool,
            first.vertex,
            joined(&common),
            provenance_sentence(first),
            short_hash(store, first)
        ),
    };
    let caption = if notes.is_empty() { caption } else { format!("{caption} {}", notes.join(" ")) };
    Ok(Figure { node: node.to_string(), panels, caption, width: width.unwrap_or(if sweep { 1.0 } else { 0.72 }) })
}

fn short_hash(store: &Store, e: &ExecutionRow) -> String {
    let outs = store.db.outputs(e.id).unwrap_or_default();
    let main = outs.iter().find(|o| o.kind == "Image" || o.kind == "Animation").or(outs.first());
    main.map(|o| o.sha256[..12.min(o.sha256.len())].to_string()).unwrap_or_else(|| "—".into())
}

/// Splits one CSV line, honouring double quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

const DEFAULT_TABLE_ROWS: usize = 10;

#[allow(clippy::too_many_arguments)]
fn table(
    store: &Store,
    execs: &[ExecutionRow],
    run: &str,
    node: &str,
    index: Option<usize>,
    output: &str,
    rows: Option<usize>,
    caption: Option<&str>,
) -> Result<Table, ReportError> {
    let inst = instances(execs, node, index, run)?;
    let e = inst[0];
    let outputs = store.db.outputs(e.id)?;
    let Some(o) = outputs.iter().find(|o| o.name == output) else {
        return Err(ReportError::Table {
            node: e.vertex.clone(),
            output: output.into(),
            message: "the run recorded no such output".into(),
        });
    };
    let bytes = std::fs::read(store.objects.path(&o.sha256)).map_err(|err| ReportError::Table {
        node: e.vertex.clone(),
        output: output.into(),
        message: err.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ReportError::Table {
        node: e.vertex.clone(),
        output: output.into(),
        message: "it is not UTF-8 text".into(),
    })?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let Some(head) = lines.next() else {
        return Err(ReportError::Table {
            node: e.vertex.clone(),
            output: output.into(),
            message: "it is empty".into(),
        });
    };
    let header = csv_fields(head);
    let body: Vec<&str> = lines.collect();
    let limit = rows.unwrap_or(DEFAULT_TABLE_ROWS);
    let shown: Vec<Vec<String>> = body.iter().take(limit).map(|l| csv_fields(l)).collect();
    let caption = match caption {
        Some(c) => c.to_string(),
        None => format!(
            "`{}.{output}` from `{}` with `{}`. {}; artifact `{}`.",
            e.vertex,
            e.tool,
            joined(&arguments(e)),
            provenance_sentence(e),
            &o.sha256[..12.min(o.sha256.len())]
        ),
    };
    Ok(Table { node: e.vertex.clone(), header, rows: shown, total_rows: body.len(), caption })
}

fn blocks(store: &Store, execs: &[ExecutionRow], run: &str, spec: &[ReportBlock]) -> Result<Vec<Block>, ReportError> {
    let mut out = Vec::new();
    for b in spec {
        out.push(match b {
            ReportBlock::Section { heading, blocks: inner } => {
                Block::Section { heading: heading.clone(), blocks: blocks(store, execs, run, inner)? }
            }
            ReportBlock::Text { markdown } => Block::Text(markdown.clone()),
            ReportBlock::Figure { node, index, caption, width } => {
                Block::Figure(figure(store, execs, run, node, *index, caption.as_deref(), *width)?)
            }
            ReportBlock::Table { node, index, output, rows, caption } => {
                Block::Table(table(store, execs, run, node, *index, output, *rows, caption.as_deref())?)
            }
        });
    }
    Ok(out)
}

fn ymd(timestamp: &str) -> Option<(i32, u8, u8)> {
    let date = timestamp.get(..10)?;
    let mut parts = date.split('-');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Builds the document of run `run_id` from the store and its saved report.
pub fn gather(store: &Store, run_id: &str, saved: &SavedReport) -> Result<Document, ReportError> {
    let run = store
        .db
        .run(run_id)?
        .ok_or_else(|| ReportError::NoReport { run: run_id.into(), why: "the store has no such run".into() })?;
    let execs = store.db.executions(run_id)?;
    let spec = &saved.spec;
    let body = blocks(store, &execs, run_id, &spec.blocks)?;
    let mut artifacts = Vec::new();
    for e in execs.iter().filter(|e| e.status == "succeeded") {
        for o in store.db.outputs(e.id)? {
            artifacts.push(ArtifactRecord {
                vertex: e.vertex.clone(),
                output: o.name,
                kind: o.kind,
                tool: e.tool.clone(),
                tool_version: e.tool_version.clone(),
                sha256: o.sha256,
                device: e.device.clone().unwrap_or_else(|| "cpu".into()),
                fallback: e.fallback.clone(),
                backend: e.backend.clone(),
                job_id: e.job_id.clone(),
                duration_ms: e.duration_ms,
                cached: e.cached,
            });
        }
    }
    let date = spec.date.clone().unwrap_or_else(|| run.started_at.get(..10).unwrap_or(&run.started_at).to_string());
    Ok(Document {
        title: spec.title.clone().or_else(|| saved.experiment_title.clone()).unwrap_or_else(|| spec.name.clone()),
        authors: if spec.authors.is_empty() { saved.experiment_authors.clone() } else { spec.authors.clone() },
        ymd: ymd(&run.started_at),
        date,
        abstract_markdown: spec.abstract_text.clone(),
        blocks: body,
        bibliography: saved.bibliography.as_ref().map(|b| Bibliography { name: b.name.clone(), text: b.text.clone() }),
        provenance: Provenance {
            run_id: run.id.clone(),
            file: saved.file.clone(),
            status: run.status.clone(),
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
            host: run.host.clone(),
            phx_version: run.phx_version.clone(),
            git_commit: run.git_commit.clone(),
            git_dirty: run.git_dirty,
            artifacts,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bibtex_keys_are_found_and_comments_skipped() {
        let bib = "@comment{x}\n@book{griffiths2018,\n title={Q}}\n@Article{ feit1982 , t={x}}\nmail me @ home";
        assert_eq!(bibtex_keys(bib), vec!["griffiths2018", "feit1982"]);
    }

    #[test]
    fn arguments_read_like_source() {
        let v: Json = serde_json::json!({"n": 2, "extent": {"value": 24.0, "unit": "bohr", "si": 1.27e-9, "dim": "m"}, "field": {"ref": "density.density"}, "plane": "xz"});
        let Json::Object(m) = v else { unreachable!() };
        let args: Vec<String> = m.iter().map(|(k, v)| format!("{k} = {}", argument_text(v))).collect();
        assert_eq!(args, ["n = 2", "extent = 24 bohr", "field = density.density", "plane = \"xz\""]);
    }

    #[test]
    fn csv_quotes_are_honoured() {
        assert_eq!(csv_fields("a,\"b,c\",\"d\"\"e\""), ["a", "b,c", "d\"e"]);
    }
}
