//! What compute devices this machine offers, found at run time.
//!
//! CUDA is loaded dynamically (cudarc's `dynamic-loading`): a machine
//! without a driver runs phx all the same, and every question about the GPU
//! gets an answer with a reason, never a panic. The library presence is
//! checked before any call that would load it.

pub mod grid;

/// One GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpu {
    pub ordinal: usize,
    pub name: String,
    pub total_memory: u64,
    pub free_memory: u64,
}

/// What the machine offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Devices {
    pub cpus: usize,
    pub gpus: Vec<Gpu>,
    /// Why there is no GPU, when there is none.
    pub no_gpu_reason: Option<String>,
    /// Whether NVRTC (run-time compilation of kernels) can be loaded.
    pub nvrtc: bool,
}

/// Whether the CUDA driver library can be loaded (asked before any call
/// that would load it: cudarc panics on a missing library).
pub fn driver_present() -> bool {
    // SAFETY: is_culib_present only tries to dlopen the library.
    std::panic::catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() }).unwrap_or(false)
}

/// Whether NVRTC (run-time compilation of kernels) can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: is_culib_present only tries to dlopen the library.
    std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false)
}

/// Finds the devices, CUDA through dynamic loading.
pub fn detect() -> Devices {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let nvrtc = nvrtc_present();
    match cuda_gpus() {
        Ok(gpus) if gpus.is_empty() => {
            Devices { cpus, gpus, no_gpu_reason: Some("the CUDA driver found no device".into()), nvrtc }
        }
        Ok(gpus) => Devices { cpus, gpus, no_gpu_reason: None, nvrtc },
        Err(reason) => Devices { cpus, gpus: Vec::new(), no_gpu_reason: Some(reason), nvrtc },
    }
}

fn cuda_gpus() -> Result<Vec<Gpu>, String> {
    // Checked first: a missing library would otherwise panic inside cudarc.
    if !driver_present() {
        return Err("no CUDA driver found (libcuda is not installed)".into());
    }
    let outcome = std::panic::catch_unwind(|| -> Result<Vec<Gpu>, String> {
        use cudarc::driver::result;
        result::init().map_err(|e| format!("the CUDA driver did not initialise: {e}"))?;
        let n = result::device::get_count().map_err(|e| format!("cannot count CUDA devices: {e}"))?;
        let mut gpus = Vec::new();
        for ordinal in 0..n.max(0) as usize {
            let ctx = cudarc::driver::CudaContext::new(ordinal).map_err(|e| format!("device {ordinal}: {e}"))?;
            let name = ctx.name().unwrap_or_else(|_| format!("CUDA device {ordinal}"));
            let (free, total) = result::mem_get_info().map_err(|e| format!("device {ordinal}: {e}"))?;
            gpus.push(Gpu { ordinal, name, total_memory: total as u64, free_memory: free as u64 });
        }
        Ok(gpus)
    });
    outcome.unwrap_or_else(|_| Err("the CUDA driver is too old or broken (loading it failed)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_answers_with_a_reason_and_never_panics() {
        let d = detect();
        assert!(d.cpus >= 1);
        // Either GPUs are listed, or there is a reason there are none.
        assert_eq!(d.gpus.is_empty(), d.no_gpu_reason.is_some(), "{d:?}");
    }
}
