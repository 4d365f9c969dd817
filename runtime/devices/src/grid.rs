//! Evaluating a generated grid kernel (`phx_codegen::cuda`) on the GPU:
//! NVRTC compiles the source once per process and source text, the grid is
//! computed in chunks that fit the device's free memory, and an allocation
//! that fails for lack of memory is retried with half the chunk, down to a
//! floor. Every failure comes back as a reason (the caller then computes on
//! the CPU and records it), never as a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaStream, LaunchConfig, PushKernelArg};

/// The kernel's name in the generated source.
const KERNEL: &str = "phx_grid";
/// Threads per block; the kernel strides over the grid, so the block count
/// is capped and every point is still covered.
const THREADS: u32 = 256;
const MAX_BLOCKS: u32 = 65_535;
/// The share of the free memory a chunk may take.
const FREE_SHARE: f64 = 0.8;
/// Below this many points per chunk, give up on the GPU.
const FLOOR: usize = 1 << 16;

/// What a grid evaluation on the GPU did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuRun {
    /// The device's name.
    pub device: String,
    /// How many chunks the grid took.
    pub chunks: usize,
    /// Why chunks got smaller than the free memory suggested, if they did.
    pub note: Option<String>,
}

impl GpuRun {
    /// How the values were computed, for an artifact's metadata.
    pub fn describe(&self) -> String {
        match &self.note {
            Some(note) => format!("cuda on {} ({} chunks; {note})", self.device, self.chunks),
            None => format!("cuda on {} ({} chunks)", self.device, self.chunks),
        }
    }
}

/// Fills `out` with the kernel of `source` on points `0..out.len()` of a
/// `g`-per-axis grid from `lo` in steps of `step`. `options` are NVRTC's
/// (the generator's `NVRTC_OPTIONS`).
pub fn evaluate_grid(
    source: &str,
    options: &[&str],
    out: &mut [f64],
    g: usize,
    lo: f64,
    step: f64,
) -> Result<GpuRun, String> {
    if !crate::driver_present() {
        return Err("no CUDA driver found (libcuda is not installed)".into());
    }
    if !crate::nvrtc_present() {
        return Err("NVRTC (libnvrtc) is not installed, so kernels cannot be compiled".into());
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(source, options, out, g, lo, step)))
        .unwrap_or_else(|_| Err("the CUDA libraries failed while loading (too old or broken)".into()))
}

/// A compiled kernel, per source text, for the process's lifetime.
fn kernel(ctx: &Arc<CudaContext>, source: &str, options: &[&str]) -> Result<CudaFunction, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, CudaFunction>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(f) = cache.lock().ok().and_then(|c| c.get(source).cloned()) {
        return Ok(f);
    }
    let opts = cudarc::nvrtc::CompileOptions {
        options: options.iter().map(|o| o.to_string()).collect(),
        ..Default::default()
    };
    let ptx =
        cudarc::nvrtc::compile_ptx_with_opts(source, opts).map_err(|e| format!("NVRTC refused the kernel: {e}"))?;
    let module = ctx.load_module(ptx).map_err(|e| format!("cannot load the kernel: {e}"))?;
    let f = module.load_function(KERNEL).map_err(|e| format!("the kernel has no `{KERNEL}`: {e}"))?;
    if let Ok(mut c) = cache.lock() {
        c.insert(source.to_string(), f.clone());
    }
    Ok(f)
}

fn run(source: &str, options: &[&str], out: &mut [f64], g: usize, lo: f64, step: f64) -> Result<GpuRun, String> {
    let ctx = CudaContext::new(0).map_err(|e| format!("cannot open GPU 0: {e}"))?;
    let device = ctx.name().unwrap_or_else(|_| "CUDA device 0".into());
    let f = kernel(&ctx, source, options)?;
    let stream = ctx.default_stream();
    let (free, _total) = ctx.mem_get_info().map_err(|e| format!("cannot read the GPU's free memory: {e}"))?;
    let mut chunk = first_chunk(out.len(), free);
    let mut note = None;
    let mut done = 0;
    let mut chunks = 0;
    while done < out.len() {
        let len = chunk.min(out.len() - done);
        match launch(&stream, &f, &mut out[done..done + len], done, g, lo, step) {
            Ok(()) => {
                done += len;
                chunks += 1;
            }
            Err(Launch::OutOfMemory(e)) => {
                chunk = shrink(chunk).ok_or_else(|| {
                    format!("the GPU ran out of memory even for {} points per chunk ({e})", chunk.min(FLOOR))
                })?;
                note = Some(format!("out of GPU memory ({e}); chunks of {chunk} points"));
            }
            Err(Launch::Failed(e)) => return Err(e),
        }
    }
    Ok(GpuRun { device, chunks, note })
}

enum Launch {
    OutOfMemory(String),
    Failed(String),
}

fn launch(
    stream: &Arc<CudaStream>,
    f: &CudaFunction,
    out: &mut [f64],
    start: usize,
    g: usize,
    lo: f64,
    step: f64,
) -> Result<(), Launch> {
    let oom = |e: cudarc::driver::DriverError| {
        let text = e.to_string();
        if text.contains("OUT_OF_MEMORY") { Launch::OutOfMemory(text) } else { Launch::Failed(text) }
    };
    let mut buffer = stream.alloc_zeros::<f64>(out.len()).map_err(oom)?;
    let (start, count, g) = (start as i64, out.len() as i64, g as i64);
    let blocks = (out.len() as u64).div_ceil(u64::from(THREADS)).min(u64::from(MAX_BLOCKS)) as u32;
    let cfg = LaunchConfig { grid_dim: (blocks.max(1), 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 };
    let mut args = stream.launch_builder(f);
    args.arg(&mut buffer).arg(&start).arg(&count).arg(&g).arg(&lo).arg(&step);
    // SAFETY: the kernel takes (double*, long long, long long, long long,
    // double, double) and writes exactly `count` values into the buffer.
    unsafe { args.launch(cfg) }.map_err(|e| Launch::Failed(format!("the kernel did not launch: {e}")))?;
    stream.memcpy_dtoh(&buffer, out).map_err(oom)?;
    stream.synchronize().map_err(|e| Launch::Failed(format!("the kernel failed: {e}")))?;
    Ok(())
}

/// Points per chunk for `total` points with `free` bytes free on the device.
fn first_chunk(total: usize, free: usize) -> usize {
    let fits = ((free as f64 * FREE_SHARE) / 8.0) as usize;
    total.min(fits.max(FLOOR)).max(1)
}

/// Half the chunk, or `None` once it would go below the floor.
fn shrink(chunk: usize) -> Option<usize> {
    (chunk / 2 >= FLOOR).then_some(chunk / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fit_the_free_memory_and_halve_down_to_the_floor() {
        // 4 GiB free: 80% of it in doubles.
        assert_eq!(first_chunk(1 << 30, 4 << 30), ((4u64 << 30) as f64 * 0.8 / 8.0) as usize);
        // A small grid goes in one chunk; a device with no memory left still
        // gets a floor-sized try.
        assert_eq!(first_chunk(1000, 4 << 30), 1000);
        assert_eq!(first_chunk(1 << 24, 0), FLOOR);
        let mut c = 1 << 20;
        let mut steps = 0;
        while let Some(next) = shrink(c) {
            assert_eq!(next, c / 2);
            c = next;
            steps += 1;
        }
        assert_eq!((c, steps), (FLOOR, 4));
    }

    #[test]
    fn without_a_gpu_the_answer_is_a_reason() {
        if crate::detect().gpus.is_empty() {
            let mut out = vec![0.0; 8];
            let err = evaluate_grid("", &[], &mut out, 2, 0.0, 1.0).unwrap_err();
            assert!(err.contains("CUDA") || err.contains("NVRTC"), "{err}");
            assert!(out.iter().all(|v| *v == 0.0), "nothing was written");
        }
    }
}
