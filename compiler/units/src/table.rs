//! The unit table: every unit a quantity may be written in.

use crate::Dim;

/// A unit: its name, its factor to SI and its dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitDef {
    pub name: &'static str,
    pub factor: f64,
    pub dim: Dim,
    pub description: &'static str,
}

const L: Dim = Dim::LENGTH;
const M: Dim = Dim::MASS;
const T: Dim = Dim::TIME;
const E: Dim = Dim::ENERGY;
const K: Dim = Dim::TEMPERATURE;
const Q: Dim = Dim::CHARGE;
const A: Dim = Dim::ANGLE;
const F: Dim = Dim::FREQUENCY;
const B: Dim = Dim::INFORMATION;
const I: Dim = Dim::CURRENT;
const N: Dim = Dim::AMOUNT;
const FORCE: Dim = Dim([1, 1, -2, 0, 0, 0, 0, 0, 0]);
const PRESSURE: Dim = Dim([-1, 1, -2, 0, 0, 0, 0, 0, 0]);
const POWER: Dim = Dim([2, 1, -3, 0, 0, 0, 0, 0, 0]);
const VOLT: Dim = Dim([2, 1, -3, -1, 0, 0, 0, 0, 0]);
const TESLA: Dim = Dim([0, 1, -2, -1, 0, 0, 0, 0, 0]);
const VOLUME: Dim = Dim([3, 0, 0, 0, 0, 0, 0, 0, 0]);
const CD: Dim = Dim::LUMINOUS;

const EV: f64 = 1.602176634e-19;
const BOHR: f64 = 5.29177210544e-11;
const HARTREE: f64 = 4.3597447222060e-18;
const DALTON: f64 = 1.66053906892e-27;
const ELECTRON_MASS: f64 = 9.1093837139e-31;
const KIB: f64 = 1024.0;

macro_rules! u {
    ($name:literal, $factor:expr, $dim:expr, $desc:literal) => {
        UnitDef { name: $name, factor: $factor, dim: $dim, description: $desc }
    };
}

/// Every unit, by name. Prefixed forms are listed out so that no prefix rule
/// can make two names collide (`min` is a minute, never a milli-inch).
pub static UNITS: &[UnitDef] = &[
    // Length
    u!("m", 1.0, L, "metre"),
    u!("km", 1e3, L, "kilometre"),
    u!("cm", 1e-2, L, "centimetre"),
    u!("mm", 1e-3, L, "millimetre"),
    u!("um", 1e-6, L, "micrometre"),
    u!("nm", 1e-9, L, "nanometre"),
    u!("pm", 1e-12, L, "picometre"),
    u!("fm", 1e-15, L, "femtometre"),
    u!("angstrom", 1e-10, L, "angstrom"),
    u!("Angstrom", 1e-10, L, "angstrom"),
    u!("bohr", BOHR, L, "Bohr radius (CODATA 2022)"),
    u!("a0", BOHR, L, "Bohr radius (CODATA 2022)"),
    u!("au_length", BOHR, L, "atomic unit of length"),
    u!("ly", 9.4607304725808e15, L, "light year"),
    u!("pc", 3.085_677_581_491_367e16, L, "parsec"),
    u!("AU", 1.495978707e11, L, "astronomical unit"),
    // Mass
    u!("kg", 1.0, M, "kilogram"),
    u!("g", 1e-3, M, "gram"),
    u!("mg", 1e-6, M, "milligram"),
    u!("ug", 1e-9, M, "microgram"),
    u!("Da", DALTON, M, "dalton (CODATA 2022)"),
    u!("amu", DALTON, M, "atomic mass unit (CODATA 2022)"),
    u!("m_e", ELECTRON_MASS, M, "electron mass (CODATA 2022)"),
    // Time
    u!("s", 1.0, T, "second"),
    u!("ms", 1e-3, T, "millisecond"),
    u!("us", 1e-6, T, "microsecond"),
    u!("ns", 1e-9, T, "nanosecond"),
    u!("ps", 1e-12, T, "picosecond"),
    u!("fs", 1e-15, T, "femtosecond"),
    u!("as", 1e-18, T, "attosecond"),
    u!("min", 60.0, T, "minute"),
    u!("h", 3600.0, T, "hour"),
    u!("d", 86400.0, T, "day"),
    u!("day", 86400.0, T, "day"),
    u!("au_time", 2.4188843265864e-17, T, "atomic unit of time (CODATA 2022)"),
    // Energy
    u!("J", 1.0, E, "joule"),
    u!("kJ", 1e3, E, "kilojoule"),
    u!("MJ", 1e6, E, "megajoule"),
    u!("eV", EV, E, "electronvolt"),
    u!("meV", EV * 1e-3, E, "millielectronvolt"),
    u!("keV", EV * 1e3, E, "kiloelectronvolt"),
    u!("MeV", EV * 1e6, E, "megaelectronvolt"),
    u!("GeV", EV * 1e9, E, "gigaelectronvolt"),
    u!("TeV", EV * 1e12, E, "teraelectronvolt"),
    u!("hartree", HARTREE, E, "Hartree energy (CODATA 2022)"),
    u!("Eh", HARTREE, E, "Hartree energy (CODATA 2022)"),
    u!("Ha", HARTREE, E, "Hartree energy (CODATA 2022)"),
    u!("Ry", HARTREE / 2.0, E, "Rydberg energy (CODATA 2022)"),
    u!("cal", 4.184, E, "thermochemical calorie"),
    u!("kcal", 4184.0, E, "thermochemical kilocalorie"),
    u!("erg", 1e-7, E, "erg"),
    // Temperature
    u!("K", 1.0, K, "kelvin"),
    u!("mK", 1e-3, K, "millikelvin"),
    u!("uK", 1e-6, K, "microkelvin"),
    u!("nK", 1e-9, K, "nanokelvin"),
    // Charge and current
    u!("C", 1.0, Q, "coulomb"),
    u!("e", EV, Q, "elementary charge"),
    u!("A", 1.0, I, "ampere"),
    u!("mA", 1e-3, I, "milliampere"),
    // Angle
    u!("rad", 1.0, A, "radian"),
    u!("mrad", 1e-3, A, "milliradian"),
    u!("deg", std::f64::consts::PI / 180.0, A, "degree"),
    u!("turn", 2.0 * std::f64::consts::PI, A, "full turn"),
    // Frequency
    u!("Hz", 1.0, F, "hertz"),
    u!("kHz", 1e3, F, "kilohertz"),
    u!("MHz", 1e6, F, "megahertz"),
    u!("GHz", 1e9, F, "gigahertz"),
    u!("THz", 1e12, F, "terahertz"),
    // Information
    u!("B", 1.0, B, "byte"),
    u!("KB", 1e3, B, "kilobyte"),
    u!("kB", 1e3, B, "kilobyte"),
    u!("MB", 1e6, B, "megabyte"),
    u!("GB", 1e9, B, "gigabyte"),
    u!("TB", 1e12, B, "terabyte"),
    u!("KiB", KIB, B, "kibibyte"),
    u!("MiB", KIB * KIB, B, "mebibyte"),
    u!("GiB", KIB * KIB * KIB, B, "gibibyte"),
    u!("TiB", KIB * KIB * KIB * KIB, B, "tebibyte"),
    // Derived
    u!("N", 1.0, FORCE, "newton"),
    u!("Pa", 1.0, PRESSURE, "pascal"),
    u!("kPa", 1e3, PRESSURE, "kilopascal"),
    u!("GPa", 1e9, PRESSURE, "gigapascal"),
    u!("bar", 1e5, PRESSURE, "bar"),
    u!("atm", 101_325.0, PRESSURE, "standard atmosphere"),
    u!("W", 1.0, POWER, "watt"),
    u!("kW", 1e3, POWER, "kilowatt"),
    u!("mW", 1e-3, POWER, "milliwatt"),
    u!("V", 1.0, VOLT, "volt"),
    u!("mV", 1e-3, VOLT, "millivolt"),
    u!("kV", 1e3, VOLT, "kilovolt"),
    u!("T", 1.0, TESLA, "tesla"),
    u!("mT", 1e-3, TESLA, "millitesla"),
    u!("G", 1e-4, TESLA, "gauss"),
    u!("L", 1e-3, VOLUME, "litre"),
    u!("mL", 1e-6, VOLUME, "millilitre"),
    u!("mol", 1.0, N, "mole"),
    u!("mmol", 1e-3, N, "millimole"),
    u!("cd", 1.0, CD, "candela"),
];

/// Looks a unit up by its exact name.
pub fn unit_def(name: &str) -> Option<&'static UnitDef> {
    UNITS.iter().find(|u| u.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::constant;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = UNITS.iter().map(|u| u.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn atomic_units_agree_with_the_constants() {
        assert_eq!(unit_def("bohr").unwrap().factor, constant("a0").unwrap().value);
        assert_eq!(unit_def("hartree").unwrap().factor, constant("E_h").unwrap().value);
        assert_eq!(unit_def("eV").unwrap().factor, constant("e").unwrap().value);
        // hbar / E_h, the atomic unit of time.
        let t = constant("hbar").unwrap().value / constant("E_h").unwrap().value;
        assert!((unit_def("au_time").unwrap().factor / t - 1.0).abs() < 1e-11);
    }
}
