//! Native code for `fn` items: the lowered IR of `phx_sema::fnir` compiled
//! with Cranelift. Two entry points per function: one point at a time, and
//! a grid kernel whose loops compute the coordinates themselves, so
//! evaluating a field has no per-point call overhead. Builtins go through
//! `extern "C"` wrappers around the same functions the reference
//! interpreter calls (Rust's `f64` ones, and `phx_math::exp`), so the two
//! agree to the last bit (the differential tests hold them to it).
//!
//! The grid kernel works in blocks of [`BLOCK`] points. Where the function
//! calls `exp`, it runs in stages: a loop over the block computes the
//! arguments of the first `exp` into a buffer, one call evaluates them all
//! with vector instructions (`phx_math::exp_slice`), the next stage reads
//! those results, and a last loop computes the values. The kernel keeps its
//! state in a small header in memory, so no value has to live in registers
//! across those calls. `PHX_JIT_DISASM=1` prints each grid kernel's machine
//! code. The compiler and the language server never build this crate.

use std::collections::HashMap;
use std::sync::Arc;

pub mod cuda;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module};
use phx_sema::fnir::{ArithOp, Builtin, FExpr, FTy, FVal, FnIr};
use phx_syntax::ast::CompareOp;

macro_rules! unary {
    ($($name:ident => $f:expr),* $(,)?) => {
        $(extern "C" fn $name(x: f64) -> f64 { $f(x) })*
    };
}
unary! {
    phx_sin => f64::sin, phx_cos => f64::cos, phx_tan => f64::tan, phx_asin => f64::asin,
    phx_acos => f64::acos, phx_atan => f64::atan, phx_sinh => f64::sinh, phx_cosh => f64::cosh,
    phx_tanh => f64::tanh, phx_exp => phx_math::exp, phx_ln => f64::ln, phx_log10 => f64::log10,
}
extern "C" fn phx_atan2(y: f64, x: f64) -> f64 {
    y.atan2(x)
}
extern "C" fn phx_pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}
extern "C" fn phx_min(x: f64, y: f64) -> f64 {
    x.min(y)
}
extern "C" fn phx_max(x: f64, y: f64) -> f64 {
    x.max(y)
}
extern "C" fn phx_fmod(x: f64, y: f64) -> f64 {
    x % y
}

/// `n` values of `exp` from one scratch buffer into another.
extern "C" fn phx_exp_batch(input: *const f64, output: *mut f64, n: i64) {
    if n <= 0 || input.is_null() || output.is_null() {
        return;
    }
    // SAFETY: the grid kernel passes two disjoint regions of its scratch
    // buffer, each of BLOCK >= n values.
    let (input, output) =
        unsafe { (std::slice::from_raw_parts(input, n as usize), std::slice::from_raw_parts_mut(output, n as usize)) };
    phx_math::exp_slice(input, output)
}

/// Points per block of the grid kernel: the scratch buffers of a block
/// (two per `exp` call) stay in the L1 cache.
pub const BLOCK: usize = 256;

/// The grid kernel's state in the first values of its scratch buffer, kept
/// in memory across the calls between stages (calls clobber registers):
/// the three grid counters, the points done, the block's size, g, the
/// point count and the output pointer.
const HEADER: usize = 8;
const H_COUNTERS: i32 = 0;
const H_DONE: i32 = 3;
const H_BLOCK: i32 = 4;
const H_G: i32 = 5;
const H_COUNT: i32 = 6;
const H_OUT: i32 = 7;

/// The wrapper symbol of a builtin and its arity, when it is a call.
fn wrapper(b: Builtin) -> Option<(&'static str, *const u8, usize)> {
    Some(match b {
        Builtin::Sin => ("phx_sin", phx_sin as *const u8, 1),
        Builtin::Cos => ("phx_cos", phx_cos as *const u8, 1),
        Builtin::Tan => ("phx_tan", phx_tan as *const u8, 1),
        Builtin::Asin => ("phx_asin", phx_asin as *const u8, 1),
        Builtin::Acos => ("phx_acos", phx_acos as *const u8, 1),
        Builtin::Atan => ("phx_atan", phx_atan as *const u8, 1),
        Builtin::Sinh => ("phx_sinh", phx_sinh as *const u8, 1),
        Builtin::Cosh => ("phx_cosh", phx_cosh as *const u8, 1),
        Builtin::Tanh => ("phx_tanh", phx_tanh as *const u8, 1),
        Builtin::Exp => ("phx_exp", phx_exp as *const u8, 1),
        Builtin::Ln => ("phx_ln", phx_ln as *const u8, 1),
        Builtin::Log10 => ("phx_log10", phx_log10 as *const u8, 1),
        Builtin::Atan2 => ("phx_atan2", phx_atan2 as *const u8, 2),
        Builtin::Pow => ("phx_pow", phx_pow as *const u8, 2),
        Builtin::Min => ("phx_min", phx_min as *const u8, 2),
        Builtin::Max => ("phx_max", phx_max as *const u8, 2),
        Builtin::Sqrt | Builtin::Abs | Builtin::Floor | Builtin::Ceil => return None,
    })
}

const ALL_WRAPPERS: [Builtin; 16] = [
    Builtin::Sin,
    Builtin::Cos,
    Builtin::Tan,
    Builtin::Asin,
    Builtin::Acos,
    Builtin::Atan,
    Builtin::Sinh,
    Builtin::Cosh,
    Builtin::Tanh,
    Builtin::Exp,
    Builtin::Ln,
    Builtin::Log10,
    Builtin::Atan2,
    Builtin::Pow,
    Builtin::Min,
    Builtin::Max,
];

fn clif(t: FTy) -> Type {
    match t {
        FTy::Int => types::I64,
        FTy::Float => types::F64,
        FTy::Bool => types::I8,
    }
}

/// Why a function could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenError(pub String);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodegenError {}

type PointFn = unsafe extern "C" fn(*const f64) -> f64;
type GridFn = unsafe extern "C" fn(*mut f64, i64, i64, i64, *mut f64);

/// A compiled function. The module that owns its code lives as long as it.
pub struct Compiled {
    point: PointFn,
    grid: GridFn,
    arity: usize,
    /// How many `exp` calls the grid kernel evaluates in batches.
    batched_calls: usize,
    _module: JITModule,
}

// SAFETY: the compiled code is immutable and reentrant (a pure function of
// its arguments); the module is only kept alive, never touched again.
unsafe impl Send for Compiled {}
// SAFETY: as above.
unsafe impl Sync for Compiled {}

impl Compiled {
    /// The function at one point (arguments as floats, converted to the
    /// parameter types as the interpreter converts them).
    pub fn call(&self, args: &[f64]) -> f64 {
        let mut buf = [0.0f64; 8];
        let n = args.len().min(self.arity).min(8);
        buf[..n].copy_from_slice(&args[..n]);
        // SAFETY: the code reads `arity` (<= 8) f64s from the buffer.
        unsafe { (self.point)(buf.as_ptr()) }
    }

    /// Fills `out` with the function on the grid points `start..start +
    /// out.len()` of a regular grid of `g` points per axis from `lo` in steps
    /// of `step` (x fastest), as `field.evaluate` lays them out.
    pub fn fill_grid(&self, out: &mut [f64], start: usize, g: usize, lo: f64, step: f64) {
        if g == 0 || out.is_empty() {
            return;
        }
        // The kernel's scratch: its state between blocks, the coordinates
        // along an axis (the same for every axis), then two buffers per
        // batched call.
        let mut scratch = vec![0.0f64; HEADER + g + 2 * BLOCK * self.batched_calls];
        for (c, x) in scratch[HEADER..HEADER + g].iter_mut().enumerate() {
            *x = lo + c as f64 * step;
        }
        // SAFETY: the kernel writes exactly `out.len()` f64s into `out`,
        // reads coordinates 0..g, and stays within the scratch buffer.
        unsafe { (self.grid)(out.as_mut_ptr(), start as i64, out.len() as i64, g as i64, scratch.as_mut_ptr()) }
    }

    /// The number of parameters.
    pub fn arity(&self) -> usize {
        self.arity
    }
}

/// Compiles a function to native code for this machine.
pub fn compile(ir: &FnIr) -> Result<Arc<Compiled>, CodegenError> {
    if ir.params.len() > 8 {
        return Err(CodegenError(format!(
            "`{}` takes {} arguments; the JIT takes at most 8",
            ir.name,
            ir.params.len()
        )));
    }
    let err = |e: &dyn std::fmt::Display| CodegenError(e.to_string());
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(|e| err(&e))?;
    flags.set("is_pic", "false").map_err(|e| err(&e))?;
    let isa =
        cranelift_native::builder().map_err(|e| err(&e))?.finish(settings::Flags::new(flags)).map_err(|e| err(&e))?;
    let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    for b in ALL_WRAPPERS {
        if let Some((name, ptr, _)) = wrapper(b) {
            jb.symbol(name, ptr);
        }
    }
    jb.symbol("phx_fmod", phx_fmod as *const u8);
    jb.symbol("phx_exp_batch", phx_exp_batch as *const u8);
    let mut module = JITModule::new(jb);
    let ptr = module.target_config().pointer_type();
    let mut imports = HashMap::new();
    let fmod = ("phx_fmod", 2usize);
    for (name, arity) in ALL_WRAPPERS.iter().filter_map(|b| wrapper(*b).map(|(n, _, a)| (n, a))).chain([fmod]) {
        {
            let mut sig = module.make_signature();
            for _ in 0..arity {
                sig.params.push(AbiParam::new(types::F64));
            }
            sig.returns.push(AbiParam::new(types::F64));
            let id = module.declare_function(name, Linkage::Import, &sig).map_err(|e| err(&e))?;
            imports.insert(name, id);
        }
    }
    let batch_id = {
        let mut sig = module.make_signature();
        sig.params.extend([AbiParam::new(ptr), AbiParam::new(ptr), AbiParam::new(types::I64)]);
        module.declare_function("phx_exp_batch", Linkage::Import, &sig).map_err(|e| err(&e))?
    };
    let slot_types = slot_types(ir);
    let frontend = module.target_config();
    let mut fctx = FunctionBuilderContext::new();

    // The point function: fn(args: *const f64) -> f64.
    let mut ctx = module.make_context();
    ctx.func.signature.params.push(AbiParam::new(ptr));
    ctx.func.signature.returns.push(AbiParam::new(types::F64));
    let point_id: FuncId =
        module.declare_function("point", Linkage::Local, &ctx.func.signature).map_err(|e| err(&e))?;
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let args = b.block_params(entry)[0];
        let mut params = Vec::new();
        for (i, (_, t)) in ir.params.iter().enumerate() {
            let raw = b.ins().load(types::F64, MemFlagsData::trusted(), args, (8 * i) as i32);
            params.push(from_f64(&mut b, raw, *t));
        }
        let result = lower_body(&mut b, &mut module, &imports, ir, &slot_types, &params)?;
        b.ins().return_(&[result]);
        b.finalize(frontend);
    }
    module.define_function(point_id, &mut ctx).map_err(|e| CodegenError(format!("{e:?}")))?;
    module.clear_context(&mut ctx);

    // The grid kernel: fn(out, start, count, g, scratch).
    for t in [ptr, types::I64, types::I64, types::I64, ptr] {
        ctx.func.signature.params.push(AbiParam::new(t));
    }
    let grid_id: FuncId = module.declare_function("grid", Linkage::Local, &ctx.func.signature).map_err(|e| err(&e))?;
    let plan = StagePlan::of(ir);
    let batched_calls = plan.as_ref().map_or(0, |p| p.calls.len());
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let mut kernel = GridKernel {
            module: &mut module,
            imports: &imports,
            ir,
            slot_types: &slot_types,
            plan: plan.as_ref(),
            batch_id,
        };
        kernel.emit(&mut b)?;
        b.finalize(frontend);
    }
    let disasm = std::env::var_os("PHX_JIT_DISASM").is_some();
    ctx.set_disasm(disasm);
    module.define_function(grid_id, &mut ctx).map_err(|e| CodegenError(format!("{e:?}")))?;
    if disasm
        && let Some(code) = ctx.compiled_code()
        && let Some(text) = &code.vcode
    {
        eprintln!("{text}");
    }
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(|e| err(&e))?;
    // SAFETY: both functions were defined above with exactly these signatures.
    let (point, grid) = unsafe {
        (
            std::mem::transmute::<*const u8, PointFn>(module.get_finalized_function(point_id)),
            std::mem::transmute::<*const u8, GridFn>(module.get_finalized_function(grid_id)),
        )
    };
    Ok(Arc::new(Compiled { point, grid, arity: ir.params.len(), batched_calls, _module: module }))
}

/// The type of every slot (parameters, then `let`s).
fn slot_types(ir: &FnIr) -> Vec<FTy> {
    let mut t = vec![FTy::Float; ir.slots as usize];
    for (i, (_, ty)) in ir.params.iter().enumerate() {
        t[i] = *ty;
    }
    fn walk(e: &FExpr, t: &mut Vec<FTy>) {
        match e {
            FExpr::Let(s, v, body) => {
                if let Some(slot) = t.get_mut(*s as usize) {
                    *slot = v.ty();
                }
                walk(v, t);
                walk(body, t);
            }
            FExpr::ToFloat(x) | FExpr::Neg(x, _) | FExpr::Not(x) => walk(x, t),
            FExpr::Arith(_, _, a, b) | FExpr::Compare(_, _, a, b) | FExpr::And(a, b) | FExpr::Or(a, b) => {
                walk(a, t);
                walk(b, t);
            }
            FExpr::If(c, a, b, _) => {
                walk(c, t);
                walk(a, t);
                walk(b, t);
            }
            FExpr::Call(_, _, args) => args.iter().for_each(|a| walk(a, t)),
            FExpr::Const(_) | FExpr::Slot(..) => {}
        }
    }
    walk(&ir.body, &mut t);
    t
}

/// A float argument as the parameter's type (as the interpreter converts).
fn from_f64(b: &mut FunctionBuilder, v: Value, t: FTy) -> Value {
    match t {
        FTy::Float => v,
        FTy::Int => b.ins().fcvt_to_sint_sat(types::I64, v),
        FTy::Bool => {
            let zero = b.ins().f64const(0.0);
            b.ins().fcmp(FloatCC::NotEqual, v, zero)
        }
    }
}

/// A value as the f64 the caller receives.
fn to_f64(b: &mut FunctionBuilder, v: Value, t: FTy) -> Value {
    match t {
        FTy::Float => v,
        FTy::Int => b.ins().fcvt_from_sint(types::F64, v),
        FTy::Bool => {
            let wide = b.ins().uextend(types::I64, v);
            b.ins().fcvt_from_sint(types::F64, wide)
        }
    }
}

fn lower_body(
    b: &mut FunctionBuilder,
    module: &mut JITModule,
    imports: &HashMap<&str, FuncId>,
    ir: &FnIr,
    slot_types: &[FTy],
    params: &[Value],
) -> Result<Value, CodegenError> {
    let vars: Vec<Variable> = slot_types.iter().map(|t| b.declare_var(clif(*t))).collect();
    for (i, v) in params.iter().enumerate() {
        b.def_var(vars[i], *v);
    }
    let mut l = Lower { b, module, imports, vars, refs: HashMap::new(), staged: None };
    let v = l.expr(&ir.body)?;
    Ok(to_f64(l.b, v, ir.body.ty()))
}

/// The `exp` calls a grid kernel evaluates in batches, in the order the
/// stages compute them (an argument's own calls first), and each `let`'s
/// value (a stage computes only the lets its expression reads).
struct StagePlan<'e> {
    calls: Vec<&'e FExpr>,
    index: HashMap<*const FExpr, usize>,
    defs: HashMap<u32, &'e FExpr>,
}

impl<'e> StagePlan<'e> {
    /// `None` when nothing is worth batching (no `exp`), or when a slot is
    /// bound twice (lazily computed lets need one binding per slot).
    fn of(ir: &'e FnIr) -> Option<StagePlan<'e>> {
        let mut plan = StagePlan { calls: Vec::new(), index: HashMap::new(), defs: HashMap::new() };
        if !plan.walk(&ir.body) || plan.calls.is_empty() {
            return None;
        }
        Some(plan)
    }

    fn walk(&mut self, e: &'e FExpr) -> bool {
        match e {
            FExpr::Let(s, v, body) => self.defs.insert(*s, v).is_none() && self.walk(v) && self.walk(body),
            FExpr::ToFloat(x) | FExpr::Neg(x, _) | FExpr::Not(x) => self.walk(x),
            FExpr::Arith(_, _, a, b) | FExpr::Compare(_, _, a, b) | FExpr::And(a, b) | FExpr::Or(a, b) => {
                self.walk(a) && self.walk(b)
            }
            FExpr::If(c, a, b, _) => self.walk(c) && self.walk(a) && self.walk(b),
            FExpr::Call(builtin, t, args) => {
                if !args.iter().all(|a| self.walk(a)) {
                    return false;
                }
                if is_batched(*builtin, *t, args) {
                    self.index.insert(e as *const FExpr, self.calls.len());
                    self.calls.push(e);
                }
                true
            }
            FExpr::Const(_) | FExpr::Slot(..) => true,
        }
    }
}

/// 1 / c when `e` is a constant c = ±2^k whose reciprocal is a normal
/// number (so dividing by c and multiplying by 1 / c round alike).
fn exact_reciprocal(e: &FExpr) -> Option<f64> {
    let c = match e {
        FExpr::Const(FVal::Float(c)) => *c,
        FExpr::ToFloat(inner) => match inner.as_ref() {
            FExpr::Const(FVal::Int(i)) => *i as f64,
            _ => return None,
        },
        _ => return None,
    };
    let bits = c.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let power_of_two = c.is_normal() && bits & ((1u64 << 52) - 1) == 0;
    (power_of_two && (-1022..=1022).contains(&exponent)).then(|| 1.0 / c)
}

fn is_batched(builtin: Builtin, t: FTy, args: &[FExpr]) -> bool {
    builtin == Builtin::Exp && t == FTy::Float && args.len() == 1 && args[0].ty() == FTy::Float
}

/// What one stage's loop body computes.
struct Stage<'e> {
    plan: &'e StagePlan<'e>,
    /// The batched call whose argument this stage stores, or `None` for
    /// the last stage (every batched call is read from its buffer).
    storing: Option<usize>,
    /// The lets computed so far in this body.
    memo: HashMap<u32, Value>,
    /// Where the batched calls' buffers start.
    regions: Value,
    /// The point's byte offset within a block buffer.
    offset: Value,
}

impl Stage<'_> {
    /// The byte offset of call `i`'s argument (`result` false) or result
    /// buffer from the start of the buffers.
    fn region(i: usize, result: bool) -> i64 {
        ((2 * i + usize::from(result)) * BLOCK * 8) as i64
    }
}

/// Emits the grid kernel: blocks of BLOCK points, each in stages.
struct GridKernel<'a, 'e> {
    module: &'a mut JITModule,
    imports: &'a HashMap<&'static str, FuncId>,
    ir: &'e FnIr,
    slot_types: &'a [FTy],
    plan: Option<&'e StagePlan<'e>>,
    batch_id: FuncId,
}

impl<'e> GridKernel<'_, 'e> {
    fn emit(&mut self, b: &mut FunctionBuilder) -> Result<(), CodegenError> {
        let entry = b.create_block();
        let block_header = b.create_block();
        let block_body = b.create_block();
        let exit = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let (out, start, count, g, scratch) = (p[0], p[1], p[2], p[3], p[4]);
        // Grid counters, x fastest: divisions once per call; then each
        // point only increments and wraps them (no division per point).
        // The header holds the first point of the current block.
        let c0 = b.ins().srem(start, g);
        let rest = b.ins().sdiv(start, g);
        let c1 = b.ins().srem(rest, g);
        let c2 = b.ins().sdiv(rest, g);
        let zero = b.ins().iconst(types::I64, 0);
        for (slot, v) in [(H_COUNTERS, c0), (H_COUNTERS + 1, c1), (H_COUNTERS + 2, c2), (H_DONE, zero)] {
            store_header(b, scratch, slot, v);
        }
        for (slot, v) in [(H_G, g), (H_COUNT, count), (H_OUT, out)] {
            store_header(b, scratch, slot, v);
        }
        b.ins().jump(block_header, &[]);
        b.seal_block(entry);

        b.switch_to_block(block_header);
        let d = load_header(b, scratch, H_DONE);
        let count = load_header(b, scratch, H_COUNT);
        let more = b.ins().icmp(IntCC::SignedLessThan, d, count);
        b.ins().brif(more, block_body, &[], exit, &[]);

        b.switch_to_block(block_body);
        b.seal_block(block_body);
        let left = b.ins().isub(count, d);
        let full = b.ins().iconst(types::I64, BLOCK as i64);
        let short = b.ins().icmp(IntCC::SignedLessThan, left, full);
        let n = b.ins().select(short, left, full);
        store_header(b, scratch, H_BLOCK, n);
        let batch = self.module.declare_func_in_func(self.batch_id, b.func);
        let stages = self.plan.map_or(0, |p| p.calls.len());
        for k in 0..stages {
            // Everything from the header again: the last call took the
            // registers. The block starts again from its first point.
            let state = State::load(b, scratch);
            self.point_loop(b, &state, Some(k))?;
            let from = b.ins().iadd_imm_s(state.regions, Stage::region(k, false));
            let to = b.ins().iadd_imm_s(state.regions, Stage::region(k, true));
            b.ins().call(batch, &[from, to, state.n]);
        }
        // The last stage writes the values and moves the counters on to
        // the next block.
        let state = State::load(b, scratch);
        let counters = self.point_loop(b, &state, None)?;
        for (axis, c) in counters.iter().enumerate() {
            store_header(b, scratch, H_COUNTERS + axis as i32, *c);
        }
        let d = load_header(b, scratch, H_DONE);
        let next = b.ins().iadd(d, state.n);
        store_header(b, scratch, H_DONE, next);
        b.ins().jump(block_header, &[]);
        b.seal_block(block_header);

        b.switch_to_block(exit);
        b.seal_block(exit);
        b.ins().return_(&[]);
        Ok(())
    }

    /// One loop over the block's points: stage `storing`, or the last one
    /// (each value to the output). Returns the counters after the block.
    fn point_loop(
        &mut self,
        b: &mut FunctionBuilder,
        state: &State,
        storing: Option<usize>,
    ) -> Result<Vec<Value>, CodegenError> {
        let header = b.create_block();
        let body = b.create_block();
        let after = b.create_block();
        let counters: Vec<Variable> = state
            .counters
            .iter()
            .map(|c| {
                let v = b.declare_var(types::I64);
                b.def_var(v, *c);
                v
            })
            .collect();
        let i = b.declare_var(types::I64);
        let zero = b.ins().iconst(types::I64, 0);
        b.def_var(i, zero);
        b.ins().jump(header, &[]);
        b.switch_to_block(header);
        let iv = b.use_var(i);
        let more = b.ins().icmp(IntCC::SignedLessThan, iv, state.n);
        b.ins().brif(more, body, &[], after, &[]);
        b.switch_to_block(body);
        b.seal_block(body);
        let iv = b.use_var(i);
        let mut params = Vec::new();
        for (axis, (_, t)) in self.ir.params.iter().enumerate() {
            // The coordinate from the table (exactly lo + c * step); a
            // read-only load, so an unused one is dropped.
            let x = match counters.get(axis) {
                Some(c) => {
                    let c = b.use_var(*c);
                    let byte = b.ins().ishl_imm_u(c, 3i64);
                    let addr = b.ins().iadd(state.table, byte);
                    b.ins().load(types::F64, MemFlagsData::trusted().with_readonly().with_can_move(), addr, 0)
                }
                None => b.ins().f64const(0.0),
            };
            params.push(from_f64(b, x, *t));
        }
        let offset = b.ins().ishl_imm_u(iv, 3i64);
        let vars: Vec<Variable> = self.slot_types.iter().map(|t| b.declare_var(clif(*t))).collect();
        for (k, v) in params.iter().enumerate() {
            b.def_var(vars[k], *v);
        }
        let staged =
            self.plan.map(|plan| Stage { plan, storing, memo: HashMap::new(), regions: state.regions, offset });
        let mut l =
            Lower { b: &mut *b, module: &mut *self.module, imports: self.imports, vars, refs: HashMap::new(), staged };
        match (storing, self.plan) {
            (Some(k), Some(plan)) => {
                l.expr(plan.calls[k])?;
            }
            _ => {
                let v = l.expr(&self.ir.body)?;
                let value = to_f64(l.b, v, self.ir.body.ty());
                let at = b.ins().iadd(state.out, offset);
                b.ins().store(MemFlagsData::trusted(), value, at, 0);
            }
        }
        let next = b.ins().iadd_imm_s(iv, 1);
        b.def_var(i, next);
        // Advance x; only at the end of a row (once in g points, a branch
        // the CPU predicts) wrap it and carry into y, then z.
        let same_row = b.create_block();
        let new_row = b.create_block();
        let x = b.use_var(counters[0]);
        let x1 = b.ins().iadd_imm_s(x, 1);
        let wrapped = b.ins().icmp(IntCC::Equal, x1, state.g);
        b.ins().brif(wrapped, new_row, &[], same_row, &[]);
        b.switch_to_block(same_row);
        b.seal_block(same_row);
        b.def_var(counters[0], x1);
        b.ins().jump(header, &[]);
        b.switch_to_block(new_row);
        b.seal_block(new_row);
        let zero = b.ins().iconst(types::I64, 0);
        b.def_var(counters[0], zero);
        let y = b.use_var(counters[1]);
        let y1 = b.ins().iadd_imm_s(y, 1);
        let y_wrapped = b.ins().icmp(IntCC::Equal, y1, state.g);
        let new_y = b.ins().select(y_wrapped, zero, y1);
        b.def_var(counters[1], new_y);
        let carry = b.ins().uextend(types::I64, y_wrapped);
        let z = b.use_var(counters[2]);
        let z1 = b.ins().iadd(z, carry);
        b.def_var(counters[2], z1);
        b.ins().jump(header, &[]);
        b.seal_block(header);
        b.switch_to_block(after);
        b.seal_block(after);
        Ok(counters.iter().map(|c| b.use_var(*c)).collect())
    }
}

/// A block's state, loaded from the kernel's header.
struct State {
    counters: [Value; 3],
    g: Value,
    n: Value,
    table: Value,
    regions: Value,
    /// Where the block's first value goes.
    out: Value,
}

impl State {
    fn load(b: &mut FunctionBuilder, scratch: Value) -> State {
        let counters = [0, 1, 2].map(|axis| load_header(b, scratch, H_COUNTERS + axis));
        let g = load_header(b, scratch, H_G);
        let n = load_header(b, scratch, H_BLOCK);
        let table = b.ins().iadd_imm_s(scratch, (HEADER * 8) as i64);
        let table_bytes = b.ins().ishl_imm_u(g, 3i64);
        let regions = b.ins().iadd(table, table_bytes);
        let out = load_header(b, scratch, H_OUT);
        let done = load_header(b, scratch, H_DONE);
        let done_bytes = b.ins().ishl_imm_u(done, 3i64);
        let out = b.ins().iadd(out, done_bytes);
        State { counters, g, n, table, regions, out }
    }
}

fn load_header(b: &mut FunctionBuilder, scratch: Value, slot: i32) -> Value {
    b.ins().load(types::I64, MemFlagsData::trusted(), scratch, slot * 8)
}

fn store_header(b: &mut FunctionBuilder, scratch: Value, slot: i32, v: Value) {
    b.ins().store(MemFlagsData::trusted(), v, scratch, slot * 8);
}

struct Lower<'a, 'b, 'e> {
    b: &'a mut FunctionBuilder<'b>,
    module: &'a mut JITModule,
    imports: &'a HashMap<&'a str, FuncId>,
    vars: Vec<Variable>,
    refs: HashMap<&'static str, cranelift_codegen::ir::FuncRef>,
    /// In a grid kernel's stage: lets computed on first use, batched calls
    /// read from (or their arguments written to) the scratch buffers.
    staged: Option<Stage<'e>>,
}

impl Lower<'_, '_, '_> {
    fn call(&mut self, name: &'static str, args: &[Value]) -> Result<Value, CodegenError> {
        let fref = match self.refs.get(name) {
            Some(r) => *r,
            None => {
                let id = *self.imports.get(name).ok_or_else(|| CodegenError(format!("no wrapper for {name}")))?;
                let r = self.module.declare_func_in_func(id, self.b.func);
                self.refs.insert(name, r);
                r
            }
        };
        let inst = self.b.ins().call(fref, args);
        Ok(self.b.inst_results(inst)[0])
    }

    fn expr(&mut self, e: &FExpr) -> Result<Value, CodegenError> {
        Ok(match e {
            FExpr::Const(FVal::Int(i)) => self.b.ins().iconst(types::I64, *i),
            FExpr::Const(FVal::Float(f)) => self.b.ins().f64const(*f),
            FExpr::Const(FVal::Bool(x)) => self.b.ins().iconst(types::I8, i64::from(*x)),
            FExpr::Slot(s, _) => match self.staged.as_ref().and_then(|st| st.plan.defs.get(s).copied()) {
                Some(def) => match self.staged.as_ref().and_then(|st| st.memo.get(s).copied()) {
                    Some(v) => v,
                    None => {
                        let v = self.expr(def)?;
                        if let Some(st) = self.staged.as_mut() {
                            st.memo.insert(*s, v);
                        }
                        v
                    }
                },
                None => self.b.use_var(self.vars[*s as usize]),
            },
            FExpr::ToFloat(x) => {
                let v = self.expr(x)?;
                self.b.ins().fcvt_from_sint(types::F64, v)
            }
            FExpr::Neg(x, t) => {
                let v = self.expr(x)?;
                if *t == FTy::Int { self.b.ins().ineg(v) } else { self.b.ins().fneg(v) }
            }
            FExpr::Not(x) => {
                let v = self.expr(x)?;
                self.b.ins().bxor_imm_u(v, 1i64)
            }
            // x / 2^k is exactly x * 2^-k (one rounding of the same
            // number), and a multiplication is several times cheaper.
            FExpr::Arith(ArithOp::Div, _, a, bb) if exact_reciprocal(bb).is_some() && a.ty() == FTy::Float => {
                let r = exact_reciprocal(bb).unwrap_or(1.0);
                // (-x) * r is x * (-r): negation is exact.
                let (x, r) = match a.as_ref() {
                    FExpr::Neg(inner, FTy::Float) => (self.expr(inner)?, -r),
                    _ => (self.expr(a)?, r),
                };
                let r = self.b.ins().f64const(r);
                self.b.ins().fmul(x, r)
            }
            FExpr::Arith(op, t, a, bb) => {
                let (x, y) = (self.expr(a)?, self.expr(bb)?);
                if *t == FTy::Int && !matches!(op, ArithOp::Div | ArithOp::Pow) {
                    match op {
                        ArithOp::Add => self.b.ins().iadd(x, y),
                        ArithOp::Sub => self.b.ins().isub(x, y),
                        ArithOp::Mul => self.b.ins().imul(x, y),
                        _ => {
                            // x % 0 is 0, and x % -1 is 0 (never a trap).
                            let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                            let minus1 = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
                            let bad = self.b.ins().bor(zero, minus1);
                            let one = self.b.ins().iconst(types::I64, 1);
                            let safe = self.b.ins().select(bad, one, y);
                            let r = self.b.ins().srem(x, safe);
                            let z = self.b.ins().iconst(types::I64, 0);
                            self.b.ins().select(bad, z, r)
                        }
                    }
                } else {
                    match op {
                        ArithOp::Add => self.b.ins().fadd(x, y),
                        ArithOp::Sub => self.b.ins().fsub(x, y),
                        ArithOp::Mul => self.b.ins().fmul(x, y),
                        ArithOp::Div => self.b.ins().fdiv(x, y),
                        ArithOp::Rem => self.call("phx_fmod", &[x, y])?,
                        ArithOp::Pow => self.call("phx_pow", &[x, y])?,
                    }
                }
            }
            FExpr::Compare(op, t, a, bb) => {
                let (x, y) = (self.expr(a)?, self.expr(bb)?);
                if *t == FTy::Float {
                    let cc = match op {
                        CompareOp::Eq => FloatCC::Equal,
                        CompareOp::Ne => FloatCC::NotEqual,
                        CompareOp::Lt => FloatCC::LessThan,
                        CompareOp::Le => FloatCC::LessThanOrEqual,
                        CompareOp::Gt => FloatCC::GreaterThan,
                        CompareOp::Ge => FloatCC::GreaterThanOrEqual,
                    };
                    self.b.ins().fcmp(cc, x, y)
                } else {
                    let cc = match op {
                        CompareOp::Eq => IntCC::Equal,
                        CompareOp::Ne => IntCC::NotEqual,
                        CompareOp::Lt => IntCC::SignedLessThan,
                        CompareOp::Le => IntCC::SignedLessThanOrEqual,
                        CompareOp::Gt => IntCC::SignedGreaterThan,
                        CompareOp::Ge => IntCC::SignedGreaterThanOrEqual,
                    };
                    self.b.ins().icmp(cc, x, y)
                }
            }
            FExpr::And(a, bb) => {
                let (x, y) = (self.expr(a)?, self.expr(bb)?);
                self.b.ins().band(x, y)
            }
            FExpr::Or(a, bb) => {
                let (x, y) = (self.expr(a)?, self.expr(bb)?);
                self.b.ins().bor(x, y)
            }
            FExpr::If(c, a, bb, _) => {
                // Both branches are pure, so evaluating both and selecting is
                // exact (and branch-free inside grid loops).
                let (cv, x, y) = (self.expr(c)?, self.expr(a)?, self.expr(bb)?);
                self.b.ins().select(cv, x, y)
            }
            FExpr::Call(builtin, t, args) if self.staged.is_some() && is_batched(*builtin, *t, args) => {
                let (i, storing, regions, offset) = match &self.staged {
                    Some(st) => (
                        st.plan.index.get(&(e as *const FExpr)).copied().unwrap_or(usize::MAX),
                        st.storing,
                        st.regions,
                        st.offset,
                    ),
                    None => unreachable!("checked by the guard"),
                };
                let at = |b: &mut FunctionBuilder, result: bool| {
                    let base = b.ins().iadd_imm_s(regions, Stage::region(i, result));
                    b.ins().iadd(base, offset)
                };
                match storing {
                    Some(k) if i == k => {
                        let arg = self.expr(&args[0])?;
                        let addr = at(self.b, false);
                        self.b.ins().store(MemFlagsData::trusted(), arg, addr, 0);
                        self.b.ins().f64const(0.0)
                    }
                    // A later stage's call: nothing here needs its value.
                    Some(k) if i > k => self.b.ins().f64const(0.0),
                    _ => {
                        let addr = at(self.b, true);
                        self.b.ins().load(types::F64, MemFlagsData::trusted(), addr, 0)
                    }
                }
            }
            FExpr::Call(builtin, t, args) => {
                let vals: Vec<Value> = args.iter().map(|a| self.expr(a)).collect::<Result<_, _>>()?;
                if *t == FTy::Int {
                    let x = vals[0];
                    match builtin {
                        Builtin::Abs => {
                            let neg = self.b.ins().ineg(x);
                            let lt = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
                            self.b.ins().select(lt, neg, x)
                        }
                        Builtin::Min | Builtin::Max => {
                            let y = vals[1];
                            let cc =
                                if *builtin == Builtin::Min { IntCC::SignedLessThan } else { IntCC::SignedGreaterThan };
                            let c = self.b.ins().icmp(cc, x, y);
                            self.b.ins().select(c, x, y)
                        }
                        _ => x,
                    }
                } else {
                    match builtin {
                        Builtin::Sqrt => self.b.ins().sqrt(vals[0]),
                        Builtin::Abs => self.b.ins().fabs(vals[0]),
                        Builtin::Floor => self.b.ins().floor(vals[0]),
                        Builtin::Ceil => self.b.ins().ceil(vals[0]),
                        other => {
                            let (name, _, _) = wrapper(*other)
                                .ok_or_else(|| CodegenError(format!("no wrapper for {}", other.name())))?;
                            self.call(name, &vals)?
                        }
                    }
                }
            }
            // In a stage, a let is computed where it is first read.
            FExpr::Let(_, _, body) if self.staged.is_some() => self.expr(body)?,
            FExpr::Let(s, v, body) => {
                let val = self.expr(v)?;
                self.b.def_var(self.vars[*s as usize], val);
                self.expr(body)?
            }
        })
    }
}
