//! The database struct, file loading (the only I/O, behind [`FileLoader`])
//! and the driver API that the CLI and the LSP use.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use salsa::Setter;

use crate::queries::{self, CheckedFile, SourceFile, Workspace};

/// Reads files for imports; the CLI reads the disk, the LSP its open
/// buffers first.
pub trait FileLoader: Send + Sync {
    /// The file's bytes, or why it cannot be read.
    fn load(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// Loads from the file system.
pub struct FsLoader;

impl FileLoader for FsLoader {
    fn load(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| e.to_string())
    }
}

/// Serves files from memory by path (a program carried in a node spec, or
/// kept with a run); nothing is read from disk.
pub struct MapLoader<'a>(pub &'a BTreeMap<String, String>);

impl FileLoader for MapLoader<'_> {
    fn load(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0.get(path).map(|t| t.as_bytes().to_vec()).ok_or_else(|| format!("no file `{path}` was kept"))
    }
}

/// The compiler database.
#[salsa::db]
#[derive(Clone)]
pub struct Database {
    storage: salsa::Storage<Self>,
    /// How many times each query ran, when counting is on (tests, benches).
    executions: Arc<Mutex<Option<HashMap<String, usize>>>>,
}

impl Default for Database {
    fn default() -> Self {
        let executions: Arc<Mutex<Option<HashMap<String, usize>>>> = Arc::default();
        let sink = executions.clone();
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind
                && let Ok(mut guard) = sink.lock()
                && let Some(counts) = guard.as_mut()
            {
                let text = format!("{database_key:?}");
                let name = text.split('(').next().unwrap_or(&text).to_string();
                *counts.entry(name).or_default() += 1;
            }
        })));
        let db = Database { storage, executions };
        Workspace::new(&db, BTreeMap::new(), false, BTreeMap::new());
        db
    }
}

#[salsa::db]
impl salsa::Database for Database {}

/// Normalises a path lexically (`a/./b/../c` is `a/c`), so one file has one
/// key whatever way an import names it.
pub fn normalize_path(p: &Path) -> String {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

impl Database {
    /// A database with nothing loaded.
    pub fn new() -> Database {
        Database::default()
    }

    /// Starts counting query executions (from zero).
    pub fn start_counting(&self) {
        if let Ok(mut g) = self.executions.lock() {
            *g = Some(HashMap::new());
        }
    }

    /// Query executions since counting started, by query name.
    pub fn executions(&self) -> HashMap<String, usize> {
        self.executions.lock().ok().and_then(|g| g.clone()).unwrap_or_default()
    }

    fn workspace(&self) -> Workspace {
        Workspace::get(self)
    }

    /// Sets (or replaces) the text of a file; returns its handle.
    pub fn set_file(&mut self, path: &str, text: String) -> SourceFile {
        let path = normalize_path(Path::new(path));
        let ws = self.workspace();
        if let Some(file) = ws.files(self).get(&path).copied() {
            if file.text(self) != &text {
                file.set_text(self).to(text);
            }
            return file;
        }
        let file = SourceFile::new(self, path.clone(), text, None);
        let mut files = ws.files(self).clone();
        files.insert(path, file);
        ws.set_files(self).to(files);
        file
    }

    /// Records that a file could not be read (an import of it fails).
    pub fn set_missing(&mut self, path: &str, error: String) -> SourceFile {
        let path = normalize_path(Path::new(path));
        let ws = self.workspace();
        if let Some(file) = ws.files(self).get(&path).copied() {
            file.set_text(self).to(String::new());
            file.set_load_error(self).to(Some(error));
            return file;
        }
        let file = SourceFile::new(self, path.clone(), String::new(), Some(error));
        let mut files = ws.files(self).clone();
        files.insert(path, file);
        ws.set_files(self).to(files);
        file
    }

    /// Every loaded file other than `root`, by path: the files it imports,
    /// directly or not.
    pub fn imported_files(&self, root: SourceFile) -> Vec<SourceFile> {
        self.workspace().files(self).values().copied().filter(|f| *f != root && f.load_error(self).is_none()).collect()
    }

    /// A loaded file by path.
    pub fn file(&self, path: &str) -> Option<SourceFile> {
        self.workspace().files(self).get(&normalize_path(Path::new(path))).copied()
    }

    /// `--allow-large`.
    pub fn set_allow_large(&mut self, on: bool) {
        let ws = self.workspace();
        if ws.allow_large(self) != on {
            ws.set_allow_large(self).to(on);
        }
    }

    /// `--set NAME=VALUE` overrides of params.
    pub fn set_overrides(&mut self, overrides: BTreeMap<String, String>) {
        let ws = self.workspace();
        if *ws.overrides(self) != overrides {
            ws.set_overrides(self).to(overrides);
        }
    }

    /// Loads `path` and, transitively, every file it imports, through
    /// `loader`. Returns the root file.
    pub fn load_with_imports(&mut self, path: &str, loader: &dyn FileLoader) -> SourceFile {
        let root = match loader.load(path) {
            Ok(bytes) => {
                let (text, _) = phx_syntax::decode(&bytes);
                self.set_file(path, text)
            }
            Err(e) => self.set_missing(path, e),
        };
        self.load_imports_of(root, loader);
        root
    }

    /// Loads every file that `file` imports and that is not loaded yet.
    pub fn load_imports_of(&mut self, file: SourceFile, loader: &dyn FileLoader) {
        let mut queue = vec![file];
        let mut seen = std::collections::HashSet::new();
        while let Some(f) = queue.pop() {
            if !seen.insert(f) {
                continue;
            }
            let targets: Vec<String> = queries::import_paths(self, f).iter().map(|(_, p)| p.clone()).collect();
            for target in targets {
                let next = match self.file(&target) {
                    Some(existing) => existing,
                    None => match loader.load(&target) {
                        Ok(bytes) => {
                            let (text, _) = phx_syntax::decode(&bytes);
                            self.set_file(&target, text)
                        }
                        Err(e) => self.set_missing(&target, e),
                    },
                };
                queue.push(next);
            }
        }
    }

    /// Every item of a file in source order, with its tree (spans relative
    /// to its chunk: shift them by the entry's `offset`). Items whose chunk
    /// failed to parse are absent; duplicates are included.
    pub fn items(&self, file: SourceFile) -> Vec<(crate::queries::IndexEntry, Arc<phx_syntax::ast::Item>)> {
        let index = queries::item_index(self, file);
        index
            .entries
            .iter()
            .filter_map(|e| {
                let id = queries::ItemId::new(self, file, e.kind, e.name.clone(), e.dup);
                queries::item_ast(self, id).clone().map(|item| (e.clone(), item))
            })
            .collect()
    }

    /// The sema environment of a file: its names, tools and imports.
    pub fn env(&self, file: SourceFile) -> crate::env::DbEnv<'_> {
        crate::env::DbEnv::new(self, file)
    }

    /// The compile-time value of a `param` or `let` of `file`.
    pub fn value_of(&self, file: SourceFile, name: &str) -> Option<phx_sema::Value> {
        use phx_sema::{Env, Global};
        match crate::env::DbEnv::new(self, file).global(name)? {
            Global::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The lowered IR of a `fn` of `file` (`None` when it has errors).
    pub fn fn_ir(&self, file: SourceFile, name: &str) -> Option<Arc<phx_sema::fnir::FnIr>> {
        use phx_sema::Env;
        crate::env::DbEnv::new(self, file).fn_ir(name)
    }

    /// A file's diagnostics (absolute spans, sorted), exactly as `check`
    /// gives them, without building the DAG: for editors.
    pub fn diagnostics(&self, file: SourceFile) -> Arc<Vec<phx_diagnostics::Diagnostic>> {
        queries::diagnostics_only(self, file).clone()
    }

    /// Checks a file: diagnostics (absolute spans) and the DAG.
    pub fn check(&self, file: SourceFile) -> Arc<CheckedFile> {
        queries::checked_file(self, file).clone()
    }
}
