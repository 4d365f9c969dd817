//! The report as plain data, everything resolved: what the typesetter
//! needs and nothing it would have to look up.

/// A whole report.
#[derive(Clone, Debug, Default)]
pub struct Document {
    pub title: String,
    pub authors: Vec<String>,
    /// As printed under the title (`2026-11-29`).
    pub date: String,
    /// `(year, month, day)` for the PDF's metadata.
    pub ymd: Option<(i32, u8, u8)>,
    pub abstract_markdown: Option<String>,
    pub blocks: Vec<Block>,
    pub bibliography: Option<Bibliography>,
    pub provenance: Provenance,
}

/// A BibTeX file and the name it had.
#[derive(Clone, Debug)]
pub struct Bibliography {
    pub name: String,
    pub text: String,
}

/// One part of the body.
#[derive(Clone, Debug)]
pub enum Block {
    Section { heading: String, blocks: Vec<Block> },
    Text(String),
    Figure(Figure),
    Table(Table),
}

/// A figure: one picture, or a contact sheet of a sweep's pictures.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The node it shows (for its label, `fig-NODE`).
    pub node: String,
    pub panels: Vec<Panel>,
    /// Markdown.
    pub caption: String,
    /// Fraction of the text width.
    pub width: f64,
}

/// One picture of a figure.
#[derive(Clone, Debug)]
pub struct Panel {
    /// A file name ending in `.png` or `.svg`.
    pub file: String,
    pub bytes: Vec<u8>,
    /// Under the picture, in a contact sheet.
    pub label: Option<String>,
}

/// A table of a Series.
#[derive(Clone, Debug)]
pub struct Table {
    pub node: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// How many rows the Series has in all.
    pub total_rows: usize,
    /// Markdown.
    pub caption: String,
}

/// Where everything came from.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub run_id: String,
    pub file: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub host: String,
    pub phx_version: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub artifacts: Vec<ArtifactRecord>,
}

/// One artifact of the run, with the execution that made it.
#[derive(Clone, Debug)]
pub struct ArtifactRecord {
    pub vertex: String,
    pub output: String,
    pub kind: String,
    pub tool: String,
    pub tool_version: String,
    pub sha256: String,
    pub device: String,
    pub fallback: Option<String>,
    pub backend: String,
    pub job_id: Option<String>,
    pub duration_ms: Option<i64>,
    pub cached: bool,
}
