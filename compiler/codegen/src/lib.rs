//! Native code for `fn` items: the lowered IR of `phx_sema::fnir` compiled
//! with Cranelift. Two entry points per function: one point at a time, and
//! a grid kernel whose loop computes the coordinates itself, so evaluating a
//! field has no per-point call overhead. Builtins go through `extern "C"`
//! wrappers around Rust's own `f64` functions, so the JIT and the reference
//! interpreter agree to the last bit (the differential tests hold them to
//! it). The compiler and the language server never build this crate.

use std::collections::HashMap;
use std::sync::Arc;

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
    phx_tanh => f64::tanh, phx_exp => f64::exp, phx_ln => f64::ln, phx_log10 => f64::log10,
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
type GridFn = unsafe extern "C" fn(*mut f64, i64, i64, i64, f64, f64);

/// A compiled function. The module that owns its code lives as long as it.
pub struct Compiled {
    point: PointFn,
    grid: GridFn,
    arity: usize,
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
        // SAFETY: the kernel writes exactly `out.len()` f64s into `out`.
        unsafe { (self.grid)(out.as_mut_ptr(), start as i64, out.len() as i64, g as i64, lo, step) }
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

    // The grid kernel: fn(out, start, count, g, lo, step).
    for t in [ptr, types::I64, types::I64, types::I64, types::F64, types::F64] {
        ctx.func.signature.params.push(AbiParam::new(t));
    }
    let grid_id: FuncId = module.declare_function("grid", Linkage::Local, &ctx.func.signature).map_err(|e| err(&e))?;
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        let header = b.create_block();
        let body = b.create_block();
        let exit = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let (out, start, count, g, lo, step) = (p[0], p[1], p[2], p[3], p[4], p[5]);
        let i = b.declare_var(types::I64);
        let zero = b.ins().iconst(types::I64, 0);
        b.def_var(i, zero);
        // Grid counters, x fastest: divisions once per call, then each
        // point only increments and wraps them (no division per point).
        let counters: Vec<Variable> = (0..3).map(|_| b.declare_var(types::I64)).collect();
        let c0 = b.ins().srem(start, g);
        let rest = b.ins().sdiv(start, g);
        let c1 = b.ins().srem(rest, g);
        let c2 = b.ins().sdiv(rest, g);
        for (v, c) in counters.iter().zip([c0, c1, c2]) {
            b.def_var(*v, c);
        }
        b.ins().jump(header, &[]);
        b.switch_to_block(header);
        let iv = b.use_var(i);
        let more = b.ins().icmp(IntCC::SignedLessThan, iv, count);
        b.ins().brif(more, body, &[], exit, &[]);
        b.switch_to_block(body);
        b.seal_block(body);
        let iv = b.use_var(i);
        let mut params = Vec::new();
        for (axis, (_, t)) in ir.params.iter().enumerate() {
            let c = b.use_var(counters[axis]);
            let cf = b.ins().fcvt_from_sint(types::F64, c);
            let off = b.ins().fmul(cf, step);
            let x = b.ins().fadd(lo, off);
            params.push(from_f64(&mut b, x, *t));
        }
        let value = lower_body(&mut b, &mut module, &imports, ir, &slot_types, &params)?;
        let byte = b.ins().ishl_imm_u(iv, 3i64);
        let addr = b.ins().iadd(out, byte);
        b.ins().store(MemFlagsData::trusted(), value, addr, 0);
        let next = b.ins().iadd_imm_s(iv, 1);
        b.def_var(i, next);
        // Advance x; on wrapping, carry into y, then z (branch-free).
        let mut carry = b.ins().iconst(types::I64, 1);
        for v in &counters[..2] {
            let cur = b.use_var(*v);
            let inc = b.ins().iadd(cur, carry);
            let wrapped = b.ins().icmp(IntCC::Equal, inc, g);
            let zero = b.ins().iconst(types::I64, 0);
            let new = b.ins().select(wrapped, zero, inc);
            b.def_var(*v, new);
            carry = b.ins().uextend(types::I64, wrapped);
        }
        let cz = b.use_var(counters[2]);
        let nz = b.ins().iadd(cz, carry);
        b.def_var(counters[2], nz);
        b.ins().jump(header, &[]);
        b.seal_block(header);
        b.switch_to_block(exit);
        b.seal_block(exit);
        b.ins().return_(&[]);
        b.seal_block(entry);
        b.finalize(frontend);
    }
    module.define_function(grid_id, &mut ctx).map_err(|e| CodegenError(format!("{e:?}")))?;
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(|e| err(&e))?;
    // SAFETY: both functions were defined above with exactly these signatures.
    let (point, grid) = unsafe {
        (
            std::mem::transmute::<*const u8, PointFn>(module.get_finalized_function(point_id)),
            std::mem::transmute::<*const u8, GridFn>(module.get_finalized_function(grid_id)),
        )
    };
    Ok(Arc::new(Compiled { point, grid, arity: ir.params.len(), _module: module }))
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
    let mut l = Lower { b, module, imports, vars, refs: HashMap::new() };
    let v = l.expr(&ir.body)?;
    Ok(to_f64(l.b, v, ir.body.ty()))
}

struct Lower<'a, 'b> {
    b: &'a mut FunctionBuilder<'b>,
    module: &'a mut JITModule,
    imports: &'a HashMap<&'a str, FuncId>,
    vars: Vec<Variable>,
    refs: HashMap<&'static str, cranelift_codegen::ir::FuncRef>,
}

impl Lower<'_, '_> {
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
            FExpr::Slot(s, _) => self.b.use_var(self.vars[*s as usize]),
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
            FExpr::Let(s, v, body) => {
                let val = self.expr(v)?;
                self.b.def_var(self.vars[*s as usize], val);
                self.expr(body)?
            }
        })
    }
}
