//! Markdown (CommonMark with math, tables and strikethrough) turned into
//! typst markup. Plain text always goes out as a typst string literal
//! (`#"..."`), so no character a person writes can be read as typst syntax;
//! citations `[@key]` and `[@a; @b]` become `#cite(...)`.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

use crate::math::latex_to_typst;

/// A typst string literal holding `text`.
pub fn string_literal(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => {}
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// `text` as markup that shows exactly those characters.
pub fn plain(text: &str) -> String {
    if text.is_empty() { String::new() } else { format!("#{}", string_literal(text)) }
}

/// The keys cited in `markdown`, in order of first appearance.
pub fn citations(markdown: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for piece in split_citations(markdown) {
        if let Piece::Cite(ks) = piece {
            for k in ks {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
    }
    keys
}

enum Piece<'a> {
    Text(&'a str),
    Cite(Vec<String>),
}

/// Splits text at citation groups: `[@a]`, `[@a; @b]`, `[@a, p. 3]`.
fn split_citations(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[@") {
        let Some(len) = rest[start..].find(']') else { break };
        let inner = &rest[start + 1..start + len];
        let keys: Vec<String> = inner
            .split(';')
            .filter_map(|part| {
                let part = part.trim().strip_prefix('@')?;
                let key: String = part
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '/'))
                    .collect();
                let key = key.trim_end_matches(['.', ':']).to_string();
                (!key.is_empty()).then_some(key)
            })
            .collect();
        if keys.is_empty() {
            out.push(Piece::Text(&rest[..start + 2]));
            rest = &rest[start + 2..];
            continue;
        }
        out.push(Piece::Text(&rest[..start]));
        out.push(Piece::Cite(keys));
        rest = &rest[start + len + 1..];
    }
    out.push(Piece::Text(rest));
    out
}

fn text_markup(text: &str) -> String {
    let mut s = String::new();
    for piece in split_citations(text) {
        match piece {
            Piece::Text(t) => s.push_str(&plain(t)),
            Piece::Cite(keys) => {
                for k in keys {
                    s.push_str(&format!("#cite(label({}))", string_literal(&k)));
                }
            }
        }
    }
    s
}

/// Converts markdown to typst markup. Headings inside the text sit
/// `heading_offset` levels below the section they are in.
pub fn to_typst(markdown: &str, heading_offset: usize) -> String {
    let options =
        Options::ENABLE_MATH | Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut out = String::new();
    let mut text_run = String::new();
    let mut code_block: Option<(String, String)> = None;
    let flush = |out: &mut String, run: &mut String| {
        if !run.is_empty() {
            out.push_str(&text_markup(run));
            run.clear();
        }
    };
    for event in Parser::new_ext(markdown, options) {
        if let Some((_, body)) = code_block.as_mut() {
            match event {
                Event::Text(t) => {
                    body.push_str(&t);
                    continue;
                }
                Event::End(TagEnd::CodeBlock) => {
                    let (lang, body) = code_block.take().unwrap_or_default();
                    let lang =
                        if lang.is_empty() { String::new() } else { format!("lang: {}, ", string_literal(&lang)) };
                    out.push_str(&format!(
                        "\n#raw(block: true, {lang}{})\n\n",
                        string_literal(body.trim_end_matches('\n'))
                    ));
                    continue;
                }
                _ => continue,
            }
        }
        if let Event::Text(t) = &event {
            text_run.push_str(t);
            continue;
        }
        flush(&mut out, &mut text_run);
        match event {
            Event::Start(tag) => match tag {
                Tag::Paragraph => {}
                Tag::Heading { level, .. } => {
                    out.push_str(&format!("\n#heading(level: {}, outlined: false)[", level as usize + heading_offset))
                }
                Tag::BlockQuote(_) => out.push_str("\n#quote(block: true)["),
                Tag::CodeBlock(kind) => {
                    let lang = match kind {
                        CodeBlockKind::Fenced(l) => l.split_whitespace().next().unwrap_or("").to_string(),
                        CodeBlockKind::Indented => String::new(),
                    };
                    code_block = Some((lang, String::new()));
                }
                Tag::List(Some(start)) => out.push_str(&format!("\n#enum(start: {start}, ")),
                Tag::List(None) => out.push_str("\n#list("),
                Tag::Item => out.push('['),
                Tag::Emphasis => out.push_str("#emph["),
                Tag::Strong => out.push_str("#strong["),
                Tag::Strikethrough => out.push_str("#strike["),
                Tag::Link { dest_url, .. } => out.push_str(&format!("#link({})[", string_literal(&dest_url))),
                Tag::Image { dest_url, .. } => out.push_str(&format!("#link({})[", string_literal(&dest_url))),
                Tag::Table(aligns) => {
                    out.push_str(&format!(
                        "\n#align(center, table(columns: {}, stroke: none, table.hline(), ",
                        aligns.len().max(1)
                    ));
                }
                Tag::TableCell => out.push('['),
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph => out.push_str("\n\n"),
                TagEnd::Heading(_) => out.push_str("]\n\n"),
                TagEnd::BlockQuote(_) => out.push_str("]\n\n"),
                TagEnd::List(_) => out.push_str(")\n\n"),
                TagEnd::Item => out.push_str("], "),
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link | TagEnd::Image => {
                    out.push(']')
                }
                TagEnd::TableCell => out.push_str("], "),
                TagEnd::TableHead => out.push_str("table.hline(stroke: 0.5pt), "),
                TagEnd::Table => out.push_str("table.hline()))\n\n"),
                _ => {}
            },
            Event::Code(c) => out.push_str(&format!("#raw({})", string_literal(&c))),
            Event::InlineMath(m) => out.push_str(&format!("${}$", latex_to_typst(&m))),
            Event::DisplayMath(m) => out.push_str(&format!("\n$ {} $\n", latex_to_typst(&m))),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push_str("#linebreak()"),
            Event::Rule => out.push_str("\n#line(length: 100%, stroke: 0.4pt)\n"),
            Event::Html(h) | Event::InlineHtml(h) => out.push_str(&plain(&h)),
            Event::FootnoteReference(f) => out.push_str(&plain(&format!("[{f}]"))),
            Event::TaskListMarker(done) => out.push_str(if done { "☑ " } else { "☐ " }),
            Event::Text(_) => {}
        }
    }
    flush(&mut out, &mut text_run);
    out.trim_end().to_string()
}

/// Markdown of one paragraph at most (a caption): the same conversion,
/// without the paragraph break at its end.
pub fn inline(markdown: &str) -> String {
    to_typst(markdown, 0).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_quoted_and_citations_become_cite_calls() {
        let t = to_typst("A node [@griffiths2018; @feit1982]. # not a heading", 1);
        assert_eq!(t, "#\"A node \"#cite(label(\"griffiths2018\"))#cite(label(\"feit1982\"))#\". # not a heading\"");
        assert_eq!(citations("see [@a] and [@b; @a]"), vec!["a", "b"]);
        assert!(citations("an email [at]@x and [@ alone]").is_empty());
    }

    #[test]
    fn emphasis_lists_code_math_and_links() {
        let t = to_typst("*a* **b** `c`\n\n- one\n- two\n\n$x^2$ [l](https://x.org)", 0);
        assert!(t.contains("#emph[#\"a\"]"), "{t}");
        assert!(t.contains("#strong[#\"b\"]"), "{t}");
        assert!(t.contains("#raw(\"c\")"), "{t}");
        assert!(t.contains("#list([#\"one\"], [#\"two\"], )"), "{t}");
        assert!(t.contains("$x ^(2)$"), "{t}");
        assert!(t.contains("#link(\"https://x.org\")[#\"l\"]"), "{t}");
    }
}
