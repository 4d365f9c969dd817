//! Every name in a file with what it is: declarations, references, tool
//! paths, argument names, outputs, units. Hover, navigation, rename and
//! semantic tokens all read this one list.

use std::collections::HashSet;

use phx_syntax::Span;
use phx_syntax::ast::{
    Block, Else, Expr, ExprKind, Field, Item, ItemKind, NodeRef, ReportEntry, StringLit, StringPart,
};

/// What a name is, where it occurs.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// The name of a top-level item where it is declared.
    Decl(ItemKind),
    /// A use of a top-level name.
    Ref,
    /// A parameter, `let` or binder local to one item.
    Local,
    /// A segment of a tool's dotted name (`quantum` or `orbital`).
    ToolPath { tool: String, last: bool },
    /// An argument's name in a node's call.
    Arg { tool: String },
    /// `node.OUTPUT`.
    Output { node: String },
    /// A property of a node (`device`, `emit`), or a field of a block.
    Property,
    /// A unit after a number.
    Unit,
    /// A number with a unit (the whole literal).
    Quantity,
    /// A member of an imported module: `alias.NAME`.
    ModuleMember { module: String },
}

/// One occurrence, with its absolute span.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    pub name: String,
    pub span: Span,
    pub role: Role,
    /// The item it is in (its kind and name).
    pub item: (ItemKind, String),
}

struct Walker<'a> {
    offset: u32,
    item: (ItemKind, String),
    locals: HashSet<String>,
    modules: &'a HashSet<String>,
    out: &'a mut Vec<Occurrence>,
}

impl Walker<'_> {
    fn push(&mut self, name: &str, span: Span, role: Role) {
        self.out.push(Occurrence {
            name: name.to_string(),
            span: span.shifted(self.offset),
            role,
            item: self.item.clone(),
        });
    }

    fn string(&mut self, s: &StringLit) {
        for p in &s.parts {
            if let StringPart::Interp { expr, .. } = p {
                self.expr(expr);
            }
        }
    }

    fn block(&mut self, b: &Block) {
        for l in &b.lets {
            self.locals.insert(l.name.name.clone());
            self.push(&l.name.name, l.name.span, Role::Local);
            self.expr(&l.value);
        }
        self.expr(&b.value);
    }

    fn fields(&mut self, fields: &[Field]) {
        for f in fields {
            self.push(&f.name.name, f.name.span, Role::Property);
            self.expr(&f.value);
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Number(_) | ExprKind::Bool(_) => {}
            ExprKind::Quantity { unit, .. } => {
                self.push("", e.span, Role::Quantity);
                self.push(&unit.text(), unit.span, Role::Unit);
            }
            ExprKind::Str(s) => self.string(s),
            ExprKind::Name(id) => {
                let role = if self.locals.contains(&id.name) { Role::Local } else { Role::Ref };
                self.push(&id.name, id.span, role);
            }
            ExprKind::Member { base, member } => {
                self.expr(base);
                if let ExprKind::Name(b) = &base.kind
                    && self.modules.contains(&b.name)
                    && !self.locals.contains(&b.name)
                {
                    self.push(&member.name, member.span, Role::ModuleMember { module: b.name.clone() });
                } else if let Some(root) = root_name(base) {
                    self.push(&member.name, member.span, Role::Output { node: root });
                }
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::Splat { base } | ExprKind::Paren(base) => self.expr(base),
            ExprKind::Call { callee, args } => {
                if callee.segments.len() == 1 {
                    let id = &callee.segments[0];
                    let role = if self.locals.contains(&id.name) { Role::Local } else { Role::Ref };
                    self.push(&id.name, id.span, role);
                } else if let Some(first) = callee.segments.first()
                    && self.modules.contains(&first.name)
                    && let Some(last) = callee.segments.last()
                {
                    self.push(&first.name, first.span, Role::Ref);
                    self.push(&last.name, last.span, Role::ModuleMember { module: first.name.clone() });
                }
                for a in args {
                    self.expr(&a.value);
                }
            }
            ExprKind::List(items) => items.iter().for_each(|x| self.expr(x)),
            ExprKind::Record(fields) => self.fields(fields),
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Compare { first, rest } => {
                self.expr(first);
                rest.iter().for_each(|(_, x)| self.expr(x));
            }
            ExprKind::Range { lo, hi, .. } => {
                self.expr(lo);
                self.expr(hi);
            }
            ExprKind::If { cond, then, otherwise } => {
                self.expr(cond);
                self.block(then);
                match otherwise.as_deref() {
                    Some(Else::If(e)) => self.expr(e),
                    Some(Else::Block(b)) => self.block(b),
                    None => {}
                }
            }
        }
    }

    fn node_ref(&mut self, r: &NodeRef) {
        self.push(&r.node.name, r.node.span, Role::Ref);
        if let Some(i) = &r.index {
            self.expr(i);
        }
        if let Some(o) = &r.output {
            self.push(&o.name, o.span, Role::Output { node: r.node.name.clone() });
        }
    }

    fn report(&mut self, entries: &[ReportEntry]) {
        for e in entries {
            match e {
                ReportEntry::Field(f) => self.fields(std::slice::from_ref(f)),
                ReportEntry::Section { heading, entries, .. } => {
                    self.string(heading);
                    self.report(entries);
                }
                ReportEntry::Text { text, .. } => self.string(text),
                ReportEntry::Figure { target, fields, .. } | ReportEntry::Table { target, fields, .. } => {
                    self.node_ref(target);
                    self.fields(fields);
                }
            }
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(i) => self.push(&i.alias.name, i.alias.span, Role::Decl(ItemKind::Import)),
            Item::Experiment(x) => {
                self.push(&x.name.name, x.name.span, Role::Decl(ItemKind::Experiment));
                self.fields(&x.fields);
            }
            Item::Param(p) => {
                self.push(&p.name.name, p.name.span, Role::Decl(ItemKind::Param));
                if let Some(d) = &p.default {
                    self.expr(d);
                }
            }
            Item::Let(l) => {
                self.push(&l.name.name, l.name.span, Role::Decl(ItemKind::Let));
                self.expr(&l.value);
            }
            Item::Fn(f) => {
                self.push(&f.name.name, f.name.span, Role::Decl(ItemKind::Fn));
                for p in &f.params {
                    self.locals.insert(p.name.name.clone());
                    self.push(&p.name.name, p.name.span, Role::Local);
                }
                self.block(&f.body);
            }
            Item::Tool(t) => {
                let tool = t.path.text();
                let n = t.path.segments.len();
                for (i, s) in t.path.segments.iter().enumerate() {
                    self.push(&s.name, s.span, Role::ToolPath { tool: tool.clone(), last: i + 1 == n });
                }
                for p in &t.params {
                    self.push(&p.name.name, p.name.span, Role::Arg { tool: tool.clone() });
                    if let Some(d) = &p.default {
                        self.expr(d);
                    }
                }
                for o in &t.outputs {
                    self.push(&o.name.name, o.name.span, Role::Property);
                }
                self.fields(&t.fields);
            }
            Item::Node(node) => {
                self.push(&node.name.name, node.name.span, Role::Decl(ItemKind::Node));
                for b in &node.binders {
                    self.expr(&b.values);
                    self.locals.insert(b.name.name.clone());
                    self.push(&b.name.name, b.name.span, Role::Local);
                }
                let tool = node.tool.text();
                let n = node.tool.segments.len();
                for (i, s) in node.tool.segments.iter().enumerate() {
                    self.push(&s.name, s.span, Role::ToolPath { tool: tool.clone(), last: i + 1 == n });
                }
                for a in &node.args {
                    self.push(&a.name.name, a.name.span, Role::Arg { tool: tool.clone() });
                    self.expr(&a.value);
                }
                self.fields(&node.props);
            }
            Item::Report(r) => {
                self.push(&r.name.name, r.name.span, Role::Decl(ItemKind::Report));
                self.report(&r.entries);
            }
        }
    }
}

/// The name at the root of `a`, `a[i]`, `a[*]`, `(a)`.
pub fn root_name(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Name(id) => Some(id.name.clone()),
        ExprKind::Index { base, .. } | ExprKind::Splat { base } | ExprKind::Paren(base) => root_name(base),
        _ => None,
    }
}

/// Every occurrence in `items` (each with its chunk offset), in order.
pub fn occurrences(items: &[(u32, &Item)]) -> Vec<Occurrence> {
    let modules: HashSet<String> = items
        .iter()
        .filter_map(|(_, i)| match i {
            Item::Import(imp) => Some(imp.alias.name.clone()),
            _ => None,
        })
        .collect();
    occurrences_with_modules(items, &modules)
}

/// The occurrences in some of a file's items, given the file's import
/// aliases (which tell `alias.name` from a node's output).
pub fn occurrences_with_modules(items: &[(u32, &Item)], modules: &HashSet<String>) -> Vec<Occurrence> {
    let mut out = Vec::new();
    for (offset, item) in items {
        let mut w = Walker {
            offset: *offset,
            item: (item.kind(), item.name()),
            locals: HashSet::new(),
            modules,
            out: &mut out,
        };
        w.item(item);
    }
    out.sort_by_key(|o| (o.span.start, o.span.end));
    out
}
