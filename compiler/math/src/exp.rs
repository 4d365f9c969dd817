//! `exp`, one value at a time (the interpreter, a JIT'd point) and over a
//! whole buffer, vectorised (what grid kernels call once per chunk of
//! points instead of a libm call per point).
//!
//! The method (Cody–Waite reduction, a degree-13 Taylor polynomial by
//! Horner's rule, 2^k through the exponent bits) uses only IEEE operations
//! with one rounding each: multiplications, additions and fused
//! multiply-adds. So the AVX-512, the AVX2 and the portable code give the
//! same bits on every machine (the portable code's `mul_add` is the
//! correctly rounded software `fma` where the CPU has none), and artifacts
//! stay byte-identical wherever a node runs. Results are within 2 ulp of
//! the correctly rounded value; inputs outside [-708, 709] (where 2^k would
//! leave the normal range) and NaN go to `f64::exp`.

// Plain comparisons in the loops: the vectoriser sees two compares and an
// and, and NaN falls outside as it should.
#![allow(clippy::manual_range_contains)]

/// 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
const SHIFTER: f64 = 6_755_399_441_055_744.0;
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split so that `k * LN2_HI` needs no rounding beyond the FMA's.
const LN2_HI: f64 = std::f64::consts::LN_2;
const LN2_LO: f64 = 2.319_046_813_846_299_6e-17;
/// Where 2^k of the reduction stays a normal number.
const LOW: f64 = -708.0;
const HIGH: f64 = 709.0;
/// 1/i! for i = 13 down to 2.
const INV_FACT: [f64; 12] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];

/// exp(x) for x in [LOW, HIGH] (garbage outside: the caller fixes those).
#[inline(always)]
fn exp_in_range(x: f64) -> f64 {
    let t = x.mul_add(LOG2E, SHIFTER);
    let k = t - SHIFTER;
    let r = (-k).mul_add(LN2_HI, x);
    let r = (-k).mul_add(LN2_LO, r);
    let mut p = INV_FACT[0];
    for c in &INV_FACT[1..] {
        p = p.mul_add(r, *c);
    }
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // k sits in the low bits of t; as a biased exponent it is 2^k.
    let k_int = (t.to_bits() as i64).wrapping_sub(SHIFTER.to_bits() as i64);
    let scale = f64::from_bits((k_int.wrapping_add(1023) << 52) as u64);
    p * scale
}

#[inline(always)]
fn batch(input: &[f64], output: &mut [f64]) {
    let mut outside = false;
    for (x, y) in input.iter().zip(output.iter_mut()) {
        *y = exp_in_range(*x);
        outside |= !(*x >= LOW && *x <= HIGH);
    }
    if outside {
        for (x, y) in input.iter().zip(output.iter_mut()) {
            if !(*x >= LOW && *x <= HIGH) {
                *y = x.exp();
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn batch_avx512(input: &[f64], output: &mut [f64]) {
    batch(input, output)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn batch_avx2(input: &[f64], output: &mut [f64]) {
    batch(input, output)
}

fn batch_portable(input: &[f64], output: &mut [f64]) {
    batch(input, output)
}

/// `output[i] = exp(input[i])`, with the widest vectors this CPU has.
pub fn exp_slice(input: &[f64], output: &mut [f64]) {
    let n = input.len().min(output.len());
    let (input, output) = (&input[..n], &mut output[..n]);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is built for.
            return unsafe { batch_avx512(input, output) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { batch_avx2(input, output) };
        }
    }
    batch_portable(input, output)
}

/// exp of one value, exactly as [`exp_slice`] computes it.
pub fn exp(x: f64) -> f64 {
    if x >= LOW && x <= HIGH { exp_in_range(x) } else { x.exp() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64).abs_diff(b.to_bits() as i64)
    }

    fn inputs() -> Vec<f64> {
        let mut xs = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e-300,
            -1e-300,
            1e-10,
            700.0,
            -700.0,
            708.9,
            -707.9,
            709.0,
            -708.0,
            709.5,
            709.78,
            709.79,
            710.0,
            -708.5,
            -720.0,
            -745.0,
            -745.2,
            -800.0,
            1e308,
            -1e308,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            std::f64::consts::LN_2,
            -std::f64::consts::LN_2 / 2.0,
        ];
        // A deterministic spread over the whole range, and near multiples
        // of ln 2 / 2 where the reduction switches.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            xs.push(if i % 2 == 0 { -720.0 + 1440.0 * u } else { -3.0 + 6.0 * u });
            if i % 100 == 0 {
                xs.push((i as f64 - 100_000.0) / 100.0 * std::f64::consts::LN_2 / 2.0);
            }
        }
        xs
    }

    #[test]
    fn within_two_ulp_of_libm_everywhere_and_exact_at_the_edges() {
        let xs = inputs();
        let mut ys = vec![0.0; xs.len()];
        exp_slice(&xs, &mut ys);
        let mut worst = 0;
        for (x, y) in xs.iter().zip(&ys) {
            let want = x.exp();
            if want.is_nan() {
                assert!(y.is_nan(), "exp({x})");
            } else if want.is_infinite() || want == 0.0 {
                assert_eq!(*y, want, "exp({x})");
            } else {
                worst = worst.max(ulps(*y, want));
                assert!(ulps(*y, want) <= 2, "exp({x}) = {y}, libm {want}");
            }
            assert_eq!(y.to_bits(), exp(*x).to_bits(), "one value as the batch does: {x}");
        }
        assert!(worst <= 2, "{worst} ulp");
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let xs = inputs();
        let mut portable = vec![0.0; xs.len()];
        batch_portable(&xs, &mut portable);
        #[cfg(target_arch = "x86_64")]
        {
            let mut wide = vec![0.0; xs.len()];
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the features.
                unsafe { batch_avx2(&xs, &mut wide) };
                assert!(wide.iter().zip(&portable).all(|(a, b)| a.to_bits() == b.to_bits()), "avx2");
            }
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: as above.
                unsafe { batch_avx512(&xs, &mut wide) };
                assert!(wide.iter().zip(&portable).all(|(a, b)| a.to_bits() == b.to_bits()), "avx512");
            }
        }
    }
}
