//! The CUDA C that `phx_codegen::cuda` writes, checked without a GPU: the
//! device functions compile as plain C with the system's compiler (no
//! contraction, no built-in constant folding, as NVRTC gets
//! `--fmad=false`), and the grid kernel compiles as C++ with the CUDA
//! built-ins stood in for by one thread that walks the whole grid. On
//! random expressions and on integer-heavy ones, the results agree with the
//! reference interpreter to 1e-12 relative, and exactly where the
//! interpreter's builtins are the same libm's.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;

mod common;

use common::{agree, expr, ir_of};

/// A folder of its own for each program (tests run in parallel).
fn scratch(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("phx-cuda-c-{}-{name}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles `source` with `compiler` and returns what the program prints.
fn compile_and_run(dir: &Path, compiler: &str, ext: &str, source: &str, flags: &[&str]) -> String {
    let src = dir.join(format!("prog.{ext}"));
    let exe = dir.join("prog");
    std::fs::write(&src, source).unwrap();
    let out = Command::new(compiler)
        .args(["-O2", "-ffp-contract=off", "-fno-builtin", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(flags)
        .arg("-lm")
        .output()
        .unwrap_or_else(|e| panic!("{compiler} runs: {e}"));
    assert!(
        out.status.success(),
        "{compiler} refused the generated source:\n{}\n{source}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    String::from_utf8(run.stdout).unwrap()
}

/// Values as printed by the C program: one hex bit pattern per line.
fn values(text: &str) -> Vec<f64> {
    text.lines().map(|l| f64::from_bits(u64::from_str_radix(l.trim(), 16).unwrap())).collect()
}

fn points() -> Vec<[f64; 3]> {
    let mut out = vec![[0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [-7.25, 3.5, 11.0], [19.5, -19.5, 0.125]];
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..12 {
        let mut p = [0.0; 3];
        for q in &mut p {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *q = -20.0 + 40.0 * ((s >> 11) as f64 / (1u64 << 53) as f64);
        }
        out.push(p);
    }
    out
}

/// One C program evaluating every function at every point.
fn program(functions: &[String], arity: usize) -> String {
    let mut src = phx_codegen::cuda::PRELUDE.to_string();
    for f in functions {
        src.push_str(f);
    }
    src.push_str("#include <stdio.h>\nint main(void) {\n  union { double d; unsigned long long u; } v;\n");
    for p in points() {
        for k in 0..functions.len() {
            let args: Vec<String> = p[..arity].iter().map(|x| format!("{x:e}")).collect();
            src.push_str(&format!("  v.d = f{k}({}); printf(\"%016llx\\n\", v.u);\n", args.join(", ")));
        }
    }
    src.push_str("  return 0;\n}\n");
    src
}

fn check(sources: &[String], arity: usize) -> Result<(), String> {
    let irs: Vec<_> = sources.iter().map(|s| ir_of(s)).collect();
    let functions: Vec<String> = irs
        .iter()
        .enumerate()
        .map(|(k, ir)| phx_codegen::cuda::device_function(ir, &format!("f{k}")).unwrap())
        .collect();
    let dir = scratch("functions");
    let got = values(&compile_and_run(&dir, "cc", "c", &program(&functions, arity), &["-std=c11"]));
    let _ = std::fs::remove_dir_all(&dir);
    let mut i = 0;
    for p in points() {
        for (k, ir) in irs.iter().enumerate() {
            let want = ir.eval_f64(&p[..arity]);
            if !agree(want, got[i]) {
                return Err(format!("{}\nat {p:?}: interpreter {want}, C {}", sources[k], got[i]));
            }
            i += 1;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Forty random functions per C program.
    #[test]
    fn the_device_functions_agree_with_the_interpreter(es in proptest::collection::vec(expr(), 40)) {
        let sources: Vec<String> = es
            .iter()
            .map(|e| format!("fn f(x: Float, y: Float, z: Float) -> Float {{\n  let t = {e}\n  let u = exp(-abs(t) / 8.5)\n  t * u + exp(x / 9.0)\n}}\n"))
            .collect();
        let checked = check(&sources, 3);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }
}

#[test]
fn integers_wrap_and_remainders_by_zero_are_zero_as_in_the_interpreter() {
    let sources = [
        "fn f(a: Int, b: Int) -> Int {\n  let q = a % b\n  let m = min(a, b) + max(a, b) * abs(a - b)\n  if q == 0 && a > b || !(b < 0) { q + m } else { q - m }\n}\n",
        "fn f(a: Int, b: Int) -> Int {\n  let big = 9223372036854775807\n  big + a * b - (a % 0) + (b % -1)\n}\n",
        "fn f(a: Int, b: Float) -> Float {\n  let k = a * 3 - 7\n  if k > 0 { k / 2 } else { b ^ 2 + k }\n}\n",
    ];
    check(&sources.map(String::from), 2).unwrap();
}

/// The whole source, kernel included, as C++ with the CUDA built-ins
/// standing for one block of one thread: the kernel's loop must cover the
/// grid points from `start` as `field.evaluate` lays them out.
#[test]
fn the_grid_kernel_walks_the_points_field_evaluate_lays_out() {
    let src =
        "fn f(x: Float, y: Float, z: Float) -> Float {\n  let r = sqrt(x * x + y * y + z * z)\n  z * exp(-r / 2)\n}\n";
    let ir = ir_of(src);
    let cuda = phx_codegen::cuda::cuda_source(&ir).unwrap();
    assert!(cuda.contains("extern \"C\" __global__ void phx_grid(double* out, long long start, long long count, long long g, double lo, double step)"));
    let (g, start, count, lo, step) = (9usize, 37usize, 500usize, -6.0, 1.5);
    let harness = format!(
        r#"{emulation}{cuda}
int main(void) {{
  static double out[{count}];
  phx_grid(out, {start}, {count}, {g}, {lo:e}, {step:e});
  for (int i = 0; i < {count}; i++) {{ union {{ double d; unsigned long long u; }} v; v.d = out[i]; printf("%016llx\n", v.u); }}
  return 0;
}}
"#,
        emulation = phx_codegen::cuda::HOST_EMULATION
    );
    let dir = scratch("kernel");
    let got = values(&compile_and_run(&dir, "c++", "cpp", &harness, &["-std=c++14"]));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got.len(), count);
    let jit = phx_codegen::compile(&ir).unwrap();
    let mut cpu = vec![0.0; count];
    jit.fill_grid(&mut cpu, start, g, lo, step);
    for (k, (a, b)) in got.iter().zip(&cpu).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "point {}: kernel {a}, CPU {b}", start + k);
    }
}
