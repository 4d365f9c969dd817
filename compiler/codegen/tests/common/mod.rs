//! What the differential tests share: the random expressions, compiling a
//! program to its `fn` IR, and the 1e-12 agreement.
#![allow(dead_code)]

use phx_db::Database;
use proptest::prelude::*;

pub fn agree(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

pub fn ir_of(src: &str) -> std::sync::Arc<phx_sema::fnir::FnIr> {
    let mut db = Database::new();
    let f = db.set_file("f.phx", src.to_string());
    let errors: Vec<_> = db.check(f).diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    assert!(errors.is_empty(), "{src}\n{errors:#?}");
    db.fn_ir(f, "f").expect("lowers")
}

/// Random float expressions over x, y, z: arithmetic, comparisons inside
/// `if`, every builtin, integer parts, lets.
pub fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        Just("z".to_string()),
        (-50i32..50).prop_map(|i| format!("{i}.5")),
        Just("pi".to_string()),
    ];
    leaf.prop_recursive(5, 48, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "%", "^"]))
                .prop_map(|(a, b, op)| format!("({a} {op} {b})")),
            (
                inner.clone(),
                prop::sample::select(vec![
                    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "ln", "log10", "sqrt",
                    "abs", "floor", "ceil"
                ])
            )
                .prop_map(|(a, f)| format!("{f}({a})")),
            (inner.clone(), inner.clone(), prop::sample::select(vec!["atan2", "pow", "min", "max"]))
                .prop_map(|(a, b, f)| format!("{f}({a}, {b})")),
            (inner.clone(), inner.clone(), inner.clone(), prop::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]))
                .prop_map(|(c, a, b, op)| format!("(if {c} {op} 0.0 {{ {a} }} else {{ {b} }})")),
            inner.clone().prop_map(|a| format!("-{a}")),
        ]
    })
}
