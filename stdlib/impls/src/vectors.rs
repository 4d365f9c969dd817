//! `plot.vector_field`: arrows of (fx(x, y), fy(x, y)) on a square grid,
//! scaled so the longest arrow spans most of a cell, coloured by magnitude.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};

use crate::chart::{self, AxisSpec, Chart, ChartSpec, ColorScale, Scale};
use crate::common::{Evaluator, arg, check_cap, function_of_arity};
use crate::figure::{Figure, Rich};
use crate::typeset;

/// One arrow: its foot and its vector, in plot units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrow {
    pub at: (f64, f64),
    pub v: (f64, f64),
}

/// The field sampled on `grid` by `grid` points of [-extent, extent]^2.
pub fn sample(f: &dyn Fn(f64, f64) -> (f64, f64), grid: usize, extent: f64) -> Vec<Arrow> {
    let coord = |i: usize| -extent + 2.0 * extent * (i as f64 + 0.5) / grid as f64;
    (0..grid)
        .flat_map(|j| (0..grid).map(move |i| (coord(i), coord(j))))
        .map(|at| Arrow { at, v: f(at.0, at.1) })
        .collect()
}

/// The magnitude drawn one cell long: the 90th percentile, so a few huge
/// arrows near a singularity do not set the scale.
fn reference_magnitude(arrows: &[Arrow]) -> f64 {
    let mut m: Vec<f64> = arrows.iter().map(|a| a.v.0.hypot(a.v.1)).filter(|m| m.is_finite() && *m > 0.0).collect();
    if m.is_empty() {
        return 0.0;
    }
    m.sort_by(f64::total_cmp);
    m[((m.len() - 1) as f64 * 0.9).round() as usize]
}

/// Draws the arrows: each clipped to one cell at the reference magnitude,
/// coloured by its magnitude (by decades when they span many), with a
/// colour bar for |F|.
pub fn vector_figure(arrows: &[Arrow], grid: usize, extent: f64, width: f64) -> Figure {
    let reference = reference_magnitude(arrows);
    let magnitudes: Vec<f64> = arrows.iter().map(|a| a.v.0.hypot(a.v.1)).filter(|m| m.is_finite()).collect();
    let longest = magnitudes.iter().copied().fold(0.0, f64::max);
    let cell = 2.0 * extent / grid as f64;
    let scale = if reference > 0.0 { 0.9 * cell / reference } else { 0.0 };
    // Colour on a log scale when magnitudes span decades (fields near
    // charges do), so weak and strong regions both read.
    let log = longest > 10.0 * reference;
    let cs = if log {
        ColorScale {
            lo: (longest * 1e-3).max(f64::MIN_POSITIVE),
            hi: longest.max(f64::MIN_POSITIVE),
            log: true,
            signed: false,
        }
    } else {
        ColorScale { lo: 0.0, hi: if longest > 0.0 { longest } else { 1.0 }, log: false, signed: false }
    };
    let mut chart = Chart::new(ChartSpec {
        title: Some({
            let mut t = Rich::plain("an arrow one cell long is ");
            t.append(&typeset::math(&format!("|F| = {}", short(reference))));
            t
        }),
        x: AxisSpec { scale: Scale::linear(-extent, extent), label: typeset::quantity("x", Some("bohr")) },
        y: AxisSpec { scale: Scale::linear(-extent, extent), label: typeset::quantity("y", Some("bohr")) },
        aspect: Some(1.0),
        colorbar: Some((cs, typeset::math("|F|"))),
        ticks_out: false,
        width,
    });
    chart.clip();
    for a in arrows {
        let magnitude = a.v.0.hypot(a.v.1);
        if !magnitude.is_finite() || magnitude == 0.0 {
            continue;
        }
        let color = cs.color(magnitude);
        // Arrows longer than the reference are clipped to one cell, so a
        // singular point does not shrink every other arrow to a dot.
        let clip = if magnitude > reference { reference / magnitude } else { 1.0 };
        let (dx, dy) = (a.v.0 * scale * clip, a.v.1 * scale * clip);
        let foot = chart.px(a.at);
        let tip = chart.px((a.at.0 + dx, a.at.1 + dy));
        // The head: two strokes at +-25 degrees back from the tip, a third
        // of the arrow long (in the picture, where angles are true).
        let (ux, uy) = (tip.0 - foot.0, tip.1 - foot.1);
        let (len, angle) = (ux.hypot(uy), uy.atan2(ux));
        let head = |turn: f64| {
            let a2 = angle + std::f64::consts::PI - turn;
            (tip.0 + len / 3.0 * a2.cos(), tip.1 + len / 3.0 * a2.sin())
        };
        chart.fig.polyline(&[foot, tip], color, 1.6, None);
        chart.fig.polyline(&[head(0.44), tip, head(-0.44)], color, 1.6, None);
    }
    chart.end_clip();
    chart.finish()
}

/// A number in three significant digits.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let e = v.abs().log10().floor() as i32;
    if (-2..4).contains(&e) {
        let d = (2 - e).max(0) as usize;
        typeset::minus(&format!("{v:.d$}"))
    } else {
        let m = v / 10f64.powi(e);
        let mut s = typeset::minus(&format!("{m:.2}"));
        s.push_str(&chart::times_ten(e).text());
        s
    }
}

/// `plot.vector_field(fx, fy, grid, extent)`.
pub struct VectorField;

impl Tool for VectorField {
    fn code_version(&self) -> String {
        crate::code_version("plot.vector_field")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let fx = Evaluator::new(function_of_arity(&inv, "fx", 2)?);
            let fy = Evaluator::new(function_of_arity(&inv, "fy", 2)?);
            let grid = arg(&inv, "grid")?.as_int().unwrap_or(24);
            if grid < 2 {
                return Err(ToolError::failed(format!("grid = {grid}: at least 2 arrows per axis")));
            }
            check_cap(&inv, "grid", grid, 64)?;
            let extent = crate::quantum::length_in_bohr(&inv, "extent")?;
            if !(extent > 0.0 && extent.is_finite()) {
                return Err(ToolError::failed(format!("extent must be a positive length, not {extent} bohr")));
            }
            let arrows = sample(&|x, y| (fx.call(&[x, y]), fy.call(&[x, y])), grid as usize, extent);
            let fig =
                vector_figure(&arrows, grid as usize, extent, crate::chart::width_for(inv.vertex.index.is_some()));
            let mut outputs = crate::plot::figure_outputs(&inv, "image", &fig)?;
            outputs[0].meta = serde_json::json!({"samples": arrows.len(), "mesh": [grid, grid], "dtype": "rgb8"});
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_field_is_sampled_at_cell_centres() {
        let arrows = sample(&|x, y| (-y, x), 4, 2.0);
        assert_eq!(arrows.len(), 16);
        assert_eq!(arrows[0].at, (-1.5, -1.5));
        assert_eq!(arrows[0].v, (1.5, -1.5));
        assert_eq!(arrows[15].at, (1.5, 1.5));
        // Every arrow is perpendicular to its position: a pure rotation.
        assert!(arrows.iter().all(|a| (a.at.0 * a.v.0 + a.at.1 * a.v.1).abs() < 1e-12));
    }

    #[test]
    fn one_huge_arrow_does_not_set_the_scale() {
        let mut arrows: Vec<Arrow> = (1..=10).map(|i| Arrow { at: (0.0, 0.0), v: (f64::from(i), 0.0) }).collect();
        arrows.push(Arrow { at: (0.0, 0.0), v: (1e9, 0.0) });
        assert_eq!(reference_magnitude(&arrows), 10.0);
        assert_eq!(reference_magnitude(&[]), 0.0);
    }
}
