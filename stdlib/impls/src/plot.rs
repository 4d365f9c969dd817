//! `plot.heatmap` and `plot.line`, and what the other pictures share:
//! slices of fields, tables read from CSV (with units in their headers),
//! and writing a [`Figure`] as a PNG and an SVG of the same drawing.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, ProducedOutput, Tool, ToolError};

use crate::chart::{self, AxisSpec, Chart, ChartSpec, ColorScale, LINE_COLORS, Sample, Scale};
use crate::common::{arg, input_path, string, write_output};
use crate::field::Field;
use crate::figure::{Figure, Rgb, Rich};
use crate::typeset;

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

/// The names and units of a field's axes. A field whose axes have
/// different units says so in its `axis_unit` (`a.u. (x in bohr, t in
/// hbar/E_h)`); otherwise every axis has the one unit.
pub fn axis_units(field: &Field, names: &[char]) -> Vec<(String, String)> {
    let unit = field.axis_unit.trim();
    if let (Some(open), Some(close)) = (unit.find('('), unit.rfind(')')) {
        let parts: Vec<(String, String)> = unit[open + 1..close]
            .split(',')
            .filter_map(|p| p.split_once(" in ").map(|(n, u)| (n.trim().to_string(), u.trim().to_string())))
            .collect();
        if parts.len() == field.shape.len() {
            return parts;
        }
    }
    names.iter().map(|n| (n.to_string(), unit.to_string())).collect()
}

/// What a heat map shows besides its slice.
pub struct HeatmapText<'a> {
    /// Typeset already: a user's title is math, a generated one is not.
    pub title: Option<Rich>,
    /// The quantity the colours stand for (`|psi|^2`), typeset.
    pub quantity: &'a str,
    pub value_unit: &'a str,
    /// Names and units of the slice's two axes.
    pub axes: [(String, String); 2],
    /// The picture's width ([`chart::width_for`]).
    pub width: f64,
}

/// A heat map of a slice: the values as a smooth raster with the field's
/// own aspect, a colour bar with its quantity and unit, diverging about
/// zero for signed values, logarithmic on request.
pub fn heatmap_figure(s: &Slice, res: usize, text: &HeatmapText, log: bool) -> Result<Figure, String> {
    let grid = resample(s, res);
    if !grid.iter().any(|v| v.is_finite()) {
        return Err("the field has no finite values to draw".into());
    }
    let cs = ColorScale::auto(&grid, log);
    // Row 0 of the raster is the top of the picture: the largest y.
    let mut rgb = Vec::with_capacity(res * res * 3);
    for j in (0..res).rev() {
        for i in 0..res {
            let v = grid[j * res + i];
            let c = if v.is_finite() { cs.color(v) } else { Rgb(0xdd, 0xdd, 0xdd) };
            rgb.extend_from_slice(&[c.0, c.1, c.2]);
        }
    }
    let raster = crate::figure::encode_png(res as u32, res as u32, rgb)?;
    let (xr, yr) = (s.x_range.1 - s.x_range.0, s.y_range.1 - s.y_range.0);
    let aspect = if xr > 0.0 && yr > 0.0 { yr / xr } else { 1.0 };
    let x_scale = Scale::linear(s.x_range.0, if xr > 0.0 { s.x_range.1 } else { s.x_range.0 + 1.0 });
    let y_scale = Scale::linear(s.y_range.0, if yr > 0.0 { s.y_range.1 } else { s.y_range.0 + 1.0 });
    let mut quantity = if cs.log && grid.iter().any(|v| *v < 0.0) {
        // Colours by decades of the magnitude: say so.
        format!("|{}|", text.quantity)
    } else {
        text.quantity.to_string()
    };
    if quantity.is_empty() {
        quantity = "value".into();
    }
    let bar_label = typeset::quantity(&quantity, Some(text.value_unit));
    let mut chart = Chart::new(ChartSpec {
        title: text.title.clone(),
        x: AxisSpec { scale: x_scale, label: typeset::quantity(&text.axes[0].0, Some(&text.axes[0].1)) },
        y: AxisSpec { scale: y_scale, label: typeset::quantity(&text.axes[1].0, Some(&text.axes[1].1)) },
        aspect: Some(aspect),
        colorbar: Some((cs, bar_label)),
        ticks_out: true,
        width: text.width,
    });
    let (l, t, r, b) = chart.area;
    chart.fig.image(l, t, r - l, b - t, &raster);
    Ok(chart.finish())
}

/// Writes a figure as the outputs `name` (PNG) and `name_svg` (SVG).
pub fn figure_outputs(inv: &Invocation, name: &str, fig: &Figure) -> Result<Vec<ProducedOutput>, ToolError> {
    figure_outputs_at(inv, name, fig, chart::PNG_SCALE)
}

/// [`figure_outputs`] with `scale` PNG pixels per SVG unit.
pub fn figure_outputs_at(
    inv: &Invocation,
    name: &str,
    fig: &Figure,
    scale: f64,
) -> Result<Vec<ProducedOutput>, ToolError> {
    let png = fig.png(scale).map_err(ToolError::failed)?;
    let mut image = write_output(inv, name, &png)?;
    image.kind = "Image".into();
    let mut svg = write_output(inv, &format!("{name}_svg"), fig.svg().as_bytes())?;
    svg.kind = "Svg".into();
    Ok(vec![image, svg])
}

/// A field, the name and unit of each of its axes (x first) and the name
/// of its values (`density`; empty when the file does not say).
pub type Described = (Field, Vec<(String, String)>, String);

/// A field file's field, axes and name.
pub fn describe_field(bytes: &[u8]) -> Result<Described, String> {
    match Field::read_netcdf(bytes) {
        Ok((field, meta)) => {
            let axes = if meta.axes.len() == field.shape.len() {
                meta.axes.iter().map(|a| (a.name.clone(), a.unit.clone())).collect()
            } else {
                axis_units(&field, &['x', 'y', 'z'])
            };
            Ok((field, axes, meta.name))
        }
        // The format before NetCDF says less.
        Err(_) => {
            let field = Field::from_bytes(bytes)?;
            let axes = axis_units(&field, &['x', 'y', 'z']);
            Ok((field, axes, String::new()))
        }
    }
}

/// The two axes a slice shows, from the field's axes.
pub fn slice_axes(field: &Field, s: &Slice, axes: &[(String, String)]) -> [(String, String); 2] {
    let pick = |c: char, fallback: usize| {
        let i = if field.shape.len() == 3 { (c as usize).saturating_sub('x' as usize) } else { fallback };
        axes.get(i).cloned().unwrap_or_else(|| (c.to_string(), field.axis_unit.clone()))
    };
    [pick(s.x_name, 0), pick(s.y_name, 1)]
}

/// A field input with its axes and the name of its values.
pub(crate) fn read_described(inv: &Invocation, name: &str) -> Result<Described, ToolError> {
    let paths = input_path(inv, name)?;
    let p = paths.first().ok_or_else(|| ToolError::failed(format!("no `{name}` input")))?;
    let bytes =
        std::fs::read(inv.work_dir.join(p)).map_err(|e| ToolError::failed(format!("cannot read `{name}`: {e}")))?;
    describe_field(&bytes).map_err(ToolError::failed)
}

pub(crate) fn read_field(inv: &Invocation, name: &str) -> Result<Field, ToolError> {
    let paths = input_path(inv, name)?;
    let p = paths.first().ok_or_else(|| ToolError::failed(format!("no `{name}` input")))?;
    let bytes =
        std::fs::read(inv.work_dir.join(p)).map_err(|e| ToolError::failed(format!("cannot read `{name}`: {e}")))?;
    Field::from_bytes(&bytes).map_err(ToolError::failed)
}

/// The name of the output an input came from (`density` of
/// `orbital[2].density`), as the quantity a picture of it shows.
pub(crate) fn quantity_of(inv: &Invocation, input: &str) -> String {
    let reference = inv.inputs.get(input).and_then(|v| v.first()).map(|s| s.reference.clone()).unwrap_or_default();
    let name = reference.rsplit('.').next().unwrap_or("");
    match name {
        "" | "values" | "value" | "field" => "value".into(),
        other => other.into(),
    }
}

/// `plot.heatmap(field, plane, title, resolution, label, scale)`.
pub struct Heatmap;

impl Tool for Heatmap {
    fn code_version(&self) -> String {
        crate::code_version("plot.heatmap")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let (field, field_axes, _) = read_described(&inv, "field")?;
            let plane = string(&inv, "plane")?;
            let title = string(&inv, "title")?;
            let res = arg(&inv, "resolution")?.as_int().unwrap_or(160).clamp(2, 4096) as usize;
            crate::common::check_cap(&inv, "resolution", res as i64, 160)?;
            // Older programs and checked vertices may not carry the newer
            // arguments: their defaults apply.
            let label = string(&inv, "label").unwrap_or_default();
            let scale = string(&inv, "scale").unwrap_or_else(|_| "linear".into());
            let log = match scale.as_str() {
                "linear" => false,
                "log" => true,
                other => {
                    return Err(ToolError::failed(format!("scale must be \"linear\" or \"log\", not \"{other}\"")));
                }
            };
            let s = slice(&field, &plane).map_err(ToolError::failed)?;
            let title = if title.is_empty() && field.shape.len() == 3 { format!("{plane} slice") } else { title };
            let axes = slice_axes(&field, &s, &field_axes);
            let quantity = if label.is_empty() { quantity_of(&inv, "field") } else { label };
            let title = (!title.is_empty()).then(|| typeset::math(&title));
            let width = chart::width_for(inv.vertex.index.is_some());
            let text = HeatmapText { title, quantity: &quantity, value_unit: &field.value_unit, axes, width };
            let fig = heatmap_figure(&s, res, &text, log).map_err(ToolError::failed)?;
            let mut outputs = figure_outputs(&inv, "image", &fig)?;
            outputs[0].meta = serde_json::json!({"samples": res * res, "mesh": [res, res], "plane": plane, "dtype": "rgb8", "scale": scale});
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

/// A table read from CSV: its numeric columns (names as written, units in
/// brackets included) and its text columns (a stacked table's `instance`).
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Vec<f64>>,
    /// Columns with no number in them, by name.
    pub text: Vec<(String, Vec<String>)>,
}

impl Table {
    /// The index of the column `name`, or an error that lists the columns.
    /// A header with a unit (`r [bohr]`) answers to its bare name too.
    pub fn column(&self, name: &str) -> Result<usize, ToolError> {
        self.names
            .iter()
            .position(|n| n == name)
            .or_else(|| self.names.iter().position(|n| typeset::split_unit(n).0 == name))
            .ok_or_else(|| {
                ToolError::failed(format!("the table has no column `{name}`; it has {}", self.names.join(", ")))
            })
    }

    /// The label of each row: the `instance` a stacked table gives it.
    pub fn instances(&self) -> Option<&[String]> {
        self.text.iter().find(|(n, _)| n == "instance").map(|(_, v)| v.as_slice())
    }
}

/// Parses a CSV table with a header line; a column with no number in it
/// is text, other non-numeric cells are NaN.
pub fn read_table(text: &str) -> Result<Table, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("the table is empty")?;
    let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for line in lines {
        let mut row = line.split(',');
        for column in cells.iter_mut() {
            column.push(row.next().unwrap_or("").trim().to_string());
        }
    }
    let mut table = Table { names: Vec::new(), columns: Vec::new(), text: Vec::new() };
    for (name, column) in names.into_iter().zip(cells) {
        let numbers: Vec<f64> = column.iter().map(|c| c.parse::<f64>().unwrap_or(f64::NAN)).collect();
        let numeric = column.iter().zip(&numbers).any(|(c, v)| !c.is_empty() && !v.is_nan() || c == "NaN");
        if numeric || column.iter().all(String::is_empty) {
            table.names.push(name);
            table.columns.push(numbers);
        } else {
            table.text.push((name, column));
        }
    }
    Ok(table)
}

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

/// The named curves to draw: each y column, one curve per instance of a
/// stacked table (named after it), else split where x restarts and
/// numbered in table order ("E #1", "E #2", ...).
pub fn curves(t: &Table, x: usize, ys: &[usize], log_y: bool) -> Vec<(Rich, Vec<(f64, f64)>)> {
    let mut out = Vec::new();
    let ok = |a: f64, b: f64| a.is_finite() && b.is_finite() && (!log_y || b > 0.0);
    for col in ys {
        let name = typeset::split_unit(&t.names[*col]).0;
        if let Some(instances) = t.instances() {
            let mut order: Vec<&str> = Vec::new();
            for i in instances {
                if !order.contains(&i.as_str()) {
                    order.push(i);
                }
            }
            for inst in order {
                let pts: Vec<(f64, f64)> = (0..t.columns[x].len())
                    .filter(|r| instances.get(*r).is_some_and(|i| i == inst))
                    .map(|r| (t.columns[x][r], t.columns[*col][r]))
                    .filter(|(a, b)| ok(*a, *b))
                    .collect();
                let mut label = if ys.len() > 1 { typeset::math(name) } else { Rich::default() };
                if ys.len() > 1 {
                    label.push(", ", false, crate::figure::Shift::Normal);
                }
                label.append(&Rich::plain(inst));
                out.push((label, pts));
            }
            continue;
        }
        let pts: Vec<(f64, f64)> =
            t.columns[x].iter().zip(&t.columns[*col]).filter(|(a, b)| ok(**a, **b)).map(|(a, b)| (*a, *b)).collect();
        let parts = split_on_x_restart(pts);
        let numbered = parts.len() > 1;
        for (i, part) in parts.into_iter().enumerate() {
            let mut label = typeset::math(name);
            if numbered {
                label.push(format!(" #{}", i + 1), false, crate::figure::Shift::Normal);
            }
            out.push((label, part));
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

/// The y label of several columns: their shared unit, if any.
fn shared_label(t: &Table, ys: &[usize]) -> (String, Option<String>) {
    let names: Vec<&str> = ys.iter().map(|c| typeset::split_unit(&t.names[*c]).0).collect();
    let units: Vec<Option<&str>> = ys.iter().map(|c| typeset::unit_of(&t.names[*c])).collect();
    let unit = units.first().copied().flatten().filter(|u| units.iter().all(|v| *v == Some(u))).map(str::to_string);
    if names.len() == 1 || names.iter().all(|n| *n == names[0]) {
        (names.first().map_or(String::new(), |n| n.to_string()), units.first().copied().flatten().map(str::to_string))
    } else {
        (if unit.is_some() { "value".to_string() } else { String::new() }, unit)
    }
}

/// What a line chart draws besides curves from a table.
#[derive(Default)]
pub struct Overlay {
    /// Points drawn as markers (a fit's data), with their legend label.
    pub points: Option<(Rich, Vec<(f64, f64)>)>,
    /// Text-only legend rows after the curves (fitted parameters).
    pub notes: Vec<Rich>,
}

/// Lines of `ys` against `x`: a legend when there are several curves,
/// markers when a curve has few points, a log y axis on request.
pub fn line_figure(
    t: &Table,
    x: usize,
    ys: &[usize],
    title: Option<Rich>,
    log_y: bool,
    width: f64,
) -> Result<Figure, String> {
    let named = curves(t, x, ys, log_y);
    let (y_name, y_unit) = shared_label(t, ys);
    let x_label = typeset::header(&t.names[x]);
    draw_curves(named, Overlay::default(), (x_label, &y_name, y_unit.as_deref()), title, log_y, width)
}

/// Draws named curves (and an overlay) with axes fitted to all of them.
pub fn draw_curves(
    named: Vec<(Rich, Vec<(f64, f64)>)>,
    overlay: Overlay,
    (x_label, y_name, y_unit): (Rich, &str, Option<&str>),
    title: Option<Rich>,
    log_y: bool,
    width: f64,
) -> Result<Figure, String> {
    let all = || named.iter().flat_map(|(_, p)| p.iter()).chain(overlay.points.iter().flat_map(|(_, p)| p.iter()));
    let (x0, x1) = chart::range(all().map(|p| p.0));
    let (y0, y1) = chart::range(all().map(|p| p.1).filter(|v| !log_y || *v > 0.0));
    if !(x0.is_finite() && y0.is_finite()) {
        return Err("the table has no finite values to plot".into());
    }
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 - 0.5, x0 + 0.5) };
    // Markers at the ends would be cut in half by a tight frame.
    let markers = overlay.points.is_some() || named.iter().any(|(_, p)| p.len() <= 40);
    let (x0, x1) = if markers { (x0 - 0.03 * (x1 - x0), x1 + 0.03 * (x1 - x0)) } else { (x0, x1) };
    // A quantity that barely moves (a conserved norm, an energy to 1e-12)
    // is drawn as its deviation from a reference value, or every tick
    // would read the same number.
    let (offset, decimals) = if log_y { (0.0, 0) } else { deviation_offset(y0, y1) };
    let y_name = match (offset != 0.0, y_name.is_empty()) {
        (false, _) => y_name.to_string(),
        (true, true) => format!("value - {offset:.decimals$}"),
        (true, false) => format!("{y_name} - {offset:.decimals$}"),
    };
    let y_scale = if log_y {
        let (lo, hi) = if y1 > y0 { (y0, y1) } else { (y0 / 10.0, y0 * 10.0) };
        let pad = (hi / lo).log10() * 0.05;
        Scale { lo: lo / 10f64.powf(pad), hi: hi * 10f64.powf(pad), log: true }
    } else {
        let (lo, hi) = (y0 - offset, y1 - offset);
        let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.5 };
        Scale::linear(lo - pad, hi + pad)
    };
    let mut chart = Chart::new(ChartSpec {
        title,
        x: AxisSpec { scale: Scale::linear(x0, x1), label: x_label },
        y: AxisSpec { scale: y_scale, label: typeset::quantity(&y_name, y_unit) },
        aspect: None,
        colorbar: None,
        ticks_out: false,
        width,
    });
    let shift = |pts: &[(f64, f64)]| pts.iter().map(|(a, b)| (*a, b - offset)).collect::<Vec<_>>();
    let mut legend = Vec::new();
    let mut avoid = Vec::new();
    chart.clip();
    if let Some((label, pts)) = &overlay.points {
        let c = Rgb(0x22, 0x22, 0x22);
        for p in shift(pts) {
            let at = chart.px(p);
            avoid.push(at);
            chart.fig.circle(at, 3.2, Some(c), Some((Rgb::WHITE, 0.6)));
        }
        legend.push((label.clone(), Sample::Marker(c)));
    }
    for (k, (label, pts)) in named.iter().enumerate() {
        let color = if overlay.points.is_some() {
            LINE_COLORS[(k + 1) % LINE_COLORS.len()]
        } else {
            LINE_COLORS[k % LINE_COLORS.len()]
        };
        let px: Vec<(f64, f64)> = shift(pts).into_iter().map(|p| chart.px(p)).collect();
        chart.fig.polyline(&px, color, 1.8, None);
        let markers = pts.len() <= 40 && overlay.points.is_none();
        if markers {
            for p in &px {
                chart.fig.circle(*p, 2.8, Some(color), None);
            }
        }
        // Sample the line densely enough for the legend to see it.
        let step = (px.len() / 200).max(1);
        avoid.extend(px.iter().step_by(step).copied());
        legend.push((label.clone(), if markers { Sample::LineMarker(color) } else { Sample::Line(color) }));
    }
    chart.end_clip();
    legend.extend(overlay.notes.into_iter().map(|n| (n, Sample::None)));
    if legend.len() > 1 {
        chart.legend(&legend, &avoid);
    }
    Ok(chart.finish())
}

/// A fit over its data: the points as markers, the model as a line, and
/// each parameter with its standard error in the legend.
pub fn fit_figure(
    x_header: &str,
    y_header: &str,
    points: Vec<(f64, f64)>,
    curve: Vec<(f64, f64)>,
    params: &[(String, f64, f64)],
    title: Option<Rich>,
    width: f64,
) -> Result<Figure, String> {
    let notes = params
        .iter()
        .map(|(name, v, e)| {
            let mut r = typeset::math(name);
            r.push(format!(" = {}", typeset::value_error(*v, *e)), false, crate::figure::Shift::Normal);
            r
        })
        .collect();
    let overlay = Overlay { points: Some((Rich::plain("data"), points)), notes };
    let (y_name, y_unit) = typeset::split_unit(y_header);
    let labels = (typeset::header(x_header), y_name, y_unit);
    draw_curves(vec![(Rich::plain("fit"), curve)], overlay, labels, title, false, width)
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
            if t.names.is_empty() {
                return Err(ToolError::failed("the table has no numeric column"));
            }
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
            let title = (!title.is_empty()).then(|| typeset::math(&title));
            let width = chart::width_for(inv.vertex.index.is_some());
            let fig = line_figure(&t, x, &ys, title, log_y, width).map_err(ToolError::failed)?;
            let mut outputs = figure_outputs(&inv, "image", &fig)?;
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
    }

    #[test]
    fn a_stacked_table_draws_one_curve_per_instance() {
        let t = read_table("n,E [hartree],instance\n0,0.5,levels[0]\n1,1.5,levels[0]\n0,1,levels[1]\n1,3,levels[1]\n")
            .unwrap();
        assert_eq!(t.names, ["n", "E [hartree]"]);
        assert_eq!(t.column("E").unwrap(), 1, "a header answers to its bare name");
        let c = curves(&t, 0, &[1], false);
        let labels: Vec<String> = c.iter().map(|(l, _)| l.text()).collect();
        assert_eq!(labels, ["levels[0]", "levels[1]"]);
        assert_eq!(c[1].1, vec![(0.0, 1.0), (1.0, 3.0)]);
    }

    #[test]
    fn field_axes_take_their_own_units() {
        let f = Field {
            shape: vec![4, 3],
            lo: vec![0.0; 2],
            hi: vec![1.0; 2],
            axis_unit: "a.u. (x in bohr, t in hbar/E_h)".into(),
            value_unit: "bohr^-1".into(),
            values: vec![0.0; 12],
        };
        assert_eq!(axis_units(&f, &['x', 'y']), [("x".into(), "bohr".into()), ("t".into(), "hbar/E_h".into())]);
        let g = Field { axis_unit: "bohr".into(), ..f };
        assert_eq!(axis_units(&g, &['x', 'y'])[1], ("y".into(), "bohr".into()));
    }
}
