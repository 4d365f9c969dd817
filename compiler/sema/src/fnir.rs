//! `fn` items lowered to a small typed IR, with a tree-walking interpreter.
//!
//! The IR is what code generation consumes (Cranelift on the CPU, CUDA C on
//! the GPU), and this interpreter is the reference they are tested against.
//! Calls to other `fn`s are inlined through `let` bindings (the language has
//! no recursion), outer `let`s and `param`s are folded in as constants, and
//! every operation is typed, so the IR is self-contained: its canonical text
//! hashes to the function's identity in static keys.

use std::fmt::Write as _;

use phx_diagnostics::{Code, Diagnostic, did_you_mean};
use phx_syntax::Span;
use phx_syntax::ast::{self, BinaryOp, CompareOp, Else, Expr, ExprKind, FnItem, TypeExprKind, UnaryOp};
use sha2::{Digest, Sha256};

use crate::value::Value;

/// The scalar types a `fn` computes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FTy {
    Int,
    Float,
    Bool,
}

impl FTy {
    fn name(self) -> &'static str {
        match self {
            FTy::Int => "Int",
            FTy::Float => "Float",
            FTy::Bool => "Bool",
        }
    }
}

/// A scalar value of a `fn`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FVal {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl FVal {
    /// The value as a float (`Int` converts, `Bool` is 0 or 1).
    pub fn as_f64(self) -> f64 {
        match self {
            FVal::Int(i) => i as f64,
            FVal::Float(f) => f,
            FVal::Bool(b) => f64::from(u8::from(b)),
        }
    }
}

/// The numeric builtins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    Exp,
    Ln,
    Log10,
    Sqrt,
    Abs,
    Pow,
    Min,
    Max,
    Floor,
    Ceil,
}

impl Builtin {
    /// Every builtin with its name and arity.
    pub const ALL: [(Builtin, &'static str, usize); 20] = [
        (Builtin::Sin, "sin", 1),
        (Builtin::Cos, "cos", 1),
        (Builtin::Tan, "tan", 1),
        (Builtin::Asin, "asin", 1),
        (Builtin::Acos, "acos", 1),
        (Builtin::Atan, "atan", 1),
        (Builtin::Atan2, "atan2", 2),
        (Builtin::Sinh, "sinh", 1),
        (Builtin::Cosh, "cosh", 1),
        (Builtin::Tanh, "tanh", 1),
        (Builtin::Exp, "exp", 1),
        (Builtin::Ln, "ln", 1),
        (Builtin::Log10, "log10", 1),
        (Builtin::Sqrt, "sqrt", 1),
        (Builtin::Abs, "abs", 1),
        (Builtin::Pow, "pow", 2),
        (Builtin::Min, "min", 2),
        (Builtin::Max, "max", 2),
        (Builtin::Floor, "floor", 1),
        (Builtin::Ceil, "ceil", 1),
    ];

    /// Looks a builtin up by name.
    pub fn by_name(name: &str) -> Option<(Builtin, usize)> {
        Builtin::ALL.iter().find(|(_, n, _)| *n == name).map(|(b, _, a)| (*b, *a))
    }

    /// The builtin's name.
    pub fn name(self) -> &'static str {
        Builtin::ALL.iter().find(|(b, _, _)| *b == self).map_or("?", |(_, n, _)| n)
    }

    /// Applies the builtin to float arguments.
    pub fn apply(self, a: &[f64]) -> f64 {
        let x = a.first().copied().unwrap_or(f64::NAN);
        let y = a.get(1).copied().unwrap_or(f64::NAN);
        match self {
            Builtin::Sin => x.sin(),
            Builtin::Cos => x.cos(),
            Builtin::Tan => x.tan(),
            Builtin::Asin => x.asin(),
            Builtin::Acos => x.acos(),
            Builtin::Atan => x.atan(),
            Builtin::Atan2 => x.atan2(y),
            Builtin::Sinh => x.sinh(),
            Builtin::Cosh => x.cosh(),
            Builtin::Tanh => x.tanh(),
            Builtin::Exp => phx_math::exp(x),
            Builtin::Ln => x.ln(),
            Builtin::Log10 => x.log10(),
            Builtin::Sqrt => x.sqrt(),
            Builtin::Abs => x.abs(),
            Builtin::Pow => x.powf(y),
            Builtin::Min => x.min(y),
            Builtin::Max => x.max(y),
            Builtin::Floor => x.floor(),
            Builtin::Ceil => x.ceil(),
        }
    }
}

/// Arithmetic operators of the IR (typed by their operands).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

/// One expression of the IR; every node knows its type.
#[derive(Clone, Debug, PartialEq)]
pub enum FExpr {
    Const(FVal),
    /// A parameter or `let` slot.
    Slot(u32, FTy),
    /// `Int` to `Float`.
    ToFloat(Box<FExpr>),
    Neg(Box<FExpr>, FTy),
    Not(Box<FExpr>),
    /// Arithmetic on two operands of the type given.
    Arith(ArithOp, FTy, Box<FExpr>, Box<FExpr>),
    /// A comparison of two operands of the type given.
    Compare(CompareOp, FTy, Box<FExpr>, Box<FExpr>),
    And(Box<FExpr>, Box<FExpr>),
    Or(Box<FExpr>, Box<FExpr>),
    If(Box<FExpr>, Box<FExpr>, Box<FExpr>, FTy),
    /// A builtin on `Float` arguments (or `Int` for `abs`, `min`, `max`).
    Call(Builtin, FTy, Vec<FExpr>),
    /// Binds `slot` to `value` while evaluating `body`.
    Let(u32, Box<FExpr>, Box<FExpr>),
}

impl FExpr {
    /// The type of the expression.
    pub fn ty(&self) -> FTy {
        match self {
            FExpr::Const(FVal::Int(_)) => FTy::Int,
            FExpr::Const(FVal::Float(_)) | FExpr::ToFloat(_) => FTy::Float,
            FExpr::Const(FVal::Bool(_)) | FExpr::Not(_) | FExpr::Compare(..) | FExpr::And(..) | FExpr::Or(..) => {
                FTy::Bool
            }
            FExpr::Slot(_, t) | FExpr::Neg(_, t) | FExpr::If(_, _, _, t) | FExpr::Call(_, t, _) => *t,
            FExpr::Arith(op, t, _, _) => match op {
                ArithOp::Div | ArithOp::Pow => FTy::Float,
                _ => *t,
            },
            FExpr::Let(_, _, body) => body.ty(),
        }
    }
}

/// A lowered `fn`.
#[derive(Clone, Debug, PartialEq)]
pub struct FnIr {
    pub name: String,
    pub params: Vec<(String, FTy)>,
    pub ret: FTy,
    /// Slots `0..params.len()` are the parameters; the rest are `let`s.
    pub slots: u32,
    pub body: FExpr,
}

impl FnIr {
    /// The canonical text of the IR (names of slots left out, so renaming a
    /// local does not change it).
    pub fn canonical_text(&self) -> String {
        let mut out = String::new();
        out.push_str("fn(");
        for (i, (_, t)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(t.name());
        }
        let _ = write!(out, ")->{}:", self.ret.name());
        write_expr(&self.body, &mut out);
        out
    }

    /// SHA-256 of the canonical text, in hex.
    pub fn body_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_text().as_bytes()))
    }

    /// Evaluates the function on `args` (converted to the parameter types).
    pub fn eval(&self, args: &[FVal]) -> FVal {
        let mut slots = vec![FVal::Int(0); self.slots as usize];
        for (i, (_, t)) in self.params.iter().enumerate() {
            let v = args.get(i).copied().unwrap_or(FVal::Float(f64::NAN));
            slots[i] = match (t, v) {
                (FTy::Float, FVal::Int(x)) => FVal::Float(x as f64),
                (_, v) => v,
            };
        }
        eval_expr(&self.body, &mut slots)
    }

    /// Evaluates a function of Float parameters on float arguments.
    pub fn eval_f64(&self, args: &[f64]) -> f64 {
        let args: Vec<FVal> = self
            .params
            .iter()
            .zip(args)
            .map(|((_, t), a)| match t {
                FTy::Int => FVal::Int(*a as i64),
                FTy::Float => FVal::Float(*a),
                FTy::Bool => FVal::Bool(*a != 0.0),
            })
            .collect();
        self.eval(&args).as_f64()
    }
}

fn write_expr(e: &FExpr, out: &mut String) {
    match e {
        FExpr::Const(FVal::Int(i)) => {
            let _ = write!(out, "{i}i");
        }
        FExpr::Const(FVal::Float(f)) => {
            let _ = write!(out, "{}", crate::value::json_float(*f));
        }
        FExpr::Const(FVal::Bool(b)) => {
            let _ = write!(out, "{b}");
        }
        FExpr::Slot(s, _) => {
            let _ = write!(out, "${s}");
        }
        FExpr::ToFloat(x) => {
            out.push_str("float(");
            write_expr(x, out);
            out.push(')');
        }
        FExpr::Neg(x, _) => {
            out.push_str("neg(");
            write_expr(x, out);
            out.push(')');
        }
        FExpr::Not(x) => {
            out.push_str("not(");
            write_expr(x, out);
            out.push(')');
        }
        FExpr::Arith(op, t, a, b) => {
            let _ = write!(out, "{op:?}.{}(", t.name());
            write_expr(a, out);
            out.push(',');
            write_expr(b, out);
            out.push(')');
        }
        FExpr::Compare(op, t, a, b) => {
            let _ = write!(out, "{op:?}.{}(", t.name());
            write_expr(a, out);
            out.push(',');
            write_expr(b, out);
            out.push(')');
        }
        FExpr::And(a, b) | FExpr::Or(a, b) => {
            out.push_str(if matches!(e, FExpr::And(..)) { "and(" } else { "or(" });
            write_expr(a, out);
            out.push(',');
            write_expr(b, out);
            out.push(')');
        }
        FExpr::If(c, a, b, _) => {
            out.push_str("if(");
            write_expr(c, out);
            out.push(',');
            write_expr(a, out);
            out.push(',');
            write_expr(b, out);
            out.push(')');
        }
        FExpr::Call(b, t, args) => {
            let _ = write!(out, "{}.{}(", b.name(), t.name());
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_expr(a, out);
            }
            out.push(')');
        }
        FExpr::Let(s, v, body) => {
            let _ = write!(out, "let ${s}=");
            write_expr(v, out);
            out.push(';');
            write_expr(body, out);
        }
    }
}

fn eval_expr(e: &FExpr, slots: &mut Vec<FVal>) -> FVal {
    match e {
        FExpr::Const(v) => *v,
        FExpr::Slot(s, _) => slots.get(*s as usize).copied().unwrap_or(FVal::Float(f64::NAN)),
        FExpr::ToFloat(x) => FVal::Float(eval_expr(x, slots).as_f64()),
        FExpr::Neg(x, _) => match eval_expr(x, slots) {
            FVal::Int(i) => FVal::Int(i.wrapping_neg()),
            v => FVal::Float(-v.as_f64()),
        },
        FExpr::Not(x) => FVal::Bool(!matches!(eval_expr(x, slots), FVal::Bool(true))),
        FExpr::Arith(op, t, a, b) => {
            let a = eval_expr(a, slots);
            let b = eval_expr(b, slots);
            arith(*op, *t, a, b)
        }
        FExpr::Compare(op, _, a, b) => {
            let a = eval_expr(a, slots);
            let b = eval_expr(b, slots);
            FVal::Bool(compare(*op, a, b))
        }
        FExpr::And(a, b) => FVal::Bool(
            matches!(eval_expr(a, slots), FVal::Bool(true)) && matches!(eval_expr(b, slots), FVal::Bool(true)),
        ),
        FExpr::Or(a, b) => FVal::Bool(
            matches!(eval_expr(a, slots), FVal::Bool(true)) || matches!(eval_expr(b, slots), FVal::Bool(true)),
        ),
        FExpr::If(c, a, b, _) => {
            if matches!(eval_expr(c, slots), FVal::Bool(true)) {
                eval_expr(a, slots)
            } else {
                eval_expr(b, slots)
            }
        }
        FExpr::Call(b, t, args) => {
            let vals: Vec<FVal> = args.iter().map(|a| eval_expr(a, slots)).collect();
            if *t == FTy::Int {
                let ints: Vec<i64> = vals
                    .iter()
                    .map(|v| match v {
                        FVal::Int(i) => *i,
                        v => v.as_f64() as i64,
                    })
                    .collect();
                let x = ints.first().copied().unwrap_or(0);
                let y = ints.get(1).copied().unwrap_or(0);
                return FVal::Int(match b {
                    Builtin::Abs => x.wrapping_abs(),
                    Builtin::Min => x.min(y),
                    Builtin::Max => x.max(y),
                    _ => x,
                });
            }
            let floats: Vec<f64> = vals.iter().map(|v| v.as_f64()).collect();
            FVal::Float(b.apply(&floats))
        }
        FExpr::Let(s, v, body) => {
            let v = eval_expr(v, slots);
            if let Some(slot) = slots.get_mut(*s as usize) {
                *slot = v;
            }
            eval_expr(body, slots)
        }
    }
}

/// Integer and float arithmetic with the language's semantics: integer
/// operations wrap, `x % 0` on integers is 0, `/` and `^` are always float.
pub fn arith(op: ArithOp, t: FTy, a: FVal, b: FVal) -> FVal {
    if t == FTy::Int
        && let (FVal::Int(x), FVal::Int(y)) = (a, b)
    {
        match op {
            ArithOp::Add => return FVal::Int(x.wrapping_add(y)),
            ArithOp::Sub => return FVal::Int(x.wrapping_sub(y)),
            ArithOp::Mul => return FVal::Int(x.wrapping_mul(y)),
            ArithOp::Rem => return FVal::Int(if y == 0 { 0 } else { x.wrapping_rem(y) }),
            ArithOp::Div | ArithOp::Pow => {}
        }
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    FVal::Float(match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
        ArithOp::Rem => x % y,
        ArithOp::Pow => x.powf(y),
    })
}

fn compare(op: CompareOp, a: FVal, b: FVal) -> bool {
    match (a, b) {
        (FVal::Int(x), FVal::Int(y)) => match op {
            CompareOp::Eq => x == y,
            CompareOp::Ne => x != y,
            CompareOp::Lt => x < y,
            CompareOp::Le => x <= y,
            CompareOp::Gt => x > y,
            CompareOp::Ge => x >= y,
        },
        (FVal::Bool(x), FVal::Bool(y)) => match op {
            CompareOp::Eq => x == y,
            CompareOp::Ne => x != y,
            _ => false,
        },
        (a, b) => {
            let (x, y) = (a.as_f64(), b.as_f64());
            match op {
                CompareOp::Eq => x == y,
                CompareOp::Ne => x != y,
                CompareOp::Lt => x < y,
                CompareOp::Le => x <= y,
                CompareOp::Gt => x > y,
                CompareOp::Ge => x >= y,
            }
        }
    }
}

/// What lowering needs to know about the file around a `fn`.
pub trait FnScope {
    /// Another `fn` item by name, for inlining.
    fn fn_item(&self, name: &str) -> Option<FnItem>;
    /// The compile-time value of a `let` or `param`.
    fn const_value(&self, name: &str) -> Option<Value>;
    /// Names visible at the top level, for did-you-mean.
    fn names(&self) -> Vec<String>;
}

struct Lowerer<'a> {
    scope: &'a dyn FnScope,
    diags: Vec<Diagnostic>,
    /// Names of the fns being lowered (the first is the root), to refuse
    /// recursion.
    stack: Vec<String>,
    next_slot: u32,
    /// Only diagnostics inside the root fn carry spans of this item.
    depth: usize,
}

/// Lowers a `fn` item; errors come back as diagnostics and the IR is then
/// `None`.
pub fn lower_fn(item: &FnItem, scope: &dyn FnScope) -> (Option<FnIr>, Vec<Diagnostic>) {
    let mut lw = Lowerer { scope, diags: Vec::new(), stack: vec![item.name.name.clone()], next_slot: 0, depth: 0 };
    let mut params = Vec::new();
    let mut locals = Vec::new();
    for p in &item.params {
        let t = lw.param_type(&p.ty);
        locals.push((p.name.name.clone(), lw.next_slot, t));
        lw.next_slot += 1;
        params.push((p.name.name.clone(), t));
    }
    let body = lw.block(&item.body, &mut locals);
    let declared = item.ret.as_ref().map(|r| lw.param_type(r));
    let body = match (body, declared) {
        (Some(b), Some(FTy::Float)) if b.ty() == FTy::Int => Some(FExpr::ToFloat(Box::new(b))),
        (Some(b), Some(t)) if b.ty() != t => {
            lw.diags.push(
                Diagnostic::new(
                    Code::TypeMismatch,
                    item.body.value.span,
                    format!("`{}` returns {}, but its body gives {}", item.name.name, t.name(), b.ty().name()),
                )
                .with_help_opt(item.ret.as_ref().map(|_| "change the declared return type or the body".to_string())),
            );
            None
        }
        (b, _) => b,
    };
    let ir = body.filter(|_| lw.diags.is_empty()).map(|body| FnIr {
        name: item.name.name.clone(),
        ret: declared.unwrap_or(body.ty()),
        params,
        slots: lw.next_slot,
        body,
    });
    (ir, lw.diags)
}

impl Lowerer<'_> {
    fn err(&mut self, span: Span, code: Code, message: String, help: Option<String>) {
        if self.depth == 0 {
            self.diags.push(Diagnostic::new(code, span, message).with_help_opt(help));
        }
    }

    fn param_type(&mut self, te: &ast::TypeExpr) -> FTy {
        if let TypeExprKind::Named { name, args } = &te.kind
            && args.is_empty()
        {
            match name.name.as_str() {
                "Int" => return FTy::Int,
                "Float" | "Dimensionless" => return FTy::Float,
                "Bool" => return FTy::Bool,
                _ => {}
            }
        }
        self.err(
            te.span,
            Code::TypeMismatch,
            "a `fn` computes with `Int`, `Float` and `Bool` only".into(),
            Some("pass quantities as plain numbers in a fixed unit (e.g. atomic units)".into()),
        );
        FTy::Float
    }

    fn block(&mut self, b: &ast::Block, locals: &mut Vec<(String, u32, FTy)>) -> Option<FExpr> {
        let mark = locals.len();
        let mut bound = Vec::new();
        for l in &b.lets {
            let v = self.expr(&l.value, locals)?;
            let slot = self.next_slot;
            self.next_slot += 1;
            locals.push((l.name.name.clone(), slot, v.ty()));
            bound.push((slot, v));
        }
        let mut body = self.expr(&b.value, locals);
        locals.truncate(mark);
        for (slot, v) in bound.into_iter().rev() {
            body = body.map(|body| FExpr::Let(slot, Box::new(v), Box::new(body)));
        }
        body
    }

    fn float(e: FExpr) -> FExpr {
        if e.ty() == FTy::Int { FExpr::ToFloat(Box::new(e)) } else { e }
    }

    fn numeric(&mut self, e: FExpr, span: Span, what: &str) -> Option<FExpr> {
        if e.ty() == FTy::Bool {
            self.err(span, Code::TypeMismatch, format!("{what} needs a number, found Bool"), None);
            return None;
        }
        Some(e)
    }

    fn expr(&mut self, e: &Expr, locals: &mut Vec<(String, u32, FTy)>) -> Option<FExpr> {
        match &e.kind {
            ExprKind::Number(n) => Some(match n.int {
                Some(i) => FExpr::Const(FVal::Int(i)),
                None => FExpr::Const(FVal::Float(n.value)),
            }),
            ExprKind::Bool(b) => Some(FExpr::Const(FVal::Bool(*b))),
            ExprKind::Paren(inner) => self.expr(inner, locals),
            ExprKind::Name(id) => self.name(id, locals),
            ExprKind::Unary { op, operand } => {
                let x = self.expr(operand, locals)?;
                match op {
                    UnaryOp::Neg => {
                        let x = self.numeric(x, operand.span, "`-`")?;
                        let t = x.ty();
                        Some(FExpr::Neg(Box::new(x), t))
                    }
                    UnaryOp::Not => {
                        if x.ty() != FTy::Bool {
                            self.err(
                                operand.span,
                                Code::TypeMismatch,
                                format!("`!` needs a Bool, found {}", x.ty().name()),
                                None,
                            );
                            return None;
                        }
                        Some(FExpr::Not(Box::new(x)))
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(lhs, locals);
                let b = self.expr(rhs, locals);
                let (a, b) = (a?, b?);
                match op {
                    BinaryOp::And | BinaryOp::Or => {
                        for (x, span) in [(&a, lhs.span), (&b, rhs.span)] {
                            if x.ty() != FTy::Bool {
                                self.err(
                                    span,
                                    Code::TypeMismatch,
                                    format!("`{}` needs Bool operands, found {}", op.symbol(), x.ty().name()),
                                    None,
                                );
                                return None;
                            }
                        }
                        Some(if *op == BinaryOp::And {
                            FExpr::And(Box::new(a), Box::new(b))
                        } else {
                            FExpr::Or(Box::new(a), Box::new(b))
                        })
                    }
                    _ => {
                        let a = self.numeric(a, lhs.span, &format!("`{}`", op.symbol()))?;
                        let b = self.numeric(b, rhs.span, &format!("`{}`", op.symbol()))?;
                        let aop = match op {
                            BinaryOp::Add => ArithOp::Add,
                            BinaryOp::Sub => ArithOp::Sub,
                            BinaryOp::Mul => ArithOp::Mul,
                            BinaryOp::Div => ArithOp::Div,
                            BinaryOp::Rem => ArithOp::Rem,
                            _ => ArithOp::Pow,
                        };
                        let int =
                            a.ty() == FTy::Int && b.ty() == FTy::Int && !matches!(aop, ArithOp::Div | ArithOp::Pow);
                        if int {
                            Some(FExpr::Arith(aop, FTy::Int, Box::new(a), Box::new(b)))
                        } else {
                            Some(FExpr::Arith(aop, FTy::Float, Box::new(Self::float(a)), Box::new(Self::float(b))))
                        }
                    }
                }
            }
            ExprKind::Compare { first, rest } => {
                let mut prev = self.expr(first, locals)?;
                let mut prev_span = first.span;
                let mut acc: Option<FExpr> = None;
                for (op, rhs) in rest {
                    let next = self.expr(rhs, locals)?;
                    let (pt, nt) = (prev.ty(), next.ty());
                    let link = if pt == FTy::Bool || nt == FTy::Bool {
                        if pt != nt || !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                            self.err(
                                prev_span.to(rhs.span),
                                Code::TypeMismatch,
                                format!("cannot compare {} with {} using `{}`", pt.name(), nt.name(), op.symbol()),
                                None,
                            );
                            return None;
                        }
                        FExpr::Compare(*op, FTy::Bool, Box::new(prev), Box::new(next.clone()))
                    } else if pt == FTy::Int && nt == FTy::Int {
                        FExpr::Compare(*op, FTy::Int, Box::new(prev), Box::new(next.clone()))
                    } else {
                        FExpr::Compare(
                            *op,
                            FTy::Float,
                            Box::new(Self::float(prev)),
                            Box::new(Self::float(next.clone())),
                        )
                    };
                    acc = Some(match acc {
                        None => link,
                        Some(a) => FExpr::And(Box::new(a), Box::new(link)),
                    });
                    prev = next;
                    prev_span = rhs.span;
                }
                acc
            }
            ExprKind::If { cond, then, otherwise } => {
                let c = self.expr(cond, locals)?;
                if c.ty() != FTy::Bool {
                    self.err(
                        cond.span,
                        Code::TypeMismatch,
                        format!("an `if` condition must be Bool, found {}", c.ty().name()),
                        None,
                    );
                    return None;
                }
                let a = self.block(then, locals)?;
                let Some(other) = otherwise else {
                    self.err(
                        e.span,
                        Code::TypeMismatch,
                        "an `if` in a `fn` needs an `else` branch".into(),
                        Some("add `else { ... }`".into()),
                    );
                    return None;
                };
                let b = match other.as_ref() {
                    Else::If(x) => self.expr(x, locals)?,
                    Else::Block(bl) => self.block(bl, locals)?,
                };
                let (ta, tb) = (a.ty(), b.ty());
                if ta == tb {
                    return Some(FExpr::If(Box::new(c), Box::new(a), Box::new(b), ta));
                }
                if ta != FTy::Bool && tb != FTy::Bool {
                    return Some(FExpr::If(
                        Box::new(c),
                        Box::new(Self::float(a)),
                        Box::new(Self::float(b)),
                        FTy::Float,
                    ));
                }
                self.err(
                    e.span,
                    Code::TypeMismatch,
                    format!("the branches of this `if` give {} and {}", ta.name(), tb.name()),
                    None,
                );
                None
            }
            ExprKind::Call { callee, args } => self.call(e, callee, args, locals),
            ExprKind::Quantity { unit, .. } => {
                self.err(
                    e.span,
                    Code::UnitMismatch,
                    format!(
                        "a `fn` computes with plain numbers; `{}` carries the unit `{}`",
                        self.snippet(e),
                        unit.text()
                    ),
                    Some("write the number in the unit the function assumes (e.g. atomic units)".into()),
                );
                None
            }
            _ => {
                self.err(
                    e.span,
                    Code::TypeMismatch,
                    "this expression is not allowed in a `fn` (numbers, Bool, arithmetic, `if` and calls only)".into(),
                    None,
                );
                None
            }
        }
    }

    fn snippet(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Quantity { number, unit } => format!("{} {}", number.text, unit.text()),
            _ => "expression".into(),
        }
    }

    fn name(&mut self, id: &ast::Ident, locals: &[(String, u32, FTy)]) -> Option<FExpr> {
        if let Some((_, slot, t)) = locals.iter().rev().find(|(n, _, _)| *n == id.name) {
            return Some(FExpr::Slot(*slot, *t));
        }
        if id.name == "pi" {
            return Some(FExpr::Const(FVal::Float(std::f64::consts::PI)));
        }
        match self.scope.const_value(&id.name) {
            Some(Value::Int(i)) => Some(FExpr::Const(FVal::Int(i))),
            Some(Value::Float(f)) => Some(FExpr::Const(FVal::Float(f))),
            Some(Value::Bool(b)) => Some(FExpr::Const(FVal::Bool(b))),
            Some(Value::Quantity { si, dim, .. }) if dim.is_none() => Some(FExpr::Const(FVal::Float(si))),
            Some(Value::Error) => None,
            Some(v) => {
                self.err(
                    id.span,
                    Code::TypeMismatch,
                    format!("`{}` is {}, but a `fn` computes with plain numbers", id.name, v.ty()),
                    Some(format!("divide by a unit to get a number, e.g. `let {0}_au = {0} / 1 bohr`", id.name)),
                );
                None
            }
            None => {
                let mut cands: Vec<String> = locals.iter().map(|(n, _, _)| n.clone()).collect();
                cands.extend(self.scope.names());
                cands.push("pi".into());
                let help = did_you_mean(&id.name, cands.iter().map(String::as_str));
                self.err(id.span, Code::UnknownName, format!("unknown name `{}`", id.name), help);
                None
            }
        }
    }

    fn call(
        &mut self,
        e: &Expr,
        callee: &ast::DottedPath,
        args: &[ast::CallArg],
        locals: &mut Vec<(String, u32, FTy)>,
    ) -> Option<FExpr> {
        let name = callee.text();
        let mut vals = Vec::new();
        for a in args {
            if let Some(n) = &a.name {
                self.err(
                    n.span,
                    Code::UnknownArg,
                    format!("`{name}` takes positional arguments, not `{}`", n.name),
                    None,
                );
            }
            vals.push((self.expr(&a.value, locals)?, a.value.span));
        }
        if let Some((b, arity)) = Builtin::by_name(&name) {
            if vals.len() != arity {
                self.err(
                    e.span,
                    Code::TypeMismatch,
                    format!(
                        "`{name}` takes {arity} argument{}, found {}",
                        if arity == 1 { "" } else { "s" },
                        vals.len()
                    ),
                    None,
                );
                return None;
            }
            let mut out = Vec::new();
            for (v, span) in vals {
                out.push(self.numeric(v, span, &format!("`{name}`"))?);
            }
            let int = matches!(b, Builtin::Abs | Builtin::Min | Builtin::Max) && out.iter().all(|v| v.ty() == FTy::Int);
            if int {
                return Some(FExpr::Call(b, FTy::Int, out));
            }
            return Some(FExpr::Call(b, FTy::Float, out.into_iter().map(Self::float).collect()));
        }
        let Some(item) = self.scope.fn_item(&name) else {
            let mut cands: Vec<String> = Builtin::ALL.iter().map(|(_, n, _)| n.to_string()).collect();
            cands.extend(self.scope.names());
            let help = did_you_mean(&name, cands.iter().map(String::as_str));
            self.err(callee.span, Code::UnknownName, format!("unknown function `{name}`"), help);
            return None;
        };
        if self.stack.contains(&name) {
            let chain = self.stack.join(" -> ");
            self.err(
                e.span,
                Code::Cycle,
                format!("`{name}` is called recursively ({chain} -> {name}); a `fn` may not recurse"),
                Some("write the recursion as a loop-free formula".into()),
            );
            return None;
        }
        if vals.len() != item.params.len() {
            self.err(
                e.span,
                Code::TypeMismatch,
                format!("`{name}` takes {} arguments, found {}", item.params.len(), vals.len()),
                None,
            );
            return None;
        }
        // Inline: bind each argument to a fresh slot, then lower the body
        // with the callee's parameters mapped to those slots.
        let mut callee_locals = Vec::new();
        let mut bindings = Vec::new();
        for (p, (v, span)) in item.params.iter().zip(vals) {
            let pt = self.param_type(&p.ty);
            let v = match (pt, v.ty()) {
                (FTy::Float, FTy::Int) => Self::float(v),
                (a, b) if a == b => v,
                (a, b) => {
                    self.err(
                        span,
                        Code::TypeMismatch,
                        format!("`{name}` expects {} for `{}`, found {}", a.name(), p.name.name, b.name()),
                        None,
                    );
                    return None;
                }
            };
            let slot = self.next_slot;
            self.next_slot += 1;
            callee_locals.push((p.name.name.clone(), slot, pt));
            bindings.push((slot, v));
        }
        self.stack.push(name.clone());
        self.depth += 1;
        let before = self.diags.len();
        let body = self.block(&item.body, &mut callee_locals);
        self.depth -= 1;
        self.stack.pop();
        let Some(mut body) = body else {
            if self.diags.len() == before {
                self.err(callee.span, Code::TypeMismatch, format!("`{name}` has errors of its own"), None);
            }
            return None;
        };
        if let Some(ret) = &item.ret
            && let TypeExprKind::Named { name: rn, .. } = &ret.kind
            && rn.name == "Float"
        {
            body = Self::float(body);
        }
        for (slot, v) in bindings.into_iter().rev() {
            body = FExpr::Let(slot, Box::new(v), Box::new(body));
        }
        Some(body)
    }
}
