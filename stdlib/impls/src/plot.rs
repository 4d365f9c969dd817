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
pub(crate) fn fonts() {
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

pub(crate) fn color(v: f64, lo: f64, hi: f64) -> RGBColor {
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

pub(crate) fn read_field(inv: &Invocation, name: &str) -> Result<Field, ToolError> {
    let paths = input_path(inv, name)?;
    let p = paths.first().ok_or_else(|| ToolError::failed(format!("no `{name}` input")))?;
    let bytes =
        std::fs::read(inv.work_dir.join(p)).map_err(|e| ToolError::failed(format!("cannot read `{name}`: {e}")))?;
    Field::from_bytes(&bytes).map_err(ToolError::failed)
}

pub(crate) fn image_output(
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
            crate::common::check_cap(&inv, "resolution", res as i64, 160)?;
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

/// A table read from CSV: column names and numeric columns.
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Vec<f64>>,
}

impl Table {
    /// The index of the column `name`, or an error that lists the columns.
    pub fn column(&self, name: &str) -> Result<usize, ToolError> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            ToolError::failed(format!("the table has no column `{name}`; it has {}", self.names.join(", ")))
        })
    }
}

/// Parses a CSV table with a header line; non-numeric cells are NaN.
pub fn read_table(text: &str) -> Result<Table, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("the table is empty")?;
    let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    let mut columns = vec![Vec::new(); names.len()];
    for line in lines {
        for (i, cell) in line.split(',').enumerate().take(names.len()) {
            columns[i].push(cell.trim().parse::<f64>().unwrap_or(f64::NAN));
        }
    }
    Ok(Table { names, columns })
}

const LINE_COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Splits `(x, y)` points into curves wherever x steps back, so that tables
/// stacked row-wise (one block per sweep element) draw one line per block
/// instead of a zigzag back to the start: gnuplot's blank-line convention.
fn split_on_x_restart(pts: Vec<(f64, f64)>) -> Vec<Vec<(f64, f64)>> {
    let mut curves: Vec<Vec<(f64, f64)>> = Vec::new();
    for pt in pts {
        match curves.last_mut() {
            Some(curve) if curve.last().is_some_and(|last| pt.0 >= last.0) => curve.push(pt),
            _ => curves.push(vec![pt]),
        }
    }
    curves
}

/// The named curves to draw: each y column, split where x restarts; a split
/// column's curves are numbered in table order ("E #1", "E #2", ...).
fn curves(t: &Table, x: usize, ys: &[usize], log_y: bool) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out = Vec::new();
    for col in ys {
        let pts: Vec<(f64, f64)> = t.columns[x]
            .iter()
            .zip(&t.columns[*col])
            .filter(|(a, b)| a.is_finite() && b.is_finite() && (!log_y || **b > 0.0))
            .map(|(a, b)| (*a, *b))
            .collect();
        let parts = split_on_x_restart(pts);
        let numbered = parts.len() > 1;
        for (i, part) in parts.into_iter().enumerate() {
            let name = if numbered { format!("{} #{}", t.names[*col], i + 1) } else { t.names[*col].clone() };
            out.push((name, part));
        }
    }
    out
}

/// The reference to subtract from y values whose spread is below a
/// millionth of their size (0 when they spread enough): the roundest
/// number (fewest decimals) within a hundred spreads of the data.
fn deviation_offset(y0: f64, y1: f64) -> (f64, usize) {
    let size = y0.abs().max(y1.abs());
    let span = y1 - y0;
    if size == 0.0 || !size.is_finite() || span > 1e-6 * size {
        return (0.0, 0);
    }
    let mut exponent = size.log10().floor() as i32;
    loop {
        let scale = 10f64.powi(exponent);
        let offset = (y0 / scale).round() * scale;
        if (y0 - offset).abs().max((y1 - offset).abs()) <= 100.0 * span.max(f64::EPSILON * size) || exponent < -300 {
            return (offset, (-exponent).max(0) as usize);
        }
        exponent -= 1;
    }
}

/// A tick label with as many digits as the axis span needs (trailing zeros
/// dropped); scientific notation for very small or very large values.
fn tick_label(v: f64, span: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if span > 0.0 && (!(1e-3..1e6).contains(&span) || v.abs() < 1e-3) {
        return format!("{v:.2e}");
    }
    let digits = if span > 0.0 { (-(span.log10().floor()) + 2.0).clamp(0.0, 8.0) as usize } else { 2 };
    let text = format!("{v:.digits$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// Draws lines of `ys` against `x` on any backend.
pub fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    t: &Table,
    x: usize,
    ys: &[usize],
    title: &str,
    log_y: bool,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    fonts();
    root.fill(&WHITE)?;
    let finite = |v: &&f64| v.is_finite() && (!log_y || **v > 0.0);
    let (x0, x1) =
        t.columns[x].iter().filter(finite).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let (y0, y1) = ys
        .iter()
        .flat_map(|c| t.columns[*c].iter())
        .filter(finite)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    if !(x0.is_finite() && y0.is_finite()) {
        return Err("the table has no finite values to plot".into());
    }
    let pad = |a: f64, b: f64| if b > a { (b - a) * 0.05 } else { 1.0 };
    let (x0, x1) = (x0, if x1 > x0 { x1 } else { x0 + 1.0 });
    let mut builder = ChartBuilder::on(root);
    let chart = builder.caption(title, ("sans-serif", 20)).margin(14).x_label_area_size(42).y_label_area_size(84);
    let x_desc = t.names[x].clone();
    let y_desc = if ys.len() == 1 { t.names[ys[0]].clone() } else { String::new() };
    if log_y {
        let mut c = chart.build_cartesian_2d(x0..x1, (y0..y1.max(y0 * 10.0)).log_scale())?;
        c.configure_mesh().x_desc(x_desc).y_desc(y_desc).label_style(("sans-serif", 13)).draw()?;
        for (k, (name, pts)) in curves(t, x, ys, true).into_iter().enumerate() {
            let color = LINE_COLORS[k % LINE_COLORS.len()];
            c.draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(name)
                .legend(move |(a, b)| PathElement::new(vec![(a, b), (a + 16, b)], color.stroke_width(2)));
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
    } else {
        // A quantity that barely moves (a conserved norm, an energy to
        // 1e-12) is drawn as its deviation from a reference value, or every
        // tick would read the same number.
        let (offset, decimals) = deviation_offset(y0, y1);
        let (y0, y1) = (y0 - offset, y1 - offset);
        let y_desc = match (offset != 0.0, y_desc.is_empty()) {
            (false, _) => y_desc,
            (true, true) => format!("value - {offset:.decimals$}"),
            (true, false) => format!("{y_desc} - {offset:.decimals$}"),
        };
        let p = pad(y0, y1);
        let mut c = chart.build_cartesian_2d(x0..x1, (y0 - p)..(y1 + p))?;
        c.configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .y_label_formatter(&|v| tick_label(*v, y1 - y0))
            .label_style(("sans-serif", 13))
            .draw()?;
        for (k, (name, pts)) in curves(t, x, ys, false).into_iter().enumerate() {
            let color = LINE_COLORS[k % LINE_COLORS.len()];
            let pts: Vec<(f64, f64)> = pts.into_iter().map(|(a, b)| (a, b - offset)).collect();
            c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(name)
                .legend(move |(a, b)| PathElement::new(vec![(a, b), (a + 16, b)], color.stroke_width(2)));
            if pts.len() <= 40 {
                c.draw_series(pts.into_iter().map(|pt| Circle::new(pt, 3, color.filled())))?;
            }
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// `plot.line(data, x, y, title, log_y)`.
pub struct Line;

impl Tool for Line {
    fn code_version(&self) -> String {
        crate::code_version("plot.line")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let t = crate::common::table_input(&inv, "data")?;
            let find = |name: &str| t.column(name);
            let x_name = string(&inv, "x")?;
            let x = if x_name.is_empty() { 0 } else { find(&x_name)? };
            let ys: Vec<usize> = match arg(&inv, "y")? {
                phx_sema::value::Value::List(items) if !items.is_empty() => items
                    .iter()
                    .map(|v| match v {
                        phx_sema::value::Value::Str(s) => find(s),
                        other => Err(ToolError::failed(format!("`y` lists column names, found {other}"))),
                    })
                    .collect::<Result<_, _>>()?,
                _ => (0..t.names.len()).filter(|i| *i != x).collect(),
            };
            if ys.is_empty() {
                return Err(ToolError::failed("the table has no column to plot against x"));
            }
            let title = string(&inv, "title")?;
            let log_y = matches!(arg(&inv, "log_y")?, phx_sema::value::Value::Bool(true));
            let (png, svg) = (inv.work_dir.join("line.png"), inv.work_dir.join("line.svg"));
            let size = (680u32, 480u32);
            draw_lines(&BitMapBackend::new(&png, size).into_drawing_area(), &t, x, &ys, &title, log_y)
                .map_err(|e| ToolError::failed(format!("cannot draw the PNG: {e}")))?;
            draw_lines(&SVGBackend::new(&svg, size).into_drawing_area(), &t, x, &ys, &title, log_y)
                .map_err(|e| ToolError::failed(format!("cannot draw the SVG: {e}")))?;
            let mut outputs = image_output(&inv, "image", &png, Some(&svg))?;
            outputs[0].meta = serde_json::json!({"samples": t.columns[x].len(), "series": ys.len(), "dtype": "rgb8"});
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_split_where_x_steps_back() {
        let pts = vec![(0.0, 1.0), (1.0, 2.0), (1.0, 2.5), (0.0, 3.0), (2.0, 4.0), (-1.0, 0.0)];
        let parts = split_on_x_restart(pts);
        assert_eq!(
            parts,
            vec![vec![(0.0, 1.0), (1.0, 2.0), (1.0, 2.5)], vec![(0.0, 3.0), (2.0, 4.0)], vec![(-1.0, 0.0)]]
        );
        assert!(split_on_x_restart(Vec::new()).is_empty());
    }

    #[test]
    fn a_quantity_that_barely_moves_is_drawn_as_its_deviation() {
        assert_eq!(deviation_offset(0.9999999999999, 1.0000000000002), (1.0, 0));
        let (offset, decimals) = deviation_offset(-13.6057, -13.6056999);
        assert_eq!((format!("{offset:.decimals$}"), decimals), ("-13.6057".to_string(), 4));
        assert_eq!(deviation_offset(0.0, 1.0), (0.0, 0));
        assert_eq!(deviation_offset(0.0, 0.0), (0.0, 0));
        assert_eq!(deviation_offset(5.0, 5.0), (5.0, 0));
        assert_eq!(tick_label(2.5e-13, 4e-13), "2.50e-13");
        assert_eq!(tick_label(2.5, 10.0), "2.5");
        assert_eq!(tick_label(4.0, 10.0), "4");
        assert_eq!(tick_label(0.25, 0.5), "0.25");
    }
}
