//! CODATA 2022 values of the physical constants, in SI.

use crate::Dim;

/// A named physical constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant {
    pub name: &'static str,
    pub value: f64,
    pub dim: Dim,
    /// The SI unit, as text.
    pub unit: &'static str,
    /// What the constant is.
    pub description: &'static str,
    /// Whether the SI defines the value exactly.
    pub exact: bool,
}

const fn d(l: i8, m: i8, t: i8, i: i8, k: i8, n: i8) -> Dim {
    Dim([l, m, t, i, k, n, 0, 0, 0])
}

/// h / (2 pi), computed once in f64 from the exact h.
const HBAR: f64 = 6.62607015e-34 / (2.0 * std::f64::consts::PI);

/// Every constant that `constants.NAME` can name.
pub const CONSTANTS: &[Constant] = &[
    Constant {
        name: "c",
        value: 299_792_458.0,
        dim: d(1, 0, -1, 0, 0, 0),
        unit: "m/s",
        description: "speed of light in vacuum",
        exact: true,
    },
    Constant {
        name: "h",
        value: 6.62607015e-34,
        dim: d(2, 1, -1, 0, 0, 0),
        unit: "J*s",
        description: "Planck constant",
        exact: true,
    },
    Constant {
        name: "hbar",
        value: HBAR,
        dim: d(2, 1, -1, 0, 0, 0),
        unit: "J*s",
        description: "reduced Planck constant",
        exact: true,
    },
    Constant {
        name: "e",
        value: 1.602176634e-19,
        dim: d(0, 0, 1, 1, 0, 0),
        unit: "C",
        description: "elementary charge",
        exact: true,
    },
    Constant {
        name: "m_e",
        value: 9.1093837139e-31,
        dim: d(0, 1, 0, 0, 0, 0),
        unit: "kg",
        description: "electron mass",
        exact: false,
    },
    Constant {
        name: "m_p",
        value: 1.67262192595e-27,
        dim: d(0, 1, 0, 0, 0, 0),
        unit: "kg",
        description: "proton mass",
        exact: false,
    },
    Constant {
        name: "m_n",
        value: 1.67492750056e-27,
        dim: d(0, 1, 0, 0, 0, 0),
        unit: "kg",
        description: "neutron mass",
        exact: false,
    },
    Constant {
        name: "u",
        value: 1.66053906892e-27,
        dim: d(0, 1, 0, 0, 0, 0),
        unit: "kg",
        description: "atomic mass constant",
        exact: false,
    },
    Constant {
        name: "k_B",
        value: 1.380649e-23,
        dim: d(2, 1, -2, 0, -1, 0),
        unit: "J/K",
        description: "Boltzmann constant",
        exact: true,
    },
    Constant {
        name: "N_A",
        value: 6.02214076e23,
        dim: d(0, 0, 0, 0, 0, -1),
        unit: "1/mol",
        description: "Avogadro constant",
        exact: true,
    },
    Constant {
        name: "R",
        value: 8.314462618,
        dim: d(2, 1, -2, 0, -1, -1),
        unit: "J/(mol*K)",
        description: "molar gas constant (N_A k_B)",
        exact: true,
    },
    Constant {
        name: "eps0",
        value: 8.8541878188e-12,
        dim: d(-3, -1, 4, 2, 0, 0),
        unit: "F/m",
        description: "vacuum electric permittivity",
        exact: false,
    },
    Constant {
        name: "mu0",
        value: 1.25663706127e-6,
        dim: d(1, 1, -2, -2, 0, 0),
        unit: "N/A^2",
        description: "vacuum magnetic permeability",
        exact: false,
    },
    Constant {
        name: "alpha",
        value: 7.2973525643e-3,
        dim: d(0, 0, 0, 0, 0, 0),
        unit: "1",
        description: "fine-structure constant",
        exact: false,
    },
    Constant {
        name: "a0",
        value: 5.29177210544e-11,
        dim: d(1, 0, 0, 0, 0, 0),
        unit: "m",
        description: "Bohr radius",
        exact: false,
    },
    Constant {
        name: "E_h",
        value: 4.3597447222060e-18,
        dim: d(2, 1, -2, 0, 0, 0),
        unit: "J",
        description: "Hartree energy",
        exact: false,
    },
    Constant {
        name: "R_inf",
        value: 10_973_731.568157,
        dim: d(-1, 0, 0, 0, 0, 0),
        unit: "1/m",
        description: "Rydberg constant",
        exact: false,
    },
    Constant {
        name: "G",
        value: 6.67430e-11,
        dim: d(3, -1, -2, 0, 0, 0),
        unit: "m^3/(kg*s^2)",
        description: "Newtonian constant of gravitation",
        exact: false,
    },
    Constant {
        name: "g_n",
        value: 9.80665,
        dim: d(1, 0, -2, 0, 0, 0),
        unit: "m/s^2",
        description: "standard acceleration of gravity",
        exact: true,
    },
    Constant {
        name: "sigma_SB",
        value: 5.670374419e-8,
        dim: d(0, 1, -3, 0, -4, 0),
        unit: "W/(m^2*K^4)",
        description: "Stefan-Boltzmann constant",
        exact: true,
    },
    Constant {
        name: "mu_B",
        value: 9.2740100657e-24,
        dim: d(2, 0, 0, 1, 0, 0),
        unit: "J/T",
        description: "Bohr magneton",
        exact: false,
    },
];

/// Looks a constant up by name.
pub fn constant(name: &str) -> Option<&'static Constant> {
    CONSTANTS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hartree_is_consistent_with_bohr_and_alpha() {
        // E_h = alpha^2 m_e c^2, to the precision of the recommended values.
        let e_h = constant("alpha").unwrap().value.powi(2) * constant("m_e").unwrap().value * 299_792_458.0f64.powi(2);
        assert!((e_h / constant("E_h").unwrap().value - 1.0).abs() < 1e-9);
    }
}
