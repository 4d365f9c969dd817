//! Physical dimensions, units and constants for the phx language.
//!
//! A [`Dim`] is a vector of exponents over the SI base dimensions plus two
//! that physicists keep apart in practice: angle and information (memory).
//! Every unit is a factor to SI and a dimension; a unit expression such as
//! `m/s^2` multiplies them out. Constants and conversion factors are CODATA
//! 2022 (exact where the SI defines them).

mod constants;
mod table;

pub use constants::{CONSTANTS, Constant, constant};
pub use table::{UNITS, UnitDef, unit_def};

use std::fmt;

/// The number of base dimensions.
pub const BASE_COUNT: usize = 9;
/// The symbols of the base dimensions' SI units, in [`Dim`] order.
pub const BASE_SYMBOLS: [&str; BASE_COUNT] = ["m", "kg", "s", "A", "K", "mol", "cd", "rad", "B"];

/// A physical dimension: exponents of length, mass, time, current,
/// temperature, amount, luminous intensity, angle and information.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Dim(pub [i8; BASE_COUNT]);

impl Dim {
    /// No dimension: a plain number.
    pub const NONE: Dim = Dim([0; BASE_COUNT]);
    pub const LENGTH: Dim = Dim([1, 0, 0, 0, 0, 0, 0, 0, 0]);
    pub const MASS: Dim = Dim([0, 1, 0, 0, 0, 0, 0, 0, 0]);
    pub const TIME: Dim = Dim([0, 0, 1, 0, 0, 0, 0, 0, 0]);
    pub const CURRENT: Dim = Dim([0, 0, 0, 1, 0, 0, 0, 0, 0]);
    pub const TEMPERATURE: Dim = Dim([0, 0, 0, 0, 1, 0, 0, 0, 0]);
    pub const AMOUNT: Dim = Dim([0, 0, 0, 0, 0, 1, 0, 0, 0]);
    pub const LUMINOUS: Dim = Dim([0, 0, 0, 0, 0, 0, 1, 0, 0]);
    pub const ANGLE: Dim = Dim([0, 0, 0, 0, 0, 0, 0, 1, 0]);
    pub const INFORMATION: Dim = Dim([0, 0, 0, 0, 0, 0, 0, 0, 1]);
    pub const ENERGY: Dim = Dim([2, 1, -2, 0, 0, 0, 0, 0, 0]);
    pub const CHARGE: Dim = Dim([0, 0, 1, 1, 0, 0, 0, 0, 0]);
    pub const FREQUENCY: Dim = Dim([0, 0, -1, 0, 0, 0, 0, 0, 0]);

    /// The largest exponent a dimension holds (either sign).
    pub const MAX_EXPONENT: i32 = 127;

    /// This dimension raised to an integer power, when every exponent stays
    /// within ±[`Dim::MAX_EXPONENT`].
    pub fn checked_powi(self, p: i32) -> Option<Dim> {
        let mut out = self.0;
        for o in out.iter_mut() {
            let e = i32::from(*o).checked_mul(p)?;
            if e.abs() > Dim::MAX_EXPONENT {
                return None;
            }
            *o = e as i8;
        }
        Some(Dim(out))
    }

    /// The product, when every exponent stays within range.
    pub fn checked_mul(self, other: Dim) -> Option<Dim> {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0) {
            let e = i32::from(*o) + i32::from(b);
            if e.abs() > Dim::MAX_EXPONENT {
                return None;
            }
            *o = e as i8;
        }
        Some(Dim(out))
    }

    /// The quotient, when every exponent stays within range.
    pub fn checked_div(self, other: Dim) -> Option<Dim> {
        self.checked_mul(other.checked_powi(-1)?)
    }

    /// This dimension raised to an integer power (exponents clamped; see
    /// [`Dim::checked_powi`] for the checked form).
    pub fn powi(self, p: i32) -> Dim {
        let mut out = self.0;
        for o in out.iter_mut() {
            *o = (i32::from(*o) * p).clamp(-127, 127) as i8;
        }
        Dim(out)
    }

    /// This dimension raised to a rational power `num/den`, when the result
    /// has integer exponents (as `sqrt(m^2)` does).
    pub fn pow_ratio(self, num: i32, den: i32) -> Option<Dim> {
        if den == 0 {
            return None;
        }
        let mut out = self.0;
        for o in out.iter_mut() {
            let scaled = i32::from(*o) * num;
            if scaled % den != 0 {
                return None;
            }
            *o = (scaled / den).clamp(-127, 127) as i8;
        }
        Some(Dim(out))
    }

    /// Whether this is the dimension of a plain number.
    pub fn is_none(self) -> bool {
        self == Dim::NONE
    }

    /// The name of the quantity kind with this dimension, if it has one.
    pub fn kind_name(self) -> Option<&'static str> {
        KINDS.iter().find(|(_, d)| *d == self).map(|(n, _)| *n)
    }

    /// The dimension in SI base units, `kg*m^2/s^2` style (`1` for none).
    pub fn si_units(self) -> String {
        let mut num = Vec::new();
        let mut den = Vec::new();
        // Mass first reads most naturally (kg*m^2/s^2).
        for i in [1usize, 0, 2, 3, 4, 5, 6, 7, 8] {
            let p = self.0[i];
            let sym = BASE_SYMBOLS[i];
            match p.cmp(&0) {
                std::cmp::Ordering::Greater => num.push(if p == 1 { sym.to_string() } else { format!("{sym}^{p}") }),
                std::cmp::Ordering::Less => den.push(if p == -1 { sym.to_string() } else { format!("{sym}^{}", -p) }),
                std::cmp::Ordering::Equal => {}
            }
        }
        let mut out = if num.is_empty() { "1".to_string() } else { num.join("*") };
        for d in den {
            out.push('/');
            out.push_str(&d);
        }
        out
    }
}

impl std::ops::Mul for Dim {
    type Output = Dim;

    /// The product of two dimensions: exponents add.
    fn mul(self, other: Dim) -> Dim {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0) {
            *o = o.saturating_add(b);
        }
        Dim(out)
    }
}

impl std::ops::Div for Dim {
    type Output = Dim;

    /// The quotient of two dimensions: exponents subtract.
    fn div(self, other: Dim) -> Dim {
        self * other.powi(-1)
    }
}

impl fmt::Display for Dim {
    /// `Energy [kg*m^2/s^2]`, or just the SI units when the kind has no name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind_name() {
            Some(name) if self.is_none() => write!(f, "{name}"),
            Some(name) => write!(f, "{name} [{}]", self.si_units()),
            None => write!(f, "[{}]", self.si_units()),
        }
    }
}

/// The named quantity kinds that can be written as types.
pub const KINDS: &[(&str, Dim)] = &[
    ("Length", Dim::LENGTH),
    ("Time", Dim::TIME),
    ("Mass", Dim::MASS),
    ("Energy", Dim::ENERGY),
    ("Temperature", Dim::TEMPERATURE),
    ("Charge", Dim::CHARGE),
    ("Angle", Dim::ANGLE),
    ("Frequency", Dim::FREQUENCY),
    ("Memory", Dim::INFORMATION),
    ("Dimensionless", Dim::NONE),
    ("Current", Dim::CURRENT),
    ("Amount", Dim::AMOUNT),
    ("Velocity", Dim([1, 0, -1, 0, 0, 0, 0, 0, 0])),
    ("Acceleration", Dim([1, 0, -2, 0, 0, 0, 0, 0, 0])),
    ("Force", Dim([1, 1, -2, 0, 0, 0, 0, 0, 0])),
    ("Pressure", Dim([-1, 1, -2, 0, 0, 0, 0, 0, 0])),
    ("Power", Dim([2, 1, -3, 0, 0, 0, 0, 0, 0])),
    ("Voltage", Dim([2, 1, -3, -1, 0, 0, 0, 0, 0])),
    ("MagneticField", Dim([0, 1, -2, -1, 0, 0, 0, 0, 0])),
    ("Area", Dim([2, 0, 0, 0, 0, 0, 0, 0, 0])),
    ("Volume", Dim([3, 0, 0, 0, 0, 0, 0, 0, 0])),
];

/// The dimension of a named quantity kind (`Length`, `Energy`, ...).
pub fn kind_dim(name: &str) -> Option<Dim> {
    KINDS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// A unit resolved to its factor to SI and its dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resolved {
    /// Multiply a value in this unit by `factor` to get SI.
    pub factor: f64,
    pub dim: Dim,
}

/// Why a unit expression cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownUnit {
    pub name: String,
    /// The closest known unit, for a did-you-mean.
    pub suggestion: Option<String>,
    /// Set when the unit is known but the power written (`m^1000`) takes
    /// an exponent out of range.
    pub power_out_of_range: Option<i32>,
}

/// Resolves `(name, power)` factors, as the syntax tree keeps them.
pub fn resolve(factors: &[(String, i32)]) -> Result<Resolved, UnknownUnit> {
    let mut factor = 1.0f64;
    let mut dim = Dim::NONE;
    for (name, power) in factors {
        if name == "1" {
            continue;
        }
        let Some(def) = unit_def(name) else {
            return Err(UnknownUnit { name: name.clone(), suggestion: suggest_unit(name), power_out_of_range: None });
        };
        let out_of_range = || UnknownUnit { name: name.clone(), suggestion: None, power_out_of_range: Some(*power) };
        factor *= def.factor.powi(*power);
        dim = def.dim.checked_powi(*power).and_then(|d| dim.checked_mul(d)).ok_or_else(out_of_range)?;
    }
    Ok(Resolved { factor, dim })
}

/// Parses and resolves a unit written as text: `eV`, `m/s^2`, `kg*m^2`.
pub fn resolve_text(text: &str) -> Result<Resolved, UnknownUnit> {
    resolve(&parse_unit_text(text))
}

/// Splits unit text such as `kg*m^2/s^2` into `(name, power)` factors.
pub fn parse_unit_text(text: &str) -> Vec<(String, i32)> {
    let text = text.trim().trim_start_matches('[').trim_end_matches(']');
    let mut out = Vec::new();
    let mut sign = 1;
    let mut current = String::new();
    let flush = |current: &mut String, sign: i32, out: &mut Vec<(String, i32)>| {
        let t = current.trim();
        if !t.is_empty() {
            let (name, pow) = match t.split_once('^') {
                Some((n, p)) => (n.trim().to_string(), p.trim().parse::<i32>().unwrap_or(1)),
                None => (t.to_string(), 1),
            };
            out.push((name, pow * sign));
        }
        current.clear();
    };
    for c in text.chars() {
        match c {
            '*' | '/' => {
                flush(&mut current, sign, &mut out);
                sign = if c == '/' { -1 } else { 1 };
            }
            _ => current.push(c),
        }
    }
    flush(&mut current, sign, &mut out);
    out
}

/// The known unit closest to `name` by edit distance, if any is close.
pub fn suggest_unit(name: &str) -> Option<String> {
    closest(name, UNITS.iter().map(|u| u.name))
}

/// The candidate closest to `target` (case-insensitively first), when it is
/// close enough to be a plausible typo.
pub fn closest<'a>(target: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = target.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        if cand.to_ascii_lowercase() == lower && cand != target {
            return Some(cand.to_string());
        }
        let d = levenshtein(target, cand);
        let limit = (target.chars().count().max(cand.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// The edit distance between two strings, counted in characters, where
/// swapping two neighbours counts as one edit (optimal string alignment).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// Formats an `f64` in the shortest form that reads back to the same value.
pub fn format_f64(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{v:?}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bohr_is_codata_2022_exactly() {
        let r = resolve_text("bohr").unwrap();
        assert_eq!(r.dim, Dim::LENGTH);
        assert_eq!(r.factor, 5.29177210544e-11);
        assert_eq!(24.0 * r.factor, 24.0 * 5.29177210544e-11);
    }

    #[test]
    fn compound_units_multiply_out() {
        let r = resolve_text("m/s^2").unwrap();
        assert_eq!(r.dim, Dim([1, 0, -2, 0, 0, 0, 0, 0, 0]));
        assert_eq!(r.factor, 1.0);
        let e = resolve_text("eV").unwrap();
        assert_eq!(e.dim, Dim::ENERGY);
        assert_eq!(e.factor, 1.602176634e-19);
        let gib = resolve_text("GiB").unwrap();
        assert_eq!(gib.factor, 1024.0 * 1024.0 * 1024.0);
        assert_eq!(gib.dim, Dim::INFORMATION);
    }

    #[test]
    fn displays_kinds_with_si_units() {
        assert_eq!(Dim::ENERGY.to_string(), "Energy [kg*m^2/s^2]");
        assert_eq!(Dim::LENGTH.to_string(), "Length [m]");
        assert_eq!(Dim([1, 0, 0, 0, 0, 0, 0, 0, 1]).to_string(), "[m*B]");
    }

    #[test]
    fn suggests_close_units() {
        assert_eq!(resolve_text("bhor").unwrap_err().suggestion.as_deref(), Some("bohr"));
        assert_eq!(suggest_unit("ev").as_deref(), Some("eV"));
    }

    #[test]
    fn rational_powers() {
        assert_eq!(Dim::LENGTH.powi(2).pow_ratio(1, 2), Some(Dim::LENGTH));
        assert_eq!(Dim::LENGTH.pow_ratio(1, 2), None);
        assert_eq!(Dim::LENGTH.checked_powi(127), Some(Dim::LENGTH.powi(127)));
        assert_eq!(Dim::LENGTH.checked_powi(128), None);
        assert_eq!(Dim::LENGTH.checked_powi(i32::MAX), None);
        assert_eq!(Dim::LENGTH.powi(100).checked_mul(Dim::LENGTH.powi(27)), Some(Dim::LENGTH.powi(127)));
        assert_eq!(Dim::LENGTH.powi(100).checked_mul(Dim::LENGTH.powi(28)), None);
        assert_eq!(Dim::LENGTH.powi(-127).checked_div(Dim::LENGTH), None);
        let e = resolve(&[("m".into(), 1000)]).unwrap_err();
        assert_eq!(e.power_out_of_range, Some(1000));
        assert!(resolve(&[("m".into(), 100), ("m".into(), 27)]).is_ok());
        assert!(resolve(&[("m".into(), 100), ("m".into(), 28)]).is_err());
    }
}
