//! Loading programs and printing diagnostics, shared by the commands.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use phx_db::{Database, FsLoader, SourceFile};
use phx_diagnostics::{Diagnostic, JsonDiagnostic};
use phx_syntax::LineIndex;

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

/// A loaded program: the database and its root file.
pub struct Loaded {
    pub db: Database,
    pub file: SourceFile,
    pub path: String,
    /// The `--set` overrides applied.
    pub overrides: BTreeMap<String, String>,
    pub allow_large: bool,
}

/// Loads `path` and its imports, with the options applied.
pub fn load(path: &str, opts: &CompileOpts) -> Result<Loaded, u8> {
    if let Err(e) = std::fs::metadata(path) {
        eprintln!("error: cannot read `{path}`: {e}");
        return Err(exit::USAGE);
    }
    let mut overrides = BTreeMap::new();
    for s in &opts.set {
        let Some((k, v)) = s.split_once('=') else {
            eprintln!("error: `--set {s}` is not NAME=VALUE\n  help: write `--set grid=128`");
            return Err(exit::USAGE);
        };
        overrides.insert(k.trim().to_string(), v.trim().to_string());
    }
    let mut db = Database::new();
    db.set_overrides(overrides.clone());
    db.set_allow_large(opts.allow_large);
    let file = db.load_with_imports(path, &FsLoader);
    if let Some(err) = file.load_error(&db) {
        eprintln!("error: cannot read `{path}`: {err}");
        return Err(exit::USAGE);
    }
    let scope_names = file_param_names(&db, file);
    for k in overrides.keys() {
        if !scope_names.contains(k) {
            let help = phx_diagnostics::did_you_mean(k, scope_names.iter().map(String::as_str))
                .unwrap_or_else(|| format!("the params are: {}", scope_names.join(", ")));
            eprintln!("error[phx::unknown-name]: `--set {k}=...` names no param of `{path}`\n  help: {help}");
            return Err(exit::USAGE);
        }
    }
    Ok(Loaded { db, file, path: path.to_string(), overrides, allow_large: opts.allow_large })
}

fn file_param_names(db: &Database, file: SourceFile) -> Vec<String> {
    phx_db::layout(db, file)
        .entries
        .iter()
        .filter(|e| e.kind == phx_syntax::ast::ItemKind::Param)
        .map(|e| e.name.clone())
        .collect()
}

/// Prints diagnostics to stderr, rendered with source and underline.
pub fn print_diagnostics(diags: &[Diagnostic], path: &str, text: &str) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for d in diags {
        eprint!("{}", phx_diagnostics::render(d, path, text, color));
    }
}

/// Diagnostics in their JSON shape.
pub fn json_diagnostics(diags: &[Diagnostic], path: &str, text: &str) -> Vec<JsonDiagnostic> {
    let index = LineIndex::new(text);
    diags.iter().map(|d| phx_diagnostics::to_json(d, path, text, &index)).collect()
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

/// Opens (creating if needed) the store of the experiment folder `dir`;
/// on failure prints the error with its hint and gives the exit code.
pub fn open_store(dir: &std::path::Path) -> Result<phx_store::Store, u8> {
    phx_store::Store::open(dir).map_err(|e| {
        eprintln!("error: {e}\n  help: {}", e.hint());
        exit::ENVIRONMENT
    })
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
