//! Loading and checking programs: a file with its imports, or a text as
//! if it were a file, with `--set` overrides and `--allow-large`.

use std::collections::BTreeMap;
use std::path::Path;

use phx_db::{CheckedFile, Database, FsLoader, SourceFile};
use phx_diagnostics::{Diagnostic, JsonDiagnostic};
use phx_runtime::worker::ProgramSource;
use phx_syntax::LineIndex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// Options every checking use case takes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct CompileOptions {
    /// Param overrides, `NAME=VALUE` (type- and unit-checked).
    #[serde(default)]
    pub set: Vec<String>,
    /// Lift every cap, with a warning.
    #[serde(default)]
    pub allow_large: bool,
}

impl CompileOptions {
    /// The overrides by name; a malformed one is a usage error.
    pub fn overrides(&self) -> AppResult<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for s in &self.set {
            let Some((k, v)) = s.split_once('=') else {
                return Err(
                    AppError::usage(format!("`--set {s}` is not NAME=VALUE")).with_help("write `--set grid=128`")
                );
            };
            out.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(out)
    }
}

/// Reads files from disk and remembers which were not valid UTF-8 (the
/// compiler decodes them lossily; the user is told where the first bad
/// byte is).
#[derive(Default)]
struct CheckedLoader {
    bad: std::sync::Mutex<Vec<(String, usize)>>,
}

impl phx_db::FileLoader for CheckedLoader {
    fn load(&self, path: &str) -> Result<Vec<u8>, String> {
        let bytes = FsLoader.load(path)?;
        if let Err(e) = std::str::from_utf8(&bytes)
            && let Ok(mut bad) = self.bad.lock()
        {
            bad.push((path.to_string(), e.valid_up_to()));
        }
        Ok(bytes)
    }
}

/// The error for a file that is not valid UTF-8.
fn not_utf8(at: usize) -> Diagnostic {
    Diagnostic::new(
        phx_diagnostics::Code::Syntax,
        phx_syntax::Span::new(at, at + 1),
        format!("the file is not valid UTF-8 (invalid byte at offset {at})"),
    )
    .with_help("save the file as UTF-8")
}

/// A loaded program: the compiler's database and its root file.
pub struct Program {
    pub db: Database,
    pub file: SourceFile,
    /// The path as given.
    pub path: String,
    pub overrides: BTreeMap<String, String>,
    pub allow_large: bool,
    /// Files that were not valid UTF-8: path and offset of the first bad byte.
    pub not_utf8: Vec<(String, usize)>,
}

/// The errors inside one loaded file other than the program's own
/// diagnostics (an import's errors, a file that is not UTF-8), with its
/// path and text.
pub struct ImportedErrors {
    pub path: String,
    pub text: String,
    pub errors: Vec<Diagnostic>,
}

/// A checked program: its diagnostics and DAG, with the text they refer
/// to, and the errors inside the files it imports.
pub struct Checked {
    pub checked: std::sync::Arc<CheckedFile>,
    pub path: String,
    pub text: String,
    pub imported: Vec<ImportedErrors>,
}

impl Checked {
    /// Whether any diagnostic is an error, here or in an imported file.
    pub fn has_errors(&self) -> bool {
        self.checked.has_errors() || !self.imported.is_empty()
    }

    /// The diagnostics in their JSON shape: the imported files' errors
    /// first, where they are, then the program's own.
    pub fn json_diagnostics(&self) -> Vec<JsonDiagnostic> {
        let mut out: Vec<JsonDiagnostic> =
            self.imported.iter().flat_map(|i| json_diagnostics(&i.errors, &i.path, &i.text)).collect();
        out.extend(json_diagnostics(&self.checked.diagnostics, &self.path, &self.text));
        out
    }

    /// The error that stops a run of this program.
    pub fn not_runnable(&self) -> AppError {
        let errors: Vec<String> = self
            .json_diagnostics()
            .iter()
            .filter(|d| d.severity == phx_diagnostics::Severity::Error)
            .map(|d| format!("line {}: {} {}", d.line, d.code, d.message))
            .collect();
        AppError::invalid(
            "phx::invalid-program",
            format!("{}: not run: it has errors: {}", self.path, errors.join("; ")),
        )
        .with_help("fix the diagnostics (`phx check`), then run again")
    }
}

/// Diagnostics in their JSON shape.
pub fn json_diagnostics(diags: &[Diagnostic], path: &str, text: &str) -> Vec<JsonDiagnostic> {
    let index = LineIndex::new(text);
    diags.iter().map(|d| phx_diagnostics::to_json(d, path, text, &index)).collect()
}

/// Compiles a program as a run carries it (`program.json` beside a run, a
/// cluster job's spec): its sources, overrides and `allow_large`, from
/// memory. Its DAG, or why it cannot be had: the sources do not load, or
/// do not check with this phx.
pub fn dag_of_source(source: &ProgramSource) -> Result<std::sync::Arc<phx_dag::Dag>, String> {
    let (dag, problem) = compile_source(source);
    match problem {
        Some(p) => Err(p),
        None => Ok(dag),
    }
}

/// A program as a run carries it, compiled: its DAG (what of it checks,
/// for a run kept from an older phx), and the first reason it does not
/// load or check here, if there is one.
pub fn compile_source(source: &ProgramSource) -> (std::sync::Arc<phx_dag::Dag>, Option<String>) {
    let mut db = Database::new();
    db.set_overrides(source.overrides.clone());
    db.set_allow_large(source.allow_large);
    let file = db.load_with_imports(&source.path, &phx_db::MapLoader(&source.sources));
    let load_error = file.load_error(&db).as_ref().map(|e| format!("the program cannot be loaded: {e}"));
    let checked = db.check(file);
    let problem = load_error.or_else(|| {
        checked
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|first| format!("the program does not check here: {}", first.message))
    });
    (checked.dag.clone(), problem)
}

impl Program {
    /// Loads `path` and its imports, with the options applied.
    pub fn load(path: &str, opts: &CompileOptions) -> AppResult<Program> {
        if let Err(e) = std::fs::metadata(path) {
            return Err(AppError::usage(format!("cannot read `{path}`: {e}")));
        }
        let overrides = opts.overrides()?;
        let mut db = Database::new();
        db.set_overrides(overrides.clone());
        db.set_allow_large(opts.allow_large);
        let loader = CheckedLoader::default();
        let file = db.load_with_imports(path, &loader);
        if let Some(err) = file.load_error(&db) {
            return Err(AppError::usage(format!("cannot read `{path}`: {err}")));
        }
        let not_utf8 = loader.bad.into_inner().unwrap_or_default();
        let program = Program { db, file, path: path.to_string(), overrides, allow_large: opts.allow_large, not_utf8 };
        program.check_overrides()?;
        Ok(program)
    }

    /// Loads `text` as if it were the file `path` (imports resolve from its
    /// folder, on disk).
    pub fn from_text(path: &Path, text: &str, opts: &CompileOptions) -> AppResult<Program> {
        let shown = path.to_string_lossy().into_owned();
        let overrides = opts.overrides()?;
        let mut db = Database::new();
        db.set_overrides(overrides.clone());
        db.set_allow_large(opts.allow_large);
        let file = db.set_file(&shown, text.to_string());
        let loader = CheckedLoader::default();
        db.load_imports_of(file, &loader);
        let not_utf8 = loader.bad.into_inner().unwrap_or_default();
        let program = Program { db, file, path: shown, overrides, allow_large: opts.allow_large, not_utf8 };
        program.check_overrides()?;
        Ok(program)
    }

    fn check_overrides(&self) -> AppResult<()> {
        let names: Vec<String> = phx_db::layout(&self.db, self.file)
            .entries
            .iter()
            .filter(|e| e.kind == phx_syntax::ast::ItemKind::Param)
            .map(|e| e.name.clone())
            .collect();
        for k in self.overrides.keys() {
            if !names.contains(k) {
                let help = phx_diagnostics::did_you_mean(k, names.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("the params are: {}", names.join(", ")));
                return Err(AppError::usage(format!("`--set {k}=...` names no param of `{}`", self.path))
                    .with_help(help)
                    .with_code("phx::unknown-name"));
            }
        }
        Ok(())
    }

    /// The root file's text.
    pub fn text(&self) -> &str {
        self.file.text(&self.db)
    }

    /// Checks the program and the files it imports.
    pub fn check(&self) -> Checked {
        let bad_bytes = |path: &str| self.not_utf8.iter().find(|(p, _)| p == path).map(|(_, at)| not_utf8(*at));
        let mut imported: Vec<ImportedErrors> = self
            .db
            .imported_files(self.file)
            .into_iter()
            .filter_map(|f| {
                let path = f.path(&self.db).clone();
                let mut errors: Vec<Diagnostic> = bad_bytes(&path).into_iter().collect();
                errors.extend(self.db.check(f).diagnostics.iter().filter(|d| d.is_error()).cloned());
                (!errors.is_empty()).then(|| ImportedErrors { path, text: f.text(&self.db).clone(), errors })
            })
            .collect();
        if let Some(e) = bad_bytes(&self.path) {
            imported
                .insert(0, ImportedErrors { path: self.path.clone(), text: self.text().to_string(), errors: vec![e] });
        }
        Checked { checked: self.db.check(self.file), path: self.path.clone(), text: self.text().to_string(), imported }
    }

    /// The program as a cluster worker needs it: every loaded file's text.
    pub fn source(&self) -> ProgramSource {
        let db = &self.db;
        let mut sources = BTreeMap::new();
        sources.insert(self.file.path(db).clone(), self.file.text(db).clone());
        for f in db.imported_files(self.file) {
            sources.insert(f.path(db).clone(), f.text(db).clone());
        }
        ProgramSource {
            path: self.file.path(db).clone(),
            sources,
            overrides: self.overrides.clone(),
            allow_large: self.allow_large,
        }
    }
}

impl AppError {
    /// The same error under another stable code.
    pub fn with_code(mut self, code: &str) -> AppError {
        self.code = code.to_string();
        self
    }
}

/// A vertex of a checked program, as agents see it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NodeSummary {
    /// The vertex id (`scan[2]` for a sweep's instance).
    pub id: String,
    /// The node it comes from.
    pub node: String,
    pub tool: String,
    pub emit: Vec<phx_sema::enums::Emit>,
    /// The devices it may run on, in order of preference.
    pub device: Vec<phx_sema::enums::Device>,
}

/// An edge of the DAG: `to` reads `from`'s `output` (none for `after`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct EdgeSummary {
    pub from: String,
    pub to: String,
    pub output: Option<String>,
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A diagnostic in its JSON shape (language spec): code, severity,
/// message, 1-based line and column, help.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct DiagnosticView {
    /// The file it is in (the program, or a file it imports).
    pub file: String,
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub line: u64,
    pub column: u64,
    pub help: Option<String>,
}

/// What checking a program found.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct CheckReport {
    /// No errors (warnings may remain).
    pub ok: bool,
    pub diagnostics: Vec<DiagnosticView>,
    pub nodes: Vec<NodeSummary>,
    pub edges: Vec<EdgeSummary>,
}

impl Checked {
    /// The report agents and `--format json` read.
    pub fn report(&self) -> CheckReport {
        let diagnostics = self
            .json_diagnostics()
            .into_iter()
            .map(|d| DiagnosticView {
                file: d.file,
                code: d.code.to_string(),
                severity: match d.severity {
                    phx_diagnostics::Severity::Error => Severity::Error,
                    phx_diagnostics::Severity::Warning => Severity::Warning,
                },
                message: d.message,
                line: d.line as u64,
                column: d.column as u64,
                help: d.help,
            })
            .collect();
        let dag = &self.checked.dag;
        CheckReport {
            ok: !self.has_errors(),
            diagnostics,
            nodes: dag
                .vertices()
                .iter()
                .map(|v| NodeSummary {
                    id: v.id.clone(),
                    node: v.node.clone(),
                    tool: v.tool.clone(),
                    emit: v.props.emit.clone(),
                    device: v.props.device.clone(),
                })
                .collect(),
            edges: dag
                .edges()
                .iter()
                .map(|e| EdgeSummary { from: e.from.clone(), to: e.to.clone(), output: e.output.clone() })
                .collect(),
        }
    }
}

/// Checks `text` as if it were the file `path`.
pub fn check_text(path: &Path, text: &str) -> AppResult<CheckReport> {
    Ok(Program::from_text(path, text, &CompileOptions::default())?.check().report())
}
