//! `data.fft` (the one-sided amplitude spectrum of a sampled column) and
//! `ml.pca` (principal components of a table's numeric columns).

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex64;

use crate::common::{arg, string, table_input, write_output};

/// One row of a spectrum.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub frequency: f64,
    pub amplitude: f64,
    pub phase: f64,
}

/// The one-sided spectrum of `samples` taken `dt` apart: frequencies
/// k / (n dt) for k = 0..=n/2, amplitudes scaled so a sine of amplitude A
/// shows a peak of height A.
pub fn spectrum(samples: &[f64], dt: f64) -> Vec<Line> {
    let n = samples.len();
    if n == 0 {
        return Vec::new();
    }
    let mut buf: Vec<Complex64> = samples.iter().map(|v| Complex64::new(*v, 0.0)).collect();
    FftPlanner::<f64>::new().plan_fft_forward(n).process(&mut buf);
    (0..=n / 2)
        .map(|k| {
            let edge = k == 0 || (n.is_multiple_of(2) && k == n / 2);
            let scale = if edge { 1.0 } else { 2.0 } / n as f64;
            Line { frequency: k as f64 / (n as f64 * dt), amplitude: buf[k].norm() * scale, phase: buf[k].arg() }
        })
        .collect()
}

/// `data.fft(data, column)`.
pub struct DataFft;

impl Tool for DataFft {
    fn code_version(&self) -> String {
        crate::code_version("data.fft")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let t = table_input(&inv, "data")?;
            let name = string(&inv, "column")?;
            let c = t.column(&name)?;
            let samples = &t.columns[c];
            if samples.len() < 2 || samples.iter().any(|v| !v.is_finite()) {
                return Err(ToolError::failed(format!("`{name}` needs at least 2 samples, all numbers")));
            }
            // The first column is the sampling axis when it is another,
            // evenly spaced column; otherwise samples are one unit apart.
            let axis = &t.columns[0];
            let dt = if c != 0 && axis.len() == samples.len() && axis.len() >= 2 {
                let step = axis[1] - axis[0];
                let even = step > 0.0 && axis.windows(2).all(|w| ((w[1] - w[0]) - step).abs() <= 1e-6 * step.abs());
                if !even {
                    return Err(ToolError::failed(format!(
                        "`{}` is not evenly spaced, so it cannot be the sampling axis of an FFT",
                        t.names[0]
                    )));
                }
                step
            } else {
                1.0
            };
            // Frequencies in the inverse of the sampling axis's unit, amplitudes
            // in the column's own, phases in radians.
            let freq_unit = if c != 0 { crate::typeset::unit_of(&t.names[0]) } else { None };
            let bracket = |u: Option<String>| u.map(|u| format!(" [{u}]")).unwrap_or_default();
            let mut csv = format!(
                "frequency{},amplitude{},phase [rad]\n",
                bracket(freq_unit.map(|u| {
                    if u.chars().all(|ch| ch.is_ascii_alphanumeric()) { format!("1/{u}") } else { format!("1/({u})") }
                })),
                bracket(crate::typeset::unit_of(&t.names[c]).map(str::to_string))
            );
            for l in spectrum(samples, dt) {
                csv.push_str(&format!("{:?},{:?},{:?}\n", l.frequency, l.amplitude, l.phase));
            }
            let mut out = write_output(&inv, "spectrum", csv.as_bytes())?;
            out.meta = serde_json::json!({"samples": samples.len(), "sample_spacing": dt, "dtype": "f64"});
            Ok(Produced { outputs: vec![out], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

/// Eigen-decomposition of a symmetric matrix (p by p, row-major) by cyclic
/// Jacobi rotations: eigenvalues descending, eigenvectors as rows.
pub fn symmetric_eigen(mut a: Vec<f64>, p: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut v = vec![0.0; p * p];
    for i in 0..p {
        v[i * p + i] = 1.0;
    }
    for _ in 0..100 {
        let off: f64 = (0..p)
            .flat_map(|i| (0..p).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * p + j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for i in 0..p {
            for j in i + 1..p {
                let aij = a[i * p + j];
                if aij.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[j * p + j] - a[i * p + i]) / (2.0 * aij);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..p {
                    let (aki, akj) = (a[k * p + i], a[k * p + j]);
                    a[k * p + i] = c * aki - s * akj;
                    a[k * p + j] = s * aki + c * akj;
                }
                for k in 0..p {
                    let (aik, ajk) = (a[i * p + k], a[j * p + k]);
                    a[i * p + k] = c * aik - s * ajk;
                    a[j * p + k] = s * aik + c * ajk;
                }
                for k in 0..p {
                    let (vki, vkj) = (v[k * p + i], v[k * p + j]);
                    v[k * p + i] = c * vki - s * vkj;
                    v[k * p + j] = s * vki + c * vkj;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|x, y| a[y * p + y].total_cmp(&a[x * p + x]));
    let values = order.iter().map(|k| a[k * p + k]).collect();
    let vectors = order
        .iter()
        .map(|k| {
            let mut col: Vec<f64> = (0..p).map(|r| v[r * p + k]).collect();
            // A fixed sign: the largest loading is positive.
            let big = col.iter().fold(0.0f64, |m, x| if x.abs() > m.abs() { *x } else { m });
            if big < 0.0 {
                col.iter_mut().for_each(|x| *x = -*x);
            }
            col
        })
        .collect();
    (values, vectors)
}

/// `ml.pca(data, components)`.
pub struct Pca;

impl Tool for Pca {
    fn code_version(&self) -> String {
        crate::code_version("ml.pca")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let t = table_input(&inv, "data")?;
            let p = t.names.len();
            let rows: Vec<Vec<f64>> = (0..t.columns.first().map_or(0, Vec::len))
                .map(|i| t.columns.iter().map(|c| c[i]).collect::<Vec<f64>>())
                .filter(|r| r.iter().all(|v| v.is_finite()))
                .collect();
            let k = arg(&inv, "components")?.as_int().unwrap_or(2).max(1) as usize;
            if k > p || rows.len() < 2 {
                return Err(ToolError::failed(format!(
                    "{k} components of {p} columns from {} complete rows: need components <= columns and 2 rows",
                    rows.len()
                )));
            }
            let n = rows.len() as f64;
            let mean: Vec<f64> = (0..p).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect();
            let mut cov = vec![0.0; p * p];
            for r in &rows {
                for a in 0..p {
                    for b in 0..p {
                        cov[a * p + b] += (r[a] - mean[a]) * (r[b] - mean[b]) / (n - 1.0);
                    }
                }
            }
            let (values, vectors) = symmetric_eigen(cov, p);
            let total: f64 = values.iter().map(|v| v.max(0.0)).sum::<f64>().max(f64::MIN_POSITIVE);
            let mut comps = format!("component,variance,ratio,{}\n", t.names.join(","));
            for c in 0..k {
                comps.push_str(&format!("{},{:?},{:?}", c + 1, values[c].max(0.0), values[c].max(0.0) / total));
                for x in &vectors[c] {
                    comps.push_str(&format!(",{x:?}"));
                }
                comps.push('\n');
            }
            let mut projected = (1..=k).map(|c| format!("pc{c}")).collect::<Vec<_>>().join(",");
            projected.push('\n');
            for r in &rows {
                let cells: Vec<String> = (0..k)
                    .map(|c| format!("{:?}", (0..p).map(|j| (r[j] - mean[j]) * vectors[c][j]).sum::<f64>()))
                    .collect();
                projected.push_str(&cells.join(","));
                projected.push('\n');
            }
            let outputs = vec![
                write_output(&inv, "components", comps.as_bytes())?,
                write_output(&inv, "projected", projected.as_bytes())?,
            ];
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_shows_one_peak_of_its_amplitude_at_its_frequency() {
        let dt = 0.01;
        let samples: Vec<f64> =
            (0..1000).map(|i| 0.5 + 3.0 * (2.0 * std::f64::consts::PI * 5.0 * i as f64 * dt).sin()).collect();
        let s = spectrum(&samples, dt);
        assert_eq!(s.len(), 501);
        let peak = s.iter().skip(1).max_by(|a, b| a.amplitude.total_cmp(&b.amplitude)).unwrap();
        assert!((peak.frequency - 5.0).abs() < 1e-12, "{peak:?}");
        assert!((peak.amplitude - 3.0).abs() < 1e-9, "{peak:?}");
        assert!((s[0].amplitude - 0.5).abs() < 1e-12, "the mean is the DC line");
        assert!((peak.phase + std::f64::consts::FRAC_PI_2).abs() < 1e-9, "a sine is a cosine shifted by -pi/2");
    }

    #[test]
    fn the_eigenvalues_of_a_known_matrix() {
        // [[2, 1], [1, 2]]: 3 along (1, 1), 1 along (1, -1).
        let (values, vectors) = symmetric_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        assert!((values[0] - 3.0).abs() < 1e-12 && (values[1] - 1.0).abs() < 1e-12, "{values:?}");
        let r = std::f64::consts::FRAC_1_SQRT_2;
        assert!((vectors[0][0] - r).abs() < 1e-12 && (vectors[0][1] - r).abs() < 1e-12, "{vectors:?}");
        // A 4x4 with a known spectrum: diag(4, 3, 2, 1) rotated stays that.
        let m = vec![2.5, 0.5, 0.0, 0.0, 0.5, 2.5, 0.0, 0.0, 0.0, 0.0, 2.5, 1.5, 0.0, 0.0, 1.5, 2.5];
        let (values, _) = symmetric_eigen(m, 4);
        for (v, e) in values.iter().zip([4.0, 3.0, 2.0, 1.0]) {
            assert!((v - e).abs() < 1e-12, "{values:?}");
        }
    }
}
