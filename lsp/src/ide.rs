//! The language features over the compiler database, in byte offsets and
//! plain data. The protocol layer (`server`) turns these into LSP types.

use std::sync::Arc;

use phx_db::{Database, SourceFile};
use phx_sema::schema::ToolSchema;
use phx_sema::{Env, Global, Ty, Value};
use phx_syntax::Span;
use phx_syntax::ast::{Item, ItemKind};

use crate::walk::{Occurrence, Role, occurrences, occurrences_with_modules};

/// Where a definition is.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// A file path, or `<stdlib>/NAME.phx` for the embedded schemas.
    pub path: String,
    pub span: Span,
}

/// A completion candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
    pub documentation: Option<String>,
    pub insert_text: Option<String>,
}

/// What a completion is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Tool,
    Namespace,
    Argument,
    Output,
    Property,
    EnumValue,
    Unit,
    Variable,
    Function,
    Node,
    Module,
    Keyword,
}

/// A document symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct Symbol {
    pub name: String,
    pub kind: ItemKind,
    pub detail: Option<String>,
    pub span: Span,
    pub selection: Span,
}

/// Signature help: the label, each parameter's label and doc, the active one.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    pub label: String,
    pub documentation: Option<String>,
    pub parameters: Vec<(String, Option<String>)>,
    pub active: Option<usize>,
}

/// Semantic token types, in the legend's order.
pub const TOKEN_TYPES: [&str; 12] = [
    "keyword",
    "string",
    "number",
    "comment",
    "function",
    "variable",
    "parameter",
    "property",
    "namespace",
    "type",
    "enumMember",
    "class",
];

const KEYWORDS: [&str; 20] = [
    "experiment",
    "param",
    "let",
    "fn",
    "tool",
    "node",
    "report",
    "section",
    "text",
    "figure",
    "table",
    "import",
    "as",
    "in",
    "if",
    "else",
    "true",
    "false",
    "where",
    "cap",
];

/// Properties a node block takes, with a line of help each.
pub const NODE_PROPERTIES: [(&str, &str); 10] = [
    ("device", "where it runs, in order of preference: `[gpu, cpu]`"),
    ("emit", "the visual outputs: `[static, series, animation]`"),
    ("backend", "`local`, `slurm` or `k8s`"),
    ("resources", "`{ cpus = 4, mem = 8 GiB, gpus = 1, time = 30 min }`"),
    ("retries", "how many times a failure is retried"),
    ("timeout", "the node's time limit (default 10 s for stdlib tools)"),
    ("allow_large", "lift the tool's safety caps for this node"),
    ("cache", "`false` runs it every time"),
    ("after", "nodes to wait for without using their data: `[a, b]`"),
    ("image", "the container image (command-backed tools on a cluster)"),
];

/// The analysis of one file.
pub struct Analysis<'a> {
    pub db: &'a Database,
    pub file: SourceFile,
}

fn items_of(db: &Database, file: SourceFile) -> Vec<(u32, Arc<Item>, phx_db::IndexEntry)> {
    db.items(file).into_iter().map(|(e, item)| (e.offset, item, e)).collect()
}

fn contains(span: Span, offset: usize) -> bool {
    (span.start as usize) <= offset && offset <= span.end as usize
}

/// The identifier-ish word that ends at `offset` (for completion prefixes).
fn word_before(text: &str, offset: usize) -> &str {
    let bytes = text.as_bytes();
    let mut start = offset.min(text.len());
    while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
        start -= 1;
    }
    &text[start..offset.min(text.len())]
}

fn format_value(v: &Value) -> String {
    match v {
        Value::Quantity { si, dim, written: Some(_) } if !dim.is_none() => {
            format!("{v} (= {} {} in SI)", phx_units::format_f64(*si), dim.si_units())
        }
        other => other.to_string(),
    }
}

/// A tool's documentation as markdown.
pub fn tool_markdown(t: &ToolSchema) -> String {
    let mut s =
        format!("**{}** {} ({})\n\n", t.name, t.version, if t.builtin { "standard library" } else { "command-backed" });
    if let Some(d) = &t.doc {
        s.push_str(d.trim());
        s.push_str("\n\n");
    }
    s.push_str(&format!("```phx\n{}\n```\n\n", t.signature()));
    if !t.params.is_empty() {
        s.push_str("| parameter | type | default | limits |\n| --- | --- | --- | --- |\n");
        for p in &t.params {
            let limits: Vec<String> = p
                .conditions
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        if c.kind == phx_syntax::ast::ConditionKind::Cap { "cap" } else { "where" },
                        c.text
                    )
                })
                .collect();
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                p.name,
                p.ty,
                p.default_text.as_deref().map(|d| format!("`{d}`")).unwrap_or_else(|| "required".into()),
                limits.join("; ").replace('|', "\\|")
            ));
        }
        s.push('\n');
    }
    if !t.outputs.is_empty() {
        s.push_str("Outputs: ");
        let outs: Vec<String> = t.outputs.iter().map(|o| format!("`{}`: {}", o.name, o.ty)).collect();
        s.push_str(&outs.join(", "));
        s.push_str("\n\n");
    }
    if !t.emits.is_empty() {
        s.push_str(&format!("Emits: {}", t.emits.join(", ")));
    }
    if !t.devices.is_empty() {
        s.push_str(&format!(" · Devices: {}", t.devices.join(", ")));
    }
    s
}

fn param_markdown(t: &ToolSchema, name: &str) -> Option<String> {
    let p = t.param(name)?;
    let mut s = format!("**{}** `{}: {}`", p.name, p.name, p.ty);
    if let Ty::Quantity(Some(dim)) = &p.ty {
        s.push_str(&format!(" (SI: {})", dim.si_units()));
    }
    s.push_str(&format!(
        "\n\ndefault: {}\n",
        p.default_text.as_deref().map(|d| format!("`{d}`")).unwrap_or_else(|| "required".into())
    ));
    for c in &p.conditions {
        s.push_str(&format!(
            "\n{} `{}`",
            if c.kind == phx_syntax::ast::ConditionKind::Cap { "cap (lift with `allow_large`):" } else { "where" },
            c.text
        ));
    }
    if let Some(d) = &p.doc {
        s.push_str(&format!("\n\n{}", d.trim()));
    }
    s.push_str(&format!("\n\nparameter of `{}`", t.name));
    Some(s)
}

/// A quantity literal's value in SI and in the other units of its kind.
fn quantity_markdown(literal: &str) -> Option<String> {
    let literal = literal.trim();
    let split = literal.find(|c: char| c.is_whitespace() || c == '[' || (c.is_alphabetic() && c != 'e' && c != 'E'))?;
    let (number, unit) = literal.split_at(split);
    let value: f64 = number.trim().replace('_', "").parse().ok()?;
    let unit = unit.trim().trim_start_matches('[').trim_end_matches(']');
    let resolved = phx_units::resolve_text(unit).ok()?;
    let si = value * resolved.factor;
    let mut s = format!("**{literal}** = {} {}", phx_units::format_f64(si), resolved.dim.si_units());
    let others: Vec<String> = phx_units::UNITS
        .iter()
        .filter(|u| u.dim == resolved.dim && u.name != unit && u.factor > 0.0 && u.factor != 1.0)
        // The units in which the value reads well.
        .filter(|u| (1e-3..1e6).contains(&(si / u.factor).abs()))
        .take(6)
        .map(|u| format!("{} {}", phx_units::format_f64(si / u.factor), u.name))
        .collect();
    if !others.is_empty() {
        s.push_str(&format!("\n\n= {}", others.join(" = ")));
    }
    Some(s)
}

impl<'a> Analysis<'a> {
    /// The analysis of `file`.
    pub fn new(db: &'a Database, file: SourceFile) -> Analysis<'a> {
        Analysis { db, file }
    }

    fn text(&self) -> &str {
        self.file.text(self.db)
    }

    /// Every occurrence in the file.
    pub fn occurrences(&self) -> Vec<Occurrence> {
        let items = items_of(self.db, self.file);
        let refs: Vec<(u32, &Item)> = items.iter().map(|(o, i, _)| (*o, i.as_ref())).collect();
        occurrences(&refs)
    }

    /// The occurrences in the items of the chunks overlapping
    /// `start..=end` (see [`Database::items_between`]).
    fn occurrences_between(&self, start: usize, end: usize) -> Vec<Occurrence> {
        let items: Vec<(u32, Arc<Item>)> =
            self.db.items_between(self.file, start, end).into_iter().map(|(e, item)| (e.offset, item)).collect();
        let refs: Vec<(u32, &Item)> = items.iter().map(|(o, i)| (*o, i.as_ref())).collect();
        let modules = phx_db::layout(self.db, self.file)
            .entries
            .iter()
            .filter(|e| e.kind == ItemKind::Import)
            .map(|e| e.name.clone())
            .collect();
        occurrences_with_modules(&refs, &modules)
    }

    /// The innermost named occurrence at `offset`. Only the items around
    /// `offset` are walked, so the cost does not grow with the file.
    pub fn at(&self, offset: usize) -> Option<Occurrence> {
        let occ = self.occurrences_between(offset, offset);
        occ.iter()
            .filter(|o| contains(o.span, offset) && !matches!(o.role, Role::Quantity))
            .min_by_key(|o| o.span.end - o.span.start)
            .cloned()
            .or_else(|| occ.into_iter().find(|o| contains(o.span, offset)))
    }

    fn env(&self) -> phx_db::DbEnv<'_> {
        self.db.env(self.file)
    }

    /// The declaration of a top-level name of this file.
    fn declaration(&self, name: &str) -> Option<(ItemKind, Span)> {
        let kind = self.declared_kind(name)?;
        self.db.item(self.file, kind, name, 0).map(|(e, _)| (e.kind, e.abs_name_span()))
    }

    /// What kind of top-level item declares `name` in this file.
    fn declared_kind(&self, name: &str) -> Option<ItemKind> {
        phx_db::scope(self.db, self.file).values.get(name).copied()
    }

    fn item_doc(&self, kind: ItemKind, name: &str) -> Option<String> {
        let (_, item) = self.db.item(self.file, kind, name, 0)?;
        item.doc().map(str::to_string)
    }

    /// Hover text (markdown) and the span it describes.
    pub fn hover(&self, offset: usize) -> Option<(String, Span)> {
        let o = self.at(offset)?;
        let env = self.env();
        let md = match &o.role {
            Role::Quantity => quantity_markdown(&self.text()[o.span.start as usize..o.span.end as usize])?,
            Role::Unit => {
                let r = phx_units::resolve_text(&o.name).ok()?;
                let def = phx_units::unit_def(&o.name);
                format!(
                    "unit **{}** = {} {}{}",
                    o.name,
                    phx_units::format_f64(r.factor),
                    r.dim.si_units(),
                    def.map(|d| format!("\n\n{}", d.description)).unwrap_or_default()
                )
            }
            Role::ToolPath { tool, .. } => tool_markdown(env.tool(tool)?.as_ref()),
            Role::Arg { tool } => param_markdown(env.tool(tool)?.as_ref(), &o.name)?,
            Role::Output { node } => {
                let Some(Global::Node(sig)) = env.global(node) else { return None };
                let ty = sig.outputs.iter().find(|(n, _)| *n == o.name).map(|(_, t)| t.to_string())?;
                let doc = env.tool(&sig.tool).and_then(|t| t.output(&o.name).and_then(|x| x.doc.clone()));
                format!(
                    "output **{}.{}**: {ty}\n\nof `{}`{}",
                    node,
                    o.name,
                    sig.tool,
                    doc.map(|d| format!("\n\n{}", d.trim())).unwrap_or_default()
                )
            }
            Role::ModuleMember { module } => match env.member(module, &o.name)? {
                Global::Value(v) => format!("**{module}.{}** = {}", o.name, format_value(&v)),
                Global::Fn(f) => format!("fn **{module}.{}**", f.name),
                Global::Node(sig) => format!("node **{module}.{}** = {}", o.name, sig.tool),
                Global::Module => format!("module **{module}.{}**", o.name),
            },
            Role::Property => {
                let help = NODE_PROPERTIES.iter().find(|(n, _)| *n == o.name).map(|(_, h)| *h)?;
                format!("**{}**: {help}", o.name)
            }
            Role::Local => format!("**{}** (local)", o.name),
            Role::Decl(_) | Role::Ref => {
                let doc = |kind| self.item_doc(kind, &o.name).map(|d| format!("\n\n{}", d.trim())).unwrap_or_default();
                match env.global(&o.name)? {
                    Global::Value(v) => {
                        let kind = self.declaration(&o.name).map(|(k, _)| k).unwrap_or(ItemKind::Let);
                        let word = if kind == ItemKind::Param { "param" } else { "let" };
                        format!("{word} **{}**: {} = {}{}", o.name, v.ty(), format_value(&v), doc(kind))
                    }
                    Global::Fn(f) => format!("fn **{}** ({} arguments){}", f.name, f.arity, doc(ItemKind::Fn)),
                    Global::Node(sig) => {
                        let outs: Vec<String> =
                            sig.outputs.iter().map(|(n, t)| format!("- `{}.{n}`: {t}", sig.name)).collect();
                        format!(
                            "node **{}** = `{}`{}\n\noutputs:\n{}\n\nemits: {}{}",
                            sig.name,
                            sig.tool,
                            sig.sweep.map(|n| format!(" (a sweep of {n} instances)")).unwrap_or_default(),
                            outs.join("\n"),
                            if sig.emits.is_empty() { "nothing".into() } else { sig.emits.join(", ") },
                            doc(ItemKind::Node)
                        )
                    }
                    Global::Module => format!("module **{}** (an import)", o.name),
                }
            }
        };
        Some((md, o.span))
    }

    /// Where the thing at `offset` is declared.
    pub fn definition(&self, offset: usize) -> Option<Target> {
        let o = self.at(offset)?;
        let here = self.file.path(self.db).clone();
        match &o.role {
            Role::Ref | Role::Decl(_) => self.declaration(&o.name).map(|(_, span)| Target { path: here, span }),
            Role::ToolPath { tool, .. } | Role::Arg { tool } => {
                let t = self.env().tool(tool)?;
                let span = match &o.role {
                    Role::Arg { .. } => t.param(&o.name).map(|p| p.span).unwrap_or(t.span),
                    _ => t.span,
                };
                Some(Target { path: t.file.clone(), span })
            }
            Role::Output { node } => self.declaration(node).map(|(_, span)| Target { path: here, span }),
            Role::ModuleMember { module } => {
                let path = phx_db::import_paths(self.db, self.file).iter().find(|(a, _)| a == module)?.1.clone();
                let target = self.db.file(&path)?;
                let layout = phx_db::layout(self.db, target);
                let e = layout.entries.iter().find(|e| e.name == o.name)?.at(target.offsets(self.db));
                Some(Target { path, span: e.abs_name_span() })
            }
            _ => None,
        }
    }

    /// The top-level name at `offset` that references and rename act on.
    pub fn symbol_at(&self, offset: usize) -> Option<String> {
        let o = self.at(offset)?;
        match o.role {
            Role::Ref | Role::Decl(ItemKind::Param | ItemKind::Let | ItemKind::Fn | ItemKind::Node) => {
                self.declaration(&o.name).map(|_| o.name)
            }
            _ => None,
        }
    }

    /// Every span in this file that names the top-level `name`.
    pub fn references_to(&self, name: &str, include_declaration: bool) -> Vec<Span> {
        self.occurrences()
            .into_iter()
            .filter(|o| o.name == name)
            .filter(|o| match o.role {
                Role::Ref => true,
                Role::Decl(_) => include_declaration,
                _ => false,
            })
            .map(|o| o.span)
            .collect()
    }

    /// Spans in this file of `alias.name` where `alias` imports `target`.
    pub fn module_references(&self, target: &str, name: &str) -> Vec<Span> {
        let aliases: Vec<String> = phx_db::import_paths(self.db, self.file)
            .iter()
            .filter(|(_, p)| p == target)
            .map(|(a, _)| a.clone())
            .collect();
        self.occurrences()
            .into_iter()
            .filter(|o| o.name == name && matches!(&o.role, Role::ModuleMember { module } if aliases.contains(module)))
            .map(|o| o.span)
            .collect()
    }

    /// Document symbols.
    pub fn symbols(&self) -> Vec<Symbol> {
        items_of(self.db, self.file)
            .into_iter()
            .map(|(offset, item, e)| {
                let detail = match item.as_ref() {
                    Item::Node(n) => Some(n.tool.text()),
                    Item::Tool(_) => Some("tool".into()),
                    Item::Param(p) => Some(phx_fmt::type_to_string(&p.ty)),
                    _ => None,
                };
                Symbol {
                    name: e.name.clone(),
                    kind: e.kind,
                    detail,
                    span: item.span().shifted(offset),
                    selection: e.abs_name_span(),
                }
            })
            .collect()
    }

    /// Multi-line items and report sections, as byte ranges.
    pub fn folding(&self) -> Vec<Span> {
        items_of(self.db, self.file).into_iter().map(|(offset, item, _)| item.span().shifted(offset)).collect()
    }

    /// Inlay hints in the bytes `start..=end` (the editor's visible range):
    /// a param's value in SI, a sweep's instance count.
    pub fn inlay_hints(&self, start: usize, end: usize) -> Vec<(usize, String)> {
        let env = self.env();
        let mut out = Vec::new();
        for (e, item) in self.db.items_between(self.file, start, end) {
            let end = e.abs_name_span().end as usize;
            match item.as_ref() {
                Item::Param(_) => {
                    if let Some(Global::Value(v)) = env.global(&e.name) {
                        let hint = match &v {
                            Value::Quantity { si, dim, .. } if !dim.is_none() => {
                                format!(" = {} {}", phx_units::format_f64(*si), dim.si_units())
                            }
                            other => format!(": {}", other.ty()),
                        };
                        out.push((end, hint));
                    }
                }
                Item::Node(n) if !n.binders.is_empty() => {
                    if let Some(Global::Node(sig)) = env.global(&e.name)
                        && let Some(count) = sig.sweep
                    {
                        out.push((
                            n.span.shifted(e.offset).start as usize + "node ".len() + e.name.len(),
                            format!(" ×{count}"),
                        ));
                    }
                }
                _ => {}
            }
        }
        out.retain(|(at, _)| (start..=end).contains(at));
        out
    }

    /// Semantic tokens: `(start, length, type index)`, sorted, one line each.
    pub fn semantic_tokens(&self) -> Vec<(usize, usize, u32)> {
        self.semantic_tokens_in(0, self.text().len())
    }

    /// The semantic tokens that start in `start..end` (an editor's visible
    /// range): only the chunks there are walked and lexed, so the cost
    /// follows the range, not the file. Chunks start at top level, where
    /// the lexer's state is the same as when it lexes the whole text.
    pub fn semantic_tokens_in(&self, start: usize, end: usize) -> Vec<(usize, usize, u32)> {
        let full = self.text();
        let (lo, hi) = if start == 0 && end >= full.len() {
            (0, full.len())
        } else {
            let offsets = self.file.offsets(self.db);
            let holding = |at: usize| offsets.partition_point(|o| (*o as usize) <= at).saturating_sub(1);
            let lo = offsets.get(holding(start)).map_or(0, |o| *o as usize);
            let hi = offsets.get(holding(end) + 1).map_or(full.len(), |o| *o as usize);
            (lo.min(full.len()), hi.min(full.len()).max(lo))
        };
        let text = &full[..hi];
        let occ: Vec<Occurrence> = if (lo, hi) == (0, full.len()) {
            self.occurrences()
        } else {
            let inside = |o: &Occurrence| lo <= o.span.start as usize && (o.span.end as usize) <= hi;
            self.occurrences_between(lo, hi.saturating_sub(1).max(lo)).into_iter().filter(inside).collect()
        };
        let env = self.env();
        let type_of = |name: &str| TOKEN_TYPES.iter().position(|t| *t == name).unwrap_or(0) as u32;
        let mut tokens: Vec<(usize, usize, u32)> = Vec::new();
        for o in &occ {
            let t = match &o.role {
                Role::Decl(ItemKind::Node) => "class",
                Role::Decl(ItemKind::Param) => "parameter",
                Role::Decl(ItemKind::Let) => "variable",
                Role::Decl(ItemKind::Fn) => "function",
                Role::Decl(ItemKind::Import) => "namespace",
                Role::Decl(_) => "class",
                Role::Ref => match env.global(&o.name) {
                    Some(Global::Node(_)) => "class",
                    Some(Global::Fn(_)) => "function",
                    Some(Global::Module) => "namespace",
                    Some(Global::Value(_)) => match self.declared_kind(&o.name) {
                        Some(ItemKind::Param) => "parameter",
                        _ => "variable",
                    },
                    None if [
                        "gpu",
                        "cpu",
                        "static",
                        "series",
                        "animation",
                        "local",
                        "slurm",
                        "k8s",
                        "local_first",
                        "remote_first",
                        "auto",
                    ]
                    .contains(&o.name.as_str()) =>
                    {
                        "enumMember"
                    }
                    None => "function",
                },
                Role::Local => "variable",
                Role::ToolPath { last: true, .. } => "function",
                Role::ToolPath { .. } => "namespace",
                Role::Arg { .. } | Role::Output { .. } | Role::Property | Role::ModuleMember { .. } => "property",
                Role::Unit => "type",
                Role::Quantity => continue,
            };
            tokens.push((o.span.start as usize, (o.span.end - o.span.start) as usize, type_of(t)));
        }
        let lexed_from = tokens.len();
        lex(&text[lo..], &mut tokens, &type_of);
        for t in &mut tokens[lexed_from..] {
            t.0 += lo;
        }
        tokens.sort_by_key(|t| (t.0, std::cmp::Reverse(t.1)));
        // Drop overlaps (a name inside an interpolated string wins over the string).
        let mut out: Vec<(usize, usize, u32)> = Vec::new();
        for t in tokens {
            if t.1 == 0 {
                continue;
            }
            if let Some(last) = out.last_mut()
                && t.0 < last.0 + last.1
            {
                // Split the enclosing token around the inner one.
                let (ls, ll, lt) = *last;
                last.1 = t.0 - ls;
                let tail_start = t.0 + t.1;
                out.push(t);
                if tail_start < ls + ll {
                    out.push((tail_start, ls + ll - tail_start, lt));
                }
                out.retain(|x| x.1 > 0);
                continue;
            }
            out.push(t);
        }
        out.sort_by_key(|t| t.0);
        // One line per token: split multi-line ones.
        let mut lined = Vec::new();
        for (start, len, ty) in out {
            let mut s = start;
            let end = (start + len).min(text.len());
            while s < end {
                let line_end = text[s..end].find('\n').map_or(end, |i| s + i);
                if line_end > s {
                    lined.push((s, line_end - s, ty));
                }
                s = line_end + 1;
            }
        }
        lined.retain(|t| (start..end).contains(&t.0));
        lined
    }

    /// Completion candidates at `offset`.
    pub fn completions(&self, offset: usize) -> Vec<Completion> {
        let text = self.text();
        let offset = offset.min(text.len());
        let prefix = word_before(text, offset);
        let before = &text[..offset - prefix.len()];
        let env = self.env();
        let mut out = Vec::new();
        let c = |label: &str, kind, detail: Option<String>, doc: Option<String>| Completion {
            label: label.to_string(),
            kind,
            detail,
            documentation: doc,
            insert_text: None,
        };

        // After a dot: tools of a namespace, outputs of a node, a module's names.
        if let Some(chain) = before.strip_suffix('.') {
            let chain = dotted_before(chain);
            if chain.is_empty() {
                return out;
            }
            let tools = env.tool_names();
            let ns = format!("{chain}.");
            let mut seen = std::collections::BTreeSet::new();
            for t in tools.iter().filter(|t| t.starts_with(&ns)) {
                let rest = &t[ns.len()..];
                let (head, deeper) = match rest.split_once('.') {
                    Some((h, _)) => (h, true),
                    None => (rest, false),
                };
                if !seen.insert(head.to_string()) {
                    continue;
                }
                if deeper {
                    out.push(c(head, CompletionKind::Namespace, Some(format!("{ns}{head}")), None));
                } else if let Some(schema) = env.tool(t) {
                    out.push(c(head, CompletionKind::Tool, Some(schema.signature()), Some(tool_markdown(&schema))));
                }
            }
            if !out.is_empty() {
                return out;
            }
            let root = chain.split(['[', '.']).next().unwrap_or(chain);
            match env.global(root) {
                Some(Global::Node(sig)) => {
                    for (name, ty) in &sig.outputs {
                        out.push(c(name, CompletionKind::Output, Some(ty.to_string()), None));
                    }
                }
                Some(Global::Module) => {
                    for name in env.module_names(root) {
                        out.push(c(&name, CompletionKind::Variable, Some(format!("{root}.{name}")), None));
                    }
                }
                _ => {}
            }
            return out;
        }

        // After a number: units (of the expected kind when known).
        let trimmed = before.trim_end_matches([' ', '\t']);
        if trimmed.len() < before.len() || prefix.is_empty() {
            let last = trimmed.chars().last();
            if last.is_some_and(|ch| ch.is_ascii_digit()) && !ends_with_identifier(trimmed) {
                let expected = self.expected_dimension(offset);
                for u in phx_units::UNITS.iter().filter(|u| expected.is_none_or(|d| u.dim == d)) {
                    out.push(c(u.name, CompletionKind::Unit, Some(u.dim.si_units()), Some(u.description.to_string())));
                }
                return out;
            }
        }

        // Inside a call's parentheses: argument names, then values.
        if let Some((open, tool)) = enclosing_call(before) {
            if let Some(schema) = env.tool(&tool) {
                let args_text = &text[open + 1..];
                let close = matching_close(args_text).unwrap_or(args_text.len());
                let given = given_names(&args_text[..close]);
                let seg = &before[open + 1..];
                let in_value = seg.rsplit(',').next().is_some_and(|s| s.contains('='));
                if !in_value {
                    for p in schema.params.iter().filter(|p| !given.contains(&p.name) || p.name == prefix) {
                        let mut detail = p.ty.to_string();
                        if let Some(d) = &p.default_text {
                            detail.push_str(&format!(" = {d}"));
                        }
                        let mut item =
                            c(&p.name, CompletionKind::Argument, Some(detail), param_markdown(&schema, &p.name));
                        item.insert_text = Some(format!("{} = ", p.name));
                        out.push(item);
                    }
                    return out;
                }
                // A value: enum variants by type, then names in scope.
                let arg = seg.rsplit(',').next().and_then(|s| s.split('=').next()).map(|s| s.trim().to_string());
                if let Some(p) = arg.and_then(|a| schema.param(&a).cloned())
                    && let Some(kind) = enum_kind(&p.ty)
                {
                    for v in kind.variants() {
                        out.push(c(v, CompletionKind::EnumValue, Some(kind.name().into()), None));
                    }
                }
            }
        } else if let Some(node_open) = enclosing_node_block(before) {
            // Inside a node's `{ ... }`: properties, or a property's values.
            let seg = &before[node_open + 1..];
            let line = seg.rsplit(['\n', ',']).next().unwrap_or("");
            if let Some((prop, _)) = line.split_once('=') {
                let values: &[&str] = match prop.trim() {
                    "device" => &["gpu", "cpu"],
                    "emit" => &["static", "series", "animation"],
                    "backend" => &["local", "slurm", "k8s"],
                    "allow_large" | "cache" => &["true", "false"],
                    _ => &[],
                };
                for v in values {
                    out.push(c(v, CompletionKind::EnumValue, None, None));
                }
                if prop.trim() == "after" {
                    for n in self.names_of(ItemKind::Node) {
                        out.push(c(&n, CompletionKind::Node, Some("node".into()), None));
                    }
                }
                return out;
            }
            for (name, help) in NODE_PROPERTIES {
                let mut item = c(name, CompletionKind::Property, None, Some(help.to_string()));
                item.insert_text = Some(format!("{name} = "));
                out.push(item);
            }
            return out;
        }

        // Anywhere else: names in scope, tool namespaces, keywords at a line's start.
        for n in env.names() {
            let kind = match env.global(&n) {
                Some(Global::Node(_)) => CompletionKind::Node,
                Some(Global::Fn(_)) => CompletionKind::Function,
                Some(Global::Module) => CompletionKind::Module,
                _ => CompletionKind::Variable,
            };
            out.push(c(&n, kind, None, None));
        }
        let mut namespaces: Vec<String> =
            env.tool_names().iter().filter_map(|t| t.split('.').next().map(str::to_string)).collect();
        namespaces.sort();
        namespaces.dedup();
        for ns in namespaces {
            out.push(c(&ns, CompletionKind::Namespace, Some("tools".into()), None));
        }
        let line_start = before.rsplit('\n').next().unwrap_or("").trim().is_empty();
        if line_start {
            for k in ["experiment", "param", "let", "fn", "tool", "node", "report", "import"] {
                out.push(c(k, CompletionKind::Keyword, None, None));
            }
        }
        out
    }

    fn names_of(&self, kind: ItemKind) -> Vec<String> {
        phx_db::layout(self.db, self.file).entries.iter().filter(|e| e.kind == kind).map(|e| e.name.clone()).collect()
    }

    /// The dimension an argument at `offset` expects, when it is a quantity.
    fn expected_dimension(&self, offset: usize) -> Option<phx_units::Dim> {
        let text = self.text();
        let before = &text[..offset.min(text.len())];
        let (open, tool) = enclosing_call(before)?;
        let schema = self.env().tool(&tool)?;
        let seg = &before[open + 1..];
        let arg = seg.rsplit(',').next()?.split('=').next()?.trim().to_string();
        match schema.param(&arg)?.ty {
            Ty::Quantity(Some(d)) => Some(d),
            _ => None,
        }
    }

    /// Signature help inside a node's call.
    pub fn signature_help(&self, offset: usize) -> Option<Signature> {
        let text = self.text();
        let before = &text[..offset.min(text.len())];
        let (open, tool) = enclosing_call(before)?;
        let schema = self.env().tool(&tool)?;
        let seg = &before[open + 1..];
        let current = seg.rsplit(',').next().unwrap_or("");
        let named = current.split('=').next().map(str::trim).filter(|_| current.contains('='));
        let active = match named {
            Some(n) => schema.params.iter().position(|p| p.name == n),
            None => Some(top_level_commas(seg)).filter(|i| *i < schema.params.len()),
        };
        Some(Signature {
            label: schema.signature(),
            documentation: schema.doc.clone(),
            parameters: schema
                .params
                .iter()
                .map(|p| {
                    let label = match &p.default_text {
                        Some(d) => format!("{}: {} = {d}", p.name, p.ty),
                        None => format!("{}: {}", p.name, p.ty),
                    };
                    (label, p.doc.clone())
                })
                .collect(),
            active,
        })
    }
}

/// The enum a parameter takes, alone or in a list (`List[Emit]`).
fn enum_kind(ty: &Ty) -> Option<phx_sema::types::EnumKind> {
    match ty {
        Ty::Enum(k) => Some(*k),
        Ty::List(inner) => enum_kind(inner),
        _ => None,
    }
}

fn ends_with_identifier(s: &str) -> bool {
    // `x2` is a name, not a number followed by a unit.
    let word = word_before(s, s.len());
    word.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The dotted name that ends `text` (`quantum` in `node a = quantum`).
fn dotted_before(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut start = text.len();
    while start > 0 {
        let b = bytes[start - 1];
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'[' || b == b']' || b == b'*' {
            start -= 1;
        } else {
            break;
        }
    }
    &text[start..]
}

/// The innermost unclosed `(` before the cursor that follows a dotted tool
/// name: its offset and the name.
fn enclosing_call(before: &str) -> Option<(usize, String)> {
    let mut depth = 0i32;
    let bytes = before.as_bytes();
    let mut i = bytes.len();
    let mut in_string = false;
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'"' => in_string = !in_string,
            _ if in_string => {}
            b')' | b']' | b'}' => depth += 1,
            b'[' | b'{' => {
                if depth == 0 {
                    // A `{` at depth 0 ends the search only if it opens a block.
                    if bytes[i] == b'{' {
                        return None;
                    }
                } else {
                    depth -= 1;
                }
            }
            b'(' => {
                if depth == 0 {
                    let name = dotted_before(&before[..i]);
                    if name.contains('.') {
                        return Some((i, name.to_string()));
                    }
                    return None;
                }
                depth -= 1;
            }
            b'\n' if depth == 0 && before[..i].trim_end().ends_with(['}']) => return None,
            _ => {}
        }
    }
    None
}

/// The unclosed `{` of a node's property block around the cursor.
fn enclosing_node_block(before: &str) -> Option<usize> {
    let mut depth = 0i32;
    let bytes = before.as_bytes();
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'}' => depth += 1,
            b'{' if depth > 0 => depth -= 1,
            b'{' => {
                let head = before[..i].trim_end();
                let line_start = head.rfind('\n').map_or(0, |p| p + 1);
                let line = &head[line_start..];
                // `node NAME = tool(...) {`, possibly with the call spanning lines.
                if head.ends_with(')') {
                    let stmt_start = before[..i]
                        .rfind("\nnode ")
                        .map(|p| p + 1)
                        .or_else(|| before.starts_with("node ").then_some(0));
                    if stmt_start.is_some() || line.trim_start().starts_with("node ") {
                        return Some(i);
                    }
                }
                return None;
            }
            _ => {}
        }
    }
    None
}

/// Where the `)` that closes the call is, in the text after its `(`.
fn matching_close(text: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth == 0 => return Some(i),
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn given_names(args: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = args.as_bytes();
    for i in 0..=bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(b',');
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                if let Some((name, _)) = args[start..i].split_once('=') {
                    names.push(name.trim().to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    names
}

fn top_level_commas(seg: &str) -> usize {
    let mut depth = 0i32;
    let mut n = 0;
    for b in seg.bytes() {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => n += 1,
            _ => {}
        }
    }
    n
}

/// Keywords, strings, numbers and comments, found by a small lexer.
fn lex(text: &str, out: &mut Vec<(usize, usize, u32)>, type_of: &dyn Fn(&str) -> u32) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            let end = text[i..].find('\n').map_or(text.len(), |p| i + p);
            out.push((i, end - i, type_of("comment")));
            i = end;
        } else if b == b'"' {
            let triple = text[i..].starts_with("\"\"\"");
            let end = if triple {
                text[i + 3..].find("\"\"\"").map_or(text.len(), |p| i + 3 + p + 3)
            } else {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' && bytes[j] != b'\n' {
                    if bytes[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                (j + 1).min(bytes.len())
            };
            out.push((i, end - i, type_of("string")));
            i = end;
        } else if b.is_ascii_digit() {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'.' || bytes[j] == b'_') {
                if (bytes[j] == b'e' || bytes[j] == b'E') && matches!(bytes.get(j + 1), Some(b'-' | b'+')) {
                    j += 1;
                } else if bytes[j].is_ascii_alphabetic() && bytes[j] != b'e' && bytes[j] != b'E' {
                    break;
                }
                j += 1;
            }
            out.push((i, j - i, type_of("number")));
            i = j.max(i + 1);
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            let word = &text[i..j];
            if KEYWORDS.contains(&word) {
                out.push((i, j - i, type_of("keyword")));
            }
            i = j;
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
}
