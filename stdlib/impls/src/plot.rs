//! `plot.heatmap` and `plot.animation`: pictures of fields, drawn with
//! plotters and an embedded font (nothing from the machine's fonts).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use phx_runtime::tool::{BoxFuture, Invocation, Produced, ProducedOutput, Tool, ToolError};

use crate::common::{arg, input_path, string, write_output};
use crate::field::Field;

/// Registers the embedded font under the family name the plots use.
fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for data in typst_assets::fonts() {
            // DejaVu Sans Mono: legible at small sizes, and shipped with phx.
            if data.windows(14).any(|w| w == b"DejaVuSansMono") {
                let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, data);
                let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, data);
                return;
            }
        }
    });
}

/// A 2D slice of a field: values row by row (rows go up the picture).
pub struct Slice {
    pub n_cols: usize,
    pub n_rows: usize,
    pub values: Vec<f64>,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub x_name: char,
    pub y_name: char,
}

/// The slice of `field` through its middle in `plane` ("xy", "xz", "yz"),
/// or the field itself when it is 2D.
pub fn slice(field: &Field, plane: &str) -> Result<Slice, String> {
    match field.shape.len() {
        2 => Ok(Slice {
            n_cols: field.shape[0],
            n_rows: field.shape[1],
            values: field.values.clone(),
            x_range: (field.lo[0], field.hi[0]),
            y_range: (field.lo[1], field.hi[1]),
            x_name: 'x',
            y_name: 'y',
        }),
        3 => {
            let (nx, ny, nz) = (field.shape[0], field.shape[1], field.shape[2]);
            let at = |i: usize, j: usize, k: usize| field.values[(k * ny + j) * nx + i];
            let (a, b, names) = match plane {
                "xy" => (0, 1, ('x', 'y')),
                "xz" => (0, 2, ('x', 'z')),
                "yz" => (1, 2, ('y', 'z')),
                other => return Err(format!("the plane must be xy, xz or yz, not `{other}`")),
            };
            let mid = [nx / 2, ny / 2, nz / 2];
            let (na, nb) = (field.shape[a], field.shape[b]);
            let mut values = Vec::with_capacity(na * nb);
            for q in 0..nb {
                for p in 0..na {
                    let mut idx = mid;
                    idx[a] = p;
                    idx[b] = q;
                    values.push(at(idx[0], idx[1], idx[2]));
                }
            }
            Ok(Slice {
                n_cols: na,
                n_rows: nb,
                values,
                x_range: (field.lo[a], field.hi[a]),
                y_range: (field.lo[b], field.hi[b]),
                x_name: names.0,
                y_name: names.1,
            })
        }
        n => Err(format!("a heat map needs a 2D or 3D field, not {n}D")),
    }
}

/// Bilinear resampling of a slice to `res` by `res`.
pub fn resample(s: &Slice, res: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(res * res);
    for j in 0..res {
        let fy = j as f64 * (s.n_rows - 1) as f64 / (res - 1).max(1) as f64;
        for i in 0..res {
            let fx = i as f64 * (s.n_cols - 1) as f64 / (res - 1).max(1) as f64;
            let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(s.n_cols - 1), (y0 + 1).min(s.n_rows - 1));
            let (tx, ty) = (fx - x0 as f64, fy - y0 as f64);
            let v = |x: usize, y: usize| s.values[y * s.n_cols + x];
            let top = v(x0, y0) * (1.0 - tx) + v(x1, y0) * tx;
            let bottom = v(x0, y1) * (1.0 - tx) + v(x1, y1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

fn color(v: f64, lo: f64, hi: f64) -> RGBColor {
    let t = if hi > lo { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.0 };
    ViridisRGB::get_color(t)
}

/// Short, readable tick text.
fn tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e-2 && v.abs() < 1e4 {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.2e}")
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws a heat map (with axes in bohr and a colour bar) on any backend.
pub fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Slice,
    res: usize,
    title: &str,
    unit: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    fonts();
    root.fill(&WHITE)?;
    let grid = resample(s, res);
    let (lo, hi) = grid.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let (w, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(w as i32 - 110);
    let mut chart = ChartBuilder::on(&main)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d(s.x_range.0..s.x_range.1, s.y_range.0..s.y_range.1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(format!("{} [bohr]", s.x_name))
        .y_desc(format!("{} [bohr]", s.y_name))
        .label_style(("sans-serif", 13))
        .draw()?;
    let dx = (s.x_range.1 - s.x_range.0) / res as f64;
    let dy = (s.y_range.1 - s.y_range.0) / res as f64;
    chart.draw_series((0..res).flat_map(|j| (0..res).map(move |i| (i, j))).map(|(i, j)| {
        let x = s.x_range.0 + i as f64 * dx;
        let y = s.y_range.0 + j as f64 * dy;
        Rectangle::new([(x, y), (x + dx, y + dy)], color(grid[j * res + i], lo, hi).filled())
    }))?;
    // The colour bar, with its range and unit.
    let mut cb = ChartBuilder::on(&bar)
        .margin_top(48)
        .margin_bottom(56)
        .margin_right(8)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, lo..hi.max(lo + f64::MIN_POSITIVE))?;
    cb.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_label_formatter(&|v| tick(*v))
        .y_desc(unit)
        .label_style(("sans-serif", 12))
        .draw()?;
    let steps = 120;
    cb.draw_series((0..steps).map(|k| {
        let a = lo + (hi - lo) * k as f64 / steps as f64;
        let b = lo + (hi - lo) * (k + 1) as f64 / steps as f64;
        Rectangle::new([(0.0, a), (1.0, b)], color(a, lo, hi).filled())
    }))?;
    root.present()?;
    Ok(())
}

/// Draws the heat map to a PNG and an SVG file.
pub fn heatmap_files(png: &Path, svg: &Path, s: &Slice, res: usize, title: &str, unit: &str) -> Result<(), String> {
    let size = (680u32, 560u32);
    draw_heatmap(&BitMapBackend::new(png, size).into_drawing_area(), s, res, title, unit)
        .map_err(|e| format!("cannot draw the PNG: {e}"))?;
    draw_heatmap(&SVGBackend::new(svg, size).into_drawing_area(), s, res, title, unit)
        .map_err(|e| format!("cannot draw the SVG: {e}"))?;
    Ok(())
}

fn read_field(inv: &Invocation, name: &str) -> Result<Field, ToolError> {
    let paths = input_path(inv, name)?;
    let p = paths.first().ok_or_else(|| ToolError::failed(format!("no `{name}` input")))?;
    let bytes =
        std::fs::read(inv.work_dir.join(p)).map_err(|e| ToolError::failed(format!("cannot read `{name}`: {e}")))?;
    Field::from_bytes(&bytes).map_err(ToolError::failed)
}

fn image_output(
    inv: &Invocation,
    name: &str,
    png: &Path,
    svg: Option<&Path>,
) -> Result<Vec<ProducedOutput>, ToolError> {
    let bytes = std::fs::read(png).map_err(|e| ToolError::failed(format!("cannot read the picture: {e}")))?;
    let mut out = vec![write_output(inv, name, &bytes)?];
    if let Some(svg) = svg {
        let bytes = std::fs::read(svg).map_err(|e| ToolError::failed(format!("cannot read the SVG: {e}")))?;
        let mut s = write_output(inv, &format!("{name}_svg"), &bytes)?;
        s.kind = "Svg".into();
        out.push(s);
    }
    Ok(out)
}

/// `plot.heatmap(field, plane, title, resolution)`.
pub struct Heatmap;

impl Tool for Heatmap {
    fn code_version(&self) -> String {
        crate::code_version("plot.heatmap")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let field = read_field(&inv, "field")?;
            let plane = string(&inv, "plane")?;
            let title = string(&inv, "title")?;
            let res = arg(&inv, "resolution")?.as_int().unwrap_or(160).clamp(2, 4096) as usize;
            if res > 160 && !inv.vertex.allow_large {
                return Err(ToolError::failed(format!(
                    "resolution = {res} exceeds the cap resolution <= 160; set allow_large = true to lift it"
                )));
            }
            let s = slice(&field, &plane).map_err(ToolError::failed)?;
            let title = if title.is_empty() { format!("{plane} slice") } else { title };
            let (png, svg) = (inv.work_dir.join("heatmap.png"), inv.work_dir.join("heatmap.svg"));
            heatmap_files(&png, &svg, &s, res, &title, &field.value_unit).map_err(ToolError::failed)?;
            let mut outputs = image_output(&inv, "image", &png, Some(&svg))?;
            outputs[0].meta =
                serde_json::json!({"samples": res * res, "mesh": [res, res], "plane": plane, "dtype": "rgb8"});
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}
