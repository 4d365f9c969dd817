//! The syntax of the phx language: the pest grammar (`grammar/phx.pest`),
//! the syntax tree, and a parser that never fails.
//!
//! Parsing returns items and [`SyntaxError`]s side by side. The text is first
//! cut into chunks at item boundaries ([`scan`]), and each chunk is parsed on
//! its own, so one broken item does not hide the others.

pub mod ast;
mod parser;
pub mod scan;
mod span;
pub mod visit;

pub use parser::{ParsedChunk, ParsedFile, decode, dedent, parse_chunk, parse_file, shift_item};
pub use span::{LineIndex, Span};

/// A place where the text does not follow the grammar.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}
