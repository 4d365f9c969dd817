//! Reports: the ones a program declares (checked before it runs, written
//! after), a run's report again, and a report published for an agent with
//! its own title, authors and bibliography.

use std::path::{Path, PathBuf};

use phx_db::CheckedFile;
use phx_report::{ReportError, SavedReport};
use phx_sema::Value;
use phx_store::Store;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;

fn experiment_text(checked: &CheckedFile, field: &str) -> Option<String> {
    let exp = checked.dag.experiment.as_ref()?;
    match exp.fields.iter().find(|(k, _)| k == field).map(|(_, v)| v) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn experiment_authors(checked: &CheckedFile) -> Vec<String> {
    let Some(exp) = checked.dag.experiment.as_ref() else { return Vec::new() };
    match exp.fields.iter().find(|(k, _)| k == "authors").map(|(_, v)| v) {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The program's reports, with their bibliographies read and checked,
/// before anything runs: a bad bibliography stops the run at once.
pub fn prepare(checked: &CheckedFile, program: &Path, file: &str) -> AppResult<Vec<SavedReport>> {
    let dir = program.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for spec in &checked.reports {
        let saved = SavedReport::new(
            spec.clone(),
            file.to_string(),
            dir,
            experiment_text(checked, "title"),
            experiment_authors(checked),
        )
        .and_then(|s| phx_report::preflight(&s).map(|_| s));
        match saved {
            Ok(s) => out.push(s),
            Err(e) => {
                let mut err = AppError::from(e);
                err.message = format!(
                    "{}; {}: not run: its report `{}` cannot be written",
                    err.message,
                    program.display(),
                    spec.name
                );
                return Err(err);
            }
        }
    }
    Ok(out)
}

/// The PDF's file name in the run folder: the first report is `report.pdf`.
fn pdf_name(index: usize, saved: &SavedReport) -> String {
    if index == 0 { "report.pdf".into() } else { format!("report-{}.pdf", saved.spec.name) }
}

/// Saves each report's inputs in the run folder and writes its PDF there.
/// Returns the first PDF's path.
pub fn write_for_run(store: &Store, run_id: &str, reports: &[SavedReport]) -> AppResult<Option<PathBuf>> {
    let dir = store.run_dir(run_id);
    let mut first = None;
    for (i, saved) in reports.iter().enumerate() {
        let json = serde_json::to_vec_pretty(saved).map_err(|e| ReportError::Typeset(e.to_string()))?;
        let name = if i == 0 { "report.json".to_string() } else { format!("report-{}.json", saved.spec.name) };
        write(&dir.join(name), &json)?;
        let doc = phx_report::gather(store, run_id, saved)?;
        let pdf = phx_report::render(&doc)?;
        let path = dir.join(pdf_name(i, saved));
        write(&path, &pdf)?;
        first.get_or_insert(path);
    }
    Ok(first)
}

/// Writes a file atomically, creating its folder.
pub fn write(path: &Path, bytes: &[u8]) -> AppResult<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| phx_store::StoreError::Io {
            action: "create",
            path: parent.to_path_buf(),
            source: e,
        })?;
    }
    phx_store::write_atomic(path, bytes)
        .map_err(|e| phx_store::StoreError::Io { action: "write", path: path.to_path_buf(), source: e }.into())
}

/// The report a run saved when it ran (`report.json` in its folder).
pub fn saved_report(exp: &Experiment, run: &phx_store::RunRow) -> AppResult<SavedReport> {
    let saved_path = exp.store.run_dir(&run.id).join("report.json");
    match std::fs::read(&saved_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            AppError::invalid("phx::report-missing", format!("`{}` is not a saved report: {e}", saved_path.display()))
                .with_help("run the program again to write it anew")
        }),
        Err(_) => Err(ReportError::NoReport {
            run: run.id.clone(),
            why: format!("its program `{}` had no `report` block when it ran", run.file),
        }
        .into()),
    }
}

/// A written report.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct WrittenReport {
    pub run_id: String,
    /// The PDF, absolute.
    pub report: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// `phx report RUN`: a run's report again, to `output` or the run folder;
/// `keep_source` also writes the typst source beside it.
pub fn report(exp: &Experiment, run: &str, output: Option<&Path>, keep_source: bool) -> AppResult<WrittenReport> {
    let run = exp.run(run)?;
    let saved = saved_report(exp, &run)?;
    let doc = phx_report::gather(&exp.store, &run.id, &saved)?;
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| exp.store.run_dir(&run.id).join("report.pdf"));
    if keep_source {
        write(&out.with_extension("typ"), phx_report::source(&doc).as_bytes())?;
    }
    let pdf = phx_report::render(&doc)?;
    write(&out, &pdf)?;
    Ok(WrittenReport { run_id: run.id, report: out.display().to_string(), bytes: pdf.len() as u64 })
}

/// What an agent may change in a published report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct PublishRequest {
    /// From run_dag (a full id or a unique prefix).
    pub run_id: String,
    pub title: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    /// BibTeX entries, one per item.
    #[serde(default)]
    pub bibliography: Vec<String>,
}

/// The report of a run with the request's title, authors and references
/// (`published.pdf` in the run folder). A run whose program had no
/// `report` block gets one section with every picture it made.
pub fn publish(exp: &Experiment, req: &PublishRequest) -> AppResult<WrittenReport> {
    let run = exp.run(&req.run_id)?;
    let mut saved = if exp.store.run_dir(&run.id).join("report.json").exists() {
        saved_report(exp, &run)?
    } else {
        default_report(exp, &run)?
    };
    if let Some(t) = req.title.as_deref().filter(|t| !t.trim().is_empty()) {
        saved.spec.title = Some(t.to_string());
    }
    if !req.authors.is_empty() {
        saved.spec.authors = req.authors.clone();
    }
    let entries: Vec<&str> = req.bibliography.iter().map(String::as_str).filter(|e| !e.trim().is_empty()).collect();
    if !entries.is_empty() {
        let mut all = saved.bibliography.as_ref().map(|b| b.text.clone()).unwrap_or_default();
        all.push('\n');
        all.push_str(&entries.join("\n\n"));
        saved.bibliography = Some(phx_report::SavedBibliography { name: "references.bib".into(), text: all });
    }
    phx_report::preflight(&saved)?;
    let doc = phx_report::gather(&exp.store, &run.id, &saved)?;
    let pdf = phx_report::render(&doc)?;
    let path = exp.store.run_dir(&run.id).join("published.pdf");
    write(&path, &pdf)?;
    Ok(WrittenReport { run_id: run.id, report: path.display().to_string(), bytes: pdf.len() as u64 })
}

/// The report of a run whose program had no `report` block: its title from
/// the program, one section with every picture.
fn default_report(exp: &Experiment, run: &phx_store::RunRow) -> AppResult<SavedReport> {
    use phx_sema::{ReportBlock, ReportSpec};
    let mut blocks = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in exp.store.db.executions(&run.id)? {
        let outs = exp.store.db.outputs(e.id)?;
        if outs.iter().any(|o| o.kind == "Image" || o.kind == "Animation") && seen.insert(e.node.clone()) {
            blocks.push(ReportBlock::Figure { node: e.node.clone(), index: None, caption: None, width: None });
        }
    }
    let spec = ReportSpec {
        name: "published".into(),
        title: Some(format!("Results of {}", run.file)),
        blocks: vec![ReportBlock::Section { heading: "Results".into(), blocks }],
        ..ReportSpec::default()
    };
    Ok(SavedReport {
        spec,
        file: run.file.clone(),
        experiment_title: None,
        experiment_authors: Vec::new(),
        bibliography: None,
    })
}
