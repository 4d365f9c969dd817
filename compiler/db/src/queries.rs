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

/// A source file: its path, its text, why it could not be read, and its
/// chunks with where each starts.
///
/// The driver (`Database::set_file`, `Database::edit_file`) keeps these in
/// step. The text and the offsets change with every edit; the chunk list
/// only when chunks appear, disappear, split or merge. No query on the way
/// to an item's diagnostics reads the text or the offsets (spans are
/// relative to chunks until the last step), so a keystroke inside one item
/// reaches only what reads that item.
#[salsa::input]
pub struct SourceFile {
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
    #[returns(ref)]
    pub load_error: Option<String>,
    #[returns(ref)]
    pub chunks: Arc<Vec<ChunkInput>>,
    #[returns(ref)]
    pub offsets: Arc<Vec<u32>>,
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

/// One chunk of a file: its parse (spans relative to the chunk) and the
/// identities of its items, set by the driver, which parses only the chunks
/// an edit touched. The keys are a field of their own so that the index of
/// the file, and every name lookup through it, depends on them and not on
/// the parse: typing inside an item changes the parse, not the keys.
///
/// Durability carries the editor's locality: chunks are `HIGH`, except the
/// one being typed in, which is `LOW`. A keystroke there then re-verifies
/// only what reads that chunk; everything else is known unchanged without
/// being visited (salsa's durability check).
#[salsa::input]
pub struct ChunkInput {
    #[returns(ref)]
    pub parse: Arc<ChunkParse>,
    #[returns(ref)]
    pub keys: Arc<Vec<ItemKey>>,
}

/// A parsed chunk. Items are shared, so that handing one out never copies
/// a syntax tree.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ChunkParse {
    pub items: Vec<Arc<Item>>,
    pub errors: Vec<SyntaxError>,
}

impl ChunkParse {
    /// Parses one chunk's text.
    pub fn of(text: &str) -> ChunkParse {
        let parsed = phx_syntax::parse_chunk(text);
        ChunkParse { items: parsed.items.into_iter().map(Arc::new).collect(), errors: parsed.errors }
    }

    /// The identities of the chunk's items and the names each mentions.
    pub fn keys(&self) -> Vec<ItemKey> {
        self.items
            .iter()
            .map(|i| {
                let mut mentions = BTreeSet::new();
                collect_item_names(i, &mut mentions);
                ItemKey {
                    kind: i.kind(),
                    name: i.name(),
                    name_span: i.name_span(),
                    mentions: Arc::new(mentions),
                    const_deps: const_deps(i).map(Arc::new),
                }
            })
            .collect()
    }
}

/// An item as the index sees it: kind, name, the name's span relative to
/// its chunk, and what it mentions. The mentions are syntax, known from the
/// parse alone; keeping them here lets the file-wide questions (which
/// names are unused, which definitions are circular) be answered without
/// reading any item's tree, so they stay untouched while someone types
/// inside an item without changing what it names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub kind: ItemKind,
    pub name: String,
    pub name_span: Span,
    /// Every name the item mentions.
    pub mentions: Arc<BTreeSet<String>>,
    /// For lets, params, fns and nodes: the names its definition (a node:
    /// its sweep binders) depends on, for detecting circular definitions.
    pub const_deps: Option<Arc<BTreeSet<String>>>,
}

/// The names a let, param, fn or node's binders depend on.
fn const_deps(item: &Item) -> Option<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let mut add = |n: &str| {
        names.insert(n.to_string());
    };
    match item {
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
        _ => return None,
    }
    Some(names)
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

/// Where one item lives, without positions in the file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LayoutEntry {
    pub kind: ItemKind,
    pub name: String,
    pub dup: u32,
    /// The chunk's ordinal in the file.
    pub chunk: usize,
    /// The item's ordinal in its chunk.
    pub pos: usize,
    /// The name's span, relative to the chunk.
    pub name_span: Span,
    /// What the item mentions (see [`ItemKey`]).
    pub mentions: Arc<BTreeSet<String>>,
    pub const_deps: Option<Arc<BTreeSet<String>>>,
}

/// Every item of a file in order, without positions: what name lookups
/// read. It changes only when items are added, removed, renamed or
/// reordered, never with a keystroke inside an item.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Layout {
    pub entries: Vec<LayoutEntry>,
    /// `(kind, name, ordinal)` to the entry's position, for O(1) lookups.
    pub by_key: HashMap<(ItemKind, String, u32), usize>,
    /// `(namespace, name)` to the position of the first entry declaring it
    /// (the experiment's name is empty: a file has one experiment).
    first_of: HashMap<(u8, String), usize>,
}

impl Layout {
    /// The first declaration of what `entry` declares again.
    pub fn first_declaration(&self, entry: &LayoutEntry) -> Option<&LayoutEntry> {
        let name = if entry.kind == ItemKind::Experiment { String::new() } else { entry.name.clone() };
        self.first_of.get(&(namespace(entry.kind), name)).map(|&i| &self.entries[i])
    }

    /// The entry of an item.
    pub fn entry(&self, kind: ItemKind, name: &str, dup: u32) -> Option<&LayoutEntry> {
        self.by_key.get(&(kind, name.to_string(), dup)).map(|&i| &self.entries[i])
    }
}

/// The layout of a file's items.
#[salsa::tracked(returns(ref))]
pub fn layout(db: &dyn salsa::Database, file: SourceFile) -> Arc<Layout> {
    let mut layout = Layout::default();
    let mut counts: HashMap<(u8, String), u32> = HashMap::new();
    for (ci, chunk) in file.chunks(db).iter().enumerate() {
        for (pos, key) in chunk.keys(db).iter().enumerate() {
            let kind = key.kind;
            let slot = counts
                .entry((namespace(kind), if kind == ItemKind::Experiment { String::new() } else { key.name.clone() }))
                .or_insert(0);
            let dup = *slot;
            *slot += 1;
            if dup == 0 {
                let name = if kind == ItemKind::Experiment { String::new() } else { key.name.clone() };
                layout.first_of.insert((namespace(kind), name), layout.entries.len());
            }
            layout.by_key.insert((kind, key.name.clone(), dup), layout.entries.len());
            layout.entries.push(LayoutEntry {
                kind,
                name: key.name.clone(),
                dup,
                chunk: ci,
                pos,
                name_span: key.name_span,
                mentions: key.mentions.clone(),
                const_deps: key.const_deps.clone(),
            });
        }
    }
    Arc::new(layout)
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

impl LayoutEntry {
    /// The entry with its chunk's offset in `offsets` (a file's offsets of
    /// the moment, read outside the diagnostics path).
    pub fn at(&self, offsets: &[u32]) -> IndexEntry {
        IndexEntry {
            kind: self.kind,
            name: self.name.clone(),
            dup: self.dup,
            chunk: self.chunk,
            pos: self.pos,
            offset: offsets.get(self.chunk).copied().unwrap_or(0),
            name_span: self.name_span,
        }
    }
}

impl IndexEntry {
    /// The absolute span of the item's name.
    pub fn abs_name_span(&self) -> Span {
        self.name_span.shifted(self.offset)
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

/// A chunk's syntax errors (relative spans); backdates while typing inside
/// a chunk that parses.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChunkErrors {
    pub errors: Vec<SyntaxError>,
}

/// The syntax errors of one chunk.
#[salsa::tracked(returns(ref))]
pub fn chunk_errors(db: &dyn salsa::Database, chunk: ChunkInput) -> Arc<ChunkErrors> {
    Arc::new(ChunkErrors { errors: chunk.parse(db).errors.clone() })
}

/// One item's syntax (spans relative to its chunk). Re-runs when its chunk
/// is parsed again, and backdates unless this item changed.
#[salsa::tracked(returns(ref))]
pub fn item_ast<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Option<Arc<Item>> {
    let (chunk, pos) = item_location(db, id)?;
    chunk.parse(db).items.get(pos).cloned()
}

/// The chunk and position of an item; changes only with the layout.
#[salsa::tracked(returns(copy))]
pub fn item_location<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Option<(ChunkInput, usize)> {
    let file = id.file(db);
    let entry = layout(db, file).entry(id.kind(db), id.name(db), id.dup(db))?;
    let chunk = file.chunks(db).get(entry.chunk)?;
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

/// The names of a file.
#[salsa::tracked(returns(ref))]
pub fn scope(db: &dyn salsa::Database, file: SourceFile) -> Arc<Scope> {
    let mut s = Scope::default();
    for e in &layout(db, file).entries {
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
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in layout(db, file).entries.iter().filter(|e| e.dup == 0) {
        if let Some(names) = &e.const_deps {
            deps.insert(e.name.clone(), names.as_ref().clone());
        }
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
            instances: phx_sema::check::InstanceSet::empty(id.name(db)),
            diags: Vec::new(),
        });
    };
    let Item::Node(n) = item.as_ref() else {
        return Arc::new(CheckedNode {
            name: id.name(db).clone(),
            tool: None,
            instances: phx_sema::check::InstanceSet::empty(id.name(db)),
            diags: Vec::new(),
        });
    };
    let opts = CheckOptions { allow_large: Workspace::get(db).allow_large(db) };
    if const_cycles(db, file).contains(&n.name.name) {
        let mut checked = check::check_node(&strip_binders(n), &DbEnv::new(db, file), opts);
        checked.instances = phx_sema::check::InstanceSet::empty(&n.name.name);
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
    for e in &layout(db, file).entries {
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
    let layout = layout(db, file);
    // A file without nodes is a library: its items are there for importers.
    if !layout.entries.iter().any(|e| e.kind == ItemKind::Node) {
        return Arc::new(BTreeSet::new());
    }
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let mut declared: BTreeSet<&str> = BTreeSet::new();
    for e in &layout.entries {
        if matches!(e.kind, ItemKind::Param | ItemKind::Let | ItemKind::Fn) && e.dup == 0 {
            declared.insert(&e.name);
        }
        // A fn that only mentions itself is still unused.
        used.extend(e.mentions.iter().filter(|m| **m != e.name).map(String::as_str));
    }
    Arc::new(declared.difference(&used).map(|n| n.to_string()).collect())
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
    let index = layout(db, file);
    let offsets = file.offsets(db);
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
                spans.insert(e.name.clone(), e.at(offsets).abs_name_span());
            }
            ItemKind::Experiment => {
                experiment = Some(ExperimentInfo { name: e.name.clone(), fields: experiment_check(db, id).0.clone() });
            }
            ItemKind::Param => params.push((e.name.clone(), param_value(db, id).0.clone())),
            _ => {}
        }
    }
    let nodes: Vec<Arc<CheckedNode>> = checked.into_iter().cloned().collect();
    // The IR of every function an argument passes.
    let env = DbEnv::new(db, file);
    let fn_ir = |name: &str| phx_sema::Env::fn_ir(&env, name);
    let (dag, diags) = phx_dag::build(&nodes, experiment, params, &spans, &fn_ir);
    Arc::new(FileDag { dag: Arc::new(dag), diags })
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
    let mut diags = absolute(file.offsets(db), file_item_diagnostics(db, file));
    let reports = layout(db, file)
        .entries
        .iter()
        .filter(|e| e.kind == ItemKind::Report && e.dup == 0)
        .map(|e| report_check(db, ItemId::new(db, file, e.kind, e.name.clone(), 0)).0.clone())
        .collect();
    let fd = dag_of(db, file);
    diags.extend(fd.diags.iter().cloned());
    sort_diagnostics(&mut diags);
    Arc::new(CheckedFile { diagnostics: diags, dag: fd.dag.clone(), reports })
}

/// Every diagnostic of a file, as `checked_file` gives them, without
/// building the DAG's vertices and keys (only its cycles): what an editor
/// asks for after each keystroke. Untracked on purpose: the tracked parts
/// give spans relative to chunks, and this last step shifts them with the
/// offsets of this revision, in time linear in the number of diagnostics.
pub fn diagnostics_only(db: &dyn salsa::Database, file: SourceFile) -> Vec<Diagnostic> {
    let offsets = file.offsets(db);
    let mut diags = absolute(offsets, file_item_diagnostics(db, file));
    diags.extend(absolute(offsets, graph_cycles(db, file)));
    sort_diagnostics(&mut diags);
    diags
}

fn sort_diagnostics(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(|d| (d.span.start, d.span.end, d.code));
    diags.dedup();
}

/// A diagnostic whose spans are relative to chunks: `chunks[0]` is the
/// chunk of the primary span, `chunks[1 + i]` that of `related[i]`
/// ([`WHOLE_FILE`] for a span that is already absolute).
#[derive(Clone, Debug, PartialEq)]
pub struct RelDiagnostic {
    pub diag: Diagnostic,
    pub chunks: Vec<u32>,
}

/// The "chunk" of a span that is absolute (a file that could not be read).
pub const WHOLE_FILE: u32 = u32::MAX;

impl RelDiagnostic {
    /// A diagnostic whose spans all lie in one chunk.
    fn in_chunk(diag: Diagnostic, chunk: usize) -> RelDiagnostic {
        let chunks = vec![chunk as u32; 1 + diag.related.len()];
        RelDiagnostic { diag, chunks }
    }
}

/// Shifts relative diagnostics to absolute spans.
fn absolute(offsets: &[u32], rel: &[RelDiagnostic]) -> Vec<Diagnostic> {
    let offset = |c: u32| if c == WHOLE_FILE { 0 } else { offsets.get(c as usize).copied().unwrap_or(0) };
    rel.iter()
        .map(|r| {
            let mut d = r.diag.clone();
            d.span = d.span.shifted(offset(r.chunks.first().copied().unwrap_or(WHOLE_FILE)));
            for (i, related) in d.related.iter_mut().enumerate() {
                related.span = related.span.shifted(offset(r.chunks.get(1 + i).copied().unwrap_or(WHOLE_FILE)));
            }
            d
        })
        .collect()
}

/// Relative diagnostics.
pub type RelDiagnostics = Arc<Vec<RelDiagnostic>>;

/// A run of a file's chunks, `lo..hi`: a node of the trees that gather a
/// file's diagnostics and edges. A keystroke in one chunk changes one leaf;
/// salsa re-verifies the path from it to the root and, thanks to
/// durability, skips every other subtree without visiting it, so the cost
/// grows with the tree's depth, not with the file.
#[salsa::interned]
pub struct ChunkRange<'db> {
    #[returns(copy)]
    pub file: SourceFile,
    #[returns(copy)]
    pub lo: u32,
    #[returns(copy)]
    pub hi: u32,
}

/// Chunks per leaf, and children per inner node, of the range trees.
const LEAF_CHUNKS: u32 = 16;
const FANOUT: u32 = 16;

/// The children of a range: aligned runs of `LEAF_CHUNKS * FANOUT^k`
/// chunks, at most `FANOUT` of them; empty for a leaf.
fn children(lo: u32, hi: u32) -> Vec<(u32, u32)> {
    if hi - lo <= LEAF_CHUNKS {
        return Vec::new();
    }
    let mut step = LEAF_CHUNKS;
    while step.saturating_mul(FANOUT) < hi - lo {
        step = step.saturating_mul(FANOUT);
    }
    (lo..hi).step_by(step as usize).map(|a| (a, (a + step).min(hi))).collect()
}

/// For an inner range, its children's answers to `query` in order; `None`
/// for a leaf, which the query answers itself.
fn concat_children<'db, T: Clone + 'db>(
    db: &'db dyn salsa::Database,
    range: ChunkRange<'db>,
    query: impl Fn(ChunkRange<'db>) -> &'db Arc<Vec<T>>,
) -> Option<Arc<Vec<T>>> {
    let parts = children(range.lo(db), range.hi(db));
    if parts.is_empty() {
        return None;
    }
    let file = range.file(db);
    let mut all = Vec::new();
    for (a, b) in parts {
        all.extend(query(ChunkRange::new(db, file, a, b)).iter().cloned());
    }
    Some(Arc::new(all))
}

/// The root range of a file's chunks.
fn root_range(db: &dyn salsa::Database, file: SourceFile) -> ChunkRange<'_> {
    ChunkRange::new(db, file, 0, file.chunks(db).len() as u32)
}

/// The layout entries of the chunks `lo..hi`.
fn entries_in(layout: &Layout, lo: u32, hi: u32) -> &[LayoutEntry] {
    let a = layout.entries.partition_point(|e| (e.chunk as u32) < lo);
    let b = layout.entries.partition_point(|e| (e.chunk as u32) < hi);
    &layout.entries[a..b]
}

/// The diagnostics of every item, the file's syntax errors, duplicates,
/// unused names and imports: everything but the DAG's, with relative
/// spans, in chunk order.
#[salsa::tracked(returns(ref))]
pub fn file_item_diagnostics(db: &dyn salsa::Database, file: SourceFile) -> RelDiagnostics {
    let mut diags: Vec<RelDiagnostic> = Vec::new();
    if let Some(err) = file.load_error(db) {
        let d = Diagnostic::new(Code::Import, Span::default(), format!("cannot read `{}`: {err}", file.path(db)));
        diags.push(RelDiagnostic { diag: d, chunks: vec![WHOLE_FILE] });
    }
    diags.extend(range_diagnostics(db, root_range(db, file)).iter().cloned());
    Arc::new(diags)
}

/// The diagnostics of the chunks of a range (see [`file_item_diagnostics`]).
#[salsa::tracked(returns(ref))]
pub fn range_diagnostics<'db>(db: &'db dyn salsa::Database, range: ChunkRange<'db>) -> RelDiagnostics {
    if let Some(all) = concat_children(db, range, |r| range_diagnostics(db, r)) {
        return all;
    }
    let (file, lo, hi) = (range.file(db), range.lo(db), range.hi(db));
    let mut diags: Vec<RelDiagnostic> = Vec::new();
    let chunks = file.chunks(db);
    for ci in lo..hi {
        if let Some(chunk) = chunks.get(ci as usize) {
            for e in &chunk_errors(db, *chunk).errors {
                diags.push(RelDiagnostic::in_chunk(Diagnostic::from(e.clone()), ci as usize));
            }
        }
    }
    let layout = layout(db, file);
    let unused = unused(db, file);
    for e in entries_in(layout, lo, hi) {
        if e.dup > 0 {
            let first = layout.first_declaration(e);
            let what = if e.kind == ItemKind::Experiment {
                "a second `experiment` block; a file has at most one".to_string()
            } else {
                format!("the name `{}` is declared twice", e.name)
            };
            let d = Diagnostic::new(Code::DuplicateName, e.name_span, what)
                .with_related(first.map(|f| f.name_span).unwrap_or_default(), "first declared here")
                .with_help("rename one of them");
            let first_chunk = first.map(|f| f.chunk as u32).unwrap_or(WHOLE_FILE);
            diags.push(RelDiagnostic { diag: d, chunks: vec![e.chunk as u32, first_chunk] });
            continue;
        }
        let id = ItemId::new(db, file, e.kind, e.name.clone(), 0);
        diags.extend(item_diagnostics(db, id).iter().map(|d| RelDiagnostic::in_chunk(d.clone(), e.chunk)));
        if matches!(e.kind, ItemKind::Param | ItemKind::Let | ItemKind::Fn) && unused.contains(&e.name) {
            let what = match e.kind {
                ItemKind::Param => "param",
                ItemKind::Let => "let",
                _ => "fn",
            };
            let d = Diagnostic::new(Code::Unused, e.name_span, format!("the {what} `{}` is never used", e.name))
                .with_help("remove it, or use it in a node");
            diags.push(RelDiagnostic::in_chunk(d, e.chunk));
        }
    }
    Arc::new(diags)
}

/// How many errors `phx check` reports for a file: what an import of it
/// says. Counted on the relative diagnostics, so an importer is not
/// re-checked when an edit only moves things in the imported file.
#[salsa::tracked(returns(ref))]
pub fn error_count(db: &dyn salsa::Database, file: SourceFile) -> usize {
    let mut errors: Vec<&RelDiagnostic> = file_item_diagnostics(db, file)
        .iter()
        .chain(graph_cycles(db, file).iter())
        .filter(|r| r.diag.is_error())
        .collect();
    // The same error twice counts once, as `checked_file` dedups them.
    errors.sort_by(|a, b| {
        (a.chunks.as_slice(), a.diag.span.start, a.diag.span.end, a.diag.code).cmp(&(
            b.chunks.as_slice(),
            b.diag.span.start,
            b.diag.span.end,
            b.diag.code,
        ))
    });
    errors.dedup_by(|a, b| a == b);
    errors.len()
}

/// One item's own diagnostics (spans relative to its chunk). Backdates when
/// an edit changes the item but not what is wrong with it.
#[salsa::tracked(returns(ref))]
pub fn item_diagnostics<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<Vec<Diagnostic>> {
    let file = id.file(db);
    let ws = Workspace::get(db);
    let cyclic_imports = import_cycle_files(db, ws);
    let e = ItemRef { kind: id.kind(db), name: id.name(db) };
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
            if let Some((_, path)) = import_paths(db, file).iter().find(|(a, _)| a == e.name) {
                let target = ws.files(db).get(path).copied();
                let span = item_ast(db, id).as_ref().and_then(|i| match i.as_ref() {
                    Item::Import(imp) => Some(imp.path.span),
                    _ => None,
                });
                let span = span.unwrap_or_else(|| item_ast(db, id).as_ref().map(|i| i.name_span()).unwrap_or_default());
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
                            let errors = *error_count(db, t);
                            if errors > 0 {
                                out.push(
                                    Diagnostic::new(
                                        Code::Import,
                                        span,
                                        format!("`{path}` has {errors} error{}", if errors == 1 { "" } else { "s" }),
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
    Arc::new(item_diags)
}

/// What `item_diagnostics` needs of an item's identity.
struct ItemRef<'a> {
    kind: ItemKind,
    name: &'a String,
}

/// The edges of one node, for cycle detection; backdates while an edit
/// changes values but no reference.
#[salsa::tracked(returns(ref))]
pub fn node_edges<'db>(db: &'db dyn salsa::Database, id: ItemId<'db>) -> Arc<phx_dag::NodeEdges> {
    Arc::new(phx_dag::node_edges(check_node_query(db, id)))
}

/// The edges of the nodes of a range, by layout position.
pub type RangeEdges = Arc<Vec<(u32, Arc<phx_dag::NodeEdges>)>>;

/// The edges of every node in a range of chunks (a tree like
/// [`range_diagnostics`]); re-runs only when some node's edges change.
#[salsa::tracked(returns(ref))]
pub fn range_edges<'db>(db: &'db dyn salsa::Database, range: ChunkRange<'db>) -> RangeEdges {
    if let Some(all) = concat_children(db, range, |r| range_edges(db, r)) {
        return all;
    }
    let (file, lo, hi) = (range.file(db), range.lo(db), range.hi(db));
    let layout = layout(db, file);
    let first = layout.entries.partition_point(|e| (e.chunk as u32) < lo);
    let mut out = Vec::new();
    for (i, e) in entries_in(layout, lo, hi).iter().enumerate() {
        if e.kind == ItemKind::Node && e.dup == 0 {
            let edges = node_edges(db, ItemId::new(db, file, e.kind, e.name.clone(), 0));
            if !edges.vertices.is_empty() {
                out.push(((first + i) as u32, edges.clone()));
            }
        }
    }
    Arc::new(out)
}

/// The cycles among a file's nodes, as the DAG would report them, with
/// relative spans. Re-runs only when some node's edges change.
#[salsa::tracked(returns(ref))]
pub fn graph_cycles(db: &dyn salsa::Database, file: SourceFile) -> RelDiagnostics {
    let all = range_edges(db, root_range(db, file));
    if all.iter().all(|(_, e)| e.vertices.iter().all(|(_, from)| from.is_empty())) {
        return Arc::new(Vec::new());
    }
    let layout = layout(db, file);
    let nodes: Vec<(&LayoutEntry, &phx_dag::NodeEdges)> =
        all.iter().filter_map(|(i, edges)| Some((layout.entries.get(*i as usize)?, edges.as_ref()))).collect();
    // The cycle check takes spans by node name; it is given stand-ins that
    // name each node's position (1-based: 0 is "no span") and they are
    // mapped back to the node's chunk and name span afterwards.
    let spans: NodeSpans =
        nodes.iter().enumerate().map(|(i, (e, _))| (e.name.clone(), Span::new(i + 1, i + 1))).collect();
    let named: Vec<(&str, &phx_dag::NodeEdges)> = nodes.iter().map(|(e, edges)| (e.name.as_str(), *edges)).collect();
    let locate = |span: Span| -> (Span, u32) {
        match (span.start as usize).checked_sub(1).and_then(|i| nodes.get(i)) {
            Some((e, _)) if span.start == span.end => (e.name_span, e.chunk as u32),
            _ => (span, WHOLE_FILE),
        }
    };
    let diags = phx_dag::cycles_among(&named, &spans)
        .into_iter()
        .map(|mut d| {
            let (span, chunk) = locate(d.span);
            d.span = span;
            let mut chunks = vec![chunk];
            for r in &mut d.related {
                let (span, chunk) = locate(r.span);
                r.span = span;
                chunks.push(chunk);
            }
            RelDiagnostic { diag: d, chunks }
        })
        .collect();
    Arc::new(diags)
}
