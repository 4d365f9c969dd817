//! CUDA C for `fn` items: a device function with the language's semantics
//! and a grid kernel that lays points out as `field.evaluate` does, for
//! NVRTC to compile. The same text, without the kernel (`__CUDACC__` is
//! not defined), is plain C: the tests compile it with the system's C
//! compiler and hold it to the reference interpreter, so the code a GPU
//! would run is checked on machines without one.
//!
//! Semantics, as the interpreter has them: integers wrap (unsigned
//! arithmetic underneath, never C's undefined overflow), `x % 0` and
//! `x % -1` on integers are 0, `/` and `^` are float, floats convert to
//! integers saturating (NaN to 0), both arms of an `if` are pure. `exp` is
//! `phx_math::exp`'s algorithm operation for operation (FMA only), so it
//! gives the same bits; the other builtins are the device's (CUDA's double
//! functions are within 2 ulp). Compile with `--fmad=false`: a contracted
//! `a * b + c` would round differently from the interpreter.

use std::collections::HashMap;
use std::fmt::Write as _;

use phx_sema::fnir::{ArithOp, Builtin, FExpr, FTy, FVal, FnIr};

use crate::CodegenError;

/// The NVRTC options the source needs.
pub const NVRTC_OPTIONS: [&str; 2] = ["--fmad=false", "--std=c++14"];

/// The kernel's name in the source (`extern "C"`, so unmangled).
pub const KERNEL: &str = "phx_grid";

/// Helpers every generated source starts with.
pub const PRELUDE: &str = r#"#ifdef __CUDACC__
#define PHX_FN __device__ static __forceinline__
static __device__ __forceinline__ long long phx_bits(double x) { return __double_as_longlong(x); }
static __device__ __forceinline__ double phx_from_bits(long long b) { return __longlong_as_double(b); }
#else
#include <math.h>
#include <string.h>
#define PHX_FN static inline
static inline long long phx_bits(double x) { long long b; memcpy(&b, &x, 8); return b; }
static inline double phx_from_bits(long long b) { double x; memcpy(&x, &b, 8); return x; }
#endif
typedef unsigned long long phx_u64;
PHX_FN long long phx_wrap_add(long long a, long long b) { return (long long)((phx_u64)a + (phx_u64)b); }
PHX_FN long long phx_wrap_sub(long long a, long long b) { return (long long)((phx_u64)a - (phx_u64)b); }
PHX_FN long long phx_wrap_mul(long long a, long long b) { return (long long)((phx_u64)a * (phx_u64)b); }
PHX_FN long long phx_wrap_neg(long long a) { return (long long)(0ull - (phx_u64)a); }
PHX_FN long long phx_rem(long long a, long long b) { return (b == 0 || b == -1) ? 0 : a % b; }
PHX_FN long long phx_iabs(long long a) { return a < 0 ? phx_wrap_neg(a) : a; }
PHX_FN long long phx_f2i(double x) {
  if (x != x) return 0;
  if (x >= 9223372036854775807.0) return 9223372036854775807LL;
  if (x <= -9223372036854775808.0) return (-9223372036854775807LL - 1);
  return (long long)x;
}
PHX_FN double phx_min(double x, double y) { return x != x ? y : (y != y ? x : (x < y ? x : y)); }
PHX_FN double phx_max(double x, double y) { return x != x ? y : (y != y ? x : (x > y ? x : y)); }
PHX_FN double phx_exp(double x) {
  if (!(x >= -708.0 && x <= 709.0)) return exp(x);
  const double shifter = 6755399441055744.0;
  double t = fma(x, 1.4426950408889634, shifter);
  double k = t - shifter;
  double r = fma(-k, 0.6931471805599453, x);
  r = fma(-k, 2.3190468138462996e-17, r);
  double p = 1.0 / 6227020800.0;
  p = fma(p, r, 1.0 / 479001600.0);
  p = fma(p, r, 1.0 / 39916800.0);
  p = fma(p, r, 1.0 / 3628800.0);
  p = fma(p, r, 1.0 / 362880.0);
  p = fma(p, r, 1.0 / 40320.0);
  p = fma(p, r, 1.0 / 5040.0);
  p = fma(p, r, 1.0 / 720.0);
  p = fma(p, r, 1.0 / 120.0);
  p = fma(p, r, 1.0 / 24.0);
  p = fma(p, r, 1.0 / 6.0);
  p = fma(p, r, 0.5);
  p = fma(p, r, 1.0);
  p = fma(p, r, 1.0);
  long long ki = (long long)((phx_u64)phx_bits(t) - (phx_u64)phx_bits(shifter));
  return p * phx_from_bits((long long)(((phx_u64)ki + 1023ull) << 52));
}
"#;

/// The source for `ir`: the prelude, `phx_f` (the function at one point,
/// arguments as doubles converted to the parameter types) and, under
/// `__CUDACC__`, the grid kernel (see [`grid_kernel`]).
pub fn cuda_source(ir: &FnIr) -> Result<String, CodegenError> {
    let mut out = String::from(PRELUDE);
    out.push_str(&device_function(ir, "phx_f")?);
    out.push_str(&grid_kernel("phx_f", ir.params.len()));
    Ok(out)
}

/// The grid kernel `phx_grid(out, start, count, g, lo, step)` over a
/// device function of `dims` (1 to 3) doubles: points `start..start +
/// count` of a grid of `g` per axis from `lo` in steps of `step`, x
/// fastest, as `field.evaluate` lays them out; grid-stride, so any launch
/// size covers them. Only under `__CUDACC__`.
pub fn grid_kernel(function: &str, dims: usize) -> String {
    let mut coords = String::new();
    let mut call = Vec::new();
    for axis in 0..dims {
        // lo + c * step, unfused (--fmad=false), as the CPU computes it.
        let _ = writeln!(coords, "    double p{axis} = lo + (double)(idx % g) * step;\n    idx /= g;");
        call.push(format!("p{axis}"));
    }
    format!(
        r#"#ifdef __CUDACC__
extern "C" __global__ void {KERNEL}(double* out, long long start, long long count, long long g, double lo, double step) {{
  long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {{
    long long idx = start + i;
{coords}    out[i] = {function}({call});
  }}
}}
#endif
"#,
        call = call.join(", ")
    )
}

/// Definitions that let a generated source compile as host C++ with
/// `__CUDACC__` set: the CUDA built-ins stand for one block of one thread,
/// so the kernel walks every point itself. Put it before the source; how
/// the tests check kernels on machines without a GPU.
pub const HOST_EMULATION: &str = r#"#include <string.h>
#include <stdio.h>
#include <math.h>
#define __CUDACC__ 1
#define __device__
#define __global__
#define __forceinline__ inline
struct phx_dim3 { unsigned x; };
static phx_dim3 gridDim = {1}, blockDim = {1}, blockIdx = {0}, threadIdx = {0};
static long long __double_as_longlong(double x) { long long b; memcpy(&b, &x, 8); return b; }
static double __longlong_as_double(long long b) { double x; memcpy(&x, &b, 8); return x; }
"#;

/// `double NAME(double a0, ...)`: the function's body as straight-line C.
pub fn device_function(ir: &FnIr, name: &str) -> Result<String, CodegenError> {
    let mut e = Emitter { lines: Vec::new(), next: 0, slots: HashMap::new() };
    let mut params = Vec::new();
    for (i, (_, t)) in ir.params.iter().enumerate() {
        params.push(format!("double a{i}"));
        let value = match t {
            FTy::Float => format!("a{i}"),
            FTy::Int => format!("phx_f2i(a{i})"),
            FTy::Bool => format!("(a{i} != 0.0)"),
        };
        let v = e.temp(*t, value);
        e.slots.insert(i as u32, (v, *t));
    }
    let (v, t) = e.expr(&ir.body)?;
    let result = e.as_f64(&v, t);
    let mut out = format!("PHX_FN double {name}({}) {{\n", params.join(", "));
    for l in &e.lines {
        let _ = writeln!(out, "  {l}");
    }
    let _ = writeln!(out, "  return {result};\n}}");
    Ok(out)
}

struct Emitter {
    lines: Vec<String>,
    next: usize,
    /// Each slot's temporary and type.
    slots: HashMap<u32, (String, FTy)>,
}

fn c_type(t: FTy) -> &'static str {
    match t {
        FTy::Float => "double",
        FTy::Int => "long long",
        FTy::Bool => "int",
    }
}

/// A double literal that reads back as the same bits.
fn float_literal(x: f64) -> String {
    if x.is_nan() {
        "(0.0 / 0.0)".into()
    } else if x.is_infinite() {
        if x > 0.0 { "(1.0 / 0.0)".into() } else { "(-1.0 / 0.0)".into() }
    } else {
        // `{:e}` prints the shortest text that round-trips.
        format!("{x:e}")
    }
}

fn int_literal(i: i64) -> String {
    if i == i64::MIN { "(-9223372036854775807LL - 1)".into() } else { format!("{i}LL") }
}

impl Emitter {
    fn temp(&mut self, t: FTy, value: String) -> String {
        let name = format!("t{}", self.next);
        self.next += 1;
        self.lines.push(format!("const {} {name} = {value};", c_type(t)));
        name
    }

    fn as_f64(&self, v: &str, t: FTy) -> String {
        match t {
            FTy::Float => v.to_string(),
            FTy::Int => format!("(double){v}"),
            FTy::Bool => format!("({v} ? 1.0 : 0.0)"),
        }
    }

    fn as_int(&self, v: &str, t: FTy) -> String {
        match t {
            FTy::Int => v.to_string(),
            FTy::Float => format!("phx_f2i({v})"),
            FTy::Bool => format!("(long long){v}"),
        }
    }

    fn expr(&mut self, e: &FExpr) -> Result<(String, FTy), CodegenError> {
        Ok(match e {
            FExpr::Const(FVal::Float(x)) => (self.temp(FTy::Float, float_literal(*x)), FTy::Float),
            FExpr::Const(FVal::Int(i)) => (self.temp(FTy::Int, int_literal(*i)), FTy::Int),
            FExpr::Const(FVal::Bool(b)) => (self.temp(FTy::Bool, i32::from(*b).to_string()), FTy::Bool),
            FExpr::Slot(s, _) => self
                .slots
                .get(s)
                .cloned()
                .ok_or_else(|| CodegenError(format!("slot {s} is read before it is bound")))?,
            FExpr::ToFloat(x) => {
                let (v, t) = self.expr(x)?;
                let value = self.as_f64(&v, t);
                (self.temp(FTy::Float, value), FTy::Float)
            }
            FExpr::Neg(x, _) => {
                let (v, t) = self.expr(x)?;
                match t {
                    FTy::Int => (self.temp(FTy::Int, format!("phx_wrap_neg({v})")), FTy::Int),
                    _ => {
                        let f = self.as_f64(&v, t);
                        (self.temp(FTy::Float, format!("-{f}")), FTy::Float)
                    }
                }
            }
            FExpr::Not(x) => {
                let (v, _) = self.expr(x)?;
                (self.temp(FTy::Bool, format!("!{v}")), FTy::Bool)
            }
            FExpr::Arith(op, t, a, b) => {
                let (x, tx) = self.expr(a)?;
                let (y, ty) = self.expr(b)?;
                if *t == FTy::Int && tx == FTy::Int && ty == FTy::Int && !matches!(op, ArithOp::Div | ArithOp::Pow) {
                    let f = match op {
                        ArithOp::Add => "phx_wrap_add",
                        ArithOp::Sub => "phx_wrap_sub",
                        ArithOp::Mul => "phx_wrap_mul",
                        _ => "phx_rem",
                    };
                    (self.temp(FTy::Int, format!("{f}({x}, {y})")), FTy::Int)
                } else {
                    let (x, y) = (self.as_f64(&x, tx), self.as_f64(&y, ty));
                    let value = match op {
                        ArithOp::Add => format!("{x} + {y}"),
                        ArithOp::Sub => format!("{x} - {y}"),
                        ArithOp::Mul => format!("{x} * {y}"),
                        ArithOp::Div => format!("{x} / {y}"),
                        ArithOp::Rem => format!("fmod({x}, {y})"),
                        ArithOp::Pow => format!("pow({x}, {y})"),
                    };
                    (self.temp(FTy::Float, value), FTy::Float)
                }
            }
            FExpr::Compare(op, t, a, b) => {
                let (x, tx) = self.expr(a)?;
                let (y, ty) = self.expr(b)?;
                let (x, y) = if *t == FTy::Float || tx == FTy::Float || ty == FTy::Float {
                    (self.as_f64(&x, tx), self.as_f64(&y, ty))
                } else {
                    (x, y)
                };
                (self.temp(FTy::Bool, format!("{x} {} {y}", op.symbol())), FTy::Bool)
            }
            FExpr::And(a, b) | FExpr::Or(a, b) => {
                let (x, _) = self.expr(a)?;
                let (y, _) = self.expr(b)?;
                let c = if matches!(e, FExpr::And(..)) { "&&" } else { "||" };
                (self.temp(FTy::Bool, format!("{x} {c} {y}")), FTy::Bool)
            }
            FExpr::If(c, a, b, t) => {
                let (cv, _) = self.expr(c)?;
                let (x, tx) = self.expr(a)?;
                let (y, ty) = self.expr(b)?;
                let (x, y) = match t {
                    FTy::Float => (self.as_f64(&x, tx), self.as_f64(&y, ty)),
                    FTy::Int => (self.as_int(&x, tx), self.as_int(&y, ty)),
                    FTy::Bool => (x, y),
                };
                (self.temp(*t, format!("{cv} ? {x} : {y}")), *t)
            }
            FExpr::Call(builtin, t, args) => {
                let mut vals = Vec::new();
                for a in args {
                    vals.push(self.expr(a)?);
                }
                if *t == FTy::Int {
                    let ints: Vec<String> = vals.iter().map(|(v, ty)| self.as_int(v, *ty)).collect();
                    let x = ints.first().cloned().unwrap_or_else(|| "0LL".into());
                    let y = ints.get(1).cloned().unwrap_or_else(|| "0LL".into());
                    let value = match builtin {
                        Builtin::Abs => format!("phx_iabs({x})"),
                        Builtin::Min => format!("({x} < {y} ? {x} : {y})"),
                        Builtin::Max => format!("({x} > {y} ? {x} : {y})"),
                        _ => x,
                    };
                    (self.temp(FTy::Int, value), FTy::Int)
                } else {
                    let fs: Vec<String> = vals.iter().map(|(v, ty)| self.as_f64(v, *ty)).collect();
                    let x = fs.first().cloned().unwrap_or_else(|| "(0.0 / 0.0)".into());
                    let y = fs.get(1).cloned().unwrap_or_else(|| "(0.0 / 0.0)".into());
                    let value = match builtin {
                        Builtin::Sin => format!("sin({x})"),
                        Builtin::Cos => format!("cos({x})"),
                        Builtin::Tan => format!("tan({x})"),
                        Builtin::Asin => format!("asin({x})"),
                        Builtin::Acos => format!("acos({x})"),
                        Builtin::Atan => format!("atan({x})"),
                        Builtin::Atan2 => format!("atan2({x}, {y})"),
                        Builtin::Sinh => format!("sinh({x})"),
                        Builtin::Cosh => format!("cosh({x})"),
                        Builtin::Tanh => format!("tanh({x})"),
                        Builtin::Exp => format!("phx_exp({x})"),
                        Builtin::Ln => format!("log({x})"),
                        Builtin::Log10 => format!("log10({x})"),
                        Builtin::Sqrt => format!("sqrt({x})"),
                        Builtin::Abs => format!("fabs({x})"),
                        Builtin::Pow => format!("pow({x}, {y})"),
                        Builtin::Min => format!("phx_min({x}, {y})"),
                        Builtin::Max => format!("phx_max({x}, {y})"),
                        Builtin::Floor => format!("floor({x})"),
                        Builtin::Ceil => format!("ceil({x})"),
                    };
                    (self.temp(FTy::Float, value), FTy::Float)
                }
            }
            FExpr::Let(s, v, body) => {
                let bound = self.expr(v)?;
                self.slots.insert(*s, bound);
                self.expr(body)?
            }
        })
    }
}
