//! `plot.surface`: a 2D field, or a plane through a 3D one, as a shaded 3D
//! surface whose height and colour are the value: quads in perspective
//! (painter's order, lit from the upper left) over a floor with ticks, the
//! axes labelled with their quantities and units.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};

use crate::chart::{self, ColorScale, LABEL, TICK, TITLE};
use crate::common::{arg, string};
use crate::figure::{Anchor, Figure, Rgb, Rich};
use crate::plot::{Slice, figure_outputs, quantity_of, read_described, resample, slice, slice_axes};
use crate::typeset;

/// The view: turned about the vertical axis by `yaw`, looking down by
/// `pitch`; coordinates in the unit cube [-1, 1]³ (z up).
struct View {
    yaw: f64,
    pitch: f64,
    scale: f64,
    centre: (f64, f64),
}

impl View {
    /// Picture position and depth (larger is farther) of a cube point.
    fn project(&self, (x, y, z): (f64, f64, f64)) -> ((f64, f64), f64) {
        let (s, c) = self.yaw.sin_cos();
        let u = x * c - y * s;
        let w = x * s + y * c;
        let (sp, cp) = self.pitch.sin_cos();
        let v = z * cp + w * sp;
        let depth = w * cp - z * sp;
        ((self.centre.0 + u * self.scale, self.centre.1 - v * self.scale), depth)
    }
}

/// Draws the surface of a slice.
pub fn surface_figure(
    s: &Slice,
    res: usize,
    axes: [(String, String); 2],
    quantity: &str,
    unit: &str,
    title: &str,
    width: f64,
) -> Result<Figure, String> {
    let grid = resample(s, res);
    let (lo, hi) = chart::range(grid.iter().copied());
    if !lo.is_finite() {
        return Err("the field has no finite values".into());
    }
    let cs = ColorScale::auto(&grid, false);
    let top = if hi > lo { hi } else { lo + 1.0 };
    let (floor, ceiling) = (-0.7, 0.7);
    // Fit the box's projection into the picture, leaving room for the
    // value axis's numbers on the left, the floor's labels below and the
    // title and value label above.
    let unit_view = View { yaw: 0.6, pitch: 0.45, scale: 1.0, centre: (0.0, 0.0) };
    let box_corners: Vec<(f64, f64)> = [-1.0, 1.0]
        .iter()
        .flat_map(|x| [-1.0, 1.0].map(|y| (*x, y)))
        .flat_map(|(x, y)| [floor, ceiling].map(|z| unit_view.project((x, y, z)).0))
        .collect();
    let (u0, u1) = chart::range(box_corners.iter().map(|p| p.0));
    let (v0, v1) = chart::range(box_corners.iter().map(|p| p.1));
    let (ml, mr, mb) = (78.0, 34.0, 58.0);
    let mt = if title.is_empty() { 22.0 } else { 22.0 + TITLE * 1.4 };
    let scale = (width - ml - mr) / (u1 - u0);
    let height = mt + mb + scale * (v1 - v0);
    let mut fig = Figure::new(width, height);
    let centre = (
        ml + (width - ml - mr) / 2.0 - scale * (u0 + u1) / 2.0,
        mt + (height - mt - mb) / 2.0 - scale * (v0 + v1) / 2.0,
    );
    let view = View { scale, centre, ..unit_view };
    let cube = |i: usize, j: usize| {
        let v = grid[j * res + i];
        let fx = i as f64 / (res - 1).max(1) as f64 * 2.0 - 1.0;
        let fy = j as f64 / (res - 1).max(1) as f64 * 2.0 - 1.0;
        let fz = if v.is_finite() { (v - lo) / (top - lo) * (ceiling - floor) + floor } else { floor };
        (fx, fy, fz)
    };
    let corner = |x: f64, y: f64, z: f64| view.project((x, y, z)).0;
    let light = Rgb(0xbb, 0xbb, 0xbb);
    let floor_pts =
        [corner(-1.0, -1.0, floor), corner(1.0, -1.0, floor), corner(1.0, 1.0, floor), corner(-1.0, 1.0, floor)];
    fig.polygon(&floor_pts, Some(Rgb(0xf4, 0xf4, 0xf4)), Some((light, 0.8)));
    // The corner nearest the viewer has the floor's labelled edges; the one
    // furthest left carries the value axis, its numbers clear of the surface.
    let corners = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
    let front = corners
        .into_iter()
        .min_by(|a, b| view.project((a.0, a.1, floor)).1.total_cmp(&view.project((b.0, b.1, floor)).1))
        .unwrap_or((-1.0, -1.0));
    let side = corners
        .into_iter()
        .min_by(|a, b| view.project((a.0, a.1, floor)).0.0.total_cmp(&view.project((b.0, b.1, floor)).0.0))
        .unwrap_or((-1.0, 1.0));
    fig.line(corner(side.0, side.1, floor), corner(side.0, side.1, ceiling), light, 0.8);
    // Quads, far ones first.
    let mut quads = Vec::with_capacity((res - 1) * (res - 1));
    for j in 0..res - 1 {
        for i in 0..res - 1 {
            let p = [cube(i, j), cube(i + 1, j), cube(i + 1, j + 1), cube(i, j + 1)];
            let depth = p.iter().map(|q| view.project(*q).1).sum::<f64>() / 4.0;
            let value =
                (grid[j * res + i] + grid[j * res + i + 1] + grid[(j + 1) * res + i + 1] + grid[(j + 1) * res + i])
                    / 4.0;
            // Lambert shading from the normal of the quad's diagonals.
            let (a, b) = (
                (p[2].0 - p[0].0, p[2].1 - p[0].1, p[2].2 - p[0].2),
                (p[3].0 - p[1].0, p[3].1 - p[1].1, p[3].2 - p[1].2),
            );
            let n = (a.1 * b.2 - a.2 * b.1, a.2 * b.0 - a.0 * b.2, a.0 * b.1 - a.1 * b.0);
            let len = (n.0 * n.0 + n.1 * n.1 + n.2 * n.2).sqrt().max(1e-12);
            let l = (-0.4, -0.5, 0.77);
            let lambert = ((n.0 * l.0 + n.1 * l.1 + n.2 * l.2) / len).abs();
            quads.push((depth, p, value, lambert));
        }
    }
    quads.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, p, value, lambert) in &quads {
        let base = if value.is_finite() { cs.color(*value) } else { light };
        let shaded = base.mix(Rgb::BLACK, 0.35 * (1.0 - lambert));
        let pts: Vec<(f64, f64)> = p.iter().map(|q| view.project(*q).0).collect();
        // An outline in the fill's colour closes the hairline seams that
        // anti-aliasing leaves between neighbouring quads.
        fig.polygon(&pts, Some(shaded), Some((shaded, 0.5)));
    }
    // Ticks along the two front edges of the floor, pointing away from it.
    let ink = Rgb::INK;
    let edges = [(true, s.x_range, &axes[0]), (false, s.y_range, &axes[1])];
    for (along_x, (r0, r1), (name, axis_unit)) in edges {
        let ticks = chart::linear_ticks(r0, r1, 4);
        // Outward: away from the floor's centre, across the edge.
        let out = if along_x { (0.0, front.1) } else { (front.0, 0.0) };
        let at = |f: f64, k: f64| {
            let (x, y) = if along_x { (f, front.1) } else { (front.0, f) };
            view.project((x + out.0 * k, y + out.1 * k, floor)).0
        };
        for tick in &ticks.major {
            let f = if r1 > r0 { (tick.at - r0) / (r1 - r0) * 2.0 - 1.0 } else { 0.0 };
            fig.line(at(f, 0.0), at(f, 0.05), ink, 0.8);
            let mut label = tick.label.clone();
            if let Some(e) = ticks.exponent.filter(|_| Some(tick) == ticks.major.last()) {
                label.append(&chart::times_ten(e));
            }
            let p = at(f, 0.16);
            fig.text(p.0, p.1 + TICK * 0.33, &label, TICK, Anchor::Middle, 0.0, ink);
        }
        let p = at(0.0, 0.6);
        fig.text(p.0, p.1 + LABEL * 0.33, &typeset::quantity(name, Some(axis_unit)), LABEL, Anchor::Middle, 0.0, ink);
    }
    let vt = chart::linear_ticks(lo, top, 4);
    for tick in &vt.major {
        let z = (tick.at - lo) / (top - lo) * (ceiling - floor) + floor;
        let p = corner(side.0, side.1, z);
        fig.line(p, (p.0 - 4.0, p.1), ink, 0.8);
        fig.text(p.0 - 7.0, p.1 + TICK * 0.33, &tick.label, TICK, Anchor::End, 0.0, ink);
    }
    let axis_top = corner(side.0, side.1, ceiling);
    let mut value_label = typeset::quantity(quantity, Some(unit));
    if let Some(e) = vt.exponent {
        value_label.push(" ", false, crate::figure::Shift::Normal);
        value_label.append(&chart::times_ten(e));
    }
    let w = value_label.width(LABEL);
    let x = axis_top.0.clamp(8.0 + w / 2.0, width - 8.0 - w / 2.0);
    fig.text(x, axis_top.1 - 14.0, &value_label, LABEL, Anchor::Middle, 0.0, ink);
    if !title.is_empty() {
        fig.text(width / 2.0, 8.0 + TITLE * 0.95, &Rich::plain(title), TITLE, Anchor::Middle, 0.0, ink);
    }
    Ok(fig)
}

/// `plot.surface(field, plane, resolution)`.
pub struct Surface;

impl Tool for Surface {
    fn code_version(&self) -> String {
        crate::code_version("plot.surface")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let (field, field_axes, _) = read_described(&inv, "field")?;
            let plane = string(&inv, "plane")?;
            let res = arg(&inv, "resolution")?.as_int().unwrap_or(96).clamp(2, 4096) as usize;
            crate::common::check_cap(&inv, "resolution", res as i64, 160)?;
            let s = slice(&field, &plane).map_err(ToolError::failed)?;
            let title = if field.shape.len() == 3 { format!("{plane} plane") } else { String::new() };
            let axes = slice_axes(&field, &s, &field_axes);
            let width = chart::width_for(inv.vertex.index.is_some());
            let fig = surface_figure(&s, res, axes, &quantity_of(&inv, "field"), &field.value_unit, &title, width)
                .map_err(ToolError::failed)?;
            let mut outputs = figure_outputs(&inv, "image", &fig)?;
            outputs[0].meta =
                serde_json::json!({"samples": res * res, "mesh": [res, res], "plane": plane, "dtype": "rgb8"});
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_far_side_is_drawn_first() {
        let view = View { yaw: 0.6, pitch: 0.45, scale: 100.0, centre: (0.0, 0.0) };
        let (_, near) = view.project((-1.0, -1.0, 0.0));
        let (_, far) = view.project((1.0, 1.0, 0.0));
        assert!(far > near);
    }
}
