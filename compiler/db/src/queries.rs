//! The queries. Each takes a file or an item and is memoised by salsa; the
//! comments say what an edit re-runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use phx_dag::{Dag, ExperimentInfo, NodeSpans};
use phx_diagnostics::{Code, Diagnostic};
use phx_sema::ReportSpec;
use phx_sema::check::{self, CheckOptions, CheckedNode};
use phx_sema::fnir::{FnIr, lower_fn};
use phx_sema::schema::{ToolSchema, build_schema};
use phx_sema::value::{FnRef, Value};
use phx_sema::{EmptyEnv, NodeSig};
use phx_syntax::ast::{Item, ItemKind};
use phx_syntax::{Span, SyntaxError};

use crate::env::DbEnv;

/// A source file: its path, its text, and why it could not be read.
#[salsa::input]
pub struct SourceFile {
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
    #[returns(ref)]
    pub load_error: Option<String>,
}

/// Every loaded file, and the settings that change checking.
#[salsa::input(singleton)]
pub struct Workspace {
    #[returns(ref)]
    pub files: BTreeMap<String, SourceFile>,
    #[returns(copy)]
    pub allow_large: bool,
    #[returns(ref)]
    pub overrides: BTreeMap<String, String>,
}

/// The text of one chunk, interned: two equal texts are one chunk, so an
/// edit re-parses only the chunk it touches.
#[salsa::interned]
pub struct Chunk<'db> {
    #[returns(ref)]
    pub text: String,
}

/// An item's identity: its file, kind, name and ordinal among items of the
/// same name (duplicates get 1, 2, ...).
#[salsa::interned]
pub struct ItemId<'db> {
    #[returns(copy)]
    pub file: SourceFile,
    #[returns(copy)]
    pub kind: ItemKind,
    #[returns(ref)]
    pub name: String,
    #[returns(copy)]
    pub dup: u32,
}

/// Splits the file into chunks at item boundaries. Re-runs on every edit of
/// the file; cheap (one linear scan).
#[salsa::tracked(returns(ref))]
pub fn chunks<'db>(db: &'db dyn salsa::Database, file: SourceFile) -> Vec<(u32, Chunk<'db>)> {
    let text = file.text(db);
    phx_syntax::scan::scan(text)
        .chunks
        .iter()
        .map(|c| (c.span.start, Chunk::new(db, text[c.span.range()].to_string())))
        .collect()
}

/// Parses one chunk, spans relative to the chunk. Runs once per distinct
/// chunk text.
#[salsa::tracked(returns(ref))]
pub fn parse_chunk<'db>(db: &'db dyn salsa::Database, chunk: Chunk<'db>) -> Arc<ChunkParse> {
    let parsed = phx_syntax::parse_chunk(chunk.text(db));
    Arc::new(ChunkParse { items: parsed.items.into_iter().map(Arc::new).collect(), errors: parsed.errors })
}

/// A parsed chunk. Items are shared, so that handing one out (`item_ast`,
/// which re-runs whenever any item moves) never copies a syntax tree.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkParse {
    pub items: Vec<Arc<Item>>,
    pub errors: Vec<SyntaxError>,
}

/// Where one item lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    pub kind: ItemKind,
    pub name: String,
    pub dup: u32,
    pub chunk: usize,
    pub pos: usize,
    /// The chunk's offset in the file.
    pub offset: u32,
    /// The name's span, relative to the chunk.
    pub name_span: Span,
}

impl IndexEntry {
    /// The absolute span of the item's name.
    pub fn abs_name_span(&self) -> Span {
        self.name_span.shifted(self.offset)
    }
}

/// Every item of a file, in order, and the syntax errors (absolute spans).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ItemIndex {
    pub entries: Vec<IndexEntry>,
    pub errors: Vec<SyntaxError>,
    /// `(kind, name, ordinal)` to the entry's position, for O(1) lookups.
    pub by_key: HashMap<(ItemKind, String, u32), usize>,
}

impl ItemIndex {
    /// The entry of an item.
    pub fn entry(&self, kind: ItemKind, name: &str, dup: u32) -> Option<&IndexEntry> {
        self.by_key.get(&(kind, name.to_string(), dup)).map(|&i| &self.entries[i])
    }
}

/// The namespace an item's name lives in.
fn namespace(kind: ItemKind) -> u8 {
    match kind {
        ItemKind::Tool => 1,
        ItemKind::Report => 2,
        ItemKind::Experiment => 3,
        _ => 0,
    }
}

/// The index of a file's items. Re-runs on every edit (it holds offsets);
/// linear in the number of items.
#[salsa::tracked(returns(ref))]
pub fn item_index(db: &dyn salsa::Database, file: SourceFile) -> Arc<ItemIndex> {
    let mut index = ItemIndex::default();
    let mut counts: HashMap<(u8, String), u32> = HashMap::new();
    for (ci, (offset, chunk)) in chunks(db, file).iter().enumerate() {
        let parsed = parse_chunk(db, *chunk);
        for e in &parsed.errors {
            index.errors.push(SyntaxError {
                span: e.span.shifted(*offset),
                message: e.message.clone(),
                help: e.help.clone(),
            });
        }
        for (pos, item) in parsed.items.iter().enumerate() {
            let kind = item.kind();
            let name = item.name();
            let slot = counts
                .entry((namespace(kind), if kind == ItemKind::Experiment { String::new() } else { name.clone() }))
                .or_insert(0);
            let dup = *slot;
            *slot += 1;
            index.by_key.insert((kind, name.clone(), dup), index.entries.len());
            index.entries.push(IndexEntry {
                kind,
                name,
                dup,
                chunk: ci,
                pos,
                offset: *offset,
                name_span: item.name_span(),
            });
        }
    }
    Arc::new(index)
}

/// One item's syntax (spans relative to its chunk). Re-runs when the index
/// changes, but backdates unless this item's text changed, so what depends
/// on it re-runs only then.
#[salsa::tracked(returns(ref))]
pub fn item_ast<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Option<Arc<Item>> {
    let (chunk, pos) = item_location(db, id)?;
    parse_chunk(db, chunk).items.get(pos).cloned()
}

/// The chunk (by its interned text) and position of an item. Every edit
/// re-runs it, but it is a lookup, and it backdates unless this item's own
/// chunk changed: so `item_ast`, and everything that reads it, stays
/// untouched by edits elsewhere (a keystroke moves every later chunk's
/// offset, which changes the index but not this).
#[salsa::tracked(returns(copy))]
pub fn item_location<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Option<(Chunk<'db>, usize)> {
    let file = id.file(db);
    let index = item_index(db, file);
    let entry = index.entry(id.kind(db), id.name(db), id.dup(db))?;
    let (_, chunk) = chunks(db, file).get(entry.chunk)?;
    Some((*chunk, entry.pos))
}

/// The names a file declares, without positions: backdates across edits
/// that add, remove or rename nothing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scope {
    /// Value names (params, lets, fns, nodes, imports) to their kind.
    pub values: BTreeMap<String, ItemKind>,
    /// Tool names declared in the file.
    pub tools: BTreeSet<String>,
    pub reports: BTreeSet<String>,
    /// The experiment's name, if the file has one.
    pub experiment: Option<String>,
}

/// Every item's identity, in order, without positions: backdates across
/// edits that add, remove or rename nothing, so whole-file queries that
/// only need identities (`unused`) do not re-run on every keystroke.
#[salsa::tracked(returns(ref))]
pub fn item_keys(db: &dyn salsa::Database, file: SourceFile) -> Arc<Vec<(ItemKind, String, u32)>> {
    Arc::new(item_index(db, file).entries.iter().map(|e| (e.kind, e.name.clone(), e.dup)).collect())
}

/// The names of a file.
#[salsa::tracked(returns(ref))]
pub fn scope(db: &dyn salsa::Database, file: SourceFile) -> Arc<Scope> {
    let mut s = Scope::default();
    for e in &item_index(db, file).entries {
        if e.dup > 0 {
            continue;
        }
        match e.kind {
            ItemKind::Tool => {
                s.tools.insert(e.name.clone());
            }
            ItemKind::Report => {
                s.reports.insert(e.name.clone());
            }
            ItemKind::Experiment => s.experiment = Some(e.name.clone()),
            k => {
                s.values.insert(e.name.clone(), k);
            }
        }
    }
    Arc::new(s)
}

/// The stdlib schemas, parsed once per process.
pub fn stdlib() -> &'static HashMap<String, Arc<ToolSchema>> {
    static STDLIB: OnceLock<HashMap<String, Arc<ToolSchema>>> = OnceLock::new();
    STDLIB.get_or_init(|| {
        let mut map = HashMap::new();
        for f in phx_stdlib_schemas::FILES {
            for item in phx_syntax::parse_file(f.text).items {
                if let Item::Tool(t) = item {
                    let (schema, _) = build_schema(&t, true, f.path, &EmptyEnv);
                    map.insert(schema.name.clone(), Arc::new(schema));
                }
            }
        }
        map
    })
}

/// Diagnostics of the embedded stdlib sources (a test keeps this empty).
pub fn stdlib_diagnostics() -> Vec<(String, Diagnostic)> {
    let mut out = Vec::new();
    for f in phx_stdlib_schemas::FILES {
        let parsed = phx_syntax::parse_file(f.text);
        for e in parsed.errors {
            out.push((f.path.to_string(), Diagnostic::from(e)));
        }
        for item in parsed.items {
            if let Item::Tool(t) = item {
                let (_, diags) = build_schema(&t, true, f.path, &EmptyEnv);
                out.extend(diags.into_iter().map(|d| (f.path.to_string(), d)));
            }
        }
    }
    out
}

/// Names of lets, params, fns and sweep binders that depend on themselves:
/// evaluating them would never end, so they are reported and skipped.
#[salsa::tracked(returns(ref))]
pub fn const_cycles(db: &dyn salsa::Database, file: SourceFile) -> Arc<BTreeSet<String>> {
    let index = item_index(db, file);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &index.entries {
        if e.dup > 0 {
            continue;
        }
        let id = ItemId::new(db, file, e.kind, e.name.clone(), 0);
        let Some(item) = item_ast(db, id) else { continue };
        let mut names = BTreeSet::new();
        let mut add = |n: &str| {
            names.insert(n.to_string());
        };
        match item.as_ref() {
            Item::Let(l) => check::walk_names(&l.value, &mut add),
            Item::Param(p) => {
                if let Some(d) = &p.default {
                    check::walk_names(d, &mut add);
                }
            }
            Item::Fn(f) => {
                for l in &f.body.lets {
                    check::walk_names(&l.value, &mut add);
                }
                check::walk_names(&f.body.value, &mut add);
            }
            Item::Node(n) => {
                for b in &n.binders {
                    check::walk_names(&b.values, &mut add);
                }
            }
            _ => continue,
        }
        deps.insert(e.name.clone(), names);
    }
    Arc::new(on_cycles(&deps))
}

/// The keys of `graph` that can reach themselves along its edges.
fn on_cycles<C>(graph: &BTreeMap<String, C>) -> BTreeSet<String>
where
    for<'a> &'a C: IntoIterator<Item = &'a String>,
{
    let mut cyclic = BTreeSet::new();
    for (start, edges) in graph {
        let mut stack: Vec<&String> = edges.into_iter().collect();
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if n == start {
                cyclic.insert(start.clone());
                break;
            }
            if seen.insert(n.clone())
                && let Some(next) = graph.get(n)
            {
                stack.extend(next);
            }
        }
    }
    cyclic
}

fn cycle_diag(db: &dyn salsa::Database, id: ItemId<'_>) -> Vec<Diagnostic> {
    let name = id.name(db);
    let span = item_ast(db, id).as_ref().map(|i| i.name_span()).unwrap_or_default();
    let d = if id.kind(db) == ItemKind::Fn {
        Diagnostic::new(
            Code::Cycle,
            span,
            format!("`{name}` calls itself, directly or through other functions; a `fn` may not recurse"),
        )
        .with_help("write the function without recursion")
    } else {
        Diagnostic::new(Code::Cycle, span, format!("`{name}` depends on itself")).with_help(
            "a `let`, `param`, `fn` or sweep cannot be defined in terms of itself, directly or through others",
        )
    };
    vec![d]
}

/// A param's value (default or `--set` override) and its diagnostics.
#[salsa::tracked(returns(ref))]
pub fn param_value<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<(Value, Vec<Diagnostic>)> {
    let file = id.file(db);
    if const_cycles(db, file).contains(id.name(db)) {
        return Arc::new((Value::Error, cycle_diag(db, id)));
    }
    let Some(item) = item_ast(db, id) else { return Arc::new((Value::Error, Vec::new())) };
    let Item::Param(p) = item.as_ref() else { return Arc::new((Value::Error, Vec::new())) };
    let env = DbEnv::new(db, file);
    let is_root = true;
    let over = if is_root { Workspace::get(db).overrides(db).get(id.name(db)).cloned() } else { None };
    let parsed_override = over.as_ref().map(|text| parse_override(text));
    let result = match &parsed_override {
        Some(Ok(expr)) => check::check_param(p, Some(expr), &env),
        Some(Err(msg)) => (
            Value::Error,
            vec![
                Diagnostic::new(
                    Code::Syntax,
                    p.name.span,
                    format!("`--set {}={}`: {msg}", p.name.name, over.unwrap_or_default()),
                )
                .with_help("write the value as in source: `--set grid=128`, `--set extent=\"24 bohr\"`"),
            ],
        ),
        None => check::check_param(p, None, &env),
    };
    Arc::new(result)
}

/// Parses a `--set` value as an expression.
pub fn parse_override(text: &str) -> Result<phx_syntax::ast::Expr, String> {
    let parsed = phx_syntax::parse_chunk(&format!("let __override = {text}"));
    if let Some(e) = parsed.errors.first() {
        return Err(e.message.clone());
    }
    match parsed.items.as_slice() {
        [Item::Let(l)] => {
            let mut e = l.value.clone();
            // Spans into the synthetic text mean nothing to the user.
            let mut item = Item::Let(phx_syntax::ast::Let {
                doc: None,
                name: l.name.clone(),
                ty: None,
                value: e.clone(),
                span: l.span,
            });
            phx_syntax::visit::visit_spans_mut(&mut item, &mut |s| *s = Span::default());
            if let Item::Let(l2) = item {
                e = l2.value;
            }
            Ok(e)
        }
        _ => Err("expected one value".into()),
    }
}

/// A let's value and its diagnostics.
#[salsa::tracked(returns(ref))]
pub fn let_value<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<(Value, Vec<Diagnostic>)> {
    let file = id.file(db);
    if const_cycles(db, file).contains(id.name(db)) {
        return Arc::new((Value::Error, cycle_diag(db, id)));
    }
    let Some(item) = item_ast(db, id) else { return Arc::new((Value::Error, Vec::new())) };
    let Item::Let(l) = item.as_ref() else { return Arc::new((Value::Error, Vec::new())) };
    let env = DbEnv::new(db, file);
    Arc::new(check::check_let(&l.value, l.ty.as_ref(), &l.name.name, &env))
}

/// A lowered `fn`: its IR (when it has no errors), its reference and its
/// diagnostics.
#[derive(Clone, Debug, PartialEq)]
pub struct LoweredFn {
    pub ir: Option<Arc<FnIr>>,
    pub fn_ref: FnRef,
    pub diags: Vec<Diagnostic>,
}

/// Lowers a `fn` to IR and hashes its body.
#[salsa::tracked(returns(ref))]
pub fn fn_lowered<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<LoweredFn> {
    let file = id.file(db);
    let name = id.name(db).clone();
    let Some(item) = item_ast(db, id) else {
        return Arc::new(LoweredFn {
            ir: None,
            fn_ref: FnRef { name, arity: 0, hash: String::new() },
            diags: Vec::new(),
        });
    };
    let Item::Fn(f) = item.as_ref() else {
        return Arc::new(LoweredFn {
            ir: None,
            fn_ref: FnRef { name, arity: 0, hash: String::new() },
            diags: Vec::new(),
        });
    };
    if const_cycles(db, file).contains(&name) {
        let diags = cycle_diag(db, id);
        return Arc::new(LoweredFn {
            ir: None,
            fn_ref: FnRef { name, arity: f.params.len(), hash: String::new() },
            diags,
        });
    }
    let env = DbEnv::new(db, file);
    let (ir, diags) = lower_fn(f, &env);
    let hash = ir.as_ref().map(|ir| ir.body_hash()).unwrap_or_default();
    Arc::new(LoweredFn { ir: ir.map(Arc::new), fn_ref: FnRef { name, arity: f.params.len(), hash }, diags })
}

/// A user tool's schema and its diagnostics.
#[salsa::tracked(returns(ref))]
pub fn user_tool<'db>(
    db: &'db dyn salsa::Database,
    id: ItemId<'db>,
) -> Option<Arc<(Arc<ToolSchema>, Vec<Diagnostic>)>> {
    let item = item_ast(db, id).as_ref()?.clone();
    let Item::Tool(t) = item.as_ref() else { return None };
    let file = id.file(db);
    let env = DbEnv::new(db, file);
    let (schema, diags) = build_schema(t, false, file.path(db), &env);
    Some(Arc::new((Arc::new(schema), diags)))
}

/// A node's signature, as other items see it.
#[salsa::tracked(returns(ref))]
pub fn node_sig<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<NodeSig> {
    let file = id.file(db);
    let Some(item) = item_ast(db, id) else {
        return Arc::new(NodeSig {
            name: id.name(db).clone(),
            tool: String::new(),
            sweep: None,
            outputs: Vec::new(),
            emits: Vec::new(),
        });
    };
    let Item::Node(n) = item.as_ref() else {
        return Arc::new(NodeSig {
            name: id.name(db).clone(),
            tool: String::new(),
            sweep: None,
            outputs: Vec::new(),
            emits: Vec::new(),
        });
    };
    if const_cycles(db, file).contains(&n.name.name) {
        let mut sig = check::node_sig(&strip_binders(n), &DbEnv::new(db, file));
        sig.sweep = Some(0);
        return Arc::new(sig);
    }
    Arc::new(check::node_sig(n, &DbEnv::new(db, file)))
}

fn strip_binders(n: &phx_syntax::ast::Node) -> phx_syntax::ast::Node {
    let mut n = n.clone();
    n.binders.clear();
    n
}

/// Checks a node (every instance of a sweep). The query that an edit of one
/// node's argument re-runs for that node and for the nodes that read it.
#[salsa::tracked(returns(ref))]
pub fn check_node_query<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<CheckedNode> {
    let file = id.file(db);
    let Some(item) = item_ast(db, id) else {
        return Arc::new(CheckedNode {
            name: id.name(db).clone(),
            tool: None,
            instances: Vec::new(),
            diags: Vec::new(),
        });
    };
    let Item::Node(n) = item.as_ref() else {
        return Arc::new(CheckedNode {
            name: id.name(db).clone(),
            tool: None,
            instances: Vec::new(),
            diags: Vec::new(),
        });
    };
    let opts = CheckOptions { allow_large: Workspace::get(db).allow_large(db) };
    if const_cycles(db, file).contains(&n.name.name) {
        let mut checked = check::check_node(&strip_binders(n), &DbEnv::new(db, file), opts);
        checked.instances.clear();
        checked.diags.extend(cycle_diag(db, id));
        return Arc::new(checked);
    }
    Arc::new(check::check_node(n, &DbEnv::new(db, file), opts))
}

/// Checks a report.
#[salsa::tracked(returns(ref))]
pub fn report_check<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<(ReportSpec, Vec<Diagnostic>)> {
    let file = id.file(db);
    let Some(item) = item_ast(db, id) else { return Arc::new((ReportSpec::default(), Vec::new())) };
    let Item::Report(r) = item.as_ref() else { return Arc::new((ReportSpec::default(), Vec::new())) };
    Arc::new(check::check_report(r, &DbEnv::new(db, file)))
}

/// Evaluated fields, in order.
pub type Fields = Vec<(String, Value)>;

/// Checks the experiment block.
#[salsa::tracked(returns(ref))]
pub fn experiment_check<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<(Fields, Vec<Diagnostic>)> {
    let file = id.file(db);
    let Some(item) = item_ast(db, id) else { return Arc::new((Vec::new(), Vec::new())) };
    let Item::Experiment(e) = item.as_ref() else { return Arc::new((Vec::new(), Vec::new())) };
    Arc::new(check::check_experiment(&e.fields, &DbEnv::new(db, file)))
}

/// The files a file imports: `(alias, normalised path)`.
#[salsa::tracked(returns(ref))]
pub fn import_paths(db: &dyn salsa::Database, file: SourceFile) -> Vec<(String, String)> {
    let dir = Path::new(file.path(db)).parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = Vec::new();
    for e in &item_index(db, file).entries {
        if e.kind != ItemKind::Import || e.dup > 0 {
            continue;
        }
        let id = ItemId::new(db, file, e.kind, e.name.clone(), 0);
        if let Some(item) = item_ast(db, id)
            && let Item::Import(i) = item.as_ref()
            && let Some(p) = i.path.as_plain()
        {
            out.push((e.name.clone(), crate::database::normalize_path(&dir.join(p))));
        }
    }
    out
}

/// Files that sit on an import cycle.
#[salsa::tracked(returns(ref))]
pub fn import_cycle_files(db: &dyn salsa::Database, ws: Workspace) -> Arc<BTreeSet<String>> {
    let files = ws.files(db);
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, f) in files {
        graph.insert(path.clone(), import_paths(db, *f).iter().map(|(_, p)| p.clone()).collect());
    }
    Arc::new(on_cycles(&graph))
}

/// The file an import alias names, when it loaded and is not on a cycle.
pub fn import_target(db: &dyn salsa::Database, file: SourceFile, alias: &str) -> Option<SourceFile> {
    let (_, path) = import_paths(db, file).iter().find(|(a, _)| a == alias)?;
    let ws = Workspace::get(db);
    if import_cycle_files(db, ws).contains(path) {
        return None;
    }
    let target = ws.files(db).get(path).copied()?;
    if target.load_error(db).is_some() {
        return None;
    }
    Some(target)
}

/// Every unused param, let and fn of a file (by name).
#[salsa::tracked(returns(ref))]
pub fn unused(db: &dyn salsa::Database, file: SourceFile) -> Arc<BTreeSet<String>> {
    let keys = item_keys(db, file);
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut declared: BTreeSet<String> = BTreeSet::new();
    for (kind, name, dup) in keys.iter() {
        let id = ItemId::new(db, file, *kind, name.clone(), *dup);
        if matches!(kind, ItemKind::Param | ItemKind::Let | ItemKind::Fn) && *dup == 0 {
            declared.insert(name.clone());
        }
        for mentioned in item_names(db, id).iter() {
            // A fn that only mentions itself is still unused.
            if mentioned != name && !used.contains(mentioned) {
                used.insert(mentioned.clone());
            }
        }
    }
    // A file without nodes is a library: its items are there for importers.
    if !keys.iter().any(|(kind, _, _)| *kind == ItemKind::Node) {
        return Arc::new(BTreeSet::new());
    }
    Arc::new(declared.difference(&used).cloned().collect())
}

/// The names one item mentions; memoised per item, so an edit elsewhere
/// does not walk this item's expressions again.
#[salsa::tracked(returns(ref))]
pub fn item_names<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<BTreeSet<String>> {
    let mut own = BTreeSet::new();
    if let Some(item) = item_ast(db, id) {
        collect_item_names(item, &mut own);
    }
    Arc::new(own)
}

fn collect_item_names(item: &Item, out: &mut BTreeSet<String>) {
    let mut add = |n: &str| {
        out.insert(n.to_string());
    };
    let mut exprs: Vec<&phx_syntax::ast::Expr> = Vec::new();
    match item {
        Item::Let(l) => exprs.push(&l.value),
        Item::Param(p) => exprs.extend(p.default.as_ref()),
        Item::Fn(f) => {
            for l in &f.body.lets {
                exprs.push(&l.value);
            }
            exprs.push(&f.body.value);
        }
        Item::Experiment(e) => exprs.extend(e.fields.iter().map(|f| &f.value)),
        Item::Node(n) => {
            exprs.extend(n.binders.iter().map(|b| &b.values));
            exprs.extend(n.args.iter().map(|f| &f.value));
            exprs.extend(n.props.iter().map(|f| &f.value));
        }
        Item::Tool(t) => {
            for p in &t.params {
                exprs.extend(p.default.as_ref());
            }
        }
        Item::Report(r) => report_exprs(&r.entries, &mut exprs),
        Item::Import(_) => {}
    }
    for e in exprs {
        check::walk_names(e, &mut add);
    }
}

fn report_exprs<'a>(entries: &'a [phx_syntax::ast::ReportEntry], out: &mut Vec<&'a phx_syntax::ast::Expr>) {
    use phx_syntax::ast::ReportEntry as R;
    for e in entries {
        match e {
            R::Field(f) => out.push(&f.value),
            R::Section { entries, .. } => report_exprs(entries, out),
            R::Figure { target, fields, .. } | R::Table { target, fields, .. } => {
                out.extend(target.index.as_ref());
                out.extend(fields.iter().map(|f| &f.value));
            }
            R::Text { .. } => {}
        }
    }
}

/// The DAG of a file and the diagnostics that only the whole graph shows
/// (cycles). Re-runs on every edit; linear in the number of vertices.
#[derive(Clone, Debug, PartialEq)]
pub struct FileDag {
    pub dag: Arc<Dag>,
    pub diags: Vec<Diagnostic>,
}

/// Builds the DAG of a file.
#[salsa::tracked(returns(ref))]
pub fn dag_of(db: &dyn salsa::Database, file: SourceFile) -> Arc<FileDag> {
    let index = item_index(db, file);
    let mut checked: Vec<&Arc<CheckedNode>> = Vec::new();
    let mut spans: NodeSpans = HashMap::new();
    let mut experiment = None;
    let mut params = Vec::new();
    for e in &index.entries {
        if e.dup > 0 {
            continue;
        }
        let id = ItemId::new(db, file, e.kind, e.name.clone(), 0);
        match e.kind {
            ItemKind::Node => {
                checked.push(check_node_query(db, id));
                spans.insert(e.name.clone(), e.abs_name_span());
            }
            ItemKind::Experiment => {
                experiment = Some(ExperimentInfo { name: e.name.clone(), fields: experiment_check(db, id).0.clone() });
            }
            ItemKind::Param => params.push((e.name.clone(), param_value(db, id).0.clone())),
            _ => {}
        }
    }
    let refs: Vec<&CheckedNode> = checked.iter().map(|c| c.as_ref()).collect();
    let (mut dag, diags) = phx_dag::build(&refs, experiment, params, &spans);
    // Attach the IR of every function an argument passes.
    let env = DbEnv::new(db, file);
    for v in &mut dag.vertices {
        let mut names = Vec::new();
        for (_, a) in v.args.iter() {
            collect_fns(a, &mut names);
        }
        for f in names {
            if let Some(ir) = phx_sema::Env::fn_ir(&env, &f.name)
                && !v.functions.iter().any(|(h, _)| *h == f.hash)
            {
                v.functions.push((f.hash.clone(), ir));
            }
        }
    }
    Arc::new(FileDag { dag: Arc::new(dag), diags })
}

fn collect_fns<'a>(v: &'a Value, out: &mut Vec<&'a FnRef>) {
    match v {
        Value::Fn(f) => out.push(f),
        Value::List(items) => items.iter().for_each(|x| collect_fns(x, out)),
        Value::Record(fields) => fields.iter().for_each(|(_, x)| collect_fns(x, out)),
        _ => {}
    }
}

/// A checked file: every diagnostic with absolute spans, sorted, and the DAG.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedFile {
    pub diagnostics: Vec<Diagnostic>,
    pub dag: Arc<Dag>,
    /// The file's reports, evaluated, in source order.
    pub reports: Vec<ReportSpec>,
}

impl CheckedFile {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Every diagnostic of a file, absolute spans, in source order.
pub fn file_diagnostics(db: &dyn salsa::Database, file: SourceFile) -> Vec<Diagnostic> {
    checked_file(db, file).diagnostics.clone()
}

/// Checks a whole file.
#[salsa::tracked(returns(ref))]
pub fn checked_file(db: &dyn salsa::Database, file: SourceFile) -> Arc<CheckedFile> {
    let mut diags = item_diagnostics(db, file);
    let reports = item_index(db, file)
        .entries
        .iter()
        .filter(|e| e.kind == ItemKind::Report && e.dup == 0)
        .map(|e| report_check(db, ItemId::new(db, file, e.kind, e.name.clone(), 0)).0.clone())
        .collect();
    let fd = dag_of(db, file);
    diags.extend(fd.diags.iter().cloned());
    diags.sort_by_key(|d| (d.span.start, d.span.end, d.code));
    diags.dedup();
    Arc::new(CheckedFile { diagnostics: diags, dag: fd.dag.clone(), reports })
}

/// Every diagnostic of a file, as `checked_file` gives them, without
/// building the DAG's vertices and keys (only its cycles): what an editor
/// asks for after each keystroke.
#[salsa::tracked(returns(ref))]
pub fn diagnostics_only(db: &dyn salsa::Database, file: SourceFile) -> Arc<Vec<Diagnostic>> {
    let mut diags = item_diagnostics(db, file);
    let index = item_index(db, file);
    let mut checked: Vec<&Arc<CheckedNode>> = Vec::new();
    let mut spans: NodeSpans = HashMap::new();
    for e in index.entries.iter().filter(|e| e.kind == ItemKind::Node && e.dup == 0) {
        checked.push(check_node_query(db, ItemId::new(db, file, e.kind, e.name.clone(), 0)));
        spans.insert(e.name.clone(), e.abs_name_span());
    }
    let refs: Vec<&CheckedNode> = checked.iter().map(|c| c.as_ref()).collect();
    diags.extend(phx_dag::check_cycles(&refs, &spans));
    diags.sort_by_key(|d| (d.span.start, d.span.end, d.code));
    diags.dedup();
    Arc::new(diags)
}

/// The diagnostics of every item, the file's syntax errors, duplicates,
/// unused names and imports (everything but the DAG's), unsorted.
fn item_diagnostics(db: &dyn salsa::Database, file: SourceFile) -> Vec<Diagnostic> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    if let Some(err) = file.load_error(db) {
        diags.push(Diagnostic::new(Code::Import, Span::default(), format!("cannot read `{}`: {err}", file.path(db))));
    }
    let index = item_index(db, file);
    for e in &index.errors {
        diags.push(Diagnostic::from(e.clone()));
    }
    let mut first_of: HashMap<(u8, String), Span> = HashMap::new();
    let unused = unused(db, file);
    let ws = Workspace::get(db);
    let cyclic_imports = import_cycle_files(db, ws);
    for e in &index.entries {
        let id = ItemId::new(db, file, e.kind, e.name.clone(), e.dup);
        let key = (namespace(e.kind), if e.kind == ItemKind::Experiment { String::new() } else { e.name.clone() });
        if e.dup > 0 {
            let first = first_of.get(&key).copied().unwrap_or_default();
            let what = if e.kind == ItemKind::Experiment {
                "a second `experiment` block; a file has at most one".to_string()
            } else {
                format!("the name `{}` is declared twice", e.name)
            };
            diags.push(
                Diagnostic::new(Code::DuplicateName, e.abs_name_span(), what)
                    .with_related(first, "first declared here")
                    .with_help("rename one of them"),
            );
            continue;
        }
        first_of.insert(key, e.abs_name_span());
        let item_diags: Vec<Diagnostic> = match e.kind {
            ItemKind::Param => param_value(db, id).1.clone(),
            ItemKind::Let => let_value(db, id).1.clone(),
            ItemKind::Fn => fn_lowered(db, id).diags.clone(),
            ItemKind::Tool => user_tool(db, id).as_ref().map(|t| t.1.clone()).unwrap_or_default(),
            ItemKind::Node => check_node_query(db, id).diags.clone(),
            ItemKind::Report => report_check(db, id).1.clone(),
            ItemKind::Experiment => experiment_check(db, id).1.clone(),
            ItemKind::Import => {
                let mut out = Vec::new();
                if let Some((_, path)) = import_paths(db, file).iter().find(|(a, _)| a == &e.name) {
                    let target = ws.files(db).get(path).copied();
                    let span = item_ast(db, id).as_ref().and_then(|i| match i.as_ref() {
                        Item::Import(imp) => Some(imp.path.span),
                        _ => None,
                    });
                    let span = span.unwrap_or(e.name_span);
                    match target {
                        None => out.push(
                            Diagnostic::new(Code::Import, span, format!("the import `{path}` was not loaded"))
                                .with_help("check the path; it is relative to this file"),
                        ),
                        Some(t) => {
                            if let Some(err) = t.load_error(db) {
                                out.push(
                                    Diagnostic::new(Code::Import, span, format!("cannot read `{path}`: {err}"))
                                        .with_help("check the path; it is relative to this file"),
                                );
                            } else if cyclic_imports.contains(path) {
                                out.push(
                                    Diagnostic::new(
                                        Code::Import,
                                        span,
                                        format!("the import of `{path}` forms a cycle of imports"),
                                    )
                                    .with_help("files may not import each other in a circle"),
                                );
                            } else {
                                let errors = checked_file(db, t).diagnostics.iter().filter(|d| d.is_error()).count();
                                if errors > 0 {
                                    out.push(
                                        Diagnostic::new(
                                            Code::Import,
                                            span,
                                            format!(
                                                "`{path}` has {errors} error{}",
                                                if errors == 1 { "" } else { "s" }
                                            ),
                                        )
                                        .with_help(format!("run `phx check {path}`")),
                                    );
                                }
                            }
                        }
                    }
                }
                out
            }
        };
        diags.extend(item_diags.into_iter().map(|d| d.shifted(e.offset)));
        if matches!(e.kind, ItemKind::Param | ItemKind::Let | ItemKind::Fn) && unused.contains(&e.name) {
            let what = match e.kind {
                ItemKind::Param => "param",
                ItemKind::Let => "let",
                _ => "fn",
            };
            diags.push(
                Diagnostic::new(Code::Unused, e.abs_name_span(), format!("the {what} `{}` is never used", e.name))
                    .with_help("remove it, or use it in a node"),
            );
        }
    }
    diags
}
