//! Compile-time evaluation: units, constants, lists, strings, and the `fn`
//! IR's reference interpreter against closed forms.

use phx_db::Database;
use phx_sema::Value;
use phx_sema::fnir::FVal;

fn eval(lets: &str, name: &str) -> Value {
    let mut db = Database::new();
    let f = db.set_file("main.phx", lets.to_string());
    let errors: Vec<_> = db.check(f).diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    assert!(errors.is_empty(), "{errors:#?}");
    db.value_of(f, name).expect("a value")
}

fn si(v: &Value) -> f64 {
    match v {
        Value::Quantity { si, .. } => *si,
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn quantities_multiply_out_to_the_right_dimension() {
    let v = eval("let lambda = constants.h * constants.c / (10.2 eV)\n", "lambda");
    match &v {
        Value::Quantity { dim, si, .. } => {
            assert_eq!(*dim, phx_units::Dim::LENGTH);
            assert!((si - 1.2155e-7).abs() < 1e-10, "{si}");
        }
        other => panic!("{other:?}"),
    }
    // A ratio of like quantities is a plain number.
    let r = eval("let r = (2 nm) / (1 angstrom)\n", "r");
    assert!(matches!(r, Value::Float(x) if (x - 20.0).abs() < 1e-12), "{r:?}");
    let t = eval("let g = 9.81 [m/s^2]\nlet t = sqrt(2 * 1 m / g)\n", "t");
    assert!(matches!(t, Value::Quantity { dim, .. } if dim == phx_units::Dim::TIME), "{t:?}");
    assert!((si(&t) - (2.0f64 / 9.81).sqrt()).abs() < 1e-15);
}

#[test]
fn unit_mismatch_in_arithmetic_is_an_error() {
    let mut db = Database::new();
    let f = db.set_file("main.phx", "let bad = 1 m + 1 s\n".into());
    let d = db.check(f);
    assert!(d.diagnostics.iter().any(|d| d.code == phx_diagnostics::Code::UnitMismatch
        && d.message.contains("Length")
        && d.message.contains("Time")));
}

#[test]
fn lists_ranges_and_linspace() {
    assert_eq!(eval("let r = 1..4\n", "r"), Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]));
    assert_eq!(eval("let r = 1..=3\n", "r"), Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]));
    let l = eval("let l = linspace(0, 1, 5)\n", "l");
    let Value::List(items) = l else { panic!() };
    assert_eq!(items.iter().map(si).collect::<Vec<_>>(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    let t = eval("let t = linspace(100 K, 400 K, 4)\n", "t");
    let Value::List(items) = t else { panic!() };
    assert_eq!(items[3].to_string(), "400 K");
    assert_eq!(eval("let n = len([1, 2, 3]) + 1\n", "n"), Value::Int(4));
}

#[test]
fn strings_interpolate_with_units() {
    let v = eval("let e = 27.211386245981 eV\nlet s = \"E = {e:hartree} Eh, {2 + 3}, {{x}}\"\n", "s");
    let Value::Str(s) = v else { panic!("{v:?}") };
    let (head, tail) = s.split_once(" Eh").expect("the unit text");
    let e: f64 = head.trim_start_matches("E = ").parse().expect("a number");
    assert!((e - 1.0).abs() < 1e-12, "{s}");
    assert_eq!(tail, ", 5, {x}");
}

#[test]
fn fn_ir_matches_closed_forms() {
    let src = "fn psi(x: Float, y: Float, z: Float) -> Float {\n  let r = sqrt(x * x + y * y + z * z)\n  z * exp(-r / 2)\n}\nfn step(x: Float) -> Float {\n  if x < 0 { 0 } else if x < 1 { x } else { 1 }\n}\nfn ints(a: Int, b: Int) -> Int {\n  a % b + abs(a - b) * 2\n}\nfn twice(x: Float) -> Float {\n  psi(x, 0, 1) * 2\n}\n";
    let mut db = Database::new();
    let f = db.set_file("main.phx", src.into());
    let psi = db.fn_ir(f, "psi").expect("psi lowers");
    for (x, y, z) in [(0.0f64, 0.0f64, 1.0f64), (1.0, 2.0, -0.5), (3.0, -1.0, 2.0)] {
        let r: f64 = (x * x + y * y + z * z).sqrt();
        let want = z * (-r / 2.0).exp();
        assert_eq!(psi.eval_f64(&[x, y, z]), want);
    }
    let step = db.fn_ir(f, "step").unwrap();
    assert_eq!([-1.0, 0.5, 3.0].map(|x| step.eval_f64(&[x])), [0.0, 0.5, 1.0]);
    let ints = db.fn_ir(f, "ints").unwrap();
    assert_eq!(ints.eval(&[FVal::Int(7), FVal::Int(3)]), FVal::Int(1 + 8));
    assert_eq!(ints.eval(&[FVal::Int(7), FVal::Int(0)]), FVal::Int(14), "x % 0 is 0 for integers");
    let twice = db.fn_ir(f, "twice").unwrap();
    assert_eq!(twice.eval_f64(&[0.5]), 2.0 * psi.eval_f64(&[0.5, 0.0, 1.0]));
}

#[test]
fn fn_hash_changes_with_a_callee_and_not_with_local_names() {
    let hash = |src: &str| {
        let mut db = Database::new();
        let f = db.set_file("main.phx", src.to_string());
        db.fn_ir(f, "g").unwrap().body_hash()
    };
    let a = hash("fn f(x: Float) -> Float { x * 2 }\nfn g(y: Float) -> Float { let t = f(y); t + 1 }\n");
    let b = hash("fn f(z: Float) -> Float { z * 2 }\nfn g(w: Float) -> Float { let u = f(w); u + 1 }\n");
    let c = hash("fn f(x: Float) -> Float { x * 3 }\nfn g(y: Float) -> Float { let t = f(y); t + 1 }\n");
    assert_eq!(a, b, "renaming locals keeps the hash");
    assert_ne!(a, c, "changing a callee changes the hash");
}

#[test]
fn compile_time_calls_of_fns() {
    assert_eq!(eval("fn sq(x: Float) -> Float { x * x }\nlet nine = sq(3)\n", "nine"), Value::Float(9.0));
}

#[test]
fn fn_type_errors() {
    let mut db = Database::new();
    let f = db.set_file("main.phx", "fn f(x: Float) -> Float { if x { 1.0 } else { 2.0 } }\nfn g(x: Float) -> Float { x + 1 m }\nfn h(x: Float) -> Float { sin(x, x) }\n".into());
    let codes: Vec<_> = db.check(f).diagnostics.iter().map(|d| d.code).collect();
    use phx_diagnostics::Code;
    assert!(codes.contains(&Code::TypeMismatch), "{codes:?}");
    assert!(codes.contains(&Code::UnitMismatch), "{codes:?}");
}

/// Each (error code, message fragment) of checking `text`.
fn errors_of(text: &str) -> Vec<(phx_diagnostics::Code, String)> {
    let mut db = Database::new();
    let f = db.set_file("main.phx", text.to_string());
    db.check(f).diagnostics.iter().filter(|d| d.is_error()).map(|d| (d.code, d.message.clone())).collect()
}

/// Values that cannot be represented are errors at the expression, never
/// a wrapped, infinite or saturated value that reaches a tool.
#[test]
fn overflow_division_by_zero_and_exponents_out_of_range_are_errors() {
    let max = i64::MAX;
    for (text, fragment) in [
        (format!("let a = {max} + 1\n"), "outside the range of Int"),
        (format!("let a = -{max} - 2\n"), "outside the range of Int"),
        (format!("let a = {max} * 2\n"), "outside the range of Int"),
        (format!("let b = -{max} - 1\nlet a = -b\n"), "outside the range of Int"),
        ("let a = 5 % 0\n".to_string(), "division by zero"),
        ("let a = 1 / 0\n".to_string(), "division by zero"),
        ("let a = 0 / 0\n".to_string(), "division by zero"),
        ("let a = 1.0 / 0.0\n".to_string(), "division by zero"),
        ("let a = 1e308 * 10.0\n".to_string(), "not a number at all"),
        ("let a = exp(1000.0)\n".to_string(), "not a finite number"),
        ("let a = int(1e300)\n".to_string(), "outside the range of Int"),
        ("let a = 1 [m^1000]\n".to_string(), "exponent past"),
        ("let a = 1 [m^1000] / 1 [m^1001]\n".to_string(), "exponent past"),
        ("let a = 1 [m^100] * 1 [m^100]\n".to_string(), "exponent past"),
        ("let a = (1 [m^100])^2\n".to_string(), "exponent past"),
    ] {
        let errors = errors_of(&text);
        assert!(
            errors.iter().any(|(c, m)| *c == phx_diagnostics::Code::Constraint && m.contains(fragment)),
            "{text}: {errors:?}"
        );
        assert!(!errors.iter().any(|(_, m)| m.contains("127]")), "no saturated exponent is shown: {errors:?}");
    }
    // What is in range stays exactly as it was.
    assert!(matches!(eval(&format!("let a = {max} - 1 + 1\n"), "a"), Value::Int(x) if x == max));
    assert!(matches!(eval("let a = 7 % 3\n", "a"), Value::Int(1)));
    assert!(matches!(eval("let a = 1 [m^100] * 1 [m^27]\n", "a"), Value::Quantity { .. }));
}
