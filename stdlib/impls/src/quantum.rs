//! `quantum.orbital` and `field.evaluate`: fields on grids.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use phx_sema::value::Value;

use crate::common::{arg, function, write_output};
use crate::field::{Field, FieldMeta};
use crate::orbital;

/// The Bohr radius, to turn a Length in SI into atomic units.
const BOHR: f64 = 5.29177210544e-11;

fn int(inv: &Invocation, name: &str) -> Result<i64, ToolError> {
    arg(inv, name)?.as_int().ok_or_else(|| ToolError::failed(format!("`{name}` must be an integer")))
}

pub(crate) fn length_in_bohr(inv: &Invocation, name: &str) -> Result<f64, ToolError> {
    match arg(inv, name)? {
        Value::Quantity { si, .. } => Ok(si / BOHR),
        other => other.as_f64().ok_or_else(|| ToolError::failed(format!("`{name}` must be a length"))),
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `quantum.orbital(n, l, m, Z, grid, extent)`.
pub struct Orbital;

impl Tool for Orbital {
    fn code_version(&self) -> String {
        crate::code_version("quantum.orbital")
    }

    fn gpu(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let (n, l, m, z) = (int(&inv, "n")?, int(&inv, "l")?, int(&inv, "m")?, int(&inv, "Z")?);
            let grid = int(&inv, "grid")?;
            let extent = length_in_bohr(&inv, "extent")?;
            // The schema's conditions hold at compile time; a run-time value
            // that breaks them is refused here too.
            if n < 1 || l < 0 || l >= n || m.abs() > l || z < 1 || grid < 2 || extent <= 0.0 {
                return Err(ToolError::failed(format!(
                    "no orbital with n = {n}, l = {l}, m = {m}, Z = {z} on a grid of {grid}"
                )));
            }
            crate::common::check_cap(&inv, "grid", grid, 160)?;
            let (n, l, g) = (n as usize, l as usize, grid as usize);
            let t0 = std::time::Instant::now();
            // The CPU path makes its own grid; only the GPU one fills this.
            let mut values = if inv.device == "gpu" { vec![0.0f64; g * g * g] } else { Vec::new() };
            let step = 2.0 * extent / (g.max(2) - 1) as f64;
            let source = || Ok(crate::orbital_cuda::density_source(n, l, m, z as f64));
            let (on_gpu, fallback) = try_gpu(&inv, source, &mut values, g, -extent, step, "compute the density");
            let (device, evaluator) = match on_gpu {
                Some(run) => ("gpu", run),
                None => {
                    values = orbital::density_grid(n, l, m, z as f64, g, extent, threads(), &|| inv.should_stop());
                    if let Some(stop) = inv.interrupted() {
                        return Err(stop);
                    }
                    ("cpu", "cpu".to_string())
                }
            };
            let field = Field {
                shape: vec![g, g, g],
                lo: vec![-extent; 3],
                hi: vec![extent; 3],
                axis_unit: "bohr".into(),
                value_unit: "bohr^-3".into(),
                values,
            };
            let integral = field.integral();
            let ms = t0.elapsed().as_millis() as u64;
            let what = format!(
                "probability density |psi_nlm|^2 of the hydrogen-like orbital n = {n}, l = {l}, m = {m}, Z = {z}"
            );
            let bytes = field.to_netcdf(&FieldMeta::of(&inv, "density", what)).map_err(ToolError::failed)?;
            let mut density = write_output(&inv, "density", &bytes)?;
            density.meta = serde_json::json!({"dtype": "f64", "samples": g * g * g, "mesh": [g, g, g], "extent_bohr": extent, "grid_integral": integral, "duration_ms": ms, "evaluator": evaluator});
            let rows = 400;
            let r_max = extent * 3f64.sqrt();
            let mut csv = String::from("r [bohr],R_nl [bohr^{-3/2}],P [bohr^-1]\n");
            for i in 0..rows {
                let r = r_max * i as f64 / (rows - 1) as f64;
                let rr = orbital::radial(n, l, z as f64, r);
                csv.push_str(&format!("{r:?},{rr:?},{:?}\n", r * r * rr * rr));
            }
            let radial = write_output(&inv, "radial", csv.as_bytes())?;
            Ok(Produced { outputs: vec![density, radial], device: device.into(), fallback, exit_code: None })
        })
    }
}

/// Native code for a function, compiled once per body hash and process.
pub(crate) fn jit_for(ir: &phx_sema::fnir::FnIr) -> Result<std::sync::Arc<phx_codegen::Compiled>, String> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<phx_codegen::Compiled>>>> = OnceLock::new();
    let hash = ir.body_hash();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().ok().and_then(|m| m.get(&hash).cloned()) {
        return Ok(c);
    }
    let compiled = phx_codegen::compile(ir).map_err(|e| e.to_string())?;
    if let Ok(mut m) = cache.lock() {
        m.insert(hash, compiled.clone());
    }
    Ok(compiled)
}

/// A grid of `g` points per axis over [-extent, extent] bohr, as a field
/// file described by `meta`.
fn field_bytes(values: Vec<f64>, g: usize, dims: usize, extent: f64, meta: &FieldMeta) -> Result<Vec<u8>, ToolError> {
    Field {
        shape: vec![g; dims],
        lo: vec![-extent; dims],
        hi: vec![extent; dims],
        axis_unit: "bohr".into(),
        value_unit: "1".into(),
        values,
    }
    .to_netcdf(meta)
    .map_err(ToolError::failed)
}

/// `values` on the GPU when the node asks for one, through the CUDA
/// kernel `source` makes: how they were computed, or `None` (then the
/// caller computes them on the CPU) with the reason when a GPU was asked
/// for and failed.
fn try_gpu(
    inv: &Invocation,
    source: impl FnOnce() -> Result<String, String>,
    values: &mut [f64],
    g: usize,
    lo: f64,
    step: f64,
    what: &str,
) -> (Option<String>, Option<String>) {
    if inv.device != "gpu" {
        return (None, None);
    }
    let ran = source()
        .and_then(|src| phx_devices::grid::evaluate_grid(&src, &phx_codegen::cuda::NVRTC_OPTIONS, values, g, lo, step));
    match ran {
        Ok(run) => (Some(run.describe()), None),
        Err(reason) => (None, Some(format!("the GPU could not {what}: {reason}"))),
    }
}

/// `values` of `ir` on the CPU, on every core: the JIT's grid kernel, or
/// the interpreter when the function does not compile. Says which.
fn cpu_fill(
    inv: &Invocation,
    ir: &phx_sema::fnir::FnIr,
    values: &mut [f64],
    g: usize,
    extent: f64,
    step: f64,
) -> String {
    let dims = ir.params.len();
    let (jit, evaluator) = match jit_for(ir) {
        Ok(j) => (Some(j), "jit".to_string()),
        Err(e) => (None, format!("interpreter (the JIT failed: {e})")),
    };
    let per = values.len().div_ceil(threads()).max(1);
    std::thread::scope(|s| {
        for (c, chunk) in values.chunks_mut(per).enumerate() {
            let jit = &jit;
            s.spawn(move || {
                // Pieces of 64 Ki points: long enough that the loop runs
                // free, short enough to stop promptly.
                const PIECE: usize = 1 << 16;
                for (p, piece) in chunk.chunks_mut(PIECE).enumerate() {
                    if inv.should_stop() {
                        return;
                    }
                    let start = c * per + p * PIECE;
                    match jit {
                        Some(j) => j.fill_grid(piece, start, g, -extent, step),
                        None => {
                            let mut point = [0.0f64; 3];
                            for (k, out) in piece.iter_mut().enumerate() {
                                let mut idx = start + k;
                                for q in point.iter_mut().take(dims) {
                                    *q = -extent + (idx % g) as f64 * step;
                                    idx /= g;
                                }
                                *out = ir.eval_f64(&point[..dims]);
                            }
                        }
                    }
                }
            });
        }
    });
    evaluator
}

/// `field.evaluate(f, grid, extent)`: a `fn` of 1 to 3 Floats on a grid.
pub struct Evaluate;

impl Tool for Evaluate {
    fn code_version(&self) -> String {
        crate::code_version("field.evaluate")
    }

    fn gpu(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let ir = function(&inv, "f")?;
            let dims = ir.params.len();
            if !(1..=3).contains(&dims) {
                return Err(ToolError::failed(format!("`f` must take 1 to 3 arguments; `{}` takes {dims}", ir.name)));
            }
            let g = int(&inv, "grid")? as usize;
            crate::common::check_cap(&inv, "grid", g as i64, 160)?;
            let extent = length_in_bohr(&inv, "extent")?;
            let step = 2.0 * extent / (g.max(2) - 1) as f64;
            let total = g.pow(dims as u32);
            let mut values = vec![0.0f64; total];
            let source = || phx_codegen::cuda::cuda_source(&ir).map_err(|e| format!("no CUDA code for it: {e}"));
            let what = format!("evaluate `{}`", ir.name);
            let (on_gpu, fallback) = try_gpu(&inv, source, &mut values, g, -extent, step, &what);
            let (device, evaluator) = match on_gpu {
                Some(run) => ("gpu", run),
                None => ("cpu", cpu_fill(&inv, &ir, &mut values, g, extent, step)),
            };
            // A stopped evaluation leaves a partial grid: never return it.
            if let Some(stop) = inv.interrupted() {
                return Err(stop);
            }
            let args = ["x", "y", "z"][..dims].join(", ");
            let meta = FieldMeta::of(&inv, "values", format!("{}({args})", ir.name));
            let mut out = write_output(&inv, "values", &field_bytes(values, g, dims, extent, &meta)?)?;
            out.kind = format!("Field{dims}D");
            out.meta =
                serde_json::json!({"dtype": "f64", "samples": total, "mesh": vec![g; dims], "evaluator": evaluator});
            Ok(Produced { outputs: vec![out], device: device.into(), fallback, exit_code: None })
        })
    }
}
