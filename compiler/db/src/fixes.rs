//! The fixes the compiler can make itself: for a diagnostic, one or more
//! edits of the text, best first. The language server offers them as quick
//! fixes; `phx gen` and the MCP server apply them to a model's program
//! before asking the model again ([`repair`]), so the model only hears of
//! what the compiler could not fix.
//!
//! Each fix comes from what the compiler knows at the diagnostic: the
//! name it suggests ("did you mean"), the emits a tool has, its caps, the
//! unit its parameter's default is written in, the types of its inputs
//! and the outputs, `fn`s and names of the file.

use std::sync::Arc;

use phx_diagnostics::{Code, Diagnostic, Severity};
use phx_sema::Env;
use phx_sema::schema::{ParamSchema, ToolSchema};
use phx_sema::types::Ty;
use phx_syntax::Span;
use phx_syntax::ast::{CompareOp, ConditionKind, Expr, ExprKind, Item, Node, UnaryOp};

use crate::gbnf::{accepts, string_choices};
use crate::{Database, FileLoader, SourceFile};

/// One edit: the bytes of `span` become `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub span: Span,
    pub text: String,
}

/// A fix of one diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    /// The diagnostic's code.
    pub code: Code,
    /// The diagnostic's span (which diagnostic it fixes).
    pub at: Span,
    /// What it does, for a person: "Change to `density`".
    pub title: String,
    pub edits: Vec<Edit>,
    /// The one an editor applies first.
    pub preferred: bool,
}

/// The text with `edits` applied (they must not overlap).
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    let mut out = text.to_string();
    for e in sorted {
        let (a, b) = (e.span.start as usize, e.span.end as usize);
        if a <= b && b <= out.len() && out.is_char_boundary(a) && out.is_char_boundary(b) {
            out.replace_range(a..b, &e.text);
        }
    }
    out
}

/// The name `help` suggests in "did you mean `X`?".
pub fn suggestion(help: &str) -> Option<&str> {
    let rest = help.split("did you mean `").nth(1)?;
    rest.split('`').next()
}

/// A node of the file with its tool and where it is.
struct NodeAt {
    node: Node,
    offset: u32,
    tool: Option<Arc<ToolSchema>>,
}

/// What the fixes need to know of a file.
struct Context<'a> {
    text: &'a str,
    nodes: Vec<NodeAt>,
    /// `fn` names with their arity.
    fns: Vec<(String, usize)>,
    /// `param` and `let` names.
    values: Vec<String>,
}

impl Context<'_> {
    /// The node, argument and parameter whose value holds `span`.
    fn arg_at(&self, span: Span) -> Option<(&NodeAt, usize, Option<&ParamSchema>)> {
        for n in &self.nodes {
            for (i, a) in n.node.args.iter().enumerate() {
                let v = a.value.span.shifted(n.offset);
                if v.start <= span.start && span.end <= v.end {
                    let p = n.tool.as_ref().and_then(|t| t.param(&a.name.name));
                    return Some((n, i, p));
                }
            }
        }
        None
    }

    fn node_at(&self, span: Span) -> Option<&NodeAt> {
        self.nodes.iter().find(|n| {
            let s = n.node.span.shifted(n.offset);
            s.start <= span.start && span.end <= s.end
        })
    }

    /// `node.output` for every output of the file's nodes that fits `ty`,
    /// the nodes nearest before `before` first.
    fn outputs_fitting(&self, ty: &Ty, before: u32) -> Vec<String> {
        let want = match ty {
            Ty::List(e) => (**e).clone(),
            t => t.clone(),
        };
        let list = matches!(ty, Ty::List(_));
        let mut nodes: Vec<&NodeAt> = self.nodes.iter().collect();
        // Earlier nodes, nearest first, then later ones.
        nodes.sort_by_key(|n| {
            let s = n.node.span.shifted(n.offset).start;
            if s < before { (0, before - s) } else { (1, s) }
        });
        let mut out = Vec::new();
        for n in nodes {
            let Some(t) = &n.tool else { continue };
            for o in t.outputs.iter().filter(|o| accepts(&want, &o.ty)) {
                let name = &n.node.name.name;
                out.push(match (list, n.node.binders.is_empty()) {
                    (true, false) => format!("{name}[*].{}", o.name),
                    (true, true) => format!("[{name}.{}]", o.name),
                    (false, false) => format!("{name}[0].{}", o.name),
                    (false, true) => format!("{name}.{}", o.name),
                });
            }
        }
        out
    }

    fn slice(&self, span: Span) -> &str {
        self.text.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

fn context<'a>(db: &Database, file: SourceFile, text: &'a str) -> Context<'a> {
    let env = db.env(file);
    let mut ctx = Context { text, nodes: Vec::new(), fns: Vec::new(), values: Vec::new() };
    for (entry, item) in db.items(file) {
        match item.as_ref() {
            Item::Node(n) => {
                ctx.nodes.push(NodeAt { node: n.clone(), offset: entry.offset, tool: env.tool(&n.tool.text()) })
            }
            Item::Fn(f) => ctx.fns.push((f.name.name.clone(), f.params.len())),
            Item::Param(p) => ctx.values.push(p.name.name.clone()),
            Item::Let(l) => ctx.values.push(l.name.name.clone()),
            _ => {}
        }
    }
    ctx
}

/// Every fix the compiler has for the errors of `file`, best first for
/// each diagnostic, the diagnostics in source order.
pub fn fixes(db: &Database, file: SourceFile) -> Vec<Fix> {
    let text = file.text(db).clone();
    let ctx = context(db, file, &text);
    let mut out = Vec::new();
    for d in db.diagnostics(file).iter().filter(|d| d.severity == Severity::Error) {
        fixes_for(db, file, &ctx, d, &mut out);
    }
    out
}

fn fix(d: &Diagnostic, title: String, edits: Vec<Edit>, preferred: bool) -> Fix {
    Fix { code: d.code, at: d.span, title, edits, preferred }
}

fn replace(span: Span, text: impl Into<String>) -> Vec<Edit> {
    vec![Edit { span, text: text.into() }]
}

fn fixes_for(db: &Database, file: SourceFile, ctx: &Context<'_>, d: &Diagnostic, out: &mut Vec<Fix>) {
    // The name the compiler suggests.
    if let Some(name) = d.help.as_deref().and_then(suggestion) {
        out.push(fix(d, format!("Change to `{name}`"), replace(d.span, name), true));
    }
    match d.code {
        Code::MissingEmit => {
            if let Some(prop) = d.help.as_deref().and_then(|h| h.split('`').nth(1))
                && let Some(edit) = insert_property(db, file, d.span, prop)
            {
                out.push(fix(d, format!("Add `{prop}`"), vec![edit], true));
            }
        }
        Code::CapExceeded => cap_fixes(db, file, ctx, d, out),
        Code::UnitMismatch => unit_fixes(ctx, d, out),
        Code::UnsupportedEmit => emit_fixes(ctx, d, out),
        Code::DuplicateName => duplicate_fixes(ctx, d, out),
        Code::UnknownName | Code::UnknownOutput | Code::TypeMismatch => typed_fixes(ctx, d, out),
        Code::Constraint => constraint_fixes(ctx, d, out),
        Code::MissingArg => missing_arg_fixes(ctx, d, out),
        Code::UnknownArg => {
            // Last: an argument the tool does not take, with no near name.
            if let Some((n, i, _)) = ctx.arg_at_name(d.span) {
                out.push(fix(d, "Remove the argument".into(), vec![remove_arg(n, i)], false));
            }
        }
        _ => {}
    }
}

impl Context<'_> {
    /// The node and argument whose name is at `span`.
    fn arg_at_name(&self, span: Span) -> Option<(&NodeAt, usize, Option<&ParamSchema>)> {
        for n in &self.nodes {
            for (i, a) in n.node.args.iter().enumerate() {
                let s = a.name.span.shifted(n.offset);
                if s.start <= span.start && span.end <= s.end {
                    return Some((n, i, n.tool.as_ref().and_then(|t| t.param(&a.name.name))));
                }
            }
        }
        None
    }
}

/// The edit that removes argument `i` of a node with its comma.
fn remove_arg(n: &NodeAt, i: usize) -> Edit {
    let args = &n.node.args;
    let this = args[i].span.shifted(n.offset);
    let span = if i + 1 < args.len() {
        Span::new(this.start as usize, args[i + 1].span.shifted(n.offset).start as usize)
    } else if i > 0 {
        Span::new(args[i - 1].span.shifted(n.offset).end as usize, this.end as usize)
    } else {
        this
    };
    Edit { span, text: String::new() }
}

/// Where and what to insert so the node around `at` gets `property`.
pub fn insert_property(db: &Database, file: SourceFile, at: Span, property: &str) -> Option<Edit> {
    let text = file.text(db);
    for (entry, item) in db.items_at(file, at.start as usize) {
        let Item::Node(node) = item.as_ref() else { continue };
        let span = node.span.shifted(entry.offset);
        if !(span.start <= at.start && at.end <= span.end) {
            continue;
        }
        if let Some(first) = node.props.first() {
            let pos = first.span.shifted(entry.offset).start as usize;
            let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
            let indent = &text[line_start..pos];
            return Some(Edit { span: Span::new(pos, pos), text: format!("{property}\n{indent}") });
        }
        let after_args = node.args_span.shifted(entry.offset).end as usize;
        let rest = text.get(after_args..span.end as usize).unwrap_or("");
        if let Some(brace) = rest.find('{') {
            let pos = after_args + brace + 1;
            return Some(Edit { span: Span::new(pos, pos), text: format!("\n  {property}") });
        }
        return Some(Edit { span: Span::new(after_args, after_args), text: format!(" {{\n  {property}\n}}") });
    }
    None
}

/// A value over its cap: the cap's bound (the program stays small), or
/// `allow_large = true` (it runs as asked).
fn cap_fixes(db: &Database, file: SourceFile, ctx: &Context<'_>, d: &Diagnostic, out: &mut Vec<Fix>) {
    if let Some((_, _, Some(p))) = ctx.arg_at(d.span) {
        for c in p.conditions.iter().filter(|c| c.kind == ConditionKind::Cap) {
            if let ExprKind::Compare { first, rest } = &c.expr.kind
                && matches!(&first.kind, ExprKind::Name(n) if n.name == p.name)
                && let [(op, bound)] = rest.as_slice()
                && let ExprKind::Number(b) = &bound.kind
                && let Some(v) = b.int
            {
                let v = match op {
                    CompareOp::Le => v,
                    CompareOp::Lt => v - 1,
                    _ => continue,
                };
                out.push(fix(d, format!("Lower to the cap, {v}"), replace(d.span, v.to_string()), false));
            }
        }
    }
    if let Some(edit) = insert_property(db, file, d.span, "allow_large = true") {
        out.push(fix(d, "Add `allow_large = true`".into(), vec![edit], false));
    }
}

/// A plain number where a quantity is expected gets the unit the
/// parameter's default is written in (else its SI unit); a quantity where
/// a plain number is expected keeps its number.
fn unit_fixes(ctx: &Context<'_>, d: &Diagnostic, out: &mut Vec<Fix>) {
    let Some((n, i, p)) = ctx.arg_at(d.span) else { return };
    let value = &n.node.args[i].value;
    let vspan = value.span.shifted(n.offset);
    let Some(p) = p else { return };
    match (&p.ty, &value.kind) {
        (Ty::Quantity(Some(dim)), _) if d.message.contains("plain number") => {
            let unit = p
                .default_text
                .as_deref()
                .and_then(|t| t.split_whitespace().nth(1))
                .map(str::to_string)
                .or_else(|| crate::gbnf::units_of(Some(*dim)).first().map(|u| u.to_string()));
            if let Some(u) = unit {
                let text = format!("{} {u}", ctx.slice(vspan));
                out.push(fix(d, format!("Write it in `{u}`"), replace(vspan, text), true));
            }
        }
        (Ty::Float | Ty::Int, ExprKind::Quantity { number, .. }) => {
            out.push(fix(d, "Drop the unit".into(), replace(vspan, number.text.clone()), true));
        }
        (Ty::Float | Ty::Int, ExprKind::Unary { op: UnaryOp::Neg, operand }) => {
            if let ExprKind::Quantity { number, .. } = &operand.kind {
                out.push(fix(d, "Drop the unit".into(), replace(vspan, format!("-{}", number.text)), true));
            }
        }
        _ => {}
    }
}

/// An `emit` list with what the tool cannot emit: the ones it can.
fn emit_fixes(ctx: &Context<'_>, d: &Diagnostic, out: &mut Vec<Fix>) {
    let Some(n) = ctx.node_at(d.span) else { return };
    let Some(t) = &n.tool else { return };
    let Some(prop) = n.node.props.iter().find(|p| p.name.name == "emit") else { return };
    let ExprKind::List(items) = &prop.value.kind else { return };
    let mut keep: Vec<String> = items
        .iter()
        .filter_map(|i| match &i.kind {
            ExprKind::Name(id) if t.emits.contains(&id.name) => Some(id.name.clone()),
            _ => None,
        })
        .collect();
    keep.dedup();
    if keep.is_empty() {
        keep = t.emits.iter().take(1).cloned().collect();
    }
    let text = format!("[{}]", keep.join(", "));
    out.push(fix(d, format!("Emit {text}"), replace(prop.value.span.shifted(n.offset), text), true));
}

/// A name declared twice: the second goes when it repeats the first,
/// else it gets a new name.
fn duplicate_fixes(ctx: &Context<'_>, d: &Diagnostic, out: &mut Vec<Fix>) {
    let name = ctx.slice(d.span).to_string();
    let same: Vec<&NodeAt> = ctx.nodes.iter().filter(|n| n.node.name.name == name).collect();
    if let [first, .., last] = same.as_slice() {
        let body = |n: &NodeAt| ctx.slice(n.node.span.shifted(n.offset)).to_string();
        if last.node.name.span.shifted(last.offset) == d.span && body(first) == body(last) {
            let s = last.node.span.shifted(last.offset);
            out.push(fix(d, "Remove the repeated node".into(), replace(s, ""), true));
        }
    }
    let taken = |c: &str| {
        ctx.nodes.iter().any(|n| n.node.name.name == c)
            || ctx.fns.iter().any(|f| f.0 == c)
            || ctx.values.iter().any(|v| v == c)
    };
    if let Some(new) = (2..100).map(|k| format!("{name}_{k}")).find(|c| !taken(c)) {
        out.push(fix(d, format!("Rename to `{new}`"), replace(d.span, new), false));
    }
}

/// A name or output that does not fit where it stands: what the file has
/// of the type the parameter wants (an output of the same node first, then
/// of the nearest other nodes; a `fn` of the right arity; a name in scope).
fn typed_fixes(ctx: &Context<'_>, d: &Diagnostic, out: &mut Vec<Fix>) {
    let Some((n, i, Some(p))) = ctx.arg_at(d.span) else { return };
    let value = &n.node.args[i].value;
    let vspan = value.span.shifted(n.offset);
    let here = n.node.span.shifted(n.offset).start;
    let mut options: Vec<String> = Vec::new();
    match &p.ty {
        Ty::Fn => options.extend(ctx.fns.iter().map(|f| f.0.clone())),
        t if needs_node(t) => {
            // The same node's fitting output first.
            if let Some(base) = base_name(value) {
                let own: Vec<String> =
                    ctx.outputs_fitting(t, here).into_iter().filter(|o| o.starts_with(&base)).collect();
                options.extend(own);
            }
            options.extend(ctx.outputs_fitting(t, here));
        }
        Ty::Int | Ty::Float => {
            options.extend(n.node.binders.iter().map(|b| b.name.name.clone()));
            options.extend(ctx.values.iter().cloned());
        }
        _ => {}
    }
    let current = ctx.slice(vspan).to_string();
    let mut seen = std::collections::BTreeSet::new();
    for o in options {
        if o != current && seen.insert(o.clone()) {
            out.push(fix(d, format!("Use `{o}`"), replace(vspan, o.clone()), false));
        }
    }
}

fn needs_node(ty: &Ty) -> bool {
    match ty {
        Ty::List(e) => needs_node(e),
        Ty::Union(ps) => ps.iter().all(needs_node),
        t => t.is_data(),
    }
}

/// The node a value names (`density` in `density[0].density`).
fn base_name(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Name(id) => Some(id.name.clone()),
        ExprKind::Member { base, .. } | ExprKind::Index { base, .. } | ExprKind::Splat { base } => base_name(base),
        _ => None,
    }
}

/// A value that breaks a `where`: nearby integers, the allowed strings, or
/// lists of another length.
fn constraint_fixes(ctx: &Context<'_>, d: &Diagnostic, out: &mut Vec<Fix>) {
    let Some((n, i, Some(p))) = ctx.arg_at(d.span) else { return };
    let value = &n.node.args[i].value;
    let vspan = value.span.shifted(n.offset);
    let mut options: Vec<String> = Vec::new();
    let int = match &value.kind {
        ExprKind::Number(num) => num.int,
        ExprKind::Unary { op: UnaryOp::Neg, operand } => match &operand.kind {
            ExprKind::Number(num) => num.int.map(|v| -v),
            _ => None,
        },
        _ => None,
    };
    match (&p.ty, int) {
        (Ty::Int, Some(v)) => {
            for c in [v - 1, v + 1, 0, 1, 2, 3, v.abs(), 4, 5, 8, 10, 16, 32, 64] {
                options.push(c.to_string());
            }
        }
        (Ty::String, _) => {
            if let Some(mut choices) = string_choices(p) {
                let now = ctx.slice(vspan).trim_matches('"').to_string();
                choices.sort_by_key(|c| phx_units::levenshtein(c, &now));
                options.extend(choices.into_iter().map(|c| format!("\"{c}\"")));
            }
        }
        (Ty::List(e), _) if **e == Ty::Float => {
            for k in 1..=4 {
                options.push(format!("[{}]", vec!["1.0"; k].join(", ")));
            }
        }
        (Ty::Float, _) => {
            for c in ["1.0", "-1.0", "10.0", "-10.0", "0.5"] {
                options.push(c.into());
            }
        }
        _ => {}
    }
    let current = ctx.slice(vspan).to_string();
    let mut seen = std::collections::BTreeSet::new();
    for o in options {
        if o != current && seen.insert(o.clone()) {
            out.push(fix(d, format!("Use {o}"), replace(vspan, o.clone()), false));
        }
    }
}

/// A required argument left out: added, with a value of its type the file
/// can give (an output that fits, a `fn`, an allowed string, a number).
fn missing_arg_fixes(ctx: &Context<'_>, d: &Diagnostic, out: &mut Vec<Fix>) {
    let Some(n) = ctx.node_at(d.span) else { return };
    let Some(t) = &n.tool else { return };
    let given: Vec<&str> = n.node.args.iter().map(|a| a.name.name.as_str()).collect();
    let Some(p) = t.params.iter().find(|p| {
        p.default.is_none() && !given.contains(&p.name.as_str()) && d.message.contains(&format!("`{}", p.name))
    }) else {
        return;
    };
    let here = n.node.span.shifted(n.offset).start;
    let values: Vec<String> = match &p.ty {
        Ty::Fn => ctx.fns.iter().map(|f| f.0.clone()).collect(),
        ty if needs_node(ty) => ctx.outputs_fitting(ty, here),
        Ty::Int => vec!["1".into(), "0".into(), "2".into()],
        Ty::Float => vec!["1.0".into(), "0.0".into(), "10.0".into()],
        Ty::Bool => vec!["false".into()],
        Ty::String => match string_choices(p) {
            Some(c) => c.into_iter().map(|c| format!("\"{c}\"")).collect(),
            None => vec![format!("\"{}\"", if p.name == "y" { "y" } else { "x" })],
        },
        Ty::Quantity(Some(dim)) => {
            crate::gbnf::units_of(Some(*dim)).first().map(|u| vec![format!("1 {u}")]).unwrap_or_default()
        }
        Ty::List(e) if **e == Ty::Float => vec!["[1.0]".into(), "[1.0, 1.0]".into()],
        _ => Vec::new(),
    };
    let args = n.node.args_span.shifted(n.offset);
    // Before the `)`.
    let pos = args.end.saturating_sub(1) as usize;
    let before = ctx.text.get(args.start as usize + 1..pos).unwrap_or("");
    let lead = if before.trim().is_empty() {
        ""
    } else if before.trim_end().ends_with(',') {
        " "
    } else {
        ", "
    };
    let pos = if before.trim().is_empty() { pos } else { args.start as usize + 1 + before.trim_end().len() };
    for v in values {
        out.push(fix(
            d,
            format!("Add `{} = {v}`", p.name),
            vec![Edit { span: Span::new(pos, pos), text: format!("{lead}{} = {v}", p.name) }],
            false,
        ));
    }
}

/// What [`repair`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    pub text: String,
    /// Each fix applied, in order: `line N: phx::CODE: title`.
    pub applied: Vec<String>,
    /// The errors left.
    pub errors: usize,
}

/// Loads `text` as the file `path` (its imports through `loader`).
fn load(path: &str, text: &str, loader: &dyn FileLoader) -> (Database, SourceFile) {
    let mut db = Database::new();
    let file = db.set_file(path, text.to_string());
    db.load_imports_of(file, loader);
    (db, file)
}

fn error_count(db: &Database, file: SourceFile) -> usize {
    db.diagnostics(file).iter().filter(|d| d.severity == Severity::Error).count()
}

/// Applies the compiler's own fixes to `text` (checked as the file
/// `path`) while they help: for the first diagnostic that has one, the
/// first of its fixes that leaves fewer errors; then again on the new
/// text, at most `max` times.
pub fn repair(path: &str, text: &str, loader: &dyn FileLoader, max: usize) -> Repaired {
    let mut text = text.to_string();
    let mut applied = Vec::new();
    let (mut db, mut file) = load(path, &text, loader);
    let mut errors = error_count(&db, file);
    // Texts seen, so a move that leaves as many errors never goes round.
    let mut seen = std::collections::BTreeSet::from([text.clone()]);
    'rounds: for _ in 0..max {
        if errors == 0 {
            break;
        }
        let all = fixes(&db, file);
        let index = phx_syntax::LineIndex::new(&text);
        // A fix that leaves fewer errors; else the first that leaves as
        // many but fixes its own (`l = 0` where `0 <= l < n` fails, before
        // `m` is fixed for `abs(m) <= l`).
        let mut sideways = None;
        for f in all {
            let candidate = apply(&text, &f.edits);
            if candidate == text || seen.contains(&candidate) {
                continue;
            }
            let (db2, file2) = load(path, &candidate, loader);
            let left = error_count(&db2, file2);
            let (line, _) = index.line_col(&text, f.at.start);
            let note = format!("line {line}: {}: {}", f.code.as_str(), f.title);
            if left < errors {
                applied.push(note);
                seen.insert(candidate.clone());
                text = candidate;
                (db, file, errors) = (db2, file2, left);
                continue 'rounds;
            }
            if left == errors && sideways.is_none() && !still_there(&db2, file2, &f) {
                sideways = Some((candidate, note, db2, file2));
            }
        }
        match sideways {
            Some((candidate, note, db2, file2)) => {
                applied.push(note);
                seen.insert(candidate.clone());
                text = candidate;
                (db, file) = (db2, file2);
            }
            None => break,
        }
    }
    Repaired { text, applied, errors }
}

/// Whether a fix's own diagnostic is still there after it (the same code
/// starting where it did).
fn still_there(db: &Database, file: SourceFile, f: &Fix) -> bool {
    db.diagnostics(file).iter().any(|d| d.code == f.code && d.span.start == f.at.start)
}
