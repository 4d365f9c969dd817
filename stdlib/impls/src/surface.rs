//! `plot.surface`: a 2D field, or a plane through a 3D one, as a shaded 3D
//! surface whose height and colour are the value.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::common::{arg, string};
use crate::plot::{Slice, color, fonts, image_output, read_field, resample, slice};

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The value of the resampled grid nearest to (x, y).
fn lookup(s: &Slice, grid: &[f64], res: usize, x: f64, y: f64) -> f64 {
    let index = |v: f64, (a, b): (f64, f64)| {
        let t = if b > a { (v - a) / (b - a) } else { 0.0 };
        ((t * (res - 1) as f64).round().max(0.0) as usize).min(res - 1)
    };
    grid[index(y, s.y_range) * res + index(x, s.x_range)]
}

/// Draws the surface on any backend.
pub fn draw_surface<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Slice,
    res: usize,
    unit: &str,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    fonts();
    root.fill(&WHITE)?;
    let grid = resample(s, res);
    let (lo, hi) = grid.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    if !(lo.is_finite() && hi.is_finite()) {
        return Err("the field has no finite values".into());
    }
    let top = if hi > lo { hi } else { lo + 1.0 };
    let mut chart = ChartBuilder::on(root).caption(title, ("sans-serif", 20)).margin(24).build_cartesian_3d(
        s.x_range.0..s.x_range.1,
        lo..top,
        s.y_range.0..s.y_range.1,
    )?;
    chart.with_projection(|mut p| {
        p.yaw = 0.65;
        p.pitch = 0.5;
        p.scale = 0.85;
        p.into_matrix()
    });
    chart
        .configure_axes()
        .label_style(("sans-serif", 12))
        .light_grid_style(BLACK.mix(0.12))
        .max_light_lines(3)
        .draw()?;
    let coords = |(a, b): (f64, f64)| (0..res).map(move |i| a + (b - a) * i as f64 / (res - 1).max(1) as f64);
    let style = |v: &f64| color(*v, lo, hi).filled();
    chart.draw_series(
        SurfaceSeries::xoz(coords(s.x_range), coords(s.y_range), |x, y| lookup(s, &grid, res, x, y)).style_func(&style),
    )?;
    // 3D axes carry no titles in plotters: say what they are underneath.
    let legend = format!(
        "axes: {} and {} in bohr (ground), value in {} (height and colour)",
        s.x_name,
        s.y_name,
        match unit {
            "" => "field units",
            "1" => "pure numbers",
            u => u,
        }
    );
    root.draw(&Text::new(legend, (16, 44), ("sans-serif", 13).into_font()))?;
    root.present()?;
    Ok(())
}

/// `plot.surface(field, plane, resolution)`.
pub struct Surface;

impl Tool for Surface {
    fn code_version(&self) -> String {
        crate::code_version("plot.surface")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let field = read_field(&inv, "field")?;
            let plane = string(&inv, "plane")?;
            let res = arg(&inv, "resolution")?.as_int().unwrap_or(96).clamp(2, 4096) as usize;
            crate::common::check_cap(&inv, "resolution", res as i64, 160)?;
            let s = slice(&field, &plane).map_err(ToolError::failed)?;
            let title = if field.shape.len() == 3 { format!("{plane} plane") } else { "surface".to_string() };
            let (png, svg) = (inv.work_dir.join("surface.png"), inv.work_dir.join("surface.svg"));
            let size = (720u32, 600u32);
            draw_surface(&BitMapBackend::new(&png, size).into_drawing_area(), &s, res, &field.value_unit, &title)
                .map_err(|e| ToolError::failed(format!("cannot draw the PNG: {e}")))?;
            draw_surface(&SVGBackend::new(&svg, size).into_drawing_area(), &s, res, &field.value_unit, &title)
                .map_err(|e| ToolError::failed(format!("cannot draw the SVG: {e}")))?;
            let mut outputs = image_output(&inv, "image", &png, Some(&svg))?;
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
    fn lookup_finds_the_nearest_sample() {
        let s = Slice {
            n_cols: 3,
            n_rows: 3,
            values: (0..9).map(f64::from).collect(),
            x_range: (-1.0, 1.0),
            y_range: (-1.0, 1.0),
            x_name: 'x',
            y_name: 'y',
        };
        let grid = resample(&s, 3);
        assert_eq!(lookup(&s, &grid, 3, -1.0, -1.0), 0.0);
        assert_eq!(lookup(&s, &grid, 3, 1.0, -1.0), 2.0);
        assert_eq!(lookup(&s, &grid, 3, 0.1, 0.9), 7.0);
        assert_eq!(lookup(&s, &grid, 3, 5.0, 5.0), 8.0, "outside the range clamps to the edge");
    }
}
