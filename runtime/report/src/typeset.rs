//! The typst source of a report, and the files it names.

use sha2::{Digest, Sha256};

use crate::document::{Block, Document, Figure, Table};
use crate::markdown::{self, plain, string_literal};

/// The generated main source and its files (figures, bibliography).
pub struct Typeset {
    pub source: String,
    pub files: Vec<(String, Vec<u8>)>,
}

const PREAMBLE: &str = r##"#set page(paper: "a4", margin: (x: 2.3cm, top: 2.6cm, bottom: 2.4cm),
  numbering: "1 / 1", number-align: center,
  header: context { if counter(page).get().first() > 1 [
    #set text(8pt, fill: luma(110)); #REPORT_TITLE #h(1fr) run #raw(RUN_ID)
    #v(-4pt) #line(length: 100%, stroke: 0.3pt + luma(170)) ] })
#set text(font: ("Libertinus Serif", "New Computer Modern"), size: 10.5pt, lang: "en")
#set par(justify: true, leading: 0.62em, spacing: 1.1em)
#set heading(numbering: "1.1")
#show heading: set text(font: ("Libertinus Serif", "New Computer Modern"))
#show heading.where(level: 1): set block(above: 1.6em, below: 0.9em)
#show raw: set text(font: "DejaVu Sans Mono", size: 0.85em)
#show link: set text(fill: rgb("#1f4e99"))
#show figure.caption: set text(9pt)
#show figure.caption: set par(justify: false)
#show figure.where(kind: table): set figure.caption(position: top)
#set figure(gap: 0.8em)
#set table(inset: (x: 6pt, y: 3.5pt))
"##;

/// Numbers in a table: up to six significant digits, powers of ten as
/// typst math (`1.5 × 10⁻⁵`), anything else as text.
fn cell(text: &str) -> String {
    let t = text.trim();
    let Ok(x) = t.parse::<f64>() else { return format!("[{}]", plain(t)) };
    if x == 0.0 || x.fract() == 0.0 && x.abs() < 1e6 {
        return format!("[{}]", plain(&format!("{x}")));
    }
    if !x.is_finite() {
        return format!("[{}]", plain(t));
    }
    let exp = x.abs().log10().floor() as i32;
    if (-3..5).contains(&exp) {
        let decimals = (5 - exp).clamp(0, 8) as usize;
        let s = format!("{x:.decimals$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        return format!("[{}]", plain(&s));
    }
    let mantissa = x / 10f64.powi(exp);
    let m = format!("{mantissa:.4}");
    let m = m.trim_end_matches('0').trim_end_matches('.').replace('-', "−");
    format!("[{m}#sym.times;10#super[{}]]", exp.to_string().replace('-', "−"))
}

fn figure(f: &Figure, files: &mut Vec<(String, Vec<u8>)>) -> String {
    let mut images = Vec::new();
    for p in &f.panels {
        let ext = if p.file.ends_with(".svg") { "svg" } else { "png" };
        // Named by content: a picture shown twice (alone and in a sweep's
        // contact sheet) is one file, decoded and embedded once.
        let digest = Sha256::digest(&p.bytes);
        let path = format!("figures/{}.{ext}", hex::encode(&digest[..12]));
        if !files.iter().any(|(existing, _)| *existing == path) {
            files.push((path.clone(), p.bytes.clone()));
        }
        images.push((path, p.label.clone()));
    }
    let body = if images.len() == 1 && images[0].1.is_none() {
        format!("image({}, width: {:.0}%)", string_literal(&images[0].0), f.width * 100.0)
    } else {
        // A sweep's panels are drawn narrower than a lone figure
        // (chart::PANEL_WIDTH), so that two across the page their text
        // prints at the caption's size; more than four go three across
        // to stay on one page.
        let columns = match images.len() {
            1 => 1,
            2..=4 => 2,
            _ => 3,
        };
        let cells: Vec<String> = images
            .iter()
            .map(|(path, label)| {
                let label = label.as_deref().map(|l| format!("[#text(8pt)[{}]]", plain(l))).unwrap_or_default();
                format!("stack(spacing: 3pt, image({}, width: 100%), {label})", string_literal(path))
            })
            .collect();
        format!(
            "block(width: {:.0}%, grid(columns: {columns}, column-gutter: 6pt, row-gutter: 8pt, align: center, {}))",
            f.width.max(0.9) * 100.0,
            cells.join(", ")
        )
    };
    format!("#figure({body}, caption: [{}]) <fig-{}>\n\n", markdown::inline(&f.caption), label_safe(&f.node))
}

fn label_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

fn table(t: &Table) -> String {
    let columns = t.header.len().max(1);
    let header: Vec<String> = t.header.iter().map(|h| format!("[#strong[{}]]", plain(h))).collect();
    let mut cells = Vec::new();
    for row in &t.rows {
        for i in 0..columns {
            cells.push(cell(row.get(i).map(String::as_str).unwrap_or("")));
        }
    }
    let more = if t.total_rows > t.rows.len() {
        format!("The first {} of {} rows. ", t.rows.len(), t.total_rows)
    } else {
        String::new()
    };
    format!(
        "#figure(table(columns: {columns}, stroke: none, align: right, table.hline(stroke: 0.8pt), table.header({}), table.hline(stroke: 0.4pt), {}, table.hline(stroke: 0.8pt)), caption: [{}{}], kind: table) <tab-{}>\n\n",
        header.join(", "),
        cells.join(", "),
        plain(&more),
        markdown::inline(&t.caption),
        label_safe(&t.node)
    )
}

fn blocks(bs: &[Block], depth: usize, out: &mut String, files: &mut Vec<(String, Vec<u8>)>) {
    for b in bs {
        match b {
            Block::Section { heading, blocks: inner } => {
                out.push_str(&format!("#heading(level: {})[{}]\n\n", depth + 1, plain(heading)));
                blocks(inner, depth + 1, out, files);
            }
            Block::Text(md) => {
                out.push_str(&markdown::to_typst(md, depth + 1));
                out.push_str("\n\n");
            }
            Block::Figure(f) => out.push_str(&figure(f, files)),
            Block::Table(t) => out.push_str(&table(t)),
        }
    }
}

fn provenance(doc: &Document) -> String {
    let p = &doc.provenance;
    let mut s = String::from("#pagebreak(weak: true)\n#heading(numbering: none)[Appendix: provenance]\n\n");
    let commit = match (&p.git_commit, p.git_dirty) {
        (Some(c), Some(true)) => format!("{c} (with uncommitted changes)"),
        (Some(c), _) => c.clone(),
        (None, _) => "not a git repository".into(),
    };
    let facts = [
        ("Run", p.run_id.clone()),
        ("Program", p.file.clone()),
        ("Status", p.status.clone()),
        ("Started", p.started_at.clone()),
        ("Finished", p.finished_at.clone().unwrap_or_else(|| "—".into())),
        ("Host", p.host.clone()),
        ("phx", p.phx_version.clone()),
        ("Git commit", commit),
    ];
    s.push_str("#block(text(9pt, grid(columns: (auto, 1fr), column-gutter: 12pt, row-gutter: 5pt, ");
    for (k, v) in facts {
        s.push_str(&format!("[#strong[{}]], [#raw({})], ", plain(k), string_literal(&v)));
    }
    s.push_str(")))\n\n");
    s.push_str(&markdown::inline(
        "Every artifact of the run, with the execution that produced it. Hashes are SHA-256 of the stored bytes; `phx artifact show HASH` prints the full record and `phx artifact lineage HASH` its ancestry.",
    ));
    s.push_str("\n\n#set text(7.5pt)\n#table(columns: (auto, auto, 1fr, auto, auto, auto), stroke: none, align: (left, left, left, left, right, left), inset: (x: 4pt, y: 2.5pt), table.hline(stroke: 0.8pt), table.header([*artifact*], [*kind*], [*tool*], [*device · backend · job*], [*duration*], [*cached*]), table.hline(stroke: 0.4pt), ");
    for a in &p.artifacts {
        let device = match &a.fallback {
            Some(_) => format!("{} (fallback)", a.device),
            None => a.device.clone(),
        };
        let job = a.job_id.as_deref().unwrap_or("—");
        let duration = a.duration_ms.map(|d| format!("{d} ms")).unwrap_or_else(|| "—".into());
        s.push_str(&format!(
            "[{}], [{}], [{}], [{}], [{}], [{}], table.cell(colspan: 6, inset: (left: 12pt, top: 0pt, bottom: 4pt))[#text(fill: luma(80))[#raw({})]], ",
            plain(&format!("{}.{}", a.vertex, a.output)),
            plain(&a.kind),
            plain(&format!("{} {}", a.tool, a.tool_version)),
            plain(&format!("{device} · {} · {job}", a.backend)),
            plain(&duration),
            plain(if a.cached { "yes" } else { "no" }),
            string_literal(&a.sha256),
        ));
    }
    s.push_str("table.hline(stroke: 0.8pt))\n");
    let fallbacks: Vec<String> = p
        .artifacts
        .iter()
        .filter_map(|a| a.fallback.as_ref().map(|f| format!("{}: {f}", a.vertex)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !fallbacks.is_empty() {
        s.push_str(&format!("\n#v(6pt)\n#strong[Device fallbacks.] {}\n", plain(&fallbacks.join("; "))));
    }
    s
}

/// The typst source of `doc`.
pub fn typeset(doc: &Document) -> Typeset {
    let mut files = Vec::new();
    let mut s = String::new();
    let date = match doc.ymd {
        Some((y, m, d)) => format!("datetime(year: {y}, month: {m}, day: {d})"),
        None => "none".into(),
    };
    let authors: Vec<String> = doc.authors.iter().map(|a| string_literal(a)).collect();
    s.push_str(&format!(
        "#set document(title: {}, author: ({}), date: {date})\n",
        string_literal(&doc.title),
        authors.iter().map(|a| format!("{a},")).collect::<String>()
    ));
    s.push_str(
        &PREAMBLE
            .replace("#REPORT_TITLE", &plain(&doc.title))
            .replace("RUN_ID", &string_literal(&doc.provenance.run_id)),
    );
    s.push_str(&format!("#align(center)[\n#block(text(17pt, weight: \"bold\")[{}])\n#v(0.4em)\n", plain(&doc.title)));
    if !doc.authors.is_empty() {
        s.push_str(&format!("#text(11pt)[{}]\n#v(0.2em)\n", plain(&doc.authors.join(", "))));
    }
    s.push_str(&format!(
        "#text(9pt, fill: luma(90))[{} #h(0.6em)·#h(0.6em) {} #h(0.6em)·#h(0.6em) run #raw({})]\n]\n#v(0.8em)\n",
        plain(&doc.date),
        plain(&doc.provenance.file),
        string_literal(&doc.provenance.run_id)
    ));
    if let Some(a) = &doc.abstract_markdown {
        s.push_str(&format!(
            "#pad(x: 2.2em)[#set text(9.5pt)\n#set par(justify: true)\n#strong[Abstract.] {}]\n#v(0.6em)\n",
            markdown::inline(a)
        ));
    }
    blocks(&doc.blocks, 0, &mut s, &mut files);
    if let Some(b) = &doc.bibliography {
        let name = if b.name.ends_with(".bib") { b.name.clone() } else { "references.bib".into() };
        files.push((name.clone(), b.text.clone().into_bytes()));
        s.push_str(&format!(
            "\n#bibliography({}, title: \"References\", full: true, style: \"american-physics-society\")\n\n",
            string_literal(&name)
        ));
    }
    s.push_str(&provenance(doc));
    Typeset { source: s, files }
}
