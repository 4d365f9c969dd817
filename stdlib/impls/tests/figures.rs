//! Golden pictures of the plot tools: each figure is drawn from fixed data,
//! rasterised at one pixel per unit and compared with a committed PNG under
//! `tests/golden/`, allowing for anti-aliasing noise (mean difference per
//! channel under 2/255, under 1% of pixels off by more than 32).
//!
//! `PHX_BLESS=1 cargo nextest run -p phx-stdlib --test figures` rewrites
//! the goldens after a deliberate change (look at them before committing);
//! `PHX_FIGURES_OUT=DIR` also writes each figure's full-size PNG and SVG
//! there, for a person to look at (`PHX_FIGURES_SCALE`: PNG pixels per
//! unit; the README's pictures are these at 1.25).

use std::path::PathBuf;

use phx_stdlib::chart::{PNG_SCALE, WIDTH};
use phx_stdlib::field::Field;
use phx_stdlib::figure::{Figure, Rich};
use phx_stdlib::plot::{self, HeatmapText, read_table};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `fig` with its golden at `scale` (or writes it when blessing).
fn check(name: &str, fig: &Figure, scale: f64) {
    if let Some(dir) = std::env::var_os("PHX_FIGURES_OUT") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let scale = std::env::var("PHX_FIGURES_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(PNG_SCALE);
        std::fs::write(dir.join(format!("{name}.png")), fig.png(scale).unwrap()).unwrap();
        std::fs::write(dir.join(format!("{name}.svg")), fig.svg()).unwrap();
    }
    let png = fig.png(scale).unwrap();
    let path = golden_dir().join(format!("{name}.png"));
    if std::env::var_os("PHX_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, &png).unwrap();
        return;
    }
    let golden = image::open(&path)
        .unwrap_or_else(|e| panic!("no golden {} ({e}); run with PHX_BLESS=1 to make it", path.display()))
        .to_rgb8();
    let got = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(got.dimensions(), golden.dimensions(), "{name}: the picture changed size");
    let (mut total, mut off) = (0u64, 0usize);
    for (a, b) in got.pixels().zip(golden.pixels()) {
        let d: Vec<u8> = (0..3).map(|c| a.0[c].abs_diff(b.0[c])).collect();
        total += d.iter().map(|x| u64::from(*x)).sum::<u64>();
        if d.iter().any(|x| *x > 32) {
            off += 1;
        }
    }
    let pixels = (got.width() * got.height()) as f64;
    let mean = total as f64 / (pixels * 3.0);
    let share = off as f64 / pixels;
    if mean >= 2.0 || share >= 0.01 {
        let out = std::env::temp_dir().join(format!("phx-figure-{name}.png"));
        std::fs::write(&out, &png).unwrap();
        panic!(
            "{name} differs from its golden: mean {mean:.2}/255 per channel, {:.2}% of pixels off by more than 32; this run's picture is {}",
            share * 100.0,
            out.display()
        );
    }
}

/// The hydrogen 2p (m = 0) density on a grid through the origin.
fn density_2p(g: usize, extent: f64) -> Field {
    let values = phx_stdlib::orbital::density_grid(2, 1, 0, 1.0, g, extent, 2, &|| false);
    Field {
        shape: vec![g, g, g],
        lo: vec![-extent; 3],
        hi: vec![extent; 3],
        axis_unit: "bohr".into(),
        value_unit: "bohr^-3".into(),
        values,
    }
}

fn heatmap(field: &Field, plane: &str, title: &str, quantity: &str, log: bool) -> Figure {
    let s = plot::slice(field, plane).unwrap();
    let units = plot::axis_units(field, &['x', 'y', 'z']);
    let pick = |c: char| units[(c as usize - 'x' as usize).min(units.len() - 1)].clone();
    let text = HeatmapText {
        title: Some(phx_stdlib::typeset::math(title)),
        quantity,
        value_unit: &field.value_unit,
        axes: [pick(s.x_name), pick(s.y_name)],
        width: WIDTH,
    };
    plot::heatmap_figure(&s, 96, &text, log).unwrap()
}

#[test]
fn heatmap_of_the_2p_density() {
    let fig = heatmap(&density_2p(48, 24.0), "xz", "|psi_2p|^2", "|psi|^2", false);
    let svg = fig.svg();
    assert!(svg.contains("bohr") && svg.contains("×10"), "units and one shared exponent");
    assert!(!svg.contains("e-3"), "no exponent repeated per tick");
    check("heatmap", &fig, 0.6);
}

#[test]
fn heatmap_of_a_signed_field_is_diverging_and_log_scales_work() {
    let g = 48;
    let e = 16.0;
    let mut values = Vec::with_capacity(g * g);
    for j in 0..g {
        for i in 0..g {
            let (x, z) = (-e + 2.0 * e * i as f64 / (g - 1) as f64, -e + 2.0 * e * j as f64 / (g - 1) as f64);
            values.push(z * (-(x * x + z * z).sqrt() / 2.0).exp());
        }
    }
    let field = Field {
        shape: vec![g, g],
        lo: vec![-e; 2],
        hi: vec![e; 2],
        axis_unit: "bohr".into(),
        value_unit: "bohr^{-3/2}".into(),
        values,
    };
    check("heatmap_signed", &heatmap(&field, "xy", "psi_2pz", "psi", false), 0.6);
    check("heatmap_log", &heatmap(&density_2p(48, 24.0), "xz", "|psi_2p|^2, log scale", "|psi|^2", true), 0.6);
}

#[test]
fn line_plot_of_stacked_radial_densities() {
    let mut csv = String::from("r [bohr],P [bohr^-1],instance\n");
    for n in 1..=3 {
        for i in 0..200 {
            let r = 30.0 * f64::from(i) / 199.0;
            let rr = phx_stdlib::orbital::radial(n, 0, 1.0, r);
            csv.push_str(&format!("{r},{},orbital[{}]\n", r * r * rr * rr, n - 1));
        }
    }
    let t = read_table(&csv).unwrap();
    let fig =
        plot::line_figure(&t, 0, &[1], Some(Rich::plain("Radial densities of the ns orbitals")), false, WIDTH).unwrap();
    let svg = fig.svg();
    for label in ["orbital[0]", "orbital[1]", "orbital[2]"] {
        assert!(svg.contains(label), "one labelled curve per instance: {label}");
    }
    check("line", &fig, 1.0);
}

#[test]
fn fit_over_its_data_with_parameters_and_errors() {
    let xs: Vec<f64> = (0..30).map(|i| f64::from(i) * 0.2).collect();
    // Fixed "noise" of a few percent.
    let ys: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, t)| 40.0 * (-0.7 * t).exp() + 0.8 * ((i * 7919 % 13) as f64 / 6.0 - 1.0))
        .collect();
    let model = |t: f64, p: &[f64]| p[0] * (-p[1] * t).exp();
    let f = phx_stdlib::fit::fit(&model, &xs, &ys, &[10.0, 0.1]).unwrap();
    let curve: Vec<(f64, f64)> =
        (0..240).map(|k| 6.0 * f64::from(k) / 239.0).map(|t| (t, model(t, &f.params))).collect();
    let params =
        vec![("amplitude".to_string(), f.params[0], f.errors[0]), ("rate".to_string(), f.params[1], f.errors[1])];
    let points = xs.into_iter().zip(ys).collect();
    let fig =
        plot::fit_figure("t [fs]", "counts", points, curve, &params, Some(Rich::plain("fit.fitted")), WIDTH).unwrap();
    let svg = fig.svg();
    assert!(svg.contains("±") && svg.contains("amplitude") && svg.contains("<circle"), "data points and errors");
    check("fit", &fig, 1.0);
}

#[test]
fn surface_of_a_dipole_potential() {
    let g = 40;
    let e = 3.0;
    let mut values = Vec::with_capacity(g * g);
    for j in 0..g {
        for i in 0..g {
            let (x, y) = (-e + 2.0 * e * i as f64 / (g - 1) as f64, -e + 2.0 * e * j as f64 / (g - 1) as f64);
            let phi = 1.0 / ((x - 1.0).powi(2) + y * y + 0.05).sqrt() - 1.0 / ((x + 1.0).powi(2) + y * y + 0.05).sqrt();
            values.push(phi);
        }
    }
    let field = Field {
        shape: vec![g, g],
        lo: vec![-e; 2],
        hi: vec![e; 2],
        axis_unit: "bohr".into(),
        value_unit: "E_h/e".into(),
        values,
    };
    let s = plot::slice(&field, "xy").unwrap();
    let axes = [("x".to_string(), "bohr".to_string()), ("y".to_string(), "bohr".to_string())];
    let fig = phx_stdlib::surface::surface_figure(&s, 40, axes, "phi", &field.value_unit, "", WIDTH).unwrap();
    assert!(fig.svg().matches("<polygon").count() >= 39 * 39);
    check("surface", &fig, 0.6);
}

#[test]
fn vector_field_of_a_dipole() {
    let field = |x: f64, y: f64| {
        let a = ((x - 1.0).powi(2) + y * y + 0.05).powf(1.5);
        let b = ((x + 1.0).powi(2) + y * y + 0.05).powf(1.5);
        ((x - 1.0) / a - (x + 1.0) / b, y / a - y / b)
    };
    let arrows = phx_stdlib::vectors::sample(&field, 16, 3.0);
    let fig = phx_stdlib::vectors::vector_figure(&arrows, 16, 3.0, WIDTH);
    assert!(fig.svg().matches("<polyline").count() >= 2 * 250);
    check("vectors", &fig, 1.0);
}

#[test]
fn contact_sheet_of_four_slices() {
    let field = density_2p(32, 20.0);
    let mut tiles = Vec::new();
    for (k, plane) in ["xy", "xz", "yz", "xz"].iter().enumerate() {
        let fig = heatmap(&field, plane, &format!("{plane} slice"), "|psi|^2", k == 3);
        let png = fig.png(0.4).unwrap();
        let tile = image::load_from_memory(&png).unwrap().to_rgb8();
        tiles.push((format!("slices[{k}].image"), tile, png));
    }
    let fig = phx_stdlib::sheet::sheet_figure(&tiles, 2);
    assert_eq!(fig.svg().matches("<image ").count(), 4);
    check("sheet", &fig, 0.6);
}
