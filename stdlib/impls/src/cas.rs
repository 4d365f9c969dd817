//! `cas.integrate` (adaptive Gauss-Kronrod quadrature) and `cas.solve`
//! (Brent's bracketed root finder), on a `fn`'s compiled IR.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};

use crate::common::{Evaluator, float, float_text, function_of_arity, write_output};

/// Nodes of the 15-point Kronrod rule on [-1, 1] (positive half; the last is 0).
const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
/// Kronrod weights, matching `XGK`.
const WGK: [f64; 8] = [
    0.022_935_322_010_529_22,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_18,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_83,
];
/// Weights of the embedded 7-point Gauss rule, at `XGK[1]`, `[3]`, `[5]`, `[7]`.
const WG: [f64; 4] =
    [0.129_484_966_168_869_7, 0.279_705_391_489_276_7, 0.381_830_050_505_118_9, 0.417_959_183_673_469_4];

/// The most subintervals the adaptive rule may make.
pub const MAX_INTERVALS: usize = 2000;

/// G7-K15 on [a, b]: the Kronrod estimate and its error (|K15 - G7|).
fn gk15(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64) {
    let c = 0.5 * (a + b);
    let h = 0.5 * (b - a);
    let fc = f(c);
    let mut k = WGK[7] * fc;
    let mut g = WG[3] * fc;
    for i in 0..7 {
        let x = h * XGK[i];
        let s = f(c - x) + f(c + x);
        k += WGK[i] * s;
        if i % 2 == 1 {
            g += WG[i / 2] * s;
        }
    }
    (k * h, ((k - g) * h).abs())
}

/// Adaptive quadrature: splits the interval with the largest error until the
/// total error is below `tol`. Returns the integral and the error estimate.
pub fn integrate(f: &dyn Fn(f64) -> f64, a: f64, b: f64, tol: f64) -> Result<(f64, f64), String> {
    if !(a.is_finite() && b.is_finite()) {
        return Err("the limits must be finite numbers".into());
    }
    if a == b {
        return Ok((0.0, 0.0));
    }
    let mut parts = vec![{
        let (v, e) = gk15(f, a, b);
        (a, b, v, e)
    }];
    loop {
        let total: f64 = parts.iter().map(|p| p.2).sum();
        let err: f64 = parts.iter().map(|p| p.3).sum();
        if !total.is_finite() || !err.is_finite() {
            return Err("the integrand is not finite on the interval".into());
        }
        if err <= tol.max(f64::EPSILON * total.abs()) {
            return Ok((total, err));
        }
        if parts.len() >= MAX_INTERVALS {
            return Err(format!(
                "no convergence to {tol:e} after {MAX_INTERVALS} subintervals (error estimate {err:e}); the integrand may be singular"
            ));
        }
        let (worst, _) =
            parts.iter().enumerate().fold((0, -1.0), |acc, (i, p)| if p.3 > acc.1 { (i, p.3) } else { acc });
        let (lo, hi, _, _) = parts.swap_remove(worst);
        let mid = 0.5 * (lo + hi);
        for (x, y) in [(lo, mid), (mid, hi)] {
            let (v, e) = gk15(f, x, y);
            parts.push((x, y, v, e));
        }
    }
}

/// Brent's method: a root of `f` in [a, b], where `f(a)` and `f(b)` differ in
/// sign, to full double precision.
pub fn brent(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> Result<f64, String> {
    let (mut a, mut b) = (a, b);
    let (mut fa, mut fb) = (f(a), f(b));
    if fa == 0.0 {
        return Ok(a);
    }
    if fb == 0.0 {
        return Ok(b);
    }
    if !(fa.is_finite() && fb.is_finite()) || fa.signum() == fb.signum() {
        return Err(format!("f({a}) = {fa} and f({b}) = {fb} do not bracket a root (they must differ in sign)"));
    }
    let (mut c, mut fc) = (a, fa);
    let (mut d, mut e) = (b - a, b - a);
    for _ in 0..200 {
        if fb.signum() == fc.signum() {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            (a, b, c) = (b, c, b);
            (fa, fb, fc) = (fb, fc, fb);
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + 0.5e-300;
        let m = 0.5 * (c - b);
        if m.abs() <= tol || fb == 0.0 {
            return Ok(b);
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * m * s;
                q = 1.0 - s;
            } else {
                let qq = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * m * qq * (qq - r) - (b - a) * (r - 1.0));
                q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * m * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = m;
                e = m;
            }
        } else {
            d = m;
            e = m;
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol { d } else { tol.copysign(m) };
        fb = f(b);
        if !fb.is_finite() {
            return Err(format!("f is not finite at {b}"));
        }
    }
    Err("no convergence after 200 iterations".into())
}

/// `cas.integrate(f, from, to, tol)`.
pub struct Integrate;

impl Tool for Integrate {
    fn code_version(&self) -> String {
        crate::code_version("cas.integrate")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let integrand = Evaluator::new(function_of_arity(&inv, "f", 1)?);
            let (a, b, tol) = (float(&inv, "from")?, float(&inv, "to")?, float(&inv, "tol")?);
            let f = |x: f64| integrand.call(&[x]);
            let (value, error) = integrate(&f, a, b, tol).map_err(ToolError::failed)?;
            let outputs = vec![
                write_output(&inv, "value", float_text(value).as_bytes())?,
                write_output(&inv, "error", float_text(error).as_bytes())?,
            ];
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

/// `cas.solve(f, lo, hi)`.
pub struct Solve;

impl Tool for Solve {
    fn code_version(&self) -> String {
        crate::code_version("cas.solve")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let g = Evaluator::new(function_of_arity(&inv, "f", 1)?);
            let f = |x: f64| g.call(&[x]);
            let root = brent(&f, float(&inv, "lo")?, float(&inv, "hi")?).map_err(ToolError::failed)?;
            let out = write_output(&inv, "root", float_text(root).as_bytes())?;
            Ok(Produced { outputs: vec![out], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integral_of_sin_over_zero_to_pi_is_two() {
        let (v, e) = integrate(&f64::sin, 0.0, std::f64::consts::PI, 1e-10).unwrap();
        assert!((v - 2.0).abs() < 1e-10, "{v}");
        assert!(e < 1e-10);
    }

    #[test]
    fn a_gaussian_integrates_to_sqrt_pi() {
        let (v, _) = integrate(&|x: f64| (-x * x).exp(), -10.0, 10.0, 1e-12).unwrap();
        assert!((v - std::f64::consts::PI.sqrt()).abs() < 1e-12, "{v}");
    }

    #[test]
    fn a_peaked_integrand_needs_and_gets_subdivision() {
        // Lorentzian of width 1e-3: most of the area in a tiny interval.
        let w = 1e-3;
        let (v, _) = integrate(&|x: f64| w / (x * x + w * w), -1.0, 1.0, 1e-10).unwrap();
        let exact = 2.0 * (1.0 / w).atan();
        assert!((v - exact).abs() < 1e-9, "{v} vs {exact}");
    }

    #[test]
    fn the_root_of_x2_minus_2_is_sqrt2() {
        let r = brent(&|x: f64| x * x - 2.0, 0.0, 2.0).unwrap();
        assert!((r - std::f64::consts::SQRT_2).abs() < 1e-12, "{r}");
        assert!(brent(&|x: f64| x * x + 1.0, -1.0, 1.0).unwrap_err().contains("bracket"));
    }
}
