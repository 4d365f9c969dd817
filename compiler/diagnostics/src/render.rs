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

fn render_with(diag: &Diagnostic, file: &str, text: &str, theme: GraphicalTheme) -> String {
    let report = Report { diag, source: NamedSource::new(file, text.to_string()) };
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
