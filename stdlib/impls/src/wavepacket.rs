//! `quantum.wavepacket`: a Gaussian packet under -1/2 d^2/dx^2 + V(x)
//! (atomic units), propagated by the symmetric split-operator method
//! (Feit, Fleck and Steiger 1982): half a potential step, the kinetic step
//! in momentum space by FFT, half a potential step. Every factor is a
//! phase, so the scheme is unitary and conserves the norm to rounding; the
//! box is periodic.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex64;

use crate::common::{Evaluator, arg, check_cap, float, function_of_arity, write_output};
use crate::field::{Axis, Field, FieldMeta};

/// What to propagate, and for how long.
#[derive(Clone, Debug)]
pub struct Setup {
    pub x0: f64,
    pub k0: f64,
    pub sigma: f64,
    pub x_min: f64,
    pub x_max: f64,
    pub points: usize,
    pub dt: f64,
    pub frames: usize,
    pub steps_per_frame: usize,
}

/// One recorded frame: the time, |psi|^2 on the grid, the norm and <x>.
#[derive(Clone, Debug)]
pub struct Frame {
    pub t: f64,
    pub density: Vec<f64>,
    pub norm: f64,
    pub mean_x: f64,
}

impl Setup {
    /// The grid spacing of the periodic box.
    pub fn dx(&self) -> f64 {
        (self.x_max - self.x_min) / self.points as f64
    }

    /// The grid points.
    pub fn xs(&self) -> Vec<f64> {
        (0..self.points).map(|j| self.x_min + j as f64 * self.dx()).collect()
    }
}

/// Propagates and records `frames` frames, the first at t = 0. `stop`
/// is polled once per frame so a cancelled run ends promptly.
pub fn propagate(setup: &Setup, v: &dyn Fn(f64) -> f64, stop: &dyn Fn() -> bool) -> Option<Vec<Frame>> {
    let n = setup.points;
    let dx = setup.dx();
    let xs = setup.xs();
    // psi(x, 0) = (2 pi sigma^2)^(-1/4) exp(-(x - x0)^2 / (4 sigma^2) + i k0 x):
    // |psi|^2 is a normal density of standard deviation sigma.
    let amp = (2.0 * std::f64::consts::PI * setup.sigma * setup.sigma).powf(-0.25);
    let mut psi: Vec<Complex64> = xs
        .iter()
        .map(|x| {
            let g = amp * (-(x - setup.x0).powi(2) / (4.0 * setup.sigma * setup.sigma)).exp();
            Complex64::from_polar(g, setup.k0 * x)
        })
        .collect();
    let half_potential: Vec<Complex64> =
        xs.iter().map(|x| Complex64::from_polar(1.0, -0.5 * v(*x) * setup.dt)).collect();
    // Wave numbers in FFT order: 0, 1, ..., n/2 - 1, -n/2, ..., -1 times 2 pi / L.
    let dk = 2.0 * std::f64::consts::PI / (n as f64 * dx);
    let kinetic: Vec<Complex64> = (0..n)
        .map(|j| {
            let m = if j < n.div_ceil(2) { j as f64 } else { j as f64 - n as f64 };
            let k = m * dk;
            // The 1/n of the inverse transform is folded in here.
            Complex64::from_polar(1.0 / n as f64, -0.5 * k * k * setup.dt)
        })
        .collect();
    let mut planner = FftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n);
    let mut scratch =
        vec![Complex64::new(0.0, 0.0); forward.get_inplace_scratch_len().max(inverse.get_inplace_scratch_len())];
    let record = |psi: &[Complex64], t: f64| {
        let density: Vec<f64> = psi.iter().map(|p| p.norm_sqr()).collect();
        let norm = density.iter().sum::<f64>() * dx;
        let mean_x = density.iter().zip(&xs).map(|(d, x)| d * x).sum::<f64>() * dx / norm;
        Frame { t, density, norm, mean_x }
    };
    let mut frames = Vec::with_capacity(setup.frames);
    frames.push(record(&psi, 0.0));
    let mut steps = 0usize;
    while frames.len() < setup.frames {
        if stop() {
            return None;
        }
        for _ in 0..setup.steps_per_frame {
            psi.iter_mut().zip(&half_potential).for_each(|(p, h)| *p *= h);
            forward.process_with_scratch(&mut psi, &mut scratch);
            psi.iter_mut().zip(&kinetic).for_each(|(p, k)| *p *= k);
            inverse.process_with_scratch(&mut psi, &mut scratch);
            psi.iter_mut().zip(&half_potential).for_each(|(p, h)| *p *= h);
        }
        steps += setup.steps_per_frame;
        frames.push(record(&psi, steps as f64 * setup.dt));
    }
    Some(frames)
}

/// `quantum.wavepacket(potential, x0, k0, sigma, x_min, x_max, points, dt, frames, steps_per_frame)`.
pub struct Wavepacket;

impl Tool for Wavepacket {
    fn code_version(&self) -> String {
        crate::code_version("quantum.wavepacket")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let potential = Evaluator::new(function_of_arity(&inv, "potential", 1)?);
            let int = |name: &str, default: i64| arg(&inv, name).map(|v| v.as_int().unwrap_or(default));
            let setup = Setup {
                x0: float(&inv, "x0")?,
                k0: float(&inv, "k0")?,
                sigma: float(&inv, "sigma")?,
                x_min: float(&inv, "x_min")?,
                x_max: float(&inv, "x_max")?,
                points: int("points", 1024)?.max(0) as usize,
                dt: float(&inv, "dt")?,
                frames: int("frames", 100)?.max(0) as usize,
                steps_per_frame: int("steps_per_frame", 10)?.max(0) as usize,
            };
            if !(setup.sigma > 0.0 && setup.x_max > setup.x_min && setup.dt > 0.0)
                || setup.points < 16
                || setup.frames < 1
                || setup.steps_per_frame < 1
            {
                return Err(ToolError::failed(format!(
                    "no packet with sigma = {}, box [{}, {}], {} points, dt = {}, {} frames of {} steps",
                    setup.sigma, setup.x_min, setup.x_max, setup.points, setup.dt, setup.frames, setup.steps_per_frame
                )));
            }
            check_cap(&inv, "points", setup.points as i64, 16_384)?;
            check_cap(&inv, "frames", setup.frames as i64, 300)?;
            let v = |x: f64| potential.call(&[x]);
            let t0 = std::time::Instant::now();
            let Some(frames) = propagate(&setup, &v, &|| inv.should_stop()) else {
                return Err(inv.interrupted().unwrap_or_else(|| ToolError::failed("stopped")));
            };
            let ms = t0.elapsed().as_millis() as u64;
            let t_end = frames.last().map_or(0.0, |f| f.t);
            let field = Field {
                shape: vec![setup.points, frames.len()],
                lo: vec![setup.x_min, 0.0],
                hi: vec![setup.x_min + (setup.points - 1) as f64 * setup.dx(), t_end],
                axis_unit: "a.u. (x in bohr, t in hbar/Eh)".into(),
                value_unit: "bohr^-1".into(),
                values: frames.iter().flat_map(|f| f.density.iter().copied()).collect(),
            };
            let meta = FieldMeta::of(&inv, "density", "probability density |psi(x, t)|^2")
                .with_axes(vec![Axis::new("x", "bohr", "position"), Axis::new("t", "hbar/Eh", "time")]);
            let bytes = field.to_netcdf(&meta).map_err(ToolError::failed)?;
            let mut density = write_output(&inv, "density", &bytes)?;
            density.meta = serde_json::json!({
                "dtype": "f64",
                "samples": field.values.len(),
                "mesh": [setup.points, frames.len()],
                "duration_ms": ms,
                "method": "split-operator FFT",
            });
            let mut csv = String::from("t [hbar/E_h],norm,mean_x [bohr]\n");
            for f in &frames {
                csv.push_str(&format!("{:?},{:?},{:?}\n", f.t, f.norm, f.mean_x));
            }
            let norm = write_output(&inv, "norm", csv.as_bytes())?;
            Ok(Produced { outputs: vec![density, norm], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(frames: usize) -> Setup {
        Setup {
            x0: -20.0,
            k0: 1.5,
            sigma: 3.0,
            x_min: -100.0,
            x_max: 100.0,
            points: 2048,
            dt: 0.01,
            frames,
            steps_per_frame: 10,
        }
    }

    #[test]
    fn the_norm_is_conserved_over_300_frames() {
        let frames = propagate(&free(300), &|x| if x.abs() < 1.0 { 1.2 } else { 0.0 }, &|| false).unwrap();
        assert_eq!(frames.len(), 300);
        let n0 = frames[0].norm;
        assert!((n0 - 1.0).abs() < 1e-10, "the initial packet is normalised: {n0}");
        for f in &frames {
            assert!((f.norm - n0).abs() < 1e-10, "norm {} at t = {}", f.norm, f.t);
        }
    }

    #[test]
    fn a_free_packet_moves_at_k0() {
        let frames = propagate(&free(300), &|_| 0.0, &|| false).unwrap();
        let last = frames.last().unwrap();
        // <x>(t) = x0 + k0 t exactly for a free packet (m = hbar = 1).
        let expected = -20.0 + 1.5 * last.t;
        assert!((last.t - 29.9).abs() < 1e-9);
        assert!((last.mean_x - expected).abs() < 1e-6, "<x> = {} against {expected}", last.mean_x);
    }

    #[test]
    fn a_free_packet_spreads_as_the_analytic_gaussian() {
        let setup = free(101);
        let frames = propagate(&setup, &|_| 0.0, &|| false).unwrap();
        let last = frames.last().unwrap();
        let xs = setup.xs();
        let var = last.density.iter().zip(&xs).map(|(d, x)| d * (x - last.mean_x).powi(2)).sum::<f64>() * setup.dx();
        // sigma(t)^2 = sigma^2 (1 + (t / (2 sigma^2))^2).
        let s2 = 9.0 * (1.0 + (last.t / 18.0).powi(2));
        assert!((var - s2).abs() < 1e-8 * s2, "{var} against {s2}");
    }
}
