//! `quantum.eigen1d`: bound states of -1/2 d^2/dx^2 + V(x) (atomic units)
//! by second-order finite differences with zero boundary values. The
//! matrix is symmetric tridiagonal: eigenvalues by bisection on Sturm
//! sequence counts (robust, exact to rounding), eigenvectors by inverse
//! iteration.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};

use crate::common::{Evaluator, arg, check_cap, float, function_of_arity, write_output};

/// The number of eigenvalues of the tridiagonal matrix (diagonal `d`,
/// constant off-diagonal `e`) below `x`.
fn count_below(d: &[f64], e: f64, x: f64) -> usize {
    let mut count = 0;
    let mut q = 1.0f64;
    for (i, di) in d.iter().enumerate() {
        let off = if i == 0 { 0.0 } else { e * e / q };
        q = di - x - off;
        if q == 0.0 {
            q = f64::EPSILON * (di.abs() + e.abs()).max(f64::MIN_POSITIVE);
        }
        if q < 0.0 {
            count += 1;
        }
    }
    count
}

/// The `k`-th smallest eigenvalue (0-based), by bisection.
fn eigenvalue(d: &[f64], e: f64, k: usize) -> f64 {
    let lo0 = d.iter().fold(f64::INFINITY, |a, b| a.min(*b)) - 2.0 * e.abs();
    let hi0 = d.iter().fold(f64::NEG_INFINITY, |a, b| a.max(*b)) + 2.0 * e.abs();
    let (mut lo, mut hi) = (lo0, hi0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if count_below(d, e, mid) > k {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Solves (T - s) x = b for tridiagonal T (Thomas algorithm).
fn solve_shifted(d: &[f64], e: f64, s: f64, b: &[f64]) -> Vec<f64> {
    let n = d.len();
    let mut c = vec![0.0; n];
    let mut x = vec![0.0; n];
    let mut denom = d[0] - s;
    if denom == 0.0 {
        denom = f64::EPSILON;
    }
    c[0] = e / denom;
    x[0] = b[0] / denom;
    for i in 1..n {
        let mut m = d[i] - s - e * c[i - 1];
        if m == 0.0 {
            m = f64::EPSILON;
        }
        c[i] = e / m;
        x[i] = (b[i] - e * x[i - 1]) / m;
    }
    for i in (0..n - 1).rev() {
        x[i] -= c[i] * x[i + 1];
    }
    x
}

/// The lowest `levels` eigenpairs on `points` interior points of
/// [x_min, x_max]. Eigenvalues are Richardson-extrapolated from this grid
/// and one with half the points (the scheme's error is c h^2 + O(h^4)), so
/// they are fourth-order accurate; states are the fine grid's.
pub fn solve(
    v: &dyn Fn(f64) -> f64,
    x_min: f64,
    x_max: f64,
    points: usize,
    levels: usize,
) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let (xs, fine, states) = solve_plain(v, x_min, x_max, points, levels);
    let coarse_points = points / 2;
    if coarse_points <= levels + 2 {
        return (xs, fine, states);
    }
    let (_, coarse, _) = solve_plain(v, x_min, x_max, coarse_points, levels);
    let h = (x_max - x_min) / (points + 1) as f64;
    let big = (x_max - x_min) / (coarse_points + 1) as f64;
    let ratio = (big / h).powi(2) - 1.0;
    let energies = fine.iter().zip(&coarse).map(|(f, c)| f + (f - c) / ratio).collect();
    (xs, energies, states)
}

/// The eigenpairs of the second-order finite-difference Hamiltonian;
/// states normalised so that the integral of psi^2 dx is 1, with a
/// positive first lobe.
fn solve_plain(
    v: &dyn Fn(f64) -> f64,
    x_min: f64,
    x_max: f64,
    points: usize,
    levels: usize,
) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let h = (x_max - x_min) / (points + 1) as f64;
    let xs: Vec<f64> = (1..=points).map(|i| x_min + i as f64 * h).collect();
    let d: Vec<f64> = xs.iter().map(|x| 1.0 / (h * h) + v(*x)).collect();
    let e = -0.5 / (h * h);
    let mut energies = Vec::with_capacity(levels);
    let mut states = Vec::with_capacity(levels);
    for k in 0..levels {
        let lambda = eigenvalue(&d, e, k);
        // Inverse iteration from a vector with every component.
        let mut psi: Vec<f64> = (0..points).map(|i| 1.0 + 0.01 * ((i * 7919) % 13) as f64).collect();
        let shift = lambda + 1e-10 * lambda.abs().max(1.0);
        for _ in 0..3 {
            psi = solve_shifted(&d, e, shift, &psi);
            let norm = (psi.iter().map(|p| p * p).sum::<f64>() * h).sqrt();
            psi.iter_mut().for_each(|p| *p /= norm);
        }
        if let Some(first) = psi.iter().find(|p| p.abs() > 1e-8)
            && *first < 0.0
        {
            psi.iter_mut().for_each(|p| *p = -*p);
        }
        energies.push(lambda);
        states.push(psi);
    }
    (xs, energies, states)
}

/// `quantum.eigen1d(potential, x_min, x_max, points, levels)`.
pub struct Eigen1d;

impl Tool for Eigen1d {
    fn code_version(&self) -> String {
        crate::code_version("quantum.eigen1d")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let potential = Evaluator::new(function_of_arity(&inv, "potential", 1)?);
            let (x_min, x_max) = (float(&inv, "x_min")?, float(&inv, "x_max")?);
            let points = arg(&inv, "points")?.as_int().unwrap_or(1000).max(3) as usize;
            let levels = arg(&inv, "levels")?.as_int().unwrap_or(5).clamp(1, points as i64 - 1) as usize;
            check_cap(&inv, "points", points as i64, 20_000)?;
            check_cap(&inv, "levels", levels as i64, 100)?;
            let v = |x: f64| potential.call(&[x]);
            let (xs, energies, states) = solve(&v, x_min, x_max, points, levels);
            if let Some(stop) = inv.interrupted() {
                return Err(stop);
            }
            // Atomic units: energies in hartree, x in bohr, states normalised
            // so that the integral of psi^2 dx is 1.
            let mut e_csv = String::from("n,E [hartree]\n");
            for (n, e) in energies.iter().enumerate() {
                e_csv.push_str(&format!("{n},{e:?}\n"));
            }
            let mut s_csv = String::from("x [bohr]");
            for n in 0..levels {
                s_csv.push_str(&format!(",psi_{n} [bohr^{{-1/2}}]"));
            }
            s_csv.push('\n');
            for (i, x) in xs.iter().enumerate() {
                s_csv.push_str(&format!("{x:?}"));
                for st in &states {
                    s_csv.push_str(&format!(",{:?}", st[i]));
                }
                s_csv.push('\n');
            }
            let outputs = vec![
                write_output(&inv, "energies", e_csv.as_bytes())?,
                write_output(&inv, "states", s_csv.as_bytes())?,
            ];
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harmonic_well_gives_n_plus_a_half() {
        let (_, e, states) = solve(&|x| 0.5 * x * x, -10.0, 10.0, 2000, 6);
        for (n, en) in e.iter().enumerate() {
            assert!((en - (n as f64 + 0.5)).abs() < 1e-4, "E_{n} = {en}");
        }
        // Normalised, and the ground state is the Gaussian pi^-1/4 exp(-x^2/2).
        let h = 20.0 / 2001.0;
        let norm: f64 = states[0].iter().map(|p| p * p).sum::<f64>() * h;
        assert!((norm - 1.0).abs() < 1e-10);
        let mid = 999; // x close to 0
        let x = -10.0 + (mid + 1) as f64 * h;
        let gauss = std::f64::consts::PI.powf(-0.25) * (-x * x / 2.0).exp();
        assert!((states[0][mid] - gauss).abs() < 1e-4, "{} vs {gauss}", states[0][mid]);
    }

    #[test]
    fn a_box_gives_the_particle_in_a_box_levels() {
        // V = 0 on [0, L] with hard walls: E_n = (n + 1)^2 pi^2 / (2 L^2).
        let l = 2.0;
        let (_, e, _) = solve(&|_| 0.0, 0.0, l, 4000, 4);
        for (n, en) in e.iter().enumerate() {
            let want = ((n + 1) as f64 * std::f64::consts::PI / l).powi(2) / 2.0;
            assert!((en - want).abs() / want < 1e-5, "E_{n} = {en}, want {want}");
        }
    }
}
