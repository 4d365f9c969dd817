//! Hydrogen-like orbitals in atomic units: radial functions from associated
//! Laguerre polynomials, real spherical harmonics from associated Legendre
//! functions, both by stable three-term recurrences.

use std::f64::consts::PI;

/// ln(k!) by summation (k is small here: n + l).
fn ln_factorial(k: usize) -> f64 {
    (2..=k).map(|i| (i as f64).ln()).sum()
}

/// The generalised Laguerre polynomial L_k^(alpha)(x), by upward recurrence.
pub fn laguerre(k: usize, alpha: f64, x: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let (mut prev, mut cur) = (1.0, 1.0 + alpha - x);
    for j in 1..k {
        let j = j as f64;
        let next = ((2.0 * j + 1.0 + alpha - x) * cur - (j + alpha) * prev) / (j + 1.0);
        prev = cur;
        cur = next;
    }
    cur
}

/// The radial function R_nl(r) of a hydrogen-like atom with charge Z,
/// normalised so that the integral of r^2 R^2 over r is 1.
pub fn radial(n: usize, l: usize, z: f64, r: f64) -> f64 {
    let nf = n as f64;
    let rho = 2.0 * z * r / nf;
    let ln_norm = 0.5 * (3.0 * (2.0 * z / nf).ln() + ln_factorial(n - l - 1) - (2.0 * nf).ln() - ln_factorial(n + l));
    ln_norm.exp() * rho.powi(l as i32) * (-rho / 2.0).exp() * laguerre(n - l - 1, (2 * l + 1) as f64, rho)
}

/// The associated Legendre function P_l^m(x) for m >= 0 (no Condon-Shortley
/// phase: densities do not see it), by the standard stable recurrence.
pub fn legendre(l: usize, m: usize, x: f64) -> f64 {
    let mut pmm = 1.0;
    if m > 0 {
        let s = ((1.0 - x) * (1.0 + x)).max(0.0).sqrt();
        let mut f = 1.0;
        for _ in 0..m {
            pmm *= f * s;
            f += 2.0;
        }
    }
    if l == m {
        return pmm;
    }
    let mut pmmp1 = x * (2 * m + 1) as f64 * pmm;
    if l == m + 1 {
        return pmmp1;
    }
    let mut pll = 0.0;
    for ll in m + 2..=l {
        pll = (x * (2 * ll - 1) as f64 * pmmp1 - (ll + m - 1) as f64 * pmm) / (ll - m) as f64;
        pmm = pmmp1;
        pmmp1 = pll;
    }
    pll
}

/// The real spherical harmonic Y_lm at polar angle cos(theta) and azimuth
/// phi: cos(m phi) for m > 0, sin(|m| phi) for m < 0, orthonormal on the
/// sphere.
pub fn real_harmonic(l: usize, m: i64, cos_theta: f64, phi: f64) -> f64 {
    let am = m.unsigned_abs() as usize;
    let ln_ratio = ln_factorial(l - am) - ln_factorial(l + am);
    let norm = ((2 * l + 1) as f64 / (4.0 * PI)).sqrt() * (0.5 * ln_ratio).exp();
    let p = legendre(l, am, cos_theta);
    match m.cmp(&0) {
        std::cmp::Ordering::Equal => norm * p,
        std::cmp::Ordering::Greater => std::f64::consts::SQRT_2 * norm * p * (am as f64 * phi).cos(),
        std::cmp::Ordering::Less => std::f64::consts::SQRT_2 * norm * p * (am as f64 * phi).sin(),
    }
}

/// |psi_nlm(x, y, z)|^2 in atomic units (bohr^-3).
pub fn density(n: usize, l: usize, m: i64, z_charge: f64, x: f64, y: f64, z: f64) -> f64 {
    let r = (x * x + y * y + z * z).sqrt();
    let (cos_t, phi) = if r > 0.0 { (z / r, y.atan2(x)) } else { (1.0, 0.0) };
    let psi = radial(n, l, z_charge, r) * real_harmonic(l, m, cos_t, phi);
    psi * psi
}

/// The density on a cube of `grid`^3 points spanning [-extent, extent]^3
/// (bohr), x fastest, computed on `threads` threads by z-slices. `stop` is
/// asked between slices; when it says so, the work ends early (the caller
/// then discards the partial grid).
#[allow(clippy::too_many_arguments)]
pub fn density_grid(
    n: usize,
    l: usize,
    m: i64,
    z_charge: f64,
    grid: usize,
    extent: f64,
    threads: usize,
    stop: &(dyn Fn() -> bool + Sync),
) -> Vec<f64> {
    let step = 2.0 * extent / (grid.max(2) - 1) as f64;
    let coord = |i: usize| -extent + i as f64 * step;
    let mut values = vec![0.0f64; grid * grid * grid];
    let slice = grid * grid;
    let per = grid.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (chunk_i, chunk) in values.chunks_mut(per * slice).enumerate() {
            s.spawn(move || {
                for (k_local, plane) in chunk.chunks_mut(slice).enumerate() {
                    if stop() {
                        return;
                    }
                    let zc = coord(chunk_i * per + k_local);
                    for j in 0..grid {
                        let yc = coord(j);
                        for i in 0..grid {
                            plane[j * grid + i] = density(n, l, m, z_charge, coord(i), yc, zc);
                        }
                    }
                }
            });
        }
    });
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
        let h = (b - a) / n as f64;
        let mut s = f(a) + f(b);
        for i in 1..n {
            s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    }

    #[test]
    fn closed_forms_of_the_first_radial_functions() {
        for r in [0.0, 0.5, 1.0, 3.0, 7.5] {
            assert!((radial(1, 0, 1.0, r) - 2.0 * (-r).exp()).abs() < 1e-14);
            let r21 = r * (-r / 2.0).exp() / (24.0f64).sqrt();
            assert!((radial(2, 1, 1.0, r) - r21).abs() < 1e-14, "{r}");
            let r20 = (2.0 - r) * (-r / 2.0).exp() / (2.0 * 2.0f64.sqrt());
            assert!((radial(2, 0, 1.0, r) - r20).abs() < 1e-14, "{r}");
        }
    }

    #[test]
    fn radial_probabilities_integrate_to_one_and_give_the_mean_radius() {
        for (n, l) in [(1usize, 0usize), (2, 0), (2, 1), (3, 2), (4, 1), (6, 3)] {
            let p = |r: f64| r * r * radial(n, l, 1.0, r).powi(2);
            let total = simpson(p, 0.0, 200.0, 200_000);
            assert!((total - 1.0).abs() < 1e-8, "n={n} l={l}: {total}");
            let mean = simpson(|r| r * p(r), 0.0, 200.0, 200_000);
            let want = (3.0 * (n * n) as f64 - (l * (l + 1)) as f64) / 2.0;
            assert!((mean - want).abs() < 1e-6, "n={n} l={l}: <r> = {mean}, want {want}");
        }
        // 2p: <r> = 5 a0.
        let mean = simpson(|r| r * r * r * radial(2, 1, 1.0, r).powi(2), 0.0, 200.0, 200_000);
        assert!((mean - 5.0).abs() < 1e-6);
    }

    #[test]
    fn harmonics_are_orthonormal() {
        // Integrate Y_lm Y_l'm' over the sphere by a product rule.
        let (nt, np) = (200, 400);
        let ys = [(0, 0), (1, -1), (1, 0), (1, 1), (2, -2), (2, 1), (3, 3)];
        for (a, &(l1, m1)) in ys.iter().enumerate() {
            for &(l2, m2) in &ys[a..] {
                let mut s = 0.0;
                for i in 0..nt {
                    let theta = (i as f64 + 0.5) * PI / nt as f64;
                    for j in 0..np {
                        let phi = (j as f64 + 0.5) * 2.0 * PI / np as f64;
                        s += real_harmonic(l1, m1, theta.cos(), phi)
                            * real_harmonic(l2, m2, theta.cos(), phi)
                            * theta.sin();
                    }
                }
                s *= (PI / nt as f64) * (2.0 * PI / np as f64);
                let want = if (l1, m1) == (l2, m2) { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-4, "<{l1}{m1}|{l2}{m2}> = {s}");
            }
        }
    }

    #[test]
    fn the_2p_density_integrates_to_one_on_a_large_enough_grid() {
        let (grid, extent) = (96, 24.0);
        let values = density_grid(2, 1, 0, 1.0, grid, extent, 2, &|| false);
        let step = 2.0 * extent / (grid - 1) as f64;
        let total: f64 = values.iter().sum::<f64>() * step.powi(3);
        assert!((total - 1.0).abs() < 1e-3, "{total}");
        // The xy-plane is a nodal plane of 2p_z.
        let mid = grid / 2;
        let at = |i: usize, j: usize, k: usize| values[(k * grid + j) * grid + i];
        let z_step = (grid as f64 - 1.0) / 2.0 - mid as f64;
        assert!(z_step.abs() <= 0.5);
        assert!(at(mid + 3, mid, mid) < 0.05 * at(mid, mid, mid + 5), "small near the plane, larger along z");
    }
}
