//! Printing expressions and types. The tree keeps parentheses as written,
//! so printing needs no precedence logic of its own.

use phx_syntax::ast::*;

/// An expression in canonical form, on one line (triple-quoted strings
/// excepted).
pub fn expr_to_string(e: &Expr) -> String {
    expr_to_string_at(e, 0)
}

/// An expression in canonical form; `indent` is the block depth, used to
/// indent the lines of triple-quoted strings.
pub fn expr_to_string_at(e: &Expr, indent: usize) -> String {
    let mut out = String::new();
    write(e, indent, &mut out);
    out
}

/// A type in canonical form.
pub fn type_to_string(t: &TypeExpr) -> String {
    match &t.kind {
        TypeExprKind::Named { name, args } if args.is_empty() => name.name.clone(),
        TypeExprKind::Named { name, args } => {
            let a: Vec<String> = args.iter().map(type_to_string).collect();
            format!("{}[{}]", name.name, a.join(", "))
        }
        TypeExprKind::Quantity(u) => format!("Quantity[{}]", u.text()),
        TypeExprKind::Union(parts) => parts.iter().map(type_to_string).collect::<Vec<_>>().join(" | "),
    }
}

/// A `.phx` string literal holding `text` exactly: escapes, and `{{`, `}}`
/// so that nothing is interpolated.
pub fn plain_string_lit(text: &str) -> String {
    let mut out = String::from("\"");
    push_escaped(text, &mut out);
    out.push('"');
    out
}

/// `text` escaped for the inside of a one-line string literal.
fn push_escaped(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c => out.push(c),
        }
    }
}

/// A string literal in canonical form.
pub fn string_lit(s: &StringLit, indent: usize) -> String {
    if s.triple {
        let text = s.as_plain().unwrap_or_default();
        let pad = "  ".repeat(indent + 1);
        let mut out = String::from("\"\"\"\n");
        for line in text.split('\n') {
            if !line.trim().is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
            out.push('\n');
        }
        out.push_str(&"  ".repeat(indent));
        out.push_str("\"\"\"");
        return out;
    }
    let mut out = String::from("\"");
    for part in &s.parts {
        match part {
            StringPart::Text(t) => push_escaped(t, &mut out),
            StringPart::Interp { expr, spec } => {
                out.push('{');
                out.push_str(&expr_to_string(expr));
                if let Some(spec) = spec {
                    out.push(':');
                    out.push_str(spec);
                }
                out.push('}');
            }
        }
    }
    out.push('"');
    out
}

fn write(e: &Expr, indent: usize, out: &mut String) {
    match &e.kind {
        ExprKind::Number(n) => out.push_str(&n.text),
        ExprKind::Quantity { number, unit } => {
            out.push_str(&number.text);
            out.push(' ');
            out.push_str(&unit.source_text());
        }
        ExprKind::Str(s) => out.push_str(&string_lit(s, indent)),
        ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ExprKind::Name(id) => out.push_str(&id.name),
        ExprKind::Member { base, member } => {
            write_base(base, indent, out);
            out.push('.');
            out.push_str(&member.name);
        }
        ExprKind::Index { base, index } => {
            write_base(base, indent, out);
            out.push('[');
            write(index, indent, out);
            out.push(']');
        }
        ExprKind::Splat { base } => {
            write_base(base, indent, out);
            out.push_str("[*]");
        }
        ExprKind::Call { callee, args } => {
            out.push_str(&callee.text());
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if let Some(n) = &a.name {
                    out.push_str(&n.name);
                    out.push_str(" = ");
                }
                write(&a.value, indent, out);
            }
            out.push(')');
        }
        ExprKind::List(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(x, indent, out);
            }
            out.push(']');
        }
        ExprKind::Record(fields) => {
            if fields.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{ ");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&f.name.name);
                out.push_str(" = ");
                write(&f.value, indent, out);
            }
            out.push_str(" }");
        }
        ExprKind::Unary { op, operand } => {
            out.push(if *op == UnaryOp::Neg { '-' } else { '!' });
            write(operand, indent, out);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            write(lhs, indent, out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write(rhs, indent, out);
        }
        ExprKind::Compare { first, rest } => {
            write(first, indent, out);
            for (op, r) in rest {
                out.push(' ');
                out.push_str(op.symbol());
                out.push(' ');
                write(r, indent, out);
            }
        }
        ExprKind::Range { lo, hi, inclusive } => {
            write(lo, indent, out);
            out.push_str(if *inclusive { "..=" } else { ".." });
            write(hi, indent, out);
        }
        ExprKind::If { cond, then, otherwise } => {
            out.push_str("if ");
            write(cond, indent, out);
            out.push(' ');
            block(then, indent, out);
            if let Some(o) = otherwise {
                out.push_str(" else ");
                match o.as_ref() {
                    Else::If(x) => write(x, indent, out),
                    Else::Block(b) => block(b, indent, out),
                }
            }
        }
        ExprKind::Paren(inner) => {
            out.push('(');
            write(inner, indent, out);
            out.push(')');
        }
    }
}

/// The base of `x[i]`, `x.m` or `x[*]`. A number there is parenthesised:
/// `9.81[m]` would read back as the quantity `9.81 [m]`.
fn write_base(base: &Expr, indent: usize, out: &mut String) {
    if matches!(base.kind, ExprKind::Number(_) | ExprKind::Quantity { .. }) {
        out.push('(');
        write(base, indent, out);
        out.push(')');
    } else {
        write(base, indent, out);
    }
}

fn block(b: &Block, indent: usize, out: &mut String) {
    if b.lets.is_empty() {
        out.push_str("{ ");
        write(&b.value, indent, out);
        out.push_str(" }");
        return;
    }
    out.push_str("{ ");
    for l in &b.lets {
        out.push_str("let ");
        out.push_str(&l.name.name);
        out.push_str(" = ");
        write(&l.value, indent, out);
        out.push_str("; ");
    }
    write(&b.value, indent, out);
    out.push_str(" }");
}
