//! Walks over the syntax tree.

use crate::Span;
use crate::ast::*;

/// Calls `f` on every span in `item`.
pub fn visit_spans_mut(item: &mut Item, f: &mut dyn FnMut(&mut Span)) {
    match item {
        Item::Import(i) => {
            f(&mut i.span);
            string(&mut i.path, f);
            f(&mut i.alias.span);
        }
        Item::Experiment(i) => {
            f(&mut i.span);
            f(&mut i.name.span);
            fields(&mut i.fields, f);
        }
        Item::Param(i) => {
            f(&mut i.span);
            f(&mut i.name.span);
            ty(&mut i.ty, f);
            if let Some(d) = &mut i.default {
                expr(d, f);
            }
        }
        Item::Let(i) => {
            f(&mut i.span);
            f(&mut i.name.span);
            if let Some(t) = &mut i.ty {
                ty(t, f);
            }
            expr(&mut i.value, f);
        }
        Item::Fn(i) => {
            f(&mut i.span);
            f(&mut i.name.span);
            for p in &mut i.params {
                f(&mut p.span);
                f(&mut p.name.span);
                ty(&mut p.ty, f);
            }
            if let Some(r) = &mut i.ret {
                ty(r, f);
            }
            block(&mut i.body, f);
        }
        Item::Tool(i) => {
            f(&mut i.span);
            f(&mut i.params_span);
            if let Some(o) = &mut i.outputs_span {
                f(o);
            }
            path(&mut i.path, f);
            for p in &mut i.params {
                f(&mut p.span);
                f(&mut p.name.span);
                ty(&mut p.ty, f);
                if let Some(d) = &mut p.default {
                    expr(d, f);
                }
                for c in &mut p.conditions {
                    f(&mut c.span);
                    expr(&mut c.expr, f);
                }
            }
            for o in &mut i.outputs {
                f(&mut o.span);
                f(&mut o.name.span);
                ty(&mut o.ty, f);
            }
            fields(&mut i.fields, f);
        }
        Item::Node(i) => {
            f(&mut i.span);
            f(&mut i.name.span);
            f(&mut i.args_span);
            for b in &mut i.binders {
                f(&mut b.span);
                f(&mut b.name.span);
                expr(&mut b.values, f);
            }
            path(&mut i.tool, f);
            fields(&mut i.args, f);
            fields(&mut i.props, f);
        }
        Item::Report(i) => {
            f(&mut i.span);
            f(&mut i.name.span);
            entries(&mut i.entries, f);
        }
    }
}

fn entries(list: &mut [ReportEntry], f: &mut dyn FnMut(&mut Span)) {
    for e in list {
        match e {
            ReportEntry::Field(x) => field(x, f),
            ReportEntry::Section { heading, entries: inner, span } => {
                f(span);
                string(heading, f);
                entries(inner, f);
            }
            ReportEntry::Text { text, span } => {
                f(span);
                string(text, f);
            }
            ReportEntry::Figure { target, fields: fs, span } | ReportEntry::Table { target, fields: fs, span } => {
                f(span);
                f(&mut target.span);
                f(&mut target.node.span);
                if let Some(i) = &mut target.index {
                    expr(i, f);
                }
                if let Some(o) = &mut target.output {
                    f(&mut o.span);
                }
                fields(fs, f);
            }
        }
    }
}

fn path(p: &mut DottedPath, f: &mut dyn FnMut(&mut Span)) {
    f(&mut p.span);
    for s in &mut p.segments {
        f(&mut s.span);
    }
}

fn fields(list: &mut [Field], f: &mut dyn FnMut(&mut Span)) {
    for x in list {
        field(x, f);
    }
}

fn field(x: &mut Field, f: &mut dyn FnMut(&mut Span)) {
    f(&mut x.span);
    f(&mut x.name.span);
    expr(&mut x.value, f);
}

fn ty(t: &mut TypeExpr, f: &mut dyn FnMut(&mut Span)) {
    f(&mut t.span);
    match &mut t.kind {
        TypeExprKind::Named { name, args } => {
            f(&mut name.span);
            for a in args {
                ty(a, f);
            }
        }
        TypeExprKind::Quantity(u) => f(&mut u.span),
        TypeExprKind::Union(parts) => {
            for p in parts {
                ty(p, f);
            }
        }
    }
}

fn string(s: &mut StringLit, f: &mut dyn FnMut(&mut Span)) {
    f(&mut s.span);
    for p in &mut s.parts {
        if let StringPart::Interp { expr: e, .. } = p {
            expr(e, f);
        }
    }
}

fn block(b: &mut Block, f: &mut dyn FnMut(&mut Span)) {
    f(&mut b.span);
    for l in &mut b.lets {
        f(&mut l.span);
        f(&mut l.name.span);
        expr(&mut l.value, f);
    }
    expr(&mut b.value, f);
}

fn expr(e: &mut Expr, f: &mut dyn FnMut(&mut Span)) {
    f(&mut e.span);
    match &mut e.kind {
        ExprKind::Number(_) | ExprKind::Bool(_) => {}
        ExprKind::Quantity { unit, .. } => f(&mut unit.span),
        ExprKind::Str(s) => string(s, f),
        ExprKind::Name(i) => f(&mut i.span),
        ExprKind::Member { base, member } => {
            expr(base, f);
            f(&mut member.span);
        }
        ExprKind::Index { base, index } => {
            expr(base, f);
            expr(index, f);
        }
        ExprKind::Splat { base } => expr(base, f),
        ExprKind::Call { callee, args } => {
            path(callee, f);
            for a in args {
                if let Some(n) = &mut a.name {
                    f(&mut n.span);
                }
                expr(&mut a.value, f);
            }
        }
        ExprKind::List(items) => {
            for i in items {
                expr(i, f);
            }
        }
        ExprKind::Record(fs) => fields(fs, f),
        ExprKind::Unary { operand, .. } => expr(operand, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, f);
            expr(rhs, f);
        }
        ExprKind::Compare { first, rest } => {
            expr(first, f);
            for (_, r) in rest {
                expr(r, f);
            }
        }
        ExprKind::Range { lo, hi, .. } => {
            expr(lo, f);
            expr(hi, f);
        }
        ExprKind::If { cond, then, otherwise } => {
            expr(cond, f);
            block(then, f);
            if let Some(o) = otherwise {
                match o.as_mut() {
                    Else::If(e) => expr(e, f),
                    Else::Block(b) => block(b, f),
                }
            }
        }
        ExprKind::Paren(inner) => expr(inner, f),
    }
}
