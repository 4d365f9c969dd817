//! The hydrogen-like density as a CUDA grid kernel: `orbital::density`'s
//! operations in the same order, with the orbital's constants (n, l, m, Z,
//! both normalisations) computed here and written into the source. The
//! kernel has the signature of the `fn` kernels (`phx_grid(out, start,
//! count, g, lo, step)`, from `phx_codegen::cuda::grid_kernel`), so
//! `phx_devices::grid` runs it the same way.

use std::fmt::Write as _;

/// The CUDA source of the density of orbital (n, l, m) with charge `z`.
pub fn density_source(n: usize, l: usize, m: i64, z: f64) -> String {
    let nf = n as f64;
    let ln_factorial = |k: usize| -> f64 { (2..=k).map(|i| (i as f64).ln()).sum() };
    let radial_norm =
        (0.5 * (3.0 * (2.0 * z / nf).ln() + ln_factorial(n - l - 1) - (2.0 * nf).ln() - ln_factorial(n + l))).exp();
    let am = m.unsigned_abs() as usize;
    let ln_ratio = ln_factorial(l - am) - ln_factorial(l + am);
    let harmonic_norm = ((2 * l + 1) as f64 / (4.0 * std::f64::consts::PI)).sqrt() * (0.5 * ln_ratio).exp();
    let angular = match m.cmp(&0) {
        std::cmp::Ordering::Equal => "hn * p".to_string(),
        std::cmp::Ordering::Greater => format!("{:e} * hn * p * cos({:e} * phi)", std::f64::consts::SQRT_2, am as f64),
        std::cmp::Ordering::Less => format!("{:e} * hn * p * sin({:e} * phi)", std::f64::consts::SQRT_2, am as f64),
    };
    let mut src = String::from(phx_codegen::cuda::PRELUDE);
    let _ = write!(
        src,
        r#"PHX_FN double phx_density(double x, double y, double z) {{
  const double zc = {z:e}, nf = {nf:e}, rn = {radial_norm:e}, hn = {harmonic_norm:e}, alpha = {alpha:e};
  const int l = {l}, m = {am}, k = {k};
  double r = sqrt(x * x + y * y + z * z);
  double ct = 1.0, phi = 0.0;
  if (r > 0.0) {{ ct = z / r; phi = atan2(y, x); }}
  double rho = 2.0 * zc * r / nf;
  /* rho^l by squaring, as Rust's powi */
  double rl = 1.0, a = rho;
  for (int b = l;;) {{ if (b & 1) rl *= a; b /= 2; if (b == 0) break; a *= a; }}
  double lag = 1.0;
  if (k > 0) {{
    double prev = 1.0, cur = 1.0 + alpha - rho;
    for (int j = 1; j < k; j++) {{
      double jf = (double)j;
      double next = ((2.0 * jf + 1.0 + alpha - rho) * cur - (jf + alpha) * prev) / (jf + 1.0);
      prev = cur;
      cur = next;
    }}
    lag = cur;
  }}
  double radial = rn * rl * exp(-rho / 2.0) * lag;
  double pmm = 1.0;
  if (m > 0) {{
    double s = sqrt(fmax((1.0 - ct) * (1.0 + ct), 0.0));
    double f = 1.0;
    for (int i = 0; i < m; i++) {{ pmm *= f * s; f += 2.0; }}
  }}
  double p = pmm;
  if (l > m) {{
    double pmmp1 = ct * (double)(2 * m + 1) * pmm;
    p = pmmp1;
    for (int ll = m + 2; ll <= l; ll++) {{
      p = (ct * (double)(2 * ll - 1) * pmmp1 - (double)(ll + m - 1) * pmm) / (double)(ll - m);
      pmm = pmmp1;
      pmmp1 = p;
    }}
  }}
  double psi = radial * ({angular});
  return psi * psi;
}}
"#,
        alpha = (2 * l + 1) as f64,
        k = n - l - 1,
    );
    src.push_str(&phx_codegen::cuda::grid_kernel("phx_density", 3));
    src
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel as C++, the CUDA built-ins standing for one thread that
    /// walks the grid: against `orbital::density` at every point.
    #[test]
    fn the_kernel_computes_the_density_the_cpu_does() {
        for (n, l, m) in [(1usize, 0usize, 0i64), (2, 1, 0), (2, 1, 1), (3, 2, -1), (4, 3, 2), (5, 2, -2), (6, 5, 5)] {
            let (g, extent) = (11usize, 14.0);
            let step = 2.0 * extent / (g - 1) as f64;
            let harness = format!(
                r#"{emulation}{src}
int main(void) {{
  static double out[{count}];
  phx_grid(out, 0, {count}, {g}, {lo:e}, {step:e});
  for (int i = 0; i < {count}; i++) printf("%.17g\n", out[i]);
  return 0;
}}
"#,
                emulation = phx_codegen::cuda::HOST_EMULATION,
                src = density_source(n, l, m, 1.0),
                count = g * g * g,
                lo = -extent,
            );
            let dir = std::env::temp_dir().join(format!("phx-orbital-cuda-{}-{n}{l}{m}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("k.cpp"), &harness).unwrap();
            let built = std::process::Command::new("c++")
                .args(["-O2", "-ffp-contract=off", "-fno-builtin", "-std=c++14", "-o"])
                .arg(dir.join("k"))
                .arg(dir.join("k.cpp"))
                .arg("-lm")
                .output()
                .expect("c++ runs");
            assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
            let run = std::process::Command::new(dir.join("k")).output().unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            let got: Vec<f64> = String::from_utf8(run.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect();
            assert_eq!(got.len(), g * g * g);
            let want = crate::orbital::density_grid(n, l, m, 1.0, g, extent, 1, &|| false);
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(scale * 1e-6),
                    "({n},{l},{m}) point {i}: kernel {a}, CPU {b}"
                );
            }
        }
    }
}
