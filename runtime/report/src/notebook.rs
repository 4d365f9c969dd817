//! The lab notebook as a PDF: one block per entry, its markdown rendered,
//! thumbnails of its image attachments, and the hash chain printed so a
//! reader of the paper copy can check it.

use crate::ReportError;
use crate::markdown::{self, plain, string_literal};

/// An attachment as printed.
#[derive(Clone, Debug, Default)]
pub struct PrintedAttachment {
    pub name: String,
    pub kind: String,
    pub sha256: String,
    pub size: u64,
    /// A small PNG, for image attachments.
    pub thumbnail: Option<Vec<u8>>,
}

/// One entry, ready to print.
#[derive(Clone, Debug, Default)]
pub struct NotebookPage {
    pub seq: u64,
    pub title: String,
    pub author: String,
    pub time: String,
    pub markdown: String,
    pub hash: String,
    pub prev: String,
    pub public_key: String,
    pub attachments: Vec<PrintedAttachment>,
    /// `RUN` or `RUN / NODE`.
    pub refs: Vec<String>,
}

/// The notebook's PDF. `status` is what `verify` said, printed on the
/// first page.
pub fn notebook_pdf(title: &str, status: &str, pages: &[NotebookPage]) -> Result<Vec<u8>, ReportError> {
    let mut files = Vec::new();
    let mut s = String::new();
    s.push_str(&format!("#set document(title: {})\n", string_literal(title)));
    s.push_str(
        r##"#set page(paper: "a4", margin: (x: 2.3cm, y: 2.4cm), numbering: "1 / 1", number-align: center)
#set text(font: ("Libertinus Serif", "New Computer Modern"), size: 10.5pt, lang: "en")
#set par(justify: true, leading: 0.62em)
#show raw: set text(font: "DejaVu Sans Mono", size: 0.85em)
#show link: set text(fill: rgb("#1f4e99"))
"##,
    );
    s.push_str(&format!(
        "#align(center)[#text(17pt, weight: \"bold\")[{}] \\ #v(0.2em) #text(9pt, fill: luma(90))[{} entries · {}]]\n#v(1em)\n",
        plain(title),
        pages.len(),
        plain(status)
    ));
    for p in pages {
        s.push_str(&format!(
            "#block(breakable: true, width: 100%, inset: (bottom: 8pt), stroke: (bottom: 0.4pt + luma(180)))[\n#text(13pt, weight: \"bold\")[{}. {}]\n\n#text(9pt, fill: luma(80))[{} · {}]\n\n",
            p.seq,
            plain(&p.title),
            plain(&p.author),
            plain(&p.time)
        ));
        s.push_str(&markdown::to_typst(&p.markdown, 1));
        s.push_str("\n\n");
        let thumbs: Vec<String> = p
            .attachments
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let bytes = a.thumbnail.clone()?;
                let path = format!("notebook/{}-{i}.png", p.seq);
                files.push((path.clone(), bytes));
                Some(format!(
                    "stack(spacing: 3pt, image({}, width: 100%), text(7.5pt)[{}])",
                    string_literal(&path),
                    plain(&a.name)
                ))
            })
            .collect();
        if !thumbs.is_empty() {
            s.push_str(&format!(
                "#grid(columns: (1fr,) * 4, column-gutter: 8pt, row-gutter: 8pt, {})\n\n",
                thumbs.join(", ")
            ));
        }
        if !p.attachments.is_empty() {
            s.push_str("#text(8.5pt)[#strong[Attachments.] ");
            let items: Vec<String> = p
                .attachments
                .iter()
                .map(|a| {
                    format!(
                        "{} ({}, {} bytes) #raw({})",
                        plain(&a.name),
                        plain(&a.kind),
                        a.size,
                        string_literal(&a.sha256)
                    )
                })
                .collect();
            s.push_str(&items.join("; "));
            s.push_str("]\n\n");
        }
        if !p.refs.is_empty() {
            s.push_str(&format!("#text(8.5pt)[#strong[Refers to.] {}]\n\n", plain(&p.refs.join(", "))));
        }
        s.push_str(&format!(
            "#text(7pt, fill: luma(90))[hash #raw({}) \\ previous #raw({}) \\ key #raw({})]\n]\n",
            string_literal(&p.hash),
            string_literal(&p.prev),
            string_literal(&p.public_key)
        ));
    }
    crate::compile_source(s, files, None)
}
