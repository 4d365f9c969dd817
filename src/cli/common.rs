//! Loading programs and printing diagnostics, shared by the commands.

use std::io::IsTerminal;

use std::path::PathBuf;

use phx_app::{AppError, CompileOptions, Experiment, Program};
use phx_diagnostics::{Diagnostic, JsonDiagnostic};

use super::exit;

/// Options that every checking command takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CompileOpts {
    /// Override a param: `--set grid=128` (type- and unit-checked).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Lift every cap, with a warning.
    #[arg(long)]
    pub allow_large: bool,
}

impl CompileOpts {
    /// The application layer's options.
    pub fn options(&self) -> CompileOptions {
        CompileOptions { set: self.set.clone(), allow_large: self.allow_large }
    }
}

/// `--dir`: the experiment folder (the nearest folder holding `phx.toml`
/// from there upwards, else that folder), shared by every command that
/// reads a store.
#[derive(clap::Args, Clone, Debug)]
pub struct DirArg {
    /// The experiment folder, or a folder inside it.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

impl DirArg {
    /// Opens the experiment; on failure prints the error and gives the exit code.
    pub fn open(&self) -> Result<Experiment, u8> {
        Experiment::open(&self.dir).map_err(|e| fail(&e))
    }
}

/// `--format text|json`, shared by every command that prints one result.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct FormatArg {
    #[arg(long, value_enum, default_value_t)]
    pub format: TextOrJson,
}

/// Prints an error of the application layer; gives its exit code.
pub fn fail(e: &AppError) -> u8 {
    eprintln!("{}", e.render());
    e.exit_code()
}

/// Loads `path` and its imports, with the options applied.
pub fn load(path: &str, opts: &CompileOpts) -> Result<Program, u8> {
    Program::load(path, &opts.options()).map_err(|e| fail(&e))
}

/// Prints diagnostics to stderr, rendered with source and underline.
pub fn print_diagnostics(diags: &[Diagnostic], path: &str, text: &str) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for d in diags {
        eprint!("{}", phx_diagnostics::render(d, path, text, color));
    }
}

/// Prints what checking a program found: the errors inside the files it
/// imports, where they are, then its own diagnostics.
pub fn print_checked(checked: &phx_app::Checked) {
    for i in &checked.imported {
        print_diagnostics(&i.errors, &i.path, &i.text);
    }
    print_diagnostics(&checked.checked.diagnostics, &checked.path, &checked.text);
}

/// Diagnostics in their JSON shape.
pub fn json_diagnostics(diags: &[Diagnostic], path: &str, text: &str) -> Vec<JsonDiagnostic> {
    phx_app::program::json_diagnostics(diags, path, text)
}

/// Output formats of commands that print one JSON document or text.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TextOrJson {
    #[default]
    Text,
    Json,
}

/// Prints a JSON value as one document on stdout.
pub fn print_json(v: &serde_json::Value) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => out(&format!("{s}\n")),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

/// Prints a result of the application layer as one JSON document.
pub fn print_value<T: serde::Serialize>(value: &T) {
    match serde_json::to_value(value) {
        Ok(v) => print_json(&v),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

/// Writes to stdout; a closed pipe (`phx ... | head`) is not an error.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush());
}

/// Writes bytes to `-o FILE` atomically (temporary file, then rename), or
/// to stdout.
pub fn write_output(out: Option<&str>, bytes: &[u8]) -> Result<(), u8> {
    match out {
        Some(path) => write_atomic(path, bytes).map_err(|e| {
            eprintln!("error: cannot write `{path}`: {e}");
            exit::ENVIRONMENT
        }),
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes).and_then(|_| stdout.flush()).map_err(|_| exit::ENVIRONMENT)
        }
    }
}

/// Writes a file so that a reader never sees half of it.
pub fn write_atomic(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    phx_store::write_atomic(std::path::Path::new(path), bytes)
}

/// Lets a large value go without running its destructors: the process is
/// about to exit, and the OS reclaims memory far faster than dropping every
/// syntax tree and memo one by one.
pub fn release_at_exit<T>(value: T) {
    std::mem::forget(value);
}

/// An output's metadata in one line: `cpu · f64 · 96×96×96 · 884736
/// samples · 412 ms · 7.1 MB` (what is there, in that order).
pub fn meta_line(meta: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some(d) = meta.get("device").and_then(|v| v.as_str()) {
        parts.push(d.to_string());
    }
    if let Some(d) = meta.get("dtype").and_then(|v| v.as_str()) {
        parts.push(d.to_string());
    }
    if let Some(m) = meta.get("mesh").and_then(|v| v.as_array()) {
        parts.push(m.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("×"));
    }
    if let Some(n) = meta.get("samples").and_then(|v| v.as_u64()) {
        parts.push(format!("{n} samples"));
    }
    if let Some(f) = meta.get("frames").and_then(|v| v.as_u64()) {
        parts.push(format!("{f} frames"));
    }
    if let Some(ms) = meta.get("duration_ms").and_then(|v| v.as_u64()) {
        parts.push(format!("{ms} ms"));
    }
    if let Some(b) = meta.get("bytes").and_then(|v| v.as_u64()) {
        parts.push(human_bytes(b));
    }
    if meta.get("cached") == Some(&serde_json::Value::Bool(true)) {
        parts.push("cached".into());
    }
    parts.join(" · ")
}

/// A size as people read it.
pub fn human_bytes(b: u64) -> String {
    match b {
        0..1024 => format!("{b} B"),
        1024..1_048_576 => format!("{:.1} KB", b as f64 / 1024.0),
        _ => format!("{:.1} MB", b as f64 / 1_048_576.0),
    }
}
