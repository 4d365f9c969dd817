//! The standard library's tool schemas, as `.phx` source embedded in the
//! binary. The compiler reads them like any user `tool` declaration; the
//! Rust implementations live elsewhere (`stdlib/` crates that the compiler
//! never depends on).

/// One embedded schema file: its path (as shown in diagnostics and
/// go-to-definition) and its text.
#[derive(Clone, Copy, Debug)]
pub struct SchemaFile {
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! schema {
    ($name:literal) => {
        SchemaFile {
            path: concat!("<stdlib>/", $name, ".phx"),
            text: include_str!(concat!("../../tools/", $name, ".phx")),
        }
    };
}

/// Every stdlib schema file.
pub const FILES: &[SchemaFile] = &[
    schema!("constants"),
    schema!("units"),
    schema!("cas"),
    schema!("quantum"),
    schema!("field"),
    schema!("plot"),
    schema!("data"),
    schema!("ml"),
    schema!("export"),
    schema!("shell"),
];
