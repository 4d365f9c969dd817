//! Rendering through miette: the source line, an underline, the code and
//! the help.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::{Diagnostic, Severity};

#[derive(Debug)]
struct Report<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

fn source_span(span: phx_syntax::Span, len: usize) -> SourceSpan {
    let start = (span.start as usize).min(len);
    let end = (span.end as usize).clamp(start, len);
    SourceSpan::new(start.into(), end - start)
}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.source.inner().len();
        let mut labels = vec![LabeledSpan::new_primary_with_span(None, source_span(self.diag.span, len))];
        for r in &self.diag.related {
            labels.push(LabeledSpan::new_with_span(Some(r.message.clone()), source_span(r.span, len)));
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// The text with every control character other than line breaks and tabs
/// replaced by a visible one of the same length in bytes (`?` for C0 and
/// DEL, `¿` for C1), so a source excerpt can never drive the terminal
/// (ESC sequences, BEL) and every span still points where it did.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && !matches!(c, '\n' | '\t' | '\r');
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if !bad(c) {
                    c
                } else if c.len_utf8() == 1 {
                    '?'
                } else {
                    '¿'
                }
            })
            .collect(),
    )
}

fn render_with(diag: &Diagnostic, file: &str, text: &str, theme: GraphicalTheme) -> String {
    let shown = Diagnostic {
        message: visible(&diag.message).into_owned(),
        help: diag.help.as_deref().map(|h| visible(h).into_owned()),
        related: diag
            .related
            .iter()
            .map(|r| crate::Related { message: visible(&r.message).into_owned(), ..r.clone() })
            .collect(),
        ..diag.clone()
    };
    let diag = &shown;
    let report = Report { diag, source: NamedSource::new(visible(file), visible(text).into_owned()) };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("{}: {}\n", diag.code, diag.message);
    }
    out
}

/// Renders a diagnostic for a terminal, with colours.
pub fn render(diag: &Diagnostic, file: &str, text: &str, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    render_with(diag, file, text, theme)
}

/// Renders a diagnostic without colours: stable text for snapshots and logs.
pub fn render_plain(diag: &Diagnostic, file: &str, text: &str) -> String {
    render_with(diag, file, text, GraphicalTheme::unicode_nocolor())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let text = "param a: Int = \"\u{1b}[31mred\u{7}\u{9b}\"\n";
        let d = Diagnostic::new(crate::Code::TypeMismatch, phx_syntax::Span::new(15, 30), "bad \u{1b}[2J".to_string());
        let out = render_plain(&d, "main.phx", text);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert!(out.contains("?[31mred?"), "{out}");
        assert_eq!(visible("a\u{1b}b").len(), 3, "lengths in bytes are kept");
        assert_eq!(visible("a\u{9b}b").len(), "a\u{9b}b".len());
    }
}
