//! `data.fit`: nonlinear least squares by Levenberg-Marquardt, with
//! standard errors from the covariance s^2 (J^T J)^-1. The model is a
//! language `fn` (x first, then the parameters), compiled once.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use phx_sema::value::Value;

use crate::common::{Evaluator, arg, float_text, function, string, table_input, write_output};

/// A fit's result.
#[derive(Clone, Debug)]
pub struct Fit {
    pub params: Vec<f64>,
    /// One standard error per parameter (NaN when the data cannot say).
    pub errors: Vec<f64>,
    /// The sum of squared residuals.
    pub ssr: f64,
    pub iterations: usize,
}

/// Solves `a x = b` (a is m by m, row-major) by Gaussian elimination with
/// partial pivoting; `None` when `a` is singular.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let m = b.len();
    for col in 0..m {
        let pivot = (col..m).max_by(|i, j| a[i * m + col].abs().total_cmp(&a[j * m + col].abs()))?;
        if a[pivot * m + col].abs() < 1e-300 {
            return None;
        }
        for k in 0..m {
            a.swap(col * m + k, pivot * m + k);
        }
        b.swap(col, pivot);
        for row in col + 1..m {
            let f = a[row * m + col] / a[col * m + col];
            for k in col..m {
                a[row * m + k] -= f * a[col * m + k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; m];
    for row in (0..m).rev() {
        let s: f64 = (row + 1..m).map(|k| a[row * m + k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row * m + row];
    }
    Some(x)
}

/// The Jacobian (n by m, row-major) by central differences.
fn jacobian(model: &dyn Fn(f64, &[f64]) -> f64, xs: &[f64], p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut jac = vec![0.0; xs.len() * m];
    let mut q = p.to_vec();
    for j in 0..m {
        let h = 1e-6 * p[j].abs().max(1e-3);
        q[j] = p[j] + h;
        let up: Vec<f64> = xs.iter().map(|x| model(*x, &q)).collect();
        q[j] = p[j] - h;
        for (i, x) in xs.iter().enumerate() {
            jac[i * m + j] = (up[i] - model(*x, &q)) / (2.0 * h);
        }
        q[j] = p[j];
    }
    jac
}

fn ssr(model: &dyn Fn(f64, &[f64]) -> f64, xs: &[f64], ys: &[f64], p: &[f64]) -> f64 {
    xs.iter().zip(ys).map(|(x, y)| (y - model(*x, p)).powi(2)).sum()
}

/// Fits `model(x, p)` to the points from `initial`.
pub fn fit(model: &dyn Fn(f64, &[f64]) -> f64, xs: &[f64], ys: &[f64], initial: &[f64]) -> Result<Fit, String> {
    let (n, m) = (xs.len(), initial.len());
    if n < m {
        return Err(format!("{n} points cannot fix {m} parameters"));
    }
    let mut p = initial.to_vec();
    let mut current = ssr(model, xs, ys, &p);
    if !current.is_finite() {
        return Err("the model is not finite at the initial parameters".into());
    }
    let mut lambda = 1e-3;
    let mut iterations = 0;
    let normal = |p: &[f64]| {
        let jac = jacobian(model, xs, p);
        let mut jtj = vec![0.0; m * m];
        let mut jtr = vec![0.0; m];
        for i in 0..n {
            let r = ys[i] - model(xs[i], p);
            for a in 0..m {
                jtr[a] += jac[i * m + a] * r;
                for c in 0..m {
                    jtj[a * m + c] += jac[i * m + a] * jac[i * m + c];
                }
            }
        }
        (jtj, jtr)
    };
    while iterations < 500 {
        iterations += 1;
        let (jtj, jtr) = normal(&p);
        let mut improved = false;
        while lambda < 1e12 {
            let mut a = jtj.clone();
            for d in 0..m {
                a[d * m + d] += lambda * jtj[d * m + d].max(1e-12);
            }
            let Some(delta) = solve(a, jtr.clone()) else {
                lambda *= 10.0;
                continue;
            };
            let trial: Vec<f64> = p.iter().zip(&delta).map(|(a, b)| a + b).collect();
            let s = ssr(model, xs, ys, &trial);
            if s.is_finite() && s <= current {
                let change = current - s;
                let step: f64 = delta.iter().zip(&p).map(|(d, v)| (d / v.abs().max(1e-12)).abs()).fold(0.0, f64::max);
                p = trial;
                current = s;
                lambda = (lambda / 10.0).max(1e-15);
                improved = change > 1e-15 * current.max(1e-300) && step > 1e-13;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    let (jtj, _) = normal(&p);
    let dof = (n - m).max(1) as f64;
    let s2 = current / dof;
    let errors = (0..m)
        .map(|j| {
            let mut e = vec![0.0; m];
            e[j] = 1.0;
            solve(jtj.clone(), e).map_or(f64::NAN, |col| (s2 * col[j]).max(0.0).sqrt())
        })
        .collect();
    Ok(Fit { params: p, errors, ssr: current, iterations })
}

/// `data.fit(data, model, x, y, initial)`.
pub struct DataFit;

impl Tool for DataFit {
    fn code_version(&self) -> String {
        crate::code_version("data.fit")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let ir = function(&inv, "model")?;
            let table = table_input(&inv, "data")?;
            let (xc, yc) = (table.column(&string(&inv, "x")?)?, table.column(&string(&inv, "y")?)?);
            let initial: Vec<f64> = match arg(&inv, "initial")? {
                Value::List(items) => items.iter().map(|v| v.as_f64()).collect::<Option<_>>(),
                _ => None,
            }
            .ok_or_else(|| ToolError::failed("`initial` must be a list of numbers"))?;
            if ir.params.len() != initial.len() + 1 {
                return Err(ToolError::failed(format!(
                    "`{}` takes x and {} parameters; `initial` gives {}",
                    ir.name,
                    ir.params.len().saturating_sub(1),
                    initial.len()
                )));
            }
            let (xs, ys): (Vec<f64>, Vec<f64>) = table.columns[xc]
                .iter()
                .zip(&table.columns[yc])
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(x, y)| (*x, *y))
                .unzip();
            let param_names: Vec<String> = ir.params.iter().skip(1).map(|(n, _)| n.clone()).collect();
            let f = Evaluator::new(ir);
            let model = |x: f64, p: &[f64]| {
                let mut args = Vec::with_capacity(p.len() + 1);
                args.push(x);
                args.extend_from_slice(p);
                f.call(&args)
            };
            let result = fit(&model, &xs, &ys, &initial).map_err(ToolError::failed)?;
            let mut params = String::from("name,value,error\n");
            for (name, (v, e)) in param_names.iter().zip(result.params.iter().zip(&result.errors)) {
                params.push_str(&format!("{name},{},{}\n", float_text(*v), float_text(*e)));
            }
            // The fit is in y's unit, which the header carries on.
            let fit_name = match crate::typeset::unit_of(&table.names[yc]) {
                Some(unit) => format!("fit [{unit}]"),
                None => "fit".to_string(),
            };
            let mut fitted = format!("{},{},{fit_name}\n", table.names[xc], table.names[yc]);
            for (x, y) in xs.iter().zip(&ys) {
                fitted.push_str(&format!("{x:?},{y:?},{:?}\n", model(*x, &result.params)));
            }
            let mut params_out = write_output(&inv, "params", params.as_bytes())?;
            params_out.meta = serde_json::json!({"ssr": result.ssr, "iterations": result.iterations, "points": xs.len(), "method": "Levenberg-Marquardt"});
            let outputs = vec![params_out, write_output(&inv, "fitted", fitted.as_bytes())?];
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_line_is_recovered_with_zero_error() {
        let xs: Vec<f64> = (0..10).map(f64::from).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 3.0 - 0.5 * x).collect();
        let f = fit(&|x, p| p[0] + p[1] * x, &xs, &ys, &[0.0, 1.0]).unwrap();
        assert!((f.params[0] - 3.0).abs() < 1e-10 && (f.params[1] + 0.5).abs() < 1e-10, "{f:?}");
        assert!(f.errors.iter().all(|e| *e < 1e-8), "{f:?}");
    }

    #[test]
    fn a_noisy_line_matches_the_closed_form_and_its_standard_errors() {
        let xs: Vec<f64> = (0..20).map(f64::from).collect();
        // Deterministic "noise" with zero mean.
        let ys: Vec<f64> =
            xs.iter().enumerate().map(|(i, x)| 1.0 + 2.0 * x + if i % 2 == 0 { 0.3 } else { -0.3 }).collect();
        let f = fit(&|x, p| p[0] + p[1] * x, &xs, &ys, &[0.0, 0.0]).unwrap();
        // Ordinary least squares in closed form.
        let n = xs.len() as f64;
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        let slope = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / sxx;
        let intercept = my - slope * mx;
        let s2 = xs.iter().zip(&ys).map(|(x, y)| (y - intercept - slope * x).powi(2)).sum::<f64>() / (n - 2.0);
        assert!((f.params[1] - slope).abs() < 1e-9 && (f.params[0] - intercept).abs() < 1e-9, "{f:?}");
        assert!((f.errors[1] - (s2 / sxx).sqrt()).abs() < 1e-6 * (s2 / sxx).sqrt(), "{f:?}");
    }

    #[test]
    fn an_exponential_decay_converges_from_a_poor_start() {
        let xs: Vec<f64> = (0..40).map(|i| i as f64 * 0.1).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 2.5 * (-1.3 * x).exp()).collect();
        let f = fit(&|x, p| p[0] * (-p[1] * x).exp(), &xs, &ys, &[1.0, 0.2]).unwrap();
        assert!((f.params[0] - 2.5).abs() < 1e-8 && (f.params[1] - 1.3).abs() < 1e-8, "{f:?}");
    }

    #[test]
    fn too_few_points_is_an_error() {
        assert!(fit(&|x, p| p[0] + p[1] * x + p[2] * x * x, &[1.0, 2.0], &[1.0, 2.0], &[0.0, 0.0, 0.0]).is_err());
    }
}
