//! A run's report as a PDF, typeset by typst used as a library.
//!
//! The pipeline: [`gather`] reads the evaluated `report` block
//! ([`phx_sema::ReportSpec`]), the run's executions and artifacts from the
//! store, and builds a [`Document`] (plain data); [`typeset`] writes typst
//! markup for it; [`render`] compiles that in an in-memory typst `World`
//! (embedded fonts, nothing fetched) and exports the PDF. Markdown and its
//! LaTeX math are converted by [`markdown`] and [`math`].

pub mod document;
mod gather;
pub mod markdown;
pub mod math;
pub mod notebook;
mod typeset;
mod world;

pub use document::Document;
pub use gather::{SavedBibliography, SavedReport, gather};
pub use typeset::typeset;

use typst::WorldExt;
use typst::diag::Severity;

/// What can stop a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the bibliography `{file}` cannot be used: {message}")]
    Bibliography { file: String, message: String },
    #[error("the report cites `{key}`, {problem}")]
    Citation { key: String, problem: String },
    #[error("the figure shows `{node}`, but its run produced no picture (outputs: {outputs})")]
    NotVisual { node: String, outputs: String },
    #[error("the report shows `{node}`, which {why} in run {run}")]
    NodeUnavailable { node: String, run: String, why: String },
    #[error("the table of `{node}.{output}` cannot be read: {message}")]
    Table { node: String, output: String, message: String },
    #[error("no report for run {run}: {why}")]
    NoReport { run: String, why: String },
    #[error("typst could not typeset the report: {0}")]
    Typeset(String),
    #[error(transparent)]
    Store(#[from] phx_store::StoreError),
}

impl ReportError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::Bibliography { .. } => "phx::report-bibliography",
            ReportError::Citation { .. } => "phx::report-citation",
            ReportError::NotVisual { .. } => "phx::not-visual",
            ReportError::NodeUnavailable { .. } => "phx::report-missing",
            ReportError::Table { .. } => "phx::report-table",
            ReportError::NoReport { .. } => "phx::report-missing",
            ReportError::Typeset(_) => "phx::report-typeset",
            ReportError::Store(_) => "phx::store",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            ReportError::Bibliography { message, .. } if message.starts_with("cannot read") => {
                "the path is relative to the program's folder: put the BibTeX file there, or fix `bibliography`".into()
            }
            ReportError::Bibliography { .. } => {
                "check the BibTeX syntax: every entry is `@type{key, field = {value}, ...}`".into()
            }
            ReportError::Citation { .. } => {
                "cite keys that the bibliography file defines, as `[@key]`; set `bibliography = \"refs.bib\"` in the report".into()
            }
            ReportError::NotVisual { node, .. } => {
                format!("add `static` to the `emit` of `{node}`, or show one of its Series as a `table`")
            }
            ReportError::NodeUnavailable { .. } => "run the program again; `phx show RUN` lists what ran".into(),
            ReportError::Table { .. } => "a table shows a Series: a CSV file with a header line".into(),
            ReportError::NoReport { .. } => "add a `report` block to the program and run it".into(),
            ReportError::Typeset(_) => "this is a bug in phx's report writer; please report it with the program".into(),
            ReportError::Store(e) => e.hint().into(),
        }
    }
}

/// Typesets `doc` and returns the PDF's bytes.
pub fn render(doc: &Document) -> Result<Vec<u8>, ReportError> {
    gather::check_citations(doc)?;
    let t = typeset(doc);
    compile(t.source, t.files, doc.ymd, doc.bibliography.as_ref().map(|b| b.name.as_str()))
}

/// Compiles a typst source with its files to a PDF (for documents other
/// than reports, such as the notebook).
pub fn compile_source(
    source: String,
    files: Vec<(String, Vec<u8>)>,
    ymd: Option<(i32, u8, u8)>,
) -> Result<Vec<u8>, ReportError> {
    compile(source, files, ymd, None)
}

/// typst in an in-memory world, then the PDF; `bibliography` names the
/// `.bib` file so its errors can be told apart.
fn compile(
    source: String,
    files: Vec<(String, Vec<u8>)>,
    ymd: Option<(i32, u8, u8)>,
    bibliography: Option<&str>,
) -> Result<Vec<u8>, ReportError> {
    let world = world::ReportWorld::new(source, files, ymd);
    let compiled = typst::compile::<typst_layout::PagedDocument>(&world);
    let document = compiled.output.map_err(|diags| typst_error(&world, bibliography, &diags))?;
    typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default())
        .map_err(|diags| typst_error(&world, bibliography, &diags))
}

/// Checks what can be checked before a run: every citation resolves, and
/// the bibliography parses (typst reads it in a one-line document).
pub fn preflight(saved: &SavedReport) -> Result<(), ReportError> {
    gather::check_spec_citations(saved)?;
    let Some(bib) = &saved.bibliography else { return Ok(()) };
    let doc = Document {
        title: "bibliography check".into(),
        bibliography: Some(document::Bibliography { name: bib.name.clone(), text: bib.text.clone() }),
        ..Document::default()
    };
    render(&doc).map(|_| ())
}

/// The typst source a document compiles from (for `--keep-source` and tests).
pub fn source(doc: &Document) -> String {
    typeset(doc).source
}

fn typst_error(
    world: &world::ReportWorld,
    bibliography: Option<&str>,
    diags: &[typst::diag::SourceDiagnostic],
) -> ReportError {
    let Some(d) = diags.iter().find(|d| d.severity == Severity::Error).or(diags.first()) else {
        return ReportError::Typeset("typst failed without a message".into());
    };
    let message = d.message.to_string();
    let in_bib = d.span.id().is_some_and(|id| id.vpath().get_without_slash().ends_with(".bib"));
    if let Some(name) = bibliography
        && (in_bib || message.contains("BibTeX") || message.contains("bibliography file"))
    {
        return ReportError::Bibliography { file: name.to_string(), message };
    }
    if message.contains("does not exist in the bibliography") || message.contains("does not contain a bibliography") {
        let key = message.split('`').nth(1).unwrap_or("?").to_string();
        return ReportError::Citation { key, problem: message };
    }
    let at = world.range(d.span).map(|r| {
        let src = world.main_source();
        let line = src.text()[..r.start.min(src.text().len())].matches('\n').count() + 1;
        format!(" (generated line {line})")
    });
    let hints: Vec<String> = d.hints.iter().map(|h| h.v.to_string()).collect();
    ReportError::Typeset(format!(
        "{message}{}{}",
        at.unwrap_or_default(),
        if hints.is_empty() { String::new() } else { format!("; {}", hints.join("; ")) }
    ))
}
