//! Diagnostics: the stable codes of the language spec, and their rendering
//! as text (through miette) and as JSON (the shape `phx check --format json`
//! prints).

use phx_syntax::{LineIndex, Span};
use serde::Serialize;

/// The stable diagnostic codes (language spec, section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Code {
    Syntax,
    UnknownName,
    DuplicateName,
    UnknownTool,
    UnknownArg,
    MissingArg,
    TypeMismatch,
    UnitMismatch,
    Constraint,
    CapExceeded,
    MissingEmit,
    UnsupportedEmit,
    UnsupportedDevice,
    UnknownOutput,
    Cycle,
    NotVisual,
    Import,
    AllowLarge,
    Unused,
    DeviceFallback,
    /// A `run` placeholder written `{name:raw}`: the value goes into the
    /// command unquoted, so shell syntax in it runs.
    RawPlaceholder,
}

impl Code {
    /// Every code, in the order of the spec's table.
    pub const ALL: [Code; 21] = [
        Code::Syntax,
        Code::UnknownName,
        Code::DuplicateName,
        Code::UnknownTool,
        Code::UnknownArg,
        Code::MissingArg,
        Code::TypeMismatch,
        Code::UnitMismatch,
        Code::Constraint,
        Code::CapExceeded,
        Code::MissingEmit,
        Code::UnsupportedEmit,
        Code::UnsupportedDevice,
        Code::UnknownOutput,
        Code::Cycle,
        Code::NotVisual,
        Code::Import,
        Code::AllowLarge,
        Code::Unused,
        Code::DeviceFallback,
        Code::RawPlaceholder,
    ];

    /// The code as printed: `phx::unit-mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "phx::syntax",
            Code::UnknownName => "phx::unknown-name",
            Code::DuplicateName => "phx::duplicate-name",
            Code::UnknownTool => "phx::unknown-tool",
            Code::UnknownArg => "phx::unknown-arg",
            Code::MissingArg => "phx::missing-arg",
            Code::TypeMismatch => "phx::type-mismatch",
            Code::UnitMismatch => "phx::unit-mismatch",
            Code::Constraint => "phx::constraint",
            Code::CapExceeded => "phx::cap-exceeded",
            Code::MissingEmit => "phx::missing-emit",
            Code::UnsupportedEmit => "phx::unsupported-emit",
            Code::UnsupportedDevice => "phx::unsupported-device",
            Code::UnknownOutput => "phx::unknown-output",
            Code::Cycle => "phx::cycle",
            Code::NotVisual => "phx::not-visual",
            Code::Import => "phx::import",
            Code::AllowLarge => "phx::allow-large",
            Code::Unused => "phx::unused",
            Code::DeviceFallback => "phx::device-fallback",
            Code::RawPlaceholder => "phx::raw-placeholder",
        }
    }

    /// The severity a diagnostic with this code has.
    pub fn severity(self) -> Severity {
        match self {
            Code::AllowLarge | Code::Unused | Code::DeviceFallback | Code::RawPlaceholder => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A secondary location that explains the primary one (each node of a
/// cycle, the first of two duplicates).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Related {
    pub span: Span,
    pub message: String,
}

/// One finding of the compiler, with spans into one file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub help: Option<String>,
    pub related: Vec<Related>,
}

impl Diagnostic {
    /// A diagnostic with the code's own severity.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { code, severity: code.severity(), message: message.into(), span, help: None, related: Vec::new() }
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a help line when there is one.
    pub fn with_help_opt(mut self, help: Option<String>) -> Diagnostic {
        self.help = help;
        self
    }

    /// Adds a related location.
    pub fn with_related(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.related.push(Related { span, message: message.into() });
        self
    }

    /// Moves every span right by `by` bytes.
    pub fn shifted(mut self, by: u32) -> Diagnostic {
        self.span = self.span.shifted(by);
        for r in &mut self.related {
            r.span = r.span.shifted(by);
        }
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl From<phx_syntax::SyntaxError> for Diagnostic {
    /// A syntax error as a `phx::syntax` diagnostic.
    fn from(e: phx_syntax::SyntaxError) -> Diagnostic {
        Diagnostic::new(Code::Syntax, e.span, e.message).with_help_opt(e.help)
    }
}

/// A "did you mean" help line for the candidate closest to `name`.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    phx_units::closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The JSON shape of one diagnostic (`phx check --format json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub help: Option<String>,
}

/// Converts a diagnostic to its JSON shape, with 1-based lines and columns
/// counted in characters.
pub fn to_json(diag: &Diagnostic, file: &str, text: &str, index: &LineIndex) -> JsonDiagnostic {
    let (line, column) = index.line_col(text, diag.span.start);
    let (end_line, end_column) = index.line_col(text, diag.span.end);
    JsonDiagnostic {
        code: diag.code.as_str(),
        severity: diag.severity,
        message: diag.message.clone(),
        file: file.to_string(),
        line,
        column,
        end_line,
        end_column,
        help: diag.help.clone(),
    }
}

mod render;
pub use render::{render, render_plain};

pub mod explain;
