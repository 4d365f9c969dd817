//! Compile-time evaluation of expressions: `let`s, `param` defaults and
//! overrides, arguments, sweep lists, properties. Names are resolved here,
//! units multiplied out, and run-time data (node outputs) becomes
//! [`OutputRef`]s that later turn into edges.

use phx_diagnostics::{Code, Diagnostic, did_you_mean};
use phx_syntax::Span;
use phx_syntax::ast::{BinaryOp, CompareOp, Else, Expr, ExprKind, StringPart, UnaryOp};
use phx_units::{Dim, format_f64};

use crate::env::{Env, Global};
use crate::fnir::FVal;
use crate::types::{EnumKind, Ty};
use crate::value::{FnRef, Instances, OutputRef, Value};

/// Lists longer than this are refused (a sweep of a million nodes is a typo).
pub const MAX_LIST: usize = 1_000_000;

/// An expression evaluator over an [`Env`], with local bindings (sweep
/// binders, tool parameters in conditions) and a sink for diagnostics.
pub struct Eval<'a> {
    pub env: &'a dyn Env,
    pub locals: Vec<(String, Value)>,
    pub diags: Vec<Diagnostic>,
}

fn enum_variant(name: &str) -> Option<EnumKind> {
    [EnumKind::Emit, EnumKind::Device, EnumKind::Policy, EnumKind::Backend]
        .into_iter()
        .find(|k| k.variants().contains(&name))
}

/// Collapses a dimensionless quantity to a float.
fn normalize(v: Value) -> Value {
    match v {
        Value::Quantity { si, dim, .. } if dim.is_none() => Value::Float(si),
        v => v,
    }
}

fn quantity_parts(v: &Value) -> Option<(f64, Dim)> {
    match v {
        Value::Int(i) => Some((*i as f64, Dim::NONE)),
        Value::Float(f) => Some((*f, Dim::NONE)),
        Value::Quantity { si, dim, .. } => Some((*si, *dim)),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Quantity { dim, .. } => format!("{} ({dim})", v),
        Value::Int(_) | Value::Float(_) => format!("the plain number {v}"),
        _ => format!("{} `{}`", v.ty(), v),
    }
}

impl<'a> Eval<'a> {
    /// An evaluator over `env` with no locals.
    pub fn new(env: &'a dyn Env) -> Eval<'a> {
        Eval { env, locals: Vec::new(), diags: Vec::new() }
    }

    fn error(&mut self, code: Code, span: Span, message: String, help: Option<String>) -> Value {
        self.diags.push(Diagnostic::new(code, span, message).with_help_opt(help));
        Value::Error
    }

    fn local(&self, name: &str) -> Option<&Value> {
        self.locals.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn all_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.locals.iter().map(|(n, _)| n.clone()).collect();
        names.extend(self.env.names());
        names.push("constants".into());
        names
    }

    /// Evaluates `e`; `expected` guides bare enum variants and list elements.
    pub fn eval(&mut self, e: &Expr, expected: Option<&Ty>) -> Value {
        match &e.kind {
            ExprKind::Number(n) => match n.int {
                Some(i) => Value::Int(i),
                None => Value::Float(n.value),
            },
            ExprKind::Quantity { number, unit } => match phx_units::resolve(&unit.factors) {
                Ok(r) => Value::Quantity {
                    si: number.value * r.factor,
                    dim: r.dim,
                    written: Some((number.value, unit.text())),
                },
                Err(err) => {
                    self.diags.push(crate::types::unknown_unit(&err, unit.span));
                    Value::Error
                }
            },
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Str(s) => {
                let mut out = String::new();
                for part in &s.parts {
                    match part {
                        StringPart::Text(t) => out.push_str(t),
                        StringPart::Interp { expr, spec } => {
                            let v = self.eval(expr, None);
                            match self.interpolate(&v, spec.as_deref(), expr.span) {
                                Some(text) => out.push_str(&text),
                                None => return Value::Error,
                            }
                        }
                    }
                }
                Value::Str(out)
            }
            ExprKind::Paren(inner) => self.eval(inner, expected),
            ExprKind::Name(id) => self.name(&id.name, id.span, expected),
            ExprKind::Member { base, member } => self.member(base, &member.name, member.span, e.span),
            ExprKind::Index { base, index } => self.index(base, index, e.span),
            ExprKind::Splat { base } => match &base.kind {
                ExprKind::Name(id) => match self.env.global(&id.name) {
                    Some(Global::Node(sig)) => match sig.sweep {
                        Some(n) => Value::List((0..n).map(|i| Value::Node(format!("{}[{i}]", id.name))).collect()),
                        None => self.error(
                            Code::TypeMismatch,
                            e.span,
                            format!("`{}` is not a sweep, so `[*]` does not apply", id.name),
                            Some(format!("write `{}`", id.name)),
                        ),
                    },
                    _ => self.error(Code::TypeMismatch, e.span, "`[*]` applies to a sweep node".into(), None),
                },
                _ => self.error(Code::TypeMismatch, e.span, "`[*]` applies to a sweep node".into(), None),
            },
            ExprKind::Call { callee, args } => self.call(&callee.text(), callee.span, args, e.span),
            ExprKind::List(items) => {
                let elem = expected.map(Ty::element);
                let vals: Vec<Value> = items.iter().map(|i| self.eval(i, elem.as_ref())).collect();
                Value::List(vals)
            }
            ExprKind::Record(fields) => {
                let mut out: Vec<(String, Value)> = Vec::new();
                for f in fields {
                    if out.iter().any(|(n, _)| *n == f.name.name) {
                        self.error(
                            Code::DuplicateName,
                            f.name.span,
                            format!("the field `{}` is given twice", f.name.name),
                            None,
                        );
                        continue;
                    }
                    let v = self.eval(&f.value, None);
                    out.push((f.name.name.clone(), v));
                }
                Value::Record(out)
            }
            ExprKind::Unary { op, operand } => {
                let v = self.eval(operand, None);
                match (op, &v) {
                    (_, Value::Error) => Value::Error,
                    (UnaryOp::Neg, Value::Int(i)) => match i.checked_neg() {
                        Some(n) => Value::Int(n),
                        None => self.error(
                            Code::Constraint,
                            e.span,
                            format!("`-{i}` is outside the range of Int (±{})", i64::MAX),
                            Some("use a Float for numbers this large".into()),
                        ),
                    },
                    (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
                    (UnaryOp::Neg, Value::Quantity { si, dim, written }) => {
                        Value::Quantity { si: -si, dim: *dim, written: written.as_ref().map(|(w, u)| (-w, u.clone())) }
                    }
                    (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                    _ => {
                        let what = if *op == UnaryOp::Neg { "`-` needs a number" } else { "`!` needs a Bool" };
                        self.error(Code::TypeMismatch, e.span, format!("{what}, found {}", describe(&v)), None)
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.eval(lhs, None);
                let b = self.eval(rhs, None);
                self.binary(*op, a, b, lhs.span, rhs.span, e.span)
            }
            ExprKind::Compare { first, rest } => {
                let mut prev = self.eval(first, None);
                let mut prev_span = first.span;
                let mut all = true;
                for (op, rhs) in rest {
                    let next = self.eval(rhs, None);
                    match self.compare(*op, &prev, &next, prev_span.to(rhs.span)) {
                        Some(b) => all &= b,
                        None => return Value::Error,
                    }
                    prev = next;
                    prev_span = rhs.span;
                }
                Value::Bool(all)
            }
            ExprKind::Range { lo, hi, inclusive } => {
                let a = self.eval(lo, None);
                let b = self.eval(hi, None);
                match (&a, &b) {
                    (Value::Int(x), Value::Int(y)) => {
                        let end = if *inclusive { y.saturating_add(1) } else { *y };
                        let len = end.saturating_sub(*x).max(0) as u64;
                        if len > MAX_LIST as u64 {
                            return self.error(
                                Code::Constraint,
                                e.span,
                                format!("this range has {len} values; at most {MAX_LIST} are allowed"),
                                None,
                            );
                        }
                        Value::List((*x..end).map(Value::Int).collect())
                    }
                    (Value::Error, _) | (_, Value::Error) => Value::Error,
                    _ => self.error(
                        Code::TypeMismatch,
                        e.span,
                        format!("a range needs Int bounds, found {} and {}", a.ty(), b.ty()),
                        Some("use `linspace(a, b, n)` for floats".into()),
                    ),
                }
            }
            ExprKind::If { cond, then, otherwise } => {
                let c = self.eval(cond, None);
                match c {
                    Value::Bool(true) => self.block(then, expected),
                    Value::Bool(false) => match otherwise.as_deref() {
                        Some(Else::If(x)) => self.eval(x, expected),
                        Some(Else::Block(b)) => self.block(b, expected),
                        None => self.error(
                            Code::TypeMismatch,
                            e.span,
                            "this `if` has no `else` branch and its condition is false".into(),
                            Some("add `else { ... }`".into()),
                        ),
                    },
                    Value::Error => Value::Error,
                    other => self.error(
                        Code::TypeMismatch,
                        cond.span,
                        format!("an `if` condition must be Bool, found {}", describe(&other)),
                        None,
                    ),
                }
            }
        }
    }

    fn block(&mut self, b: &phx_syntax::ast::Block, expected: Option<&Ty>) -> Value {
        let mark = self.locals.len();
        for l in &b.lets {
            let v = self.eval(&l.value, None);
            self.locals.push((l.name.name.clone(), v));
        }
        let v = self.eval(&b.value, expected);
        self.locals.truncate(mark);
        v
    }

    fn interpolate(&mut self, v: &Value, spec: Option<&str>, span: Span) -> Option<String> {
        if let Value::Error = v {
            return None;
        }
        if !v.is_static() {
            self.error(
                Code::TypeMismatch,
                span,
                format!("`{v}` is run-time data and cannot be written into a string at compile time"),
                None,
            );
            return None;
        }
        match (spec, v) {
            (None, Value::Str(s)) => Some(s.clone()),
            (None, v) => Some(v.to_string()),
            (Some(unit), Value::Quantity { si, dim, .. }) => match phx_units::resolve_text(unit) {
                Ok(r) if r.dim == *dim => Some(format_f64(si / r.factor)),
                Ok(r) => {
                    self.error(
                        Code::UnitMismatch,
                        span,
                        format!("cannot write {} in `{unit}`, which is {}", describe(v), r.dim),
                        None,
                    );
                    None
                }
                Err(e) => {
                    self.diags.push(crate::types::unknown_unit(&e, span));
                    None
                }
            },
            (Some(spec), v) => {
                if let Some(prec) = spec.strip_prefix('.').and_then(|p| p.parse::<usize>().ok())
                    && let Some(f) = v.as_f64()
                {
                    return Some(format!("{f:.prec$}"));
                }
                self.error(
                    Code::TypeMismatch,
                    span,
                    format!("the format `{spec}` does not apply to {}", describe(v)),
                    Some("a unit (`{x:eV}`) applies to quantities, `.N` to numbers".into()),
                );
                None
            }
        }
    }

    fn name(&mut self, name: &str, span: Span, expected: Option<&Ty>) -> Value {
        if let Some(v) = self.local(name) {
            return v.clone();
        }
        if let Some(kind) = expected.and_then(Ty::enum_kind)
            && kind.variants().contains(&name)
        {
            return Value::Enum(kind, name.to_string());
        }
        match self.env.global(name) {
            Some(Global::Value(v)) => return v,
            Some(Global::Fn(f)) => return Value::Fn(f),
            Some(Global::Node(sig)) => {
                return match sig.sweep {
                    Some(n) => Value::List((0..n).map(|i| Value::Node(format!("{name}[{i}]"))).collect()),
                    None => Value::Node(name.to_string()),
                };
            }
            Some(Global::Module) => {
                return self.error(
                    Code::TypeMismatch,
                    span,
                    format!("`{name}` is an imported module, not a value"),
                    Some(format!("name one of its items: `{name}.ITEM`")),
                );
            }
            None => {}
        }
        if name == "pi" {
            return Value::Float(std::f64::consts::PI);
        }
        if let Some(kind) = enum_variant(name) {
            return Value::Enum(kind, name.to_string());
        }
        if let Some(kind) = expected.and_then(Ty::enum_kind) {
            let help = did_you_mean(name, kind.variants().iter().copied())
                .unwrap_or_else(|| format!("expected one of: {}", kind.variants().join(", ")));
            return self.error(
                Code::UnknownName,
                span,
                format!("`{name}` is not a valid {}; expected one of: {}", kind.name(), kind.variants().join(", ")),
                Some(help),
            );
        }
        let names = self.all_names();
        let help = did_you_mean(name, names.iter().map(String::as_str));
        self.error(Code::UnknownName, span, format!("unknown name `{name}`"), help)
    }

    fn node_output(&mut self, node: &str, instances: Instances, output: &str, output_span: Span, whole: Span) -> Value {
        let Some(Global::Node(sig)) = self.env.global(node) else {
            return Value::Error;
        };
        let instances = match (sig.sweep, instances) {
            (Some(_), Instances::Single) => {
                return self.error(
                    Code::TypeMismatch,
                    whole,
                    format!("`{node}` is a sweep of {} nodes; say which", sig.sweep.unwrap_or(0)),
                    Some(format!(
                        "write `{node}[0].{output}` for one instance or `{node}[*].{output}` for the list of all"
                    )),
                );
            }
            (None, Instances::One(_)) | (None, Instances::All(_)) => {
                return self.error(
                    Code::TypeMismatch,
                    whole,
                    format!("`{node}` is not a sweep, so it cannot be indexed"),
                    Some(format!("write `{node}.{output}`")),
                );
            }
            (Some(n), Instances::One(i)) if i >= n => {
                return self.error(
                    Code::TypeMismatch,
                    whole,
                    format!("`{node}` has {n} instances; index {i} is out of range"),
                    Some(format!("use an index from 0 to {}", n.saturating_sub(1))),
                );
            }
            (Some(n), Instances::All(_)) => Instances::All(n),
            (_, i) => i,
        };
        match sig.outputs.iter().find(|(n, _)| n == output) {
            Some((_, ty)) => Value::Output(OutputRef {
                node: node.to_string(),
                instances,
                output: output.to_string(),
                ty: ty.clone(),
            }),
            None => {
                let outs: Vec<&str> = sig.outputs.iter().map(|(n, _)| n.as_str()).collect();
                let help = did_you_mean(output, outs.iter().copied())
                    .unwrap_or_else(|| format!("`{}` has the outputs: {}", sig.tool, outs.join(", ")));
                self.error(
                    Code::UnknownOutput,
                    output_span,
                    format!("node `{node}` ({}) has no output `{output}`", sig.tool),
                    Some(help),
                )
            }
        }
    }

    fn member(&mut self, base: &Expr, member: &str, member_span: Span, whole: Span) -> Value {
        match &base.kind {
            ExprKind::Name(id) if self.local(&id.name).is_none() => match self.env.global(&id.name) {
                Some(Global::Node(_)) => {
                    return self.node_output(&id.name, Instances::Single, member, member_span, whole);
                }
                Some(Global::Module) => {
                    return match self.env.member(&id.name, member) {
                        Some(Global::Value(v)) => v,
                        Some(Global::Fn(f)) => Value::Fn(f),
                        Some(_) => self.error(
                            Code::TypeMismatch,
                            member_span,
                            format!("`{}.{member}` is not a value", id.name),
                            None,
                        ),
                        None => {
                            let names = self.env.module_names(&id.name);
                            let help = did_you_mean(member, names.iter().map(String::as_str));
                            self.error(
                                Code::UnknownName,
                                member_span,
                                format!("the module `{}` has no `{member}`", id.name),
                                help,
                            )
                        }
                    };
                }
                None if id.name == "constants" => {
                    return match phx_units::constant(member) {
                        Some(c) => Value::Quantity { si: c.value, dim: c.dim, written: None },
                        None => {
                            let help =
                                did_you_mean(member, phx_units::CONSTANTS.iter().map(|c| c.name)).or_else(|| {
                                    Some(format!(
                                        "known constants: {}",
                                        phx_units::CONSTANTS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
                                    ))
                                });
                            self.error(
                                Code::UnknownName,
                                member_span,
                                format!("unknown constant `constants.{member}`"),
                                help,
                            )
                        }
                    };
                }
                _ => {}
            },
            ExprKind::Index { base: inner, index } => {
                if let ExprKind::Name(id) = &inner.kind
                    && matches!(self.env.global(&id.name), Some(Global::Node(_)))
                {
                    let i = self.eval(index, Some(&Ty::Int));
                    return match i {
                        Value::Int(i) if i >= 0 => {
                            self.node_output(&id.name, Instances::One(i as usize), member, member_span, whole)
                        }
                        Value::Error => Value::Error,
                        other => self.error(
                            Code::TypeMismatch,
                            index.span,
                            format!("a node index must be a non-negative Int, found {}", describe(&other)),
                            None,
                        ),
                    };
                }
            }
            ExprKind::Splat { base: inner } => {
                if let ExprKind::Name(id) = &inner.kind
                    && matches!(self.env.global(&id.name), Some(Global::Node(_)))
                {
                    return self.node_output(&id.name, Instances::All(0), member, member_span, whole);
                }
            }
            _ => {}
        }
        let v = self.eval(base, None);
        match v {
            Value::Record(fields) => match fields.iter().find(|(n, _)| n == member) {
                Some((_, v)) => v.clone(),
                None => {
                    let help = did_you_mean(member, fields.iter().map(|(n, _)| n.as_str()));
                    self.error(Code::UnknownName, member_span, format!("the record has no field `{member}`"), help)
                }
            },
            Value::Error => Value::Error,
            other => self.error(
                Code::TypeMismatch,
                member_span,
                format!("{} has no member `{member}`", describe(&other)),
                None,
            ),
        }
    }

    fn index(&mut self, base: &Expr, index: &Expr, whole: Span) -> Value {
        if let ExprKind::Name(id) = &base.kind
            && self.local(&id.name).is_none()
            && let Some(Global::Node(sig)) = self.env.global(&id.name)
        {
            let i = self.eval(index, Some(&Ty::Int));
            return match (i, sig.sweep) {
                (Value::Int(i), Some(n)) if i >= 0 && (i as usize) < n => Value::Node(format!("{}[{i}]", id.name)),
                (Value::Int(i), Some(n)) => self.error(
                    Code::TypeMismatch,
                    whole,
                    format!("`{}` has {n} instances; index {i} is out of range", id.name),
                    None,
                ),
                (Value::Error, _) => Value::Error,
                (_, None) => self.error(
                    Code::TypeMismatch,
                    whole,
                    format!("`{}` is not a sweep, so it cannot be indexed", id.name),
                    None,
                ),
                (other, _) => self.error(
                    Code::TypeMismatch,
                    index.span,
                    format!("a node index must be an Int, found {}", describe(&other)),
                    None,
                ),
            };
        }
        let b = self.eval(base, None);
        let i = self.eval(index, Some(&Ty::Int));
        match (&b, &i) {
            (Value::List(items), Value::Int(k)) => {
                let len = items.len() as i64;
                let k2 = if *k < 0 { len + k } else { *k };
                if k2 < 0 || k2 >= len {
                    return self.error(
                        Code::TypeMismatch,
                        whole,
                        format!("index {k} is out of range for a list of {len}"),
                        None,
                    );
                }
                items[k2 as usize].clone()
            }
            (Value::Error, _) | (_, Value::Error) => Value::Error,
            _ => self.error(
                Code::TypeMismatch,
                whole,
                format!("cannot index {} with {}", describe(&b), describe(&i)),
                None,
            ),
        }
    }

    fn number_arg(&mut self, v: &Value, span: Span, what: &str) -> Option<f64> {
        match v.as_f64() {
            Some(f) => Some(f),
            None => {
                if !matches!(v, Value::Error) {
                    self.error(
                        Code::TypeMismatch,
                        span,
                        format!("{what} needs a plain number, found {}", describe(v)),
                        None,
                    );
                }
                None
            }
        }
    }

    fn call(&mut self, name: &str, callee_span: Span, args: &[phx_syntax::ast::CallArg], span: Span) -> Value {
        let vals: Vec<(Value, Span)> = args.iter().map(|a| (self.eval(&a.value, None), a.value.span)).collect();
        if vals.iter().any(|(v, _)| matches!(v, Value::Error)) {
            return Value::Error;
        }
        let arity_err = |me: &mut Self, n: usize| {
            me.error(
                Code::TypeMismatch,
                span,
                format!("`{name}` takes {n} argument{}, found {}", if n == 1 { "" } else { "s" }, vals.len()),
                None,
            )
        };
        match name {
            "linspace" => {
                if vals.len() != 3 {
                    return arity_err(self, 3);
                }
                let (Some((a, da)), Some((b, db))) = (quantity_parts(&vals[0].0), quantity_parts(&vals[1].0)) else {
                    return self.error(
                        Code::TypeMismatch,
                        span,
                        "`linspace(a, b, n)` needs numbers or quantities for `a` and `b`".into(),
                        None,
                    );
                };
                if da != db {
                    return self.error(
                        Code::UnitMismatch,
                        span,
                        format!("`linspace` bounds differ in dimension: {} and {}", da, db),
                        None,
                    );
                }
                let Value::Int(n) = vals[2].0 else {
                    return self.error(
                        Code::TypeMismatch,
                        vals[2].1,
                        format!("`linspace` needs an Int count, found {}", describe(&vals[2].0)),
                        None,
                    );
                };
                if n < 1 || n as usize > MAX_LIST {
                    return self.error(
                        Code::Constraint,
                        vals[2].1,
                        format!("`linspace` count must be between 1 and {MAX_LIST}, found {n}"),
                        None,
                    );
                }
                let unit = match &vals[0].0 {
                    Value::Quantity { written: Some((w, u)), si, .. } if *w != 0.0 => Some((si / w, u.clone())),
                    _ => None,
                };
                let out = (0..n)
                    .map(|i| {
                        let t = if n == 1 { 0.0 } else { i as f64 / (n - 1) as f64 };
                        let v = if i == n - 1 && n > 1 { b } else { a + (b - a) * t };
                        if da.is_none() {
                            Value::Float(v)
                        } else {
                            Value::Quantity { si: v, dim: da, written: unit.as_ref().map(|(f, u)| (v / f, u.clone())) }
                        }
                    })
                    .collect();
                Value::List(out)
            }
            "len" => match vals.as_slice() {
                [(Value::List(items), _)] => Value::Int(items.len() as i64),
                [(Value::Str(s), _)] => Value::Int(s.chars().count() as i64),
                [(other, s)] => self.error(
                    Code::TypeMismatch,
                    *s,
                    format!("`len` needs a list or a string, found {}", describe(other)),
                    None,
                ),
                _ => arity_err(self, 1),
            },
            "arity" => match vals.as_slice() {
                [(Value::Fn(f), _)] => Value::Int(f.arity as i64),
                [(other, s)] => {
                    self.error(Code::TypeMismatch, *s, format!("`arity` needs a fn, found {}", describe(other)), None)
                }
                _ => arity_err(self, 1),
            },
            "float" => match vals.as_slice() {
                [(v, s)] => self.number_arg(v, *s, "`float`").map_or(Value::Error, Value::Float),
                _ => arity_err(self, 1),
            },
            "int" | "round" => match vals.as_slice() {
                [(v, s)] => match self.number_arg(v, *s, name) {
                    None => Value::Error,
                    Some(f) => {
                        let whole = if name == "round" { f.round() } else { f.trunc() };
                        // i64's range, exactly as f64 can say it: [-2^63, 2^63).
                        let limit = 2f64.powi(63);
                        if whole.is_finite() && (-limit..limit).contains(&whole) {
                            Value::Int(whole as i64)
                        } else {
                            self.error(
                                Code::Constraint,
                                *s,
                                format!("`{name}({f})` is outside the range of Int (±{})", i64::MAX),
                                None,
                            )
                        }
                    }
                },
                _ => arity_err(self, 1),
            },
            "abs" | "min" | "max" | "sqrt" if vals.iter().any(|(v, _)| matches!(v, Value::Quantity { .. })) => {
                self.quantity_builtin(name, &vals, span)
            }
            _ => {
                if let Some((b, n)) = crate::fnir::Builtin::by_name(name) {
                    if vals.len() != n {
                        return arity_err(self, n);
                    }
                    if matches!(b, crate::fnir::Builtin::Abs | crate::fnir::Builtin::Min | crate::fnir::Builtin::Max)
                        && vals.iter().all(|(v, _)| matches!(v, Value::Int(_)))
                    {
                        let ints: Vec<i64> = vals.iter().filter_map(|(v, _)| v.as_int()).collect();
                        return Value::Int(match b {
                            crate::fnir::Builtin::Abs => match ints[0].checked_abs() {
                                Some(a) => a,
                                None => {
                                    return self.error(
                                        Code::Constraint,
                                        span,
                                        format!("`abs({})` is outside the range of Int", ints[0]),
                                        None,
                                    );
                                }
                            },
                            crate::fnir::Builtin::Min => ints[0].min(ints[1]),
                            _ => ints[0].max(ints[1]),
                        });
                    }
                    let mut fs = Vec::new();
                    for (v, s) in &vals {
                        match self.number_arg(v, *s, &format!("`{name}`")) {
                            Some(f) => fs.push(f),
                            None => return Value::Error,
                        }
                    }
                    return self.finite(b.apply(&fs), span, &format!("`{name}`"));
                }
                let Some(ir) = self.env.fn_ir(name) else {
                    if let Some(Global::Fn(_)) = self.env.global(name) {
                        // The fn has errors of its own, reported on it.
                        return Value::Error;
                    }
                    let mut cands: Vec<String> =
                        crate::fnir::Builtin::ALL.iter().map(|(_, n, _)| n.to_string()).collect();
                    cands.extend(["linspace", "len", "arity", "float", "int", "round"].map(String::from));
                    cands.extend(self.env.names());
                    let help = did_you_mean(name, cands.iter().map(String::as_str));
                    return self.error(Code::UnknownName, callee_span, format!("unknown function `{name}`"), help);
                };
                if vals.len() != ir.params.len() {
                    return arity_err(self, ir.params.len());
                }
                let mut args = Vec::new();
                for (v, s) in &vals {
                    match v {
                        Value::Int(i) => args.push(FVal::Int(*i)),
                        Value::Bool(b) => args.push(FVal::Bool(*b)),
                        other => match self.number_arg(other, *s, &format!("`{name}`")) {
                            Some(f) => args.push(FVal::Float(f)),
                            None => return Value::Error,
                        },
                    }
                }
                match ir.eval(&args) {
                    FVal::Int(i) => Value::Int(i),
                    FVal::Float(f) => self.finite(f, span, &format!("`{name}`")),
                    FVal::Bool(b) => Value::Bool(b),
                }
            }
        }
    }

    /// `f` as a value, or an error when it is not a finite number (a
    /// division by zero, an overflow, the square root of a negative).
    fn finite(&mut self, f: f64, span: Span, what: &str) -> Value {
        if f.is_finite() {
            Value::Float(f)
        } else {
            self.error(
                Code::Constraint,
                span,
                format!("{what} gives {f}, which is not a finite number"),
                Some("a value must be a finite number".into()),
            )
        }
    }

    fn quantity_builtin(&mut self, name: &str, vals: &[(Value, Span)], span: Span) -> Value {
        let parts: Vec<(f64, Dim)> = vals.iter().filter_map(|(v, _)| quantity_parts(v)).collect();
        if parts.len() != vals.len() {
            return self.error(Code::TypeMismatch, span, format!("`{name}` needs numbers or quantities"), None);
        }
        match (name, parts.as_slice()) {
            ("abs", [(x, d)]) => normalize(Value::Quantity { si: x.abs(), dim: *d, written: None }),
            ("sqrt", [(x, d)]) => match d.pow_ratio(1, 2) {
                Some(d2) => normalize(Value::Quantity { si: x.sqrt(), dim: d2, written: None }),
                None => {
                    self.error(Code::UnitMismatch, span, format!("the square root of {d} has no whole dimension"), None)
                }
            },
            ("min" | "max", [(x, dx), (y, dy)]) => {
                if dx != dy {
                    return self.error(Code::UnitMismatch, span, format!("`{name}` of {dx} and {dy}"), None);
                }
                let v = if name == "min" { x.min(*y) } else { x.max(*y) };
                normalize(Value::Quantity { si: v, dim: *dx, written: None })
            }
            _ => self.error(
                Code::TypeMismatch,
                span,
                format!("`{name}` takes {} argument(s)", if name == "abs" || name == "sqrt" { 1 } else { 2 }),
                None,
            ),
        }
    }

    fn binary(&mut self, op: BinaryOp, a: Value, b: Value, la: Span, lb: Span, span: Span) -> Value {
        if matches!(a, Value::Error) || matches!(b, Value::Error) {
            return Value::Error;
        }
        if !a.is_static() || !b.is_static() {
            return self.error(
                Code::TypeMismatch,
                span,
                format!("`{}` cannot compute with run-time data at compile time", op.symbol()),
                Some("pass the output to a tool that computes with it".into()),
            );
        }
        match op {
            BinaryOp::And | BinaryOp::Or => match (&a, &b) {
                (Value::Bool(x), Value::Bool(y)) => Value::Bool(if op == BinaryOp::And { *x && *y } else { *x || *y }),
                _ => self.error(
                    Code::TypeMismatch,
                    span,
                    format!("`{}` needs Bool operands, found {} and {}", op.symbol(), a.ty(), b.ty()),
                    None,
                ),
            },
            BinaryOp::Add if matches!((&a, &b), (Value::Str(_), Value::Str(_))) => match (a, b) {
                (Value::Str(x), Value::Str(y)) => Value::Str(x + &y),
                _ => Value::Error,
            },
            BinaryOp::Add if matches!((&a, &b), (Value::List(_), Value::List(_))) => match (a, b) {
                (Value::List(mut x), Value::List(y)) => {
                    x.extend(y);
                    Value::List(x)
                }
                _ => Value::Error,
            },
            _ => {
                if let (Value::Int(x), Value::Int(y)) = (&a, &b) {
                    let overflow = |s: &mut Self| {
                        s.error(
                            Code::Constraint,
                            span,
                            format!("`{x} {} {y}` is outside the range of Int (±{})", op.symbol(), i64::MAX),
                            Some("use a Float for numbers this large".into()),
                        )
                    };
                    match op {
                        BinaryOp::Add => return x.checked_add(*y).map_or_else(|| overflow(self), Value::Int),
                        BinaryOp::Sub => return x.checked_sub(*y).map_or_else(|| overflow(self), Value::Int),
                        BinaryOp::Mul => return x.checked_mul(*y).map_or_else(|| overflow(self), Value::Int),
                        BinaryOp::Rem if *y == 0 => {
                            return self.error(
                                Code::Constraint,
                                span,
                                format!("`{x} % 0`: the remainder of a division by zero"),
                                None,
                            );
                        }
                        BinaryOp::Rem => return x.checked_rem(*y).map_or_else(|| overflow(self), Value::Int),
                        BinaryOp::Pow if *y >= 0 && *y <= u32::MAX as i64 => {
                            if let Some(p) = x.checked_pow(*y as u32) {
                                return Value::Int(p);
                            }
                        }
                        _ => {}
                    }
                }
                let (Some((x, dx)), Some((y, dy))) = (quantity_parts(&a), quantity_parts(&b)) else {
                    let bad = if quantity_parts(&a).is_none() { (&a, la) } else { (&b, lb) };
                    let msg = format!("`{}` needs numbers, found {}", op.symbol(), describe(bad.0));
                    return self.error(Code::TypeMismatch, bad.1, msg, None);
                };
                let (si, dim) = match op {
                    BinaryOp::Add | BinaryOp::Sub => {
                        if dx != dy {
                            return self.error(
                                Code::UnitMismatch,
                                span,
                                format!(
                                    "cannot {} {} and {}",
                                    if op == BinaryOp::Add { "add" } else { "subtract" },
                                    describe(&a),
                                    describe(&b)
                                ),
                                Some("both sides of `+` and `-` need the same dimension".into()),
                            );
                        }
                        (if op == BinaryOp::Add { x + y } else { x - y }, dx)
                    }
                    BinaryOp::Mul | BinaryOp::Div => {
                        let dim = if op == BinaryOp::Mul { dx.checked_mul(dy) } else { dx.checked_div(dy) };
                        let Some(dim) = dim else {
                            return self.error(
                                Code::Constraint,
                                span,
                                format!(
                                    "`{}` of {} and {} takes a dimension's exponent past ±{}",
                                    op.symbol(),
                                    describe(&a),
                                    describe(&b),
                                    Dim::MAX_EXPONENT
                                ),
                                None,
                            );
                        };
                        (if op == BinaryOp::Mul { x * y } else { x / y }, dim)
                    }
                    BinaryOp::Rem => {
                        if dx != dy {
                            return self.error(
                                Code::UnitMismatch,
                                span,
                                format!("`%` of {} and {}", describe(&a), describe(&b)),
                                None,
                            );
                        }
                        (x % y, dx)
                    }
                    BinaryOp::Pow => {
                        if !dy.is_none() {
                            return self.error(
                                Code::UnitMismatch,
                                lb,
                                format!("an exponent must be a plain number, found {}", describe(&b)),
                                None,
                            );
                        }
                        if dx.is_none() {
                            (x.powf(y), Dim::NONE)
                        } else if y.fract() == 0.0 && y.abs() < 128.0 {
                            let Some(d) = dx.checked_powi(y as i32) else {
                                return self.error(
                                    Code::Constraint,
                                    span,
                                    format!(
                                        "{} to the power {y} takes a dimension's exponent past ±{}",
                                        describe(&a),
                                        Dim::MAX_EXPONENT
                                    ),
                                    None,
                                );
                            };
                            (x.powf(y), d)
                        } else if (y * 2.0).fract() == 0.0 {
                            match dx.pow_ratio((y * 2.0) as i32, 2) {
                                Some(d) => (x.powf(y), d),
                                None => {
                                    return self.error(
                                        Code::UnitMismatch,
                                        span,
                                        format!("{} to the power {y} has no whole dimension", describe(&a)),
                                        None,
                                    );
                                }
                            }
                        } else {
                            return self.error(
                                Code::UnitMismatch,
                                span,
                                format!("{} to the power {y} has no whole dimension", describe(&a)),
                                None,
                            );
                        }
                    }
                    BinaryOp::And | BinaryOp::Or => unreachable!("handled above"),
                };
                if !si.is_finite() {
                    let why = if op == BinaryOp::Div && quantity_parts(&b).is_some_and(|(y, _)| y == 0.0) {
                        "a division by zero"
                    } else {
                        "a number too large for a Float, or not a number at all"
                    };
                    return self.error(
                        Code::Constraint,
                        span,
                        format!("`{}` of {} and {} gives {si}: {why}", op.symbol(), describe(&a), describe(&b)),
                        Some("a value must be a finite number".into()),
                    );
                }
                if dim.is_none() && !matches!(a, Value::Quantity { .. }) && !matches!(b, Value::Quantity { .. }) {
                    return Value::Float(si);
                }
                normalize(Value::Quantity { si, dim, written: None })
            }
        }
    }

    fn compare(&mut self, op: CompareOp, a: &Value, b: &Value, span: Span) -> Option<bool> {
        use std::cmp::Ordering;
        if matches!(a, Value::Error) || matches!(b, Value::Error) {
            return None;
        }
        let ord: Option<Ordering> = match (a, b) {
            (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
            (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
            (Value::Bool(x), Value::Bool(y)) if matches!(op, CompareOp::Eq | CompareOp::Ne) => Some(x.cmp(y)),
            (Value::Enum(_, x), Value::Enum(_, y)) if matches!(op, CompareOp::Eq | CompareOp::Ne) => Some(x.cmp(y)),
            _ => match (quantity_parts(a), quantity_parts(b)) {
                (Some((x, dx)), Some((y, dy))) => {
                    if dx != dy {
                        self.error(
                            Code::UnitMismatch,
                            span,
                            format!("cannot compare {} with {}", describe(a), describe(b)),
                            None,
                        );
                        return None;
                    }
                    x.partial_cmp(&y)
                }
                _ => {
                    self.error(
                        Code::TypeMismatch,
                        span,
                        format!("cannot compare {} with {} using `{}`", describe(a), describe(b), op.symbol()),
                        None,
                    );
                    return None;
                }
            },
        };
        let Some(ord) = ord else { return Some(op == CompareOp::Ne) };
        Some(match op {
            CompareOp::Eq => ord == Ordering::Equal,
            CompareOp::Ne => ord != Ordering::Equal,
            CompareOp::Lt => ord == Ordering::Less,
            CompareOp::Le => ord != Ordering::Greater,
            CompareOp::Gt => ord == Ordering::Greater,
            CompareOp::Ge => ord != Ordering::Less,
        })
    }
}

/// How a value fails to fit a type.
#[derive(Clone, Debug, PartialEq)]
pub enum Misfit {
    Type(String),
    Unit(String),
}

/// Checks that `v` fits `ty`, converting where the language allows it
/// (`Int` to `Float`, a dimensionless quantity to `Float`, a bare number to
/// `Dimensionless`). Returns the converted value.
pub fn coerce(v: Value, ty: &Ty) -> Result<Value, Misfit> {
    use Ty as T;
    match (ty, v) {
        (_, Value::Error) => Ok(Value::Error),
        (T::Any, v) => Ok(v),
        (T::Union(parts), v) => {
            let mut first_err = None;
            for p in parts {
                match coerce(v.clone(), p) {
                    Ok(x) => return Ok(x),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            Err(match first_err {
                Some(Misfit::Unit(m)) => Misfit::Unit(m),
                _ => Misfit::Type(format!("expected {ty}, found {}", describe(&v))),
            })
        }
        (_, Value::Output(o)) => {
            let got = match o.instances {
                Instances::All(_) => T::List(Box::new(o.ty.clone())),
                _ => o.ty.clone(),
            };
            if data_fits(&got, ty) {
                Ok(Value::Output(o))
            } else {
                Err(Misfit::Type(format!("expected {ty}, found `{}` of type {got}", o.text())))
            }
        }
        (T::Int, Value::Int(i)) => Ok(Value::Int(i)),
        (T::Float, Value::Int(i)) => Ok(Value::Float(i as f64)),
        (T::Float, Value::Float(f)) => Ok(Value::Float(f)),
        (T::Float, v @ Value::Quantity { .. }) => match v {
            Value::Quantity { si, dim, .. } if dim.is_none() => Ok(Value::Float(si)),
            v => Err(Misfit::Unit(format!("expected a plain number (Float), found {}", describe(&v)))),
        },
        (T::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        (T::String, Value::Str(s)) => Ok(Value::Str(s)),
        (T::Path | T::File, Value::Str(s)) => Ok(Value::Str(s)),
        (T::Quantity(None), v @ (Value::Quantity { .. } | Value::Int(_) | Value::Float(_))) => Ok(v),
        (T::Quantity(Some(d)), v @ (Value::Int(_) | Value::Float(_))) => {
            if d.is_none() {
                Ok(Value::Float(v.as_f64().unwrap_or(0.0)))
            } else {
                Err(Misfit::Unit(format!("expected {d}, found {} with no unit", describe(&v))))
            }
        }
        (T::Quantity(Some(d)), Value::Quantity { si, dim, written }) => {
            if dim == *d {
                Ok(Value::Quantity { si, dim, written })
            } else {
                Err(Misfit::Unit(format!("expected {d}, found {}", describe(&Value::Quantity { si, dim, written }))))
            }
        }
        (T::List(elem), Value::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match coerce(item, elem) {
                    Ok(v) => out.push(v),
                    Err(Misfit::Type(m)) => return Err(Misfit::Type(format!("item {i}: {m}"))),
                    Err(Misfit::Unit(m)) => return Err(Misfit::Unit(format!("item {i}: {m}"))),
                }
            }
            Ok(Value::List(out))
        }
        (T::Record, Value::Record(f)) => Ok(Value::Record(f)),
        (T::Fn, Value::Fn(f)) => Ok(Value::Fn(f)),
        (T::Enum(k), Value::Enum(k2, v)) if *k == k2 => Ok(Value::Enum(k2, v)),
        (T::Enum(k), Value::Str(s)) if k.variants().contains(&s.as_str()) => Ok(Value::Enum(*k, s)),
        (ty, v) => Err(Misfit::Type(format!("expected {ty}, found {}", describe(&v)))),
    }
}

/// Whether run-time data of type `got` may flow into a parameter of type
/// `want`. A `Field` of unknown dimension flows into any field parameter
/// (checked when the node runs).
pub fn data_fits(got: &Ty, want: &Ty) -> bool {
    use Ty as T;
    match (got, want) {
        (_, T::Any) | (T::Any, _) => true,
        (g, T::Union(parts)) => parts.iter().any(|p| data_fits(g, p)),
        (T::Field, T::Field1D | T::Field2D | T::Field3D | T::Field) => true,
        (T::Field1D | T::Field2D | T::Field3D, T::Field) => true,
        (T::List(a), T::List(b)) => data_fits(a, b),
        (T::Int, T::Float) => true,
        (T::Series | T::Image | T::Animation | T::Field1D | T::Field2D | T::Field3D, T::File) => true,
        (a, b) => a == b,
    }
}

/// A value as a [`FnRef`], for tests and tools.
pub fn fn_ref(v: &Value) -> Option<&FnRef> {
    match v {
        Value::Fn(f) => Some(f),
        _ => None,
    }
}
