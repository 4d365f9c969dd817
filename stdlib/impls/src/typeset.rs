//! Plain-text math as a physicist means it, for titles, axis labels and
//! units: `|psi_2p|^2` is |ψ₂ₚ|², `bohr^-3` is bohr⁻³, `E_n` is Eₙ; a
//! single letter or a lowercase Greek letter is an italic variable, words
//! stay upright, and a column header `r [bohr]` is a quantity and its unit.

use crate::figure::{Rich, Shift};

/// Greek letters by their TeX names (and ħ).
const GREEK: &[(&str, char)] = &[
    ("alpha", 'α'),
    ("beta", 'β'),
    ("gamma", 'γ'),
    ("delta", 'δ'),
    ("epsilon", 'ε'),
    ("zeta", 'ζ'),
    ("eta", 'η'),
    ("theta", 'θ'),
    ("iota", 'ι'),
    ("kappa", 'κ'),
    ("lambda", 'λ'),
    ("mu", 'μ'),
    ("nu", 'ν'),
    ("xi", 'ξ'),
    ("pi", 'π'),
    ("rho", 'ρ'),
    ("sigma", 'σ'),
    ("tau", 'τ'),
    ("upsilon", 'υ'),
    ("phi", 'φ'),
    ("varphi", 'φ'),
    ("chi", 'χ'),
    ("psi", 'ψ'),
    ("omega", 'ω'),
    ("Gamma", 'Γ'),
    ("Delta", 'Δ'),
    ("Theta", 'Θ'),
    ("Lambda", 'Λ'),
    ("Xi", 'Ξ'),
    ("Pi", 'Π'),
    ("Sigma", 'Σ'),
    ("Upsilon", 'Υ'),
    ("Phi", 'Φ'),
    ("Psi", 'Ψ'),
    ("Omega", 'Ω'),
    ("hbar", 'ħ'),
];

/// Unit words with a symbol of their own.
const UNIT_WORDS: &[(&str, &str)] = &[("angstrom", "Å"), ("ohm", "Ω"), ("hbar", "ħ"), ("degree", "°")];

/// The superscript form of a digit, sign or parenthesis.
pub fn superscript(c: char) -> Option<char> {
    Some(match c {
        '0' => '⁰',
        '1' => '¹',
        '2' => '²',
        '3' => '³',
        '4' => '⁴',
        '5' => '⁵',
        '6' => '⁶',
        '7' => '⁷',
        '8' => '⁸',
        '9' => '⁹',
        '+' => '⁺',
        '-' | '−' => '⁻',
        '=' => '⁼',
        '(' => '⁽',
        ')' => '⁾',
        _ => return None,
    })
}

fn subscript(c: char) -> Option<char> {
    Some(match c {
        '0'..='9' => char::from_u32(0x2080 + (c as u32 - '0' as u32))?,
        '+' => '₊',
        '-' | '−' => '₋',
        '=' => '₌',
        '(' => '₍',
        ')' => '₎',
        _ => return None,
    })
}

/// Whether the text is math (variables italic) or a unit (all upright).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Math,
    Unit,
}

/// Typesets a title or a label: Greek names, `^` and `_` scripts, italic
/// variables, a true minus sign.
pub fn math(text: &str) -> Rich {
    let mut out = Rich::default();
    parse(text, Mode::Math, Shift::Normal, &mut out);
    out
}

/// Typesets a unit: exponents raised, `*` as a centred dot, all upright.
pub fn unit(text: &str) -> Rich {
    let mut out = Rich::default();
    parse(text, Mode::Unit, Shift::Normal, &mut out);
    out
}

/// Splits a column header `name [unit]` into its name and unit.
pub fn split_unit(header: &str) -> (&str, Option<&str>) {
    let h = header.trim();
    if let Some(body) = h.strip_suffix(']')
        && let Some(open) = body.rfind('[')
    {
        let name = body[..open].trim_end();
        let unit = body[open + 1..].trim();
        if !name.is_empty() {
            return (name, Some(unit));
        }
    }
    (h, None)
}

/// The unit of a header, if it carries one that is not a pure number.
pub fn unit_of(header: &str) -> Option<&str> {
    split_unit(header).1.filter(|u| !u.is_empty() && *u != "1")
}

/// A quantity and its unit as an axis label: `r [bohr]`, `|ψ|² [bohr⁻³]`.
pub fn quantity(name: &str, unit_text: Option<&str>) -> Rich {
    let mut out = math(name);
    if let Some(u) = unit_text.filter(|u| !u.is_empty() && *u != "1") {
        out.push(" [", false, Shift::Normal);
        out.append(&unit(u));
        out.push("]", false, Shift::Normal);
    }
    out
}

/// A column header as an axis label.
pub fn header(h: &str) -> Rich {
    let (name, u) = split_unit(h);
    quantity(name, u)
}

/// A minus sign where a hyphen stands for one.
pub fn minus(text: &str) -> String {
    text.replace('-', "\u{2212}")
}

/// A fitted value with its standard error, as a physicist writes it: the
/// error to two significant digits and the value to the same decimal
/// (`0.700 ± 0.012`), a shared power of ten outside parentheses for very
/// small or large numbers (`(4.00 ± 0.13)×10⁻³`); an error far below the
/// value's precision is written on its own.
pub fn value_error(v: f64, e: f64) -> String {
    let size = v.abs().max(if e.is_finite() { e } else { 0.0 });
    let p = if size > 0.0 && size.is_finite() { size.log10().floor() as i32 } else { 0 };
    let power = if (-2..5).contains(&p) { 0 } else { p };
    let scale = 10f64.powi(power);
    let (vs, es) = (v / scale, e / scale);
    let body = if !e.is_finite() || e <= 0.0 {
        let d = (5 - p + power).clamp(0, 10) as usize;
        format!("{vs:.d$}")
    } else {
        let d = 1 - es.log10().floor() as i32;
        if d > 8 {
            // Exact data: the value to seven digits, the error by itself.
            let dv = (6 - p + power).clamp(0, 10) as usize;
            let ep = e.log10().floor() as i32;
            return minus(&format!("{:.dv$}{} ± {:.1}×10{}", vs, times_ten_text(power), e / 10f64.powi(ep), sup(ep)));
        }
        let d = d.max(0) as usize;
        format!("{vs:.d$} ± {es:.d$}")
    };
    let text = if power == 0 {
        body
    } else if body.contains('±') {
        format!("({body}){}", times_ten_text(power))
    } else {
        format!("{body}{}", times_ten_text(power))
    };
    minus(&text)
}

fn sup(e: i32) -> String {
    e.to_string().chars().filter_map(superscript).collect()
}

fn times_ten_text(power: i32) -> String {
    if power == 0 { String::new() } else { format!("×10{}", sup(power)) }
}

/// The script after `^` or `_` at `chars[i..]`: braced, or a sign and a run
/// of letters or digits. Returns the script's text and where it ends.
fn script(chars: &[char], i: usize) -> Option<(String, usize)> {
    match chars.get(i) {
        Some('{') => {
            let mut depth = 0;
            for (j, c) in chars.iter().enumerate().skip(i) {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some((chars[i + 1..j].iter().collect(), j + 1));
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        Some(_) => {
            let mut j = i;
            if matches!(chars.get(j), Some('-' | '+')) {
                j += 1;
            }
            let start = j;
            let digits = chars.get(j).is_some_and(|c| c.is_ascii_digit());
            while chars
                .get(j)
                .is_some_and(|c| if digits { c.is_ascii_digit() || *c == '.' } else { c.is_ascii_alphanumeric() })
            {
                j += 1;
            }
            // `x^2p`: a digit run may end in letters (`2p`), as orbitals do.
            while digits && chars.get(j).is_some_and(|c| c.is_ascii_alphabetic()) {
                j += 1;
            }
            (j > start).then(|| (chars[i..j].iter().collect(), j))
        }
        None => None,
    }
}

fn parse(text: &str, mode: Mode, shift: Shift, out: &mut Rich) {
    let chars: Vec<char> = text.chars().collect();
    // In prose ("Fit of a line") `a`, `A` and `I` are words, not variables.
    let prose = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| w.len() >= 3 && !GREEK.iter().any(|(name, _)| *name == w));
    let mut i = 0;
    // Whether what came just before can carry a subscript (a symbol, a
    // closing bar or bracket).
    let mut symbol = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let greek = GREEK.iter().find(|(name, _)| *name == word).map(|(_, g)| *g);
            match mode {
                Mode::Unit => {
                    let symbolic = UNIT_WORDS.iter().find(|(w, _)| *w == word).map(|(_, s)| *s);
                    out.push(symbolic.unwrap_or(&word), false, shift);
                    symbol = word.len() == 1;
                }
                Mode::Math => match greek {
                    Some(g) => {
                        out.push(g.to_string(), g.is_lowercase(), shift);
                        symbol = true;
                    }
                    // A letter right after a digit names a state (2p, 3d).
                    None if word.len() == 1
                        && !(prose && matches!(word.as_str(), "a" | "A" | "I"))
                        && !(start > 0 && chars[start - 1].is_ascii_digit()) =>
                    {
                        out.push(word, true, shift);
                        symbol = true;
                    }
                    None => {
                        out.push(word, false, shift);
                        symbol = false;
                    }
                },
            }
            continue;
        }
        let raise = match c {
            '^' => Some(Shift::Super),
            '_' if symbol => Some(Shift::Sub),
            _ => None,
        };
        if let Some(kind) = raise
            && shift == Shift::Normal
            && let Some((body, end)) = script(&chars, i + 1)
        {
            let map = if kind == Shift::Super { superscript } else { subscript };
            let unicode: Option<String> = body.chars().map(map).collect();
            match unicode {
                // Digits and signs have true script glyphs in the face.
                Some(u) if !u.is_empty() => out.push(u, false, Shift::Normal),
                // A label that starts with a digit (`2p`, `1s`) names a
                // state: upright, as a unit is.
                _ if body.starts_with(|c: char| c.is_ascii_digit()) => parse(&body, Mode::Unit, kind, out),
                _ => parse(&body, mode, kind, out),
            }
            i = end;
            symbol = false;
            continue;
        }
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        let next = chars.get(i + 1).copied();
        let text = match c {
            // A hyphen between spaces, or before a number at the start of a
            // term, is a minus; inside a word (x-axis) it stays a hyphen.
            '-' if prev.is_none_or(|p| p == ' ' || p == '(' || p == '=' || p == '[' || p == '{')
                && next.is_some_and(|n| n == ' ' || n.is_ascii_digit() || n == '.') =>
            {
                "\u{2212}".to_string()
            }
            '*' => "\u{00b7}".to_string(),
            _ => c.to_string(),
        };
        out.push(text, false, shift);
        symbol = matches!(c, '|' | ')' | ']');
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(r: &Rich) -> Vec<(String, bool, Shift)> {
        r.0.iter().map(|s| (s.text.clone(), s.italic, s.shift)).collect()
    }

    #[test]
    fn a_density_title_is_typeset() {
        let r = math("|psi_2p|^2");
        assert_eq!(r.text(), "|ψ2p|²");
        assert_eq!(
            spans(&r),
            vec![
                ("|".into(), false, Shift::Normal),
                ("ψ".into(), true, Shift::Normal),
                ("2p".into(), false, Shift::Sub),
                ("|²".into(), false, Shift::Normal),
            ]
        );
        assert_eq!(math("psi_0").text(), "ψ₀");
        assert_eq!(math("E_n for omega = 1").text(), "En for ω = 1");
        assert_eq!(spans(&math("E_n"))[1], ("n".into(), true, Shift::Sub));
    }

    #[test]
    fn words_keep_their_underscores_and_hyphens() {
        assert_eq!(math("mean_x").text(), "mean_x");
        assert_eq!(math("all_levels.table").text(), "all_levels.table");
        assert_eq!(math("x-axis").text(), "x-axis");
        assert_eq!(math("value - 1.5").text(), "value − 1.5");
        assert_eq!(math("-3").text(), "−3");
        assert_eq!(math("Potential of the dipole").text(), "Potential of the dipole");
        assert!(!math("Fit of a line").0.iter().any(|s| s.italic));
        assert!(math("a").0[0].italic);
        assert!(!math("Radial density of 2p").0.iter().any(|s| s.italic), "2p names a state");
    }

    #[test]
    fn units_raise_their_exponents() {
        assert_eq!(unit("bohr^-3").text(), "bohr⁻³");
        assert_eq!(unit("bohr^{-3/2}").text(), "bohr−3/2");
        assert_eq!(spans(&unit("bohr^{-3/2}"))[1].2, Shift::Super);
        assert_eq!(unit("J*s").text(), "J·s");
        assert_eq!(unit("hbar/E_h").text(), "ħ/Eh");
        assert_eq!(unit("angstrom").text(), "Å");
    }

    #[test]
    fn values_carry_their_errors_to_two_digits() {
        assert_eq!(value_error(0.70012, 0.0123), "0.700 ± 0.012");
        assert_eq!(value_error(40.0, 2.5), "40.0 ± 2.5");
        assert_eq!(value_error(-1234.5, 56.0), "−1234 ± 56");
        assert_eq!(value_error(4.0e-3, 1.3e-4), "(4.00 ± 0.13)×10⁻³");
        assert_eq!(value_error(40.0, 1e-12), "40.00000 ± 1.0×10⁻¹²");
        assert_eq!(value_error(2.5, f64::NAN), "2.50000");
    }

    #[test]
    fn headers_split_into_quantity_and_unit() {
        assert_eq!(split_unit("r [bohr]"), ("r", Some("bohr")));
        assert_eq!(split_unit("E"), ("E", None));
        assert_eq!(split_unit("[x]"), ("[x]", None));
        assert_eq!(header("r [bohr]").text(), "r [bohr]");
        assert_eq!(header("P [1]").text(), "P");
        assert_eq!(unit_of("t [fs]"), Some("fs"));
        assert_eq!(unit_of("n"), None);
    }
}
