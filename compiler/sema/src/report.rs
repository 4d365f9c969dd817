//! The evaluated form of a `report` block: what the report writer needs,
//! with every string interpolated and every figure and table resolved to a
//! node. It is plain data (serialisable), so a run can keep it beside its
//! results and the PDF can be written again later without the source.

use serde::{Deserialize, Serialize};

/// One `report NAME { ... }`, evaluated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportSpec {
    pub name: String,
    pub title: Option<String>,
    pub authors: Vec<String>,
    #[serde(rename = "abstract")]
    pub abstract_text: Option<String>,
    pub date: Option<String>,
    /// The BibTeX file, as written (relative to the program's folder).
    pub bibliography: Option<String>,
    pub blocks: Vec<ReportBlock>,
}

/// One entry of a report or of a section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportBlock {
    Section {
        heading: String,
        blocks: Vec<ReportBlock>,
    },
    /// Markdown, citations as `[@key]`.
    Text {
        markdown: String,
    },
    /// The visual output of a node (every instance of a sweep when `index`
    /// is absent).
    Figure {
        node: String,
        index: Option<usize>,
        caption: Option<String>,
        /// A fraction of the text width, 0 < width <= 1.
        width: Option<f64>,
    },
    /// The first `rows` rows of a Series output.
    Table {
        node: String,
        index: Option<usize>,
        output: String,
        rows: Option<usize>,
        caption: Option<String>,
    },
}

impl ReportSpec {
    /// Every figure and table, depth first, in document order.
    pub fn references(&self) -> Vec<&ReportBlock> {
        fn walk<'a>(blocks: &'a [ReportBlock], out: &mut Vec<&'a ReportBlock>) {
            for b in blocks {
                match b {
                    ReportBlock::Section { blocks, .. } => walk(blocks, out),
                    ReportBlock::Figure { .. } | ReportBlock::Table { .. } => out.push(b),
                    ReportBlock::Text { .. } => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.blocks, &mut out);
        out
    }
}
