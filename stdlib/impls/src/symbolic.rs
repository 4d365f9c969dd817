//! `cas.diff` and `cas.simplify`: symbolic algebra on the language's own
//! expression syntax. Input is parsed by the phx parser (so what a user
//! writes in a `fn` body works here), output is printed with the parentheses
//! the language needs, and parses back to the same tree.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use phx_syntax::ast::{BinaryOp, Expr as Ast, ExprKind, Item, UnaryOp};

use crate::common::{arg, string, write_output};

/// An arithmetic expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Var(String),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    /// A builtin function (`sin`, `exp`, `pow`, ...).
    Call(String, Vec<Expr>),
}

use Expr::*;

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Call(name.into(), args)
}

/// Parses `text` with the language's parser.
pub fn parse(text: &str) -> Result<Expr, String> {
    if text.contains('\n') {
        return Err("the expression must be one line".into());
    }
    let parsed = phx_syntax::parse_file(&format!("let cas_expression = {text}\n"));
    if let Some(e) = parsed.errors.first() {
        return Err(format!("`{text}` is not an expression: {}", e.message));
    }
    match parsed.items.as_slice() {
        [Item::Let(l)] => from_ast(&l.value),
        _ => Err(format!("`{text}` is not one expression")),
    }
}

fn from_ast(e: &Ast) -> Result<Expr, String> {
    Ok(match &e.kind {
        ExprKind::Number(n) => Num(n.value),
        ExprKind::Name(id) => Var(id.name.clone()),
        ExprKind::Paren(inner) => from_ast(inner)?,
        ExprKind::Unary { op: UnaryOp::Neg, operand } => Neg(b(from_ast(operand)?)),
        ExprKind::Binary { op, lhs, rhs } => {
            let (l, r) = (b(from_ast(lhs)?), b(from_ast(rhs)?));
            match op {
                BinaryOp::Add => Add(l, r),
                BinaryOp::Sub => Sub(l, r),
                BinaryOp::Mul => Mul(l, r),
                BinaryOp::Div => Div(l, r),
                BinaryOp::Pow => Pow(l, r),
                other => return Err(format!("the operator {other:?} is not arithmetic the algebra knows")),
            }
        }
        ExprKind::Call { callee, args } => {
            let name = callee.text();
            let (_, arity) = phx_sema::fnir::Builtin::by_name(&name)
                .ok_or_else(|| format!("`{name}` is not a builtin function (sin, cos, exp, ln, sqrt, pow, ...)"))?;
            if args.len() != arity || args.iter().any(|a| a.name.is_some()) {
                return Err(format!("`{name}` takes {arity} positional argument(s)"));
            }
            Call(name, args.iter().map(|a| from_ast(&a.value)).collect::<Result<_, _>>()?)
        }
        ExprKind::Quantity { .. } => {
            return Err("quantities with units are not supported by the algebra; write numbers".into());
        }
        _ => return Err("the algebra takes numbers, names, + - * / ^, parentheses and builtin calls".into()),
    })
}

impl Expr {
    fn has(&self, var: &str) -> bool {
        match self {
            Num(_) => false,
            Var(v) => v == var,
            Neg(a) => a.has(var),
            Add(x, y) | Sub(x, y) | Mul(x, y) | Div(x, y) | Pow(x, y) => x.has(var) || y.has(var),
            Call(_, args) => args.iter().any(|a| a.has(var)),
        }
    }

    /// The value at `env` (unknown names are NaN).
    pub fn eval(&self, env: &dyn Fn(&str) -> f64) -> f64 {
        match self {
            Num(n) => *n,
            Var(v) => env(v),
            Neg(a) => -a.eval(env),
            Add(x, y) => x.eval(env) + y.eval(env),
            Sub(x, y) => x.eval(env) - y.eval(env),
            Mul(x, y) => x.eval(env) * y.eval(env),
            Div(x, y) => x.eval(env) / y.eval(env),
            Pow(x, y) => x.eval(env).powf(y.eval(env)),
            Call(name, args) => {
                let v: Vec<f64> = args.iter().map(|a| a.eval(env)).collect();
                apply(name, &v)
            }
        }
    }
}

/// A builtin by name, as the language evaluates it (NaN for unknown names,
/// which the parser never lets through).
fn apply(name: &str, v: &[f64]) -> f64 {
    phx_sema::fnir::Builtin::by_name(name).map_or(f64::NAN, |(b, _)| b.apply(v))
}

/// d e / d var, unsimplified.
pub fn diff(e: &Expr, var: &str) -> Result<Expr, String> {
    if !e.has(var) {
        return Ok(Num(0.0));
    }
    let d = |x: &Expr| diff(x, var);
    Ok(match e {
        Num(_) => Num(0.0),
        Var(_) => Num(1.0),
        Neg(a) => Neg(b(d(a)?)),
        Add(x, y) => Add(b(d(x)?), b(d(y)?)),
        Sub(x, y) => Sub(b(d(x)?), b(d(y)?)),
        Mul(x, y) => Add(b(Mul(b(d(x)?), y.clone())), b(Mul(x.clone(), b(d(y)?)))),
        Div(x, y) => {
            Div(b(Sub(b(Mul(b(d(x)?), y.clone())), b(Mul(x.clone(), b(d(y)?))))), b(Pow(y.clone(), b(Num(2.0)))))
        }
        Pow(x, y) => power_rule(x, y, var)?,
        Call(name, args) => {
            let u = &args[0];
            let du = d(u)?;
            let chain = |outer: Expr| Mul(b(outer), b(du.clone()));
            let sq = |x: &Expr| Pow(b(x.clone()), b(Num(2.0)));
            match name.as_str() {
                "sin" => chain(call("cos", vec![u.clone()])),
                "cos" => chain(Neg(b(call("sin", vec![u.clone()])))),
                "tan" => Div(b(du), b(sq(&call("cos", vec![u.clone()])))),
                "asin" => Div(b(du), b(call("sqrt", vec![Sub(b(Num(1.0)), b(sq(u)))]))),
                "acos" => Neg(b(Div(b(du), b(call("sqrt", vec![Sub(b(Num(1.0)), b(sq(u)))]))))),
                "atan" => Div(b(du), b(Add(b(Num(1.0)), b(sq(u))))),
                "sinh" => chain(call("cosh", vec![u.clone()])),
                "cosh" => chain(call("sinh", vec![u.clone()])),
                "tanh" => Div(b(du), b(sq(&call("cosh", vec![u.clone()])))),
                "exp" => chain(call("exp", vec![u.clone()])),
                "ln" => Div(b(du), b(u.clone())),
                "log10" => Div(b(du), b(Mul(b(u.clone()), b(call("ln", vec![Num(10.0)]))))),
                "sqrt" => Div(b(du), b(Mul(b(Num(2.0)), b(call("sqrt", vec![u.clone()]))))),
                "abs" => Div(b(Mul(b(du), b(u.clone()))), b(call("abs", vec![u.clone()]))),
                "pow" => power_rule(&args[0], &args[1], var)?,
                "atan2" => {
                    // atan2(y, x): (x y' - y x') / (x^2 + y^2).
                    let (y, x) = (&args[0], &args[1]);
                    Div(
                        b(Sub(b(Mul(b(x.clone()), b(d(y)?))), b(Mul(b(y.clone()), b(d(x)?))))),
                        b(Add(b(sq(x)), b(sq(y)))),
                    )
                }
                "floor" | "ceil" => Num(0.0),
                other => {
                    return Err(format!(
                        "`{other}` has no derivative where its arguments tie; rewrite it without `{other}`"
                    ));
                }
            }
        }
    })
}

fn power_rule(x: &Expr, y: &Expr, var: &str) -> Result<Expr, String> {
    let dx = diff(x, var)?;
    Ok(if !y.has(var) {
        // c x^(c - 1) x'
        Mul(b(Mul(b(y.clone()), b(Pow(b(x.clone()), b(Sub(b(y.clone()), b(Num(1.0)))))))), b(dx))
    } else {
        // x^y (y' ln x + y x' / x)
        let dy = diff(y, var)?;
        Mul(
            b(Pow(b(x.clone()), b(y.clone()))),
            b(Add(b(Mul(b(dy), b(call("ln", vec![x.clone()])))), b(Div(b(Mul(b(y.clone()), b(dx))), b(x.clone()))))),
        )
    })
}

/// Simplifies to a fixed point: constant folding, identities (x + 0,
/// x * 1, x * 0, x ^ 1, x ^ 0, - - x), numbers in front of products, like
/// terms and like factors merged.
pub fn simplify(e: &Expr) -> Expr {
    let mut current = e.clone();
    for _ in 0..64 {
        let next = step(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn num(e: &Expr) -> Option<f64> {
    match e {
        Num(n) => Some(*n),
        _ => None,
    }
}

/// Splits a product into its numeric coefficient and the rest.
fn coefficient(e: &Expr) -> (f64, Option<Expr>) {
    match e {
        Num(n) => (*n, None),
        Neg(a) => {
            let (c, rest) = coefficient(a);
            (-c, rest)
        }
        Mul(x, y) => match (num(x), num(y)) {
            (Some(c), _) => {
                let (c2, rest) = coefficient(y);
                (c * c2, rest)
            }
            _ => (1.0, Some(e.clone())),
        },
        _ => (1.0, Some(e.clone())),
    }
}

fn scaled(c: f64, rest: Option<Expr>) -> Expr {
    match rest {
        None => Num(c),
        Some(r) if c == 1.0 => r,
        Some(r) if c == -1.0 => Neg(b(r)),
        Some(r) if c == 0.0 => {
            let _ = r;
            Num(0.0)
        }
        Some(r) => Mul(b(Num(c)), b(r)),
    }
}

/// Base and exponent of a factor (`x` is `x ^ 1`).
fn power_parts(e: &Expr) -> (Expr, Expr) {
    match e {
        Pow(x, y) => ((**x).clone(), (**y).clone()),
        other => (other.clone(), Num(1.0)),
    }
}

fn fold(f: f64) -> Option<Expr> {
    f.is_finite().then_some(Num(f))
}

fn step(e: &Expr) -> Expr {
    match e {
        Num(_) | Var(_) => e.clone(),
        Neg(a) => match step(a) {
            Num(n) => Num(-n),
            Neg(inner) => *inner,
            Mul(x, y) if num(&x).is_some() => Mul(b(Num(-num(&x).unwrap_or(1.0))), y),
            Sub(x, y) => Sub(y, x),
            a => Neg(b(a)),
        },
        Add(..) | Sub(..) if let Some(collected) = collected_sum(e) => collected,
        Add(x, y) => {
            let (x, y) = (step(x), step(y));
            if let (Some(p), Some(q)) = (num(&x), num(&y))
                && let Some(f) = fold(p + q)
            {
                return f;
            }
            if num(&x) == Some(0.0) {
                return y;
            }
            if num(&y) == Some(0.0) {
                return x;
            }
            let ((cx, rx), (cy, ry)) = (coefficient(&x), coefficient(&y));
            if rx.is_some() && rx == ry {
                return scaled(cx + cy, rx);
            }
            if cy < 0.0 && ry.is_some() {
                return Sub(b(x), b(scaled(-cy, ry)));
            }
            // Numbers last in a sum: `x + 1`, not `1 + x`.
            if num(&x).is_some() && num(&y).is_none() {
                return Add(b(y), b(x));
            }
            Add(b(x), b(y))
        }
        Sub(x, y) => {
            let (x, y) = (step(x), step(y));
            if let (Some(p), Some(q)) = (num(&x), num(&y))
                && let Some(f) = fold(p - q)
            {
                return f;
            }
            if num(&y) == Some(0.0) {
                return x;
            }
            if num(&x) == Some(0.0) {
                return Neg(b(y));
            }
            let ((cx, rx), (cy, ry)) = (coefficient(&x), coefficient(&y));
            if rx.is_some() && rx == ry {
                return scaled(cx - cy, rx);
            }
            if cy < 0.0 && ry.is_some() {
                return Add(b(x), b(scaled(-cy, ry)));
            }
            Sub(b(x), b(y))
        }
        // Products lean right, `a * (b * c)`, so a coefficient is always
        // found at the front and equal products compare equal.
        Mul(x, y) if matches!(**x, Mul(..)) => {
            let Mul(a, b2) = &**x else { return e.clone() };
            Mul(a.clone(), b(Mul(b2.clone(), y.clone())))
        }
        Mul(x, y) => {
            let (x, y) = (step(x), step(y));
            if let (Some(p), Some(q)) = (num(&x), num(&y))
                && let Some(f) = fold(p * q)
            {
                return f;
            }
            if num(&x) == Some(0.0) || num(&y) == Some(0.0) {
                return Num(0.0);
            }
            if num(&x) == Some(1.0) {
                return y;
            }
            if num(&y) == Some(1.0) {
                return x;
            }
            // Pull coefficients to the front: c1 (c2 r) -> (c1 c2) r.
            let ((cx, rx), (cy, ry)) = (coefficient(&x), coefficient(&y));
            if cx != 1.0 || cy != 1.0 {
                let rest = match (rx, ry) {
                    (Some(a), Some(c)) => Some(Mul(b(a), b(c))),
                    (a, c) => a.or(c),
                };
                let rest = rest.map(|r| step(&r));
                return scaled(cx * cy, rest);
            }
            // Like factors: x^a x^b -> x^(a + b).
            let ((bx, ex), (by, ey)) = (power_parts(&x), power_parts(&y));
            if bx == by {
                return Pow(b(bx), b(step(&Add(b(ex), b(ey)))));
            }
            // x^a (x^b r) -> x^(a + b) r.
            if let Mul(y1, y2) = &y {
                let (b1, e1) = power_parts(y1);
                if b1 == bx {
                    return Mul(b(Pow(b(bx), b(step(&Add(b(ex), b(e1)))))), y2.clone());
                }
            }
            Mul(b(x), b(y))
        }
        Div(x, y) => {
            let (x, y) = (step(x), step(y));
            if let (Some(p), Some(q)) = (num(&x), num(&y))
                && q != 0.0
                && let Some(f) = fold(p / q)
            {
                return f;
            }
            if num(&x) == Some(0.0) && num(&y) != Some(0.0) {
                return Num(0.0);
            }
            if num(&y) == Some(1.0) {
                return x;
            }
            if x == y && num(&y) != Some(0.0) {
                return Num(1.0);
            }
            let (cx, rx) = coefficient(&x);
            if let Some(q) = num(&y)
                && q != 0.0
                && rx.is_some()
            {
                return scaled(cx / q, rx);
            }
            Div(b(x), b(y))
        }
        Pow(x, y) => {
            let (x, y) = (step(x), step(y));
            if let (Some(p), Some(q)) = (num(&x), num(&y))
                && let Some(f) = fold(p.powf(q))
            {
                return f;
            }
            if num(&y) == Some(1.0) {
                return x;
            }
            if num(&y) == Some(0.0) || num(&x) == Some(1.0) {
                return Num(1.0);
            }
            // (x^a)^c -> x^(a c) for a whole-number c (no branch issues).
            if let (Pow(base, inner), Some(c)) = (&x, num(&y))
                && c.fract() == 0.0
            {
                return Pow(base.clone(), b(step(&Mul(inner.clone(), b(Num(c))))));
            }
            Pow(b(x), b(y))
        }
        Call(name, args) => {
            let args: Vec<Expr> = args.iter().map(step).collect();
            let nums: Option<Vec<f64>> = args.iter().map(num).collect();
            // Fold a call of numbers only when the result is exact
            // (sin(0), exp(0), sqrt(4)): cos(1) stays as written.
            if let Some(v) = nums {
                let r = apply(name, &v);
                if r.is_finite() && r.fract() == 0.0 && r.abs() < 1e15 {
                    return Num(r);
                }
            }
            if name == "pow" && args.len() == 2 {
                return Pow(b(args[0].clone()), b(args[1].clone()));
            }
            Call(name.clone(), args)
        }
    }
}

/// Signed terms of a sum, numbers distributed over inner sums:
/// `2 * (a + b) - c` gives (2, a), (2, b), (-1, c).
fn terms(e: &Expr, sign: f64, out: &mut Vec<(f64, Option<Expr>)>) {
    match e {
        Add(x, y) => {
            terms(x, sign, out);
            terms(y, sign, out);
        }
        Sub(x, y) => {
            terms(x, sign, out);
            terms(y, -sign, out);
        }
        Neg(a) => terms(a, -sign, out),
        Mul(c, inner) if num(c).is_some() && matches!(**inner, Add(..) | Sub(..) | Neg(..)) => {
            terms(inner, sign * num(c).unwrap_or(1.0), out)
        }
        other => {
            let (c, rest) = coefficient(other);
            out.push((sign * c, rest));
        }
    }
}

/// Like terms merged, in order of first appearance; the number last.
fn merged_terms(e: &Expr) -> Vec<(f64, Option<Expr>)> {
    let mut raw = Vec::new();
    terms(e, 1.0, &mut raw);
    let mut merged: Vec<(f64, Option<Expr>)> = Vec::new();
    let mut constant = 0.0;
    for (c, rest) in raw {
        match rest {
            None => constant += c,
            Some(r) => {
                let r = simplify(&r);
                match merged.iter_mut().find(|(_, m)| m.as_ref() == Some(&r)) {
                    Some(slot) => slot.0 += c,
                    None => merged.push((c, Some(r))),
                }
            }
        }
    }
    merged.retain(|(c, _)| *c != 0.0);
    if constant != 0.0 {
        merged.push((constant, None));
    }
    merged
}

/// The sum with its like terms merged, when that changes a sum of three or
/// more terms; `None` leaves it to the pairwise rules.
fn collected_sum(e: &Expr) -> Option<Expr> {
    let mut raw = Vec::new();
    terms(e, 1.0, &mut raw);
    if raw.len() <= 2 {
        return None;
    }
    let collected = collect_terms(e);
    (collected != *e).then_some(collected)
}

/// The sum rebuilt from its merged terms: `a + b - c + 3`.
fn collect_terms(e: &Expr) -> Expr {
    let mut acc: Option<Expr> = None;
    for (c, rest) in merged_terms(e) {
        acc = Some(match acc {
            None => scaled(c, rest),
            Some(a) if c < 0.0 => Sub(b(a), b(scaled(-c, rest))),
            Some(a) => Add(b(a), b(scaled(c, rest))),
        });
    }
    acc.unwrap_or(Num(0.0))
}

/// Binding strength, for printing parentheses only where they are needed.
fn precedence(e: &Expr) -> u8 {
    match e {
        Add(..) | Sub(..) => 1,
        Mul(..) | Div(..) => 2,
        Neg(..) => 3,
        Num(n) if *n < 0.0 => 3,
        Pow(..) => 4,
        Num(_) | Var(_) | Call(..) => 5,
    }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n:?}") }
}

/// The expression in the language's syntax.
pub fn print(e: &Expr) -> String {
    let wrap = |x: &Expr, min: u8| if precedence(x) < min { format!("({})", print(x)) } else { print(x) };
    match e {
        Num(n) => number_text(*n),
        Var(v) => v.clone(),
        // `-` binds looser than `^` in mathematics; parentheses keep
        // `-(x ^ 2)` and `(-x) ^ 2` apart whatever the reader assumes.
        Neg(a) => format!("-{}", wrap(a, 5)),
        Add(x, y) => format!("{} + {}", wrap(x, 1), wrap(y, 2)),
        Sub(x, y) => format!("{} - {}", wrap(x, 1), wrap(y, 2)),
        // Right-leaning products print flat: `a * b * c` parses back as
        // `(a * b) * c`, which simplification leans right again.
        Mul(x, y) if matches!(&**y, Mul(first, _) if precedence(first) >= 4) => {
            format!("{} * {}", wrap(x, 2), print(y))
        }
        Mul(x, y) => format!("{} * {}", wrap(x, 2), wrap(y, 4)),
        Div(x, y) => format!("{} / {}", wrap(x, 2), wrap(y, 4)),
        Pow(x, y) => format!("{} ^ {}", wrap(x, 5), wrap(y, 5)),
        Call(name, args) => format!("{name}({})", args.iter().map(print).collect::<Vec<_>>().join(", ")),
    }
}

/// `cas.diff(expr, var, order)`.
pub struct Diff;

impl Tool for Diff {
    fn code_version(&self) -> String {
        crate::code_version("cas.diff")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let mut e = parse(&string(&inv, "expr")?).map_err(ToolError::failed)?;
            let var = string(&inv, "var")?;
            let order = arg(&inv, "order")?.as_int().unwrap_or(1);
            if !(1..=16).contains(&order) {
                return Err(ToolError::failed(format!("order = {order} is outside 1..=16")));
            }
            for _ in 0..order {
                e = simplify(&diff(&e, &var).map_err(ToolError::failed)?);
            }
            let outputs = vec![write_output(&inv, "expr", print(&e).as_bytes())?];
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

/// `cas.simplify(expr)`.
pub struct Simplify;

impl Tool for Simplify {
    fn code_version(&self) -> String {
        crate::code_version("cas.simplify")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let e = parse(&string(&inv, "expr")?).map_err(ToolError::failed)?;
            let outputs = vec![write_output(&inv, "expr", print(&simplify(&e)).as_bytes())?];
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(e: &Expr, x: f64) -> f64 {
        e.eval(&|v| if v == "x" { x } else { 0.7 })
    }

    fn d(text: &str) -> String {
        print(&simplify(&diff(&parse(text).unwrap(), "x").unwrap()))
    }

    #[test]
    fn textbook_derivatives() {
        assert_eq!(d("x^2"), "2 * x");
        assert_eq!(d("3 * x + 5"), "3");
        assert_eq!(d("sin(x)"), "cos(x)");
        assert_eq!(d("exp(2 * x)"), "2 * exp(2 * x)");
        assert_eq!(d("ln(x)"), "1 / x");
        assert_eq!(d("a * x"), "a");
        assert_eq!(d("y"), "0");
    }

    #[test]
    fn the_second_derivative_of_x2_sin_x() {
        let mut e = parse("x^2 * sin(x)").unwrap();
        for _ in 0..2 {
            e = simplify(&diff(&e, "x").unwrap());
        }
        // (x^2 sin x)'' = 2 sin x + 4 x cos x - x^2 sin x.
        for x in [-2.0, -0.3, 0.5, 1.7, 3.0] {
            let exact = 2.0 * f64::sin(x) + 4.0 * x * f64::cos(x) - x * x * f64::sin(x);
            assert!((at(&e, x) - exact).abs() < 1e-12 * exact.abs().max(1.0), "{}", print(&e));
        }
    }

    #[test]
    fn simplification_folds_and_applies_identities() {
        let s = |t: &str| print(&simplify(&parse(t).unwrap()));
        assert_eq!(s("2 * 3 + x * 1 + 0"), "x + 6");
        assert_eq!(s("x * 0 + y ^ 1"), "y");
        assert_eq!(s("x + x"), "2 * x");
        assert_eq!(s("x * x"), "x ^ 2");
        assert_eq!(s("-(-x)"), "x");
        assert_eq!(s("sin(0) + exp(0)"), "1");
        assert_eq!(s("cos(1)"), "cos(1)");
        assert_eq!(s("x / x"), "1");
        assert_eq!(s("(x ^ 2) ^ 3"), "x ^ 6");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in ["x +", "foo(x)", "1 m * x", "sin(x, y)", "x\n+ 1", "\"text\"", "x == 1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(diff(&parse("min(x, 1)").unwrap(), "x").is_err());
    }

    /// Random expressions: the derivative agrees with a central difference,
    /// and the printed derivative parses back to the same tree.
    #[test]
    fn derivatives_match_finite_differences_and_parse_back() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn random_expr(depth: u32, r: &mut dyn FnMut() -> u64) -> Expr {
            if depth == 0 {
                return match r() % 3 {
                    0 => Var("x".into()),
                    1 => Num((r() % 5) as f64 + 1.0),
                    _ => Var("a".into()),
                };
            }
            let sub = |r: &mut dyn FnMut() -> u64| b(random_expr(depth - 1, r));
            match r() % 8 {
                0 => Add(sub(r), sub(r)),
                1 => Sub(sub(r), sub(r)),
                2 | 3 => Mul(sub(r), sub(r)),
                4 => Div(sub(r), b(Add(b(Num(2.0)), b(Pow(sub(r), b(Num(2.0))))))),
                5 => Pow(sub(r), b(Num((r() % 3) as f64 + 1.0))),
                6 => Call(
                    ["sin", "cos", "exp", "atan", "tanh"][(r() % 5) as usize].into(),
                    vec![random_expr(depth - 1, r)],
                ),
                _ => Neg(sub(r)),
            }
        }
        let mut checked = 0;
        for _ in 0..2000 {
            let e = random_expr(3, &mut next);
            let de = simplify(&diff(&e, "x").unwrap());
            let text = print(&de);
            assert_eq!(parse(&text).map(|p| simplify(&p)), Ok(de.clone()), "{text}");
            for x in [-0.8, 0.3, 1.1] {
                let h = 1e-5;
                let fd = (at(&e, x + h) - at(&e, x - h)) / (2.0 * h);
                let exact = at(&de, x);
                if fd.is_finite() && exact.is_finite() && fd.abs() < 1e6 {
                    assert!(
                        (fd - exact).abs() < 1e-5 * exact.abs().max(1.0),
                        "d/dx {} = {text}: {exact} vs {fd}",
                        print(&e)
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000, "{checked}");
    }
}
