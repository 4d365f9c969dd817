//! The database struct, file loading (the only I/O, behind [`FileLoader`])
//! and the driver API that the CLI and the LSP use.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use salsa::{Durability, Setter};

use phx_syntax::ast::ItemKind;

use crate::queries::{self, CheckedFile, ChunkInput, ChunkParse, IndexEntry, LayoutEntry, SourceFile, Workspace};

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
    /// Where each file is being typed in (see `set_chunk`).
    typing: HashMap<SourceFile, Typing>,
}

impl Default for Database {
    fn default() -> Self {
        Database::with_storage(salsa::Storage::new(None), Arc::default())
    }
}

impl Database {
    fn with_storage(storage: salsa::Storage<Self>, executions: Arc<Mutex<Option<HashMap<String, usize>>>>) -> Self {
        let db = Database { storage, executions, typing: HashMap::new() };
        let _ = Workspace::builder(BTreeMap::new(), false, BTreeMap::new()).durability(Durability::HIGH).new(&db);
        db
    }

    /// A database that can count what its queries do (`start_counting`):
    /// executions by query name, and every memo it validated under
    /// `"validated"`. Tests and benches use it; the others pay nothing for
    /// events.
    pub fn counting() -> Database {
        let executions: Arc<Mutex<Option<HashMap<String, usize>>>> = Arc::default();
        let sink = executions.clone();
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            let query = |key: &dyn std::fmt::Debug| {
                let text = format!("{key:?}");
                text.split('(').next().unwrap_or(&text).to_string()
            };
            let names = match event.kind {
                salsa::EventKind::WillExecute { database_key } => vec![query(&database_key)],
                salsa::EventKind::DidValidateMemoizedValue { database_key } => {
                    vec!["validated".to_string(), format!("validated {}", query(&database_key))]
                }
                _ => return,
            };
            if let Ok(mut guard) = sink.lock()
                && let Some(counts) = guard.as_mut()
            {
                for name in names {
                    *counts.entry(name).or_default() += 1;
                }
            }
        })));
        Database::with_storage(storage, executions)
    }
}

#[salsa::db]
impl salsa::Database for Database {}

/// Where a file is being typed in: the chunk the last edit changed, and
/// the chunk that is `LOW`-durability because edits keep coming there.
#[derive(Clone, Copy, Default)]
struct Typing {
    last: Option<ChunkInput>,
    hot: Option<ChunkInput>,
}

/// The span that differs between two texts: `(start, end in old, end in
/// new)`, after their common prefix and before their common suffix, on
/// character boundaries.
fn changed_span(old: &str, new: &str) -> (usize, usize, usize) {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let mut prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let max_suffix = a.len().min(b.len()) - prefix;
    let mut suffix = a.iter().rev().zip(b.iter().rev()).take(max_suffix).take_while(|(x, y)| x == y).count();
    while !old.is_char_boundary(a.len() - suffix) || !new.is_char_boundary(b.len() - suffix) {
        suffix -= 1;
    }
    (prefix, a.len() - suffix, b.len() - suffix)
}

/// The largest character boundary at or before `at`.
fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A chunk's parse, read outside any query.
fn chunk_parse_of(db: &Database, chunk: ChunkInput) -> Arc<ChunkParse> {
    chunk.parse(db).clone()
}

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

    /// Sets (or replaces) the text of a file; returns its handle. A file
    /// already loaded is updated as one edit (the span between the common
    /// prefix and suffix of the old and new texts), so only the chunks it
    /// touches are parsed again.
    pub fn set_file(&mut self, path: &str, text: String) -> SourceFile {
        let path = normalize_path(Path::new(path));
        let ws = self.workspace();
        if let Some(file) = ws.files(self).get(&path).copied() {
            if file.load_error(self).is_some() {
                file.set_load_error(self).to(None);
            }
            let old = file.text(self);
            if old == &text {
                return file;
            }
            let (start, old_end, new_end) = changed_span(old, &text);
            return self.edit_file(&path, start, old_end, &text[start..new_end]);
        }
        let (chunks, offsets) = self.parse_all(&text);
        let file = SourceFile::builder(path.clone(), text, None, Arc::new(chunks), Arc::new(offsets))
            .durability(Durability::HIGH)
            .text_durability(Durability::LOW)
            .offsets_durability(Durability::LOW)
            .new(self);
        let mut files = ws.files(self).clone();
        files.insert(path, file);
        ws.set_files(self).with_durability(Durability::HIGH).to(files);
        file
    }

    /// Records that a file could not be read (an import of it fails).
    pub fn set_missing(&mut self, path: &str, error: String) -> SourceFile {
        let path = normalize_path(Path::new(path));
        let ws = self.workspace();
        if let Some(file) = ws.files(self).get(&path).copied() {
            file.set_text(self).to(String::new());
            let old = file.set_chunks(self).to(Arc::new(Vec::new()));
            self.typing.remove(&file);
            self.retire(&old);
            file.set_offsets(self).to(Arc::new(Vec::new()));
            file.set_load_error(self).to(Some(error));
            return file;
        }
        let file = SourceFile::builder(path.clone(), String::new(), Some(error), Arc::default(), Arc::default())
            .durability(Durability::HIGH)
            .text_durability(Durability::LOW)
            .offsets_durability(Durability::LOW)
            .new(self);
        let mut files = ws.files(self).clone();
        files.insert(path, file);
        ws.set_files(self).with_durability(Durability::HIGH).to(files);
        file
    }

    /// Replaces the bytes `start..end` of a loaded file's text with
    /// `insert` (an editor's change), and brings its chunks up to date:
    /// the text is scanned again from the chunk before the edit until the
    /// chunk boundaries meet the old ones, and only chunks whose text
    /// changed are parsed again. Out-of-range positions are clamped and
    /// moved to character boundaries. A file not loaded yet is created.
    pub fn edit_file(&mut self, path: &str, start: usize, end: usize, insert: &str) -> SourceFile {
        let path = normalize_path(Path::new(path));
        let Some(file) = self.workspace().files(self).get(&path).copied() else {
            return self.set_file(&path, insert.to_string());
        };
        let old_text = file.text(self);
        let start = floor_char_boundary(old_text, start.min(old_text.len()));
        let end = floor_char_boundary(old_text, end.clamp(start, old_text.len()));
        let mut text = file.set_text(self).to(String::new());
        text.replace_range(start..end, insert);
        let delta = insert.len() as i64 - (end - start) as i64;
        let old_chunks = file.chunks(self).clone();
        let old_offsets = file.offsets(self).clone();
        if old_chunks.is_empty() || old_offsets.len() != old_chunks.len() {
            let (chunks, offsets) = self.parse_all(&text);
            let old = file.set_chunks(self).to(Arc::new(chunks));
            self.typing.remove(&file);
            self.retire(&old);
            file.set_offsets(self).to(Arc::new(offsets));
            file.set_text(self).to(text);
            return file;
        }
        let old_len = (text.len() as i64 - delta) as usize;
        // The chunk holding the edit's start, and the one before it: an
        // edit at the start of a chunk's header can move where that one ends.
        let holding = old_offsets.partition_point(|o| (*o as usize) <= start).saturating_sub(1);
        let first = holding.saturating_sub(1);
        let edit_end_new = start + insert.len();
        let (scanned, stopped) = phx_syntax::scan::scan_from(&text, old_offsets[first] as usize, |b| {
            let old_b = b as i64 - delta;
            b >= edit_end_new && old_b >= end as i64 && old_offsets.binary_search(&(old_b as u32)).is_ok()
        });
        // Old chunks `first..last` are replaced by the scanned ones.
        let last = match stopped {
            Some(b) => old_offsets.binary_search(&((b as i64 - delta) as u32)).unwrap_or(old_chunks.len()),
            None => old_chunks.len(),
        };
        let new_spans: Vec<(usize, usize)> =
            scanned.chunks.iter().map(|c| (c.span.start as usize, c.span.end as usize)).collect();
        // Whether old chunk `i` is unchanged as the new span `(s, e)`: it
        // lies wholly before or after the edit and only moved by `delta`.
        let unchanged = |i: usize, (s, e): (usize, usize)| {
            let oe = old_offsets.get(i + 1).map_or(old_len, |o| *o as usize);
            let os = old_offsets[i] as usize;
            (oe <= start && (os, oe) == (s, e))
                || (os >= end && (os as i64 + delta, oe as i64 + delta) == (s as i64, e as i64))
        };
        let mut offsets: Vec<u32> = old_offsets[..first].to_vec();
        offsets.extend(new_spans.iter().map(|(s, _)| *s as u32));
        offsets.extend(old_offsets[last..].iter().map(|o| (*o as i64 + delta) as u32));
        if new_spans.len() == last - first {
            // The same chunks: parse again those whose text changed.
            let changed: Vec<usize> = (first..last).filter(|&i| !unchanged(i, new_spans[i - first])).collect();
            let alone = changed.len() == 1;
            for &i in &changed {
                let (s, e) = new_spans[i - first];
                let parse = self.parse(&text[s..e]);
                self.set_chunk(file, old_chunks[i], parse, alone);
            }
        } else {
            // Chunks appeared or disappeared: a new list, keeping the
            // inputs of chunks whose text is the same.
            let mut chunks: Vec<ChunkInput> = old_chunks[..first].to_vec();
            let mut reusable = first..last;
            let mut kept = Vec::new();
            for &(s, e) in &new_spans {
                let reuse = reusable.clone().find(|&i| unchanged(i, (s, e)));
                match reuse {
                    Some(i) => {
                        chunks.push(old_chunks[i]);
                        kept.push(i);
                        reusable = i + 1..last;
                    }
                    None => {
                        let parse = self.parse(&text[s..e]);
                        let keys = Arc::new(parse.keys());
                        chunks.push(ChunkInput::builder(Arc::new(parse), keys).durability(Durability::HIGH).new(self));
                    }
                }
            }
            chunks.extend(old_chunks[last..].iter().copied());
            file.set_chunks(self).with_durability(Durability::HIGH).to(Arc::new(chunks));
            if let Some(hot) = self.typing.remove(&file).and_then(|t| t.hot) {
                self.cool(hot);
            }
            let dropped: Vec<ChunkInput> = (first..last).filter(|i| !kept.contains(i)).map(|i| old_chunks[i]).collect();
            self.retire(&dropped);
        }
        file.set_offsets(self).to(Arc::new(offsets));
        file.set_text(self).to(text);
        file
    }

    /// Sets a chunk's new parse, and its keys when they changed.
    ///
    /// A chunk edited twice in a row by single-chunk edits (`alone`)
    /// becomes the file's one `LOW`-durability chunk: from then on a
    /// keystroke there re-verifies only what reads it, and everything else
    /// is known unchanged without a visit. Becoming `LOW` costs once: what
    /// read the chunk cannot be backdated that time, so the item's readers
    /// are checked again. Any other edit puts the chunk typed in before
    /// back to `HIGH`.
    fn set_chunk(&mut self, file: SourceFile, chunk: ChunkInput, parse: ChunkParse, alone: bool) {
        let keys = parse.keys();
        if **chunk.keys(self) != keys {
            chunk.set_keys(self).with_durability(Durability::HIGH).to(Arc::new(keys));
        }
        let state = self.typing.entry(file).or_default();
        let hot = alone && (state.hot == Some(chunk) || state.last == Some(chunk));
        state.last = if alone { Some(chunk) } else { None };
        let previous = if hot { state.hot.replace(chunk) } else { state.hot.take() };
        if let Some(previous) = previous
            && previous != chunk
        {
            self.cool(previous);
        }
        let durability = if hot { Durability::LOW } else { Durability::HIGH };
        chunk.set_parse(self).with_durability(durability).to(Arc::new(parse));
    }

    /// Empties chunks no file holds any more. Salsa keeps inputs for the
    /// database's life, so without this every chunk an editing session
    /// replaced would keep its syntax trees. It happens with a change of
    /// the chunk list, which re-verifies everything anyway.
    fn retire(&mut self, chunks: &[ChunkInput]) {
        for chunk in chunks {
            chunk.set_parse(self).with_durability(Durability::HIGH).to(Arc::new(ChunkParse::default()));
            chunk.set_keys(self).with_durability(Durability::HIGH).to(Arc::default());
        }
    }

    /// Puts a chunk back to `HIGH` durability (same parse). Reported as a
    /// `LOW` change, so it costs no global re-verification: only what read
    /// the chunk while it was `LOW` is verified again.
    fn cool(&mut self, chunk: ChunkInput) {
        let same = chunk_parse_of(self, chunk);
        chunk.set_parse(self).with_durability(Durability::HIGH).to(same);
    }

    /// Parses one chunk, counted as a `parse_chunk` execution.
    fn parse(&self, text: &str) -> ChunkParse {
        if let Ok(mut g) = self.executions.lock()
            && let Some(counts) = g.as_mut()
        {
            *counts.entry("parse_chunk".to_string()).or_default() += 1;
        }
        ChunkParse::of(text)
    }

    /// Scans and parses a whole text: its chunks and their offsets.
    fn parse_all(&mut self, text: &str) -> (Vec<ChunkInput>, Vec<u32>) {
        let scan = phx_syntax::scan::scan(text);
        let mut chunks = Vec::with_capacity(scan.chunks.len());
        let mut offsets = Vec::with_capacity(scan.chunks.len());
        for c in &scan.chunks {
            let parse = self.parse(&text[c.span.range()]);
            let keys = Arc::new(parse.keys());
            chunks.push(ChunkInput::builder(Arc::new(parse), keys).durability(Durability::HIGH).new(self));
            offsets.push(c.span.start);
        }
        (chunks, offsets)
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

    /// The items of the chunk that holds byte `offset` (and of the chunk
    /// before, when `offset` is where a chunk starts), with their trees, as
    /// [`Database::items`] gives them: what a request at a position needs,
    /// found by binary search instead of walking the file.
    pub fn items_at(&self, file: SourceFile, offset: usize) -> Vec<(IndexEntry, Arc<phx_syntax::ast::Item>)> {
        self.items_between(file, offset, offset)
    }

    /// The items of the chunks that overlap bytes `start..=end` (and of the
    /// chunk before, when `start` is where a chunk starts).
    pub fn items_between(
        &self,
        file: SourceFile,
        start: usize,
        end: usize,
    ) -> Vec<(IndexEntry, Arc<phx_syntax::ast::Item>)> {
        let offsets = file.offsets(self);
        let holding = |at: usize| offsets.partition_point(|o| (*o as usize) <= at).saturating_sub(1);
        let (from, to) = (holding(start), holding(end.max(start)));
        let first = if offsets.get(from).is_some_and(|o| *o as usize == start) { from.saturating_sub(1) } else { from };
        let layout = queries::layout(self, file);
        let a = layout.entries.partition_point(|e| e.chunk < first);
        let b = layout.entries.partition_point(|e| e.chunk <= to);
        layout.entries[a..b].iter().filter_map(|e| self.positioned(file, e)).collect()
    }

    /// One item by kind, name and ordinal, with its tree.
    pub fn item(
        &self,
        file: SourceFile,
        kind: ItemKind,
        name: &str,
        dup: u32,
    ) -> Option<(IndexEntry, Arc<phx_syntax::ast::Item>)> {
        let layout = queries::layout(self, file);
        self.positioned(file, layout.entry(kind, name, dup)?)
    }

    /// A layout entry with its chunk's offset of this revision, and its tree.
    fn positioned(&self, file: SourceFile, e: &LayoutEntry) -> Option<(IndexEntry, Arc<phx_syntax::ast::Item>)> {
        let id = queries::ItemId::new(self, file, e.kind, e.name.clone(), e.dup);
        let item = queries::item_ast(self, id).clone()?;
        Some((e.at(file.offsets(self)), item))
    }

    /// Every item of a file in source order, with its tree (spans relative
    /// to its chunk: shift them by the entry's `offset`). Items whose chunk
    /// failed to parse are absent; duplicates are included.
    pub fn items(&self, file: SourceFile) -> Vec<(IndexEntry, Arc<phx_syntax::ast::Item>)> {
        queries::layout(self, file).entries.iter().filter_map(|e| self.positioned(file, e)).collect()
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
    pub fn diagnostics(&self, file: SourceFile) -> Vec<phx_diagnostics::Diagnostic> {
        queries::diagnostics_only(self, file)
    }

    /// Checks a file: diagnostics (absolute spans) and the DAG.
    pub fn check(&self, file: SourceFile) -> Arc<CheckedFile> {
        queries::checked_file(self, file).clone()
    }
}
