//! Differential tests: on thousands of random expressions and points, the
//! JIT and the compiler's reference interpreter agree to 1e-12 relative (or
//! both give NaN or infinities).

use proptest::prelude::*;

mod common;

use common::{agree, expr, ir_of};

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn jit_and_interpreter_agree(e in expr(), points in proptest::collection::vec((-20.0f64..20.0, -20.0f64..20.0, -20.0f64..20.0), 8)) {
        let src = format!("fn f(x: Float, y: Float, z: Float) -> Float {{\n  let t = {e}\n  t\n}}\n");
        let ir = ir_of(&src);
        let jit = phx_codegen::compile(&ir).expect("compiles");
        for (x, y, z) in points {
            let want = ir.eval_f64(&[x, y, z]);
            let got = jit.call(&[x, y, z]);
            prop_assert!(agree(want, got), "{e} at ({x}, {y}, {z}): interpreter {want}, JIT {got}");
        }
    }
}

#[test]
fn integer_and_boolean_semantics_match() {
    let src = "fn f(a: Int, b: Int) -> Int {\n  let q = a % b\n  let m = min(a, b) + max(a, b) * abs(a - b)\n  if q == 0 && a > b || !(b < 0) { q + m } else { q - m }\n}\n";
    let ir = ir_of(src);
    let jit = phx_codegen::compile(&ir).unwrap();
    for (a, b) in [(7.0, 3.0), (7.0, 0.0), (-7.0, 3.0), (i64::MIN as f64, -1.0), (5.0, -1.0), (0.0, 0.0), (1e6, 7.0)] {
        assert_eq!(jit.call(&[a, b]), ir.eval_f64(&[a, b]), "a = {a}, b = {b}");
    }
}

#[test]
fn the_grid_kernel_matches_point_by_point() {
    let src =
        "fn f(x: Float, y: Float, z: Float) -> Float {\n  let r = sqrt(x * x + y * y + z * z)\n  z * exp(-r / 2)\n}\n";
    let ir = ir_of(src);
    let jit = phx_codegen::compile(&ir).unwrap();
    let (g, lo, step) = (17usize, -8.0, 1.0);
    let mut out = vec![0.0; g * g * g];
    jit.fill_grid(&mut out, 0, g, lo, step);
    for (idx, v) in out.iter().enumerate() {
        let p = [lo + (idx % g) as f64 * step, lo + ((idx / g) % g) as f64 * step, lo + (idx / (g * g)) as f64 * step];
        assert_eq!(*v, ir.eval_f64(&p), "at {p:?}");
    }
    // A chunk that starts mid-grid lands in the same places.
    let mut part = vec![0.0; 100];
    jit.fill_grid(&mut part, 1000, g, lo, step);
    assert_eq!(&part[..], &out[1000..1100]);
}

/// Both NaN, or the same bits.
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// The grid kernel over `count` points from `start` equals the interpreter
/// at every point.
fn grid_matches(
    ir: &phx_sema::fnir::FnIr,
    g: usize,
    start: usize,
    count: usize,
    lo: f64,
    step: f64,
) -> Result<(), String> {
    let jit = phx_codegen::compile(ir).map_err(|e| e.to_string())?;
    let mut out = vec![f64::NAN; count];
    jit.fill_grid(&mut out, start, g, lo, step);
    for (k, v) in out.iter().enumerate() {
        let idx = start + k;
        let p = [lo + (idx % g) as f64 * step, lo + ((idx / g) % g) as f64 * step, lo + (idx / (g * g)) as f64 * step];
        let want = ir.eval_f64(&p[..ir.params.len()]);
        if !same(*v, want) {
            return Err(format!("point {idx} {p:?}: kernel {v}, interpreter {want}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random expressions around several `exp` calls (nested, in lets read
    /// twice, in both branches of an `if`): the staged grid kernel, whose
    /// blocks evaluate `exp` in batches, gives the interpreter's bits.
    #[test]
    fn the_staged_grid_kernel_and_the_interpreter_agree(e in expr(), start in 0usize..200, count in 1usize..600) {
        let src = format!(
            "fn f(x: Float, y: Float, z: Float) -> Float {{\n  let t = {e}\n  let u = exp(-abs(t) / 8.5)\n  if t > u {{ u * exp(t / 31.0) }} else {{ t + exp(u) }}\n}}\n"
        );
        let ir = ir_of(&src);
        prop_assert!(grid_matches(&ir, 9, start, count.min(729 - start), -9.0, 2.25).is_ok(), "{}", grid_matches(&ir, 9, start, count.min(729 - start), -9.0, 2.25).unwrap_err());
    }
}

#[test]
fn nested_and_repeated_exp_calls_run_in_stages_across_blocks() {
    for src in [
        "fn f(x: Float, y: Float, z: Float) -> Float {\n  let a = exp(x)\n  let b = exp(exp(y / 10.0))\n  let c = exp(a / 100.0 + z)\n  a + b * c\n}\n",
        "fn f(x: Float, y: Float, z: Float) -> Float {\n  let r = sqrt(x * x + y * y + z * z)\n  let w = sin(r) * exp(-r)\n  w * w + exp(-r / 3.0) * cos(z)\n}\n",
        "fn f(x: Float, y: Float) -> Float {\n  exp(x * 800.0) - exp(y * -800.0)\n}\n",
        "fn f(n: Int, y: Float, z: Float) -> Float {\n  let k = n % 3\n  if k == 0 { exp(y) } else { k * exp(-z) }\n}\n",
    ] {
        let ir = ir_of(src);
        for (g, start, count) in
            [(13usize, 0usize, 2197usize), (13, 5, 1000), (13, 1900, 297), (4, 0, 64), (13, 256, 256)]
        {
            if let Err(e) = grid_matches(&ir, g, start, count, -6.0, 1.0) {
                panic!("{src}\n{e}");
            }
        }
    }
}
