//! `phx report RUN`, and the report that `phx run` writes when the program
//! has a `report` block.

use std::path::{Path, PathBuf};

use phx_db::CheckedFile;
use phx_report::{ReportError, SavedReport};
use phx_sema::Value;
use phx_store::Store;

use super::common;
use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The run (`phx runs` lists them).
    run: String,
    /// Where to write the PDF (default: the run's folder, `report.pdf`).
    #[arg(short, long)]
    output: Option<String>,
    /// The experiment folder.
    #[arg(long, default_value = ".")]
    dir: String,
    /// Also write the generated typst source beside the PDF (`.typ`).
    #[arg(long)]
    keep_source: bool,
}

/// Prints a report error with its code and hint.
pub fn print_error(e: &ReportError) {
    eprintln!("error[{}]: {e}\n  help: {}", e.code(), e.hint());
}

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
pub fn prepare(checked: &CheckedFile, program: &Path, file: &str) -> Result<Vec<SavedReport>, u8> {
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
                print_error(&e);
                eprintln!("{}: not run: its report `{}` cannot be written", program.display(), spec.name);
                return Err(exit::INVALID);
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
pub fn write_for_run(store: &Store, run_id: &str, reports: &[SavedReport]) -> Result<Option<PathBuf>, ReportError> {
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

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| phx_store::StoreError::Io {
            action: "create",
            path: parent.to_path_buf(),
            source: e,
        })?;
    }
    common::write_atomic(&path.to_string_lossy(), bytes)
        .map_err(|e| phx_store::StoreError::Io { action: "write", path: path.to_path_buf(), source: e }.into())
}

/// `phx report RUN [-o FILE.pdf]`.
pub fn run(a: Args) -> u8 {
    let store = match common::open_store(Path::new(&a.dir)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Ok(Some(run)) = store.db.run(&a.run) else {
        eprintln!("error: no run `{}` in {}\n  help: `phx runs` lists them", a.run, store.root.display());
        return exit::INVALID;
    };
    let saved_path = store.run_dir(&run.id).join("report.json");
    let saved: SavedReport = match std::fs::read(&saved_path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "error[phx::report-missing]: `{}` is not a saved report: {e}\n  help: run the program again to write it anew",
                    saved_path.display()
                );
                return exit::INVALID;
            }
        },
        Err(_) => {
            let e = ReportError::NoReport {
                run: run.id.clone(),
                why: format!("its program `{}` had no `report` block when it ran", run.file),
            };
            print_error(&e);
            return exit::INVALID;
        }
    };
    let doc = match phx_report::gather(&store, &run.id, &saved) {
        Ok(d) => d,
        Err(e) => {
            print_error(&e);
            return exit::INVALID;
        }
    };
    let out = a.output.map(PathBuf::from).unwrap_or_else(|| store.run_dir(&run.id).join("report.pdf"));
    if a.keep_source {
        let typ = out.with_extension("typ");
        if let Err(e) = write(&typ, phx_report::source(&doc).as_bytes()) {
            print_error(&e);
            return exit::ENVIRONMENT;
        }
    }
    let pdf = match phx_report::render(&doc) {
        Ok(p) => p,
        Err(e) => {
            print_error(&e);
            return exit::INVALID;
        }
    };
    if let Err(e) = write(&out, &pdf) {
        print_error(&e);
        return exit::ENVIRONMENT;
    }
    common::out(&format!("wrote {} ({} KB)\n", out.display(), pdf.len().div_ceil(1024)));
    exit::OK
}
