//! A fast, forgiving pass over the raw text that finds item boundaries,
//! comments and nesting depth without parsing.
//!
//! The parser runs once per chunk of items, so a syntax error stays inside
//! its chunk (rust-analyzer's "errors are values", at item granularity). The
//! scanner also guards the parser: a chunk nested too deeply is refused
//! before the recursive descent could exhaust the stack.

use crate::Span;

/// Items may nest brackets at most this deep.
pub const MAX_NESTING: u32 = 128;
/// An item may hold at most this many operator characters.
pub const MAX_OPERATORS: u32 = 50_000;

const ITEM_KEYWORDS: [&str; 8] = ["import", "experiment", "param", "let", "fn", "tool", "node", "report"];

/// A comment found in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub span: Span,
    /// Whether it is a `///` doc comment.
    pub doc: bool,
}

/// A run of text holding zero or more whole items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkBounds {
    pub span: Span,
    /// The deepest bracket nesting inside the chunk.
    pub max_depth: u32,
    /// How many operator characters the chunk holds.
    pub operators: u32,
}

/// What the scanner found.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    pub chunks: Vec<ChunkBounds>,
    pub comments: Vec<Comment>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Code; the value is the bracket depth at which an interpolation
    /// started (`None` at top level).
    Code(Option<u32>),
    Str,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn keyword_at(bytes: &[u8], at: usize) -> Option<&'static str> {
    ITEM_KEYWORDS.into_iter().find(|kw| {
        let end = at + kw.len();
        bytes.len() >= end && &bytes[at..end] == kw.as_bytes() && bytes.get(end).is_none_or(|b| !is_ident_byte(*b))
    })
}

/// Scans `text` for chunks and comments.
pub fn scan(text: &str) -> Scan {
    scan_from(text, 0, |_| false).0
}

/// Scans `text` from `start`, which must be a chunk boundary of `text` (or
/// 0), and stops at the first later boundary for which `stop` says yes.
/// Returns what it found (chunk spans are absolute) and where it stopped
/// (`None`: at the end of the text).
///
/// The scanner's state is the same at every boundary (top level, depth 0,
/// no open string), so the chunks after a boundary depend only on the text
/// after it: an editor rescans from the chunk before an edit until the
/// boundaries meet the old ones again, instead of the whole file.
pub fn scan_from(text: &str, start: usize, mut stop: impl FnMut(usize) -> bool) -> (Scan, Option<usize>) {
    let bytes = text.as_bytes();
    let mut out = Scan::default();
    let start = start.min(bytes.len());
    let mut boundaries = vec![start];
    let mut stopped = None;
    let mut depth: u32 = 0;
    let mut stack: Vec<Mode> = vec![Mode::Code(None)];
    let mut i = start;
    let mut at_line_start = true;
    // Start of the run of `///` lines that directly precede the current line.
    let mut doc_run_start: Option<usize> = None;
    let mut chunk_max_depth = 0u32;
    let mut chunk_ops = 0u32;
    let mut stats: Vec<(u32, u32)> = Vec::new();

    while i < bytes.len() {
        let mode = *stack.last().unwrap_or(&Mode::Code(None));
        if at_line_start && mode == Mode::Code(None) {
            at_line_start = false;
            let line_start = i;
            let mut j = i;
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t' || bytes[j] == b'\r') {
                j += 1;
            }
            let col0 = j == line_start;
            if bytes[j..].starts_with(b"///") && depth == 0 {
                doc_run_start.get_or_insert(line_start);
            } else if j < bytes.len() && bytes[j] == b'\n' {
                // A blank line ends a doc run.
                doc_run_start = None;
            } else if let Some(kw) = keyword_at(bytes, j) {
                let recover = depth > 0 && col0 && kw != "let";
                if depth == 0 || recover {
                    let start = doc_run_start.unwrap_or(line_start);
                    if start > *boundaries.last().unwrap_or(&0) {
                        boundaries.push(start);
                        stats.push((chunk_max_depth, chunk_ops));
                        chunk_max_depth = 0;
                        chunk_ops = 0;
                        if stop(start) {
                            stopped = Some(start);
                            break;
                        }
                    }
                    depth = 0;
                }
                doc_run_start = None;
            } else {
                doc_run_start = None;
            }
            i = j;
            continue;
        }
        let b = bytes[i];
        match mode {
            Mode::Code(interp_depth) => match b {
                b'\n' => {
                    at_line_start = stack.len() == 1;
                    i += 1;
                }
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    let start = i;
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    let doc = bytes[start..].starts_with(b"///") && !bytes[start..].starts_with(b"////");
                    out.comments.push(Comment { span: Span::new(start, i), doc });
                }
                b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                    i += 3;
                    while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                        i += 1;
                    }
                    i = (i + 3).min(bytes.len());
                }
                b'"' => {
                    stack.push(Mode::Str);
                    i += 1;
                }
                b'{' | b'(' | b'[' => {
                    depth += 1;
                    chunk_max_depth = chunk_max_depth.max(depth);
                    i += 1;
                }
                b'}' if interp_depth == Some(depth) => {
                    stack.pop();
                    i += 1;
                }
                b'}' | b')' | b']' => {
                    depth = depth.saturating_sub(1);
                    i += 1;
                }
                b'+' | b'-' | b'*' | b'/' | b'^' | b'!' | b'<' | b'>' | b'=' | b'&' | b'|' | b'%' => {
                    chunk_ops = chunk_ops.saturating_add(1);
                    i += 1;
                }
                _ => i += 1,
            },
            Mode::Str => match b {
                b'\\' => i += 2,
                b'"' => {
                    stack.pop();
                    i += 1;
                }
                b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
                b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
                b'{' => {
                    stack.push(Mode::Code(Some(depth)));
                    i += 1;
                }
                b'\n' => {
                    // An unterminated string ends at the line's end.
                    stack.truncate(1);
                    at_line_start = true;
                    i += 1;
                }
                _ => i += 1,
            },
        }
    }
    if stopped.is_none() {
        stats.push((chunk_max_depth, chunk_ops));
        boundaries.push(bytes.len());
    }
    for (w, (max_depth, operators)) in boundaries.windows(2).zip(stats) {
        out.chunks.push(ChunkBounds { span: Span::new(w[0], w[1]), max_depth, operators });
    }
    (out, stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_texts(text: &str) -> Vec<&str> {
        scan(text).chunks.iter().map(|c| &text[c.span.range()]).collect()
    }

    #[test]
    fn splits_at_items_and_keeps_docs_with_their_item() {
        let text = "param a: Int = 1\n/// doc\nnode b = t.x() {\n  let = 3\n}\nfn f() -> Float { let x = 1; x }\n";
        let chunks = chunk_texts(text);
        assert_eq!(
            chunks,
            vec![
                "param a: Int = 1\n",
                "/// doc\nnode b = t.x() {\n  let = 3\n}\n",
                "fn f() -> Float { let x = 1; x }\n"
            ]
        );
    }

    #[test]
    fn recovers_from_an_unclosed_brace_at_column_zero() {
        let text = "node a = t.x() {\n  emit = [static\nnode b = t.y()\n";
        let chunks = chunk_texts(text);
        assert_eq!(chunks.len(), 2);
        assert!(chunks[1].starts_with("node b"));
    }

    #[test]
    fn strings_and_interpolation_do_not_confuse_depth() {
        let text = "let a = \"x {b + \"}\"} {{\"\nlet c = 1\n";
        assert_eq!(chunk_texts(text).len(), 2);
    }

    #[test]
    fn records_comments() {
        let s = scan("// one\n/// two\nlet a = 1 // three\n");
        assert_eq!(s.comments.len(), 3);
        assert!(s.comments[1].doc);
        assert!(!s.comments[2].doc);
    }

    #[test]
    fn scanning_from_any_boundary_finds_the_same_chunks() {
        let text = "param a: Int = 1\n/// doc\nnode b = t.x() {\n  emit = [static\nnode c = t.y()\nlet s = \"{a}\"\n";
        let whole: Vec<Span> = scan(text).chunks.iter().map(|c| c.span).collect();
        for (i, c) in whole.iter().enumerate() {
            let (from, stopped) = scan_from(text, c.start as usize, |_| false);
            assert_eq!(stopped, None);
            assert_eq!(from.chunks.iter().map(|c| c.span).collect::<Vec<_>>(), whole[i..]);
        }
        // Stopping at a boundary closes the chunk before it.
        let (part, stopped) = scan_from(text, 0, |b| b == whole[2].start as usize);
        assert_eq!(stopped, Some(whole[2].start as usize));
        assert_eq!(part.chunks.iter().map(|c| c.span).collect::<Vec<_>>(), whole[..2]);
    }

    #[test]
    fn measures_depth() {
        let s = scan("let a = ((((1))))\n");
        assert_eq!(s.chunks[0].max_depth, 4);
    }
}
