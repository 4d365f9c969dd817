//! The graphics contract for tools that compute data rather than pictures:
//! a node that emits `static` gets a PNG and an SVG of each field or table
//! it produced (`density_view`, `density_view_svg`), drawn after the tool
//! ran. Plot tools, which make their own pictures, are left alone. A node
//! that emits `series` and produced no table gets each field's profiles
//! through its centre as CSV, and one that emits `animation` and made none
//! gets each field animated (a 3D field turning, a 2D x-by-t field in time).

use std::sync::Arc;

use phx_runtime::tool::{BoxFuture, Invocation, Produced, ProducedOutput, Tool, ToolError};

use crate::common::write_output;
use crate::field::Field;
use crate::figure::{Figure, Rich};
use crate::plot::{
    HeatmapText, Table, describe_field, fit_figure, heatmap_figure, line_figure, read_table, slice, slice_axes,
};

/// A tool whose `static` emits get pictures of its data outputs.
pub struct WithVisuals(pub Arc<dyn Tool>);

/// The picture of one output; `None` for kinds that have no natural
/// picture (a table of names, a file).
fn picture(inv: &Invocation, produced: &Produced, o: &ProducedOutput) -> Result<Option<Figure>, String> {
    let source = inv.work_dir.join(&o.path);
    // Generated titles name the output; they are not math.
    let title = Some(Rich::plain(format!("{}.{}", inv.vertex.id, o.name)));
    match o.kind.as_str() {
        "Field2D" | "Field3D" => {
            let bytes = std::fs::read(&source).map_err(|e| format!("cannot read `{}`: {e}", o.name))?;
            let (field, field_axes, _) = describe_field(&bytes)?;
            // The xz plane: where a 3D density's axis (z) shows.
            let s = slice(&field, "xz")?;
            let axes = slice_axes(&field, &s, &field_axes);
            let quantity = if o.name == "values" { "value" } else { o.name.as_str() };
            let width = crate::chart::width_for(inv.vertex.index.is_some());
            let text = HeatmapText { title, quantity, value_unit: &field.value_unit, axes, width };
            Ok(Some(heatmap_figure(&s, 160, &text, false)?))
        }
        "Series" => {
            let text = std::fs::read_to_string(&source).map_err(|e| format!("cannot read `{}`: {e}", o.name))?;
            let t = read_table(&text)?;
            if inv.vertex.tool == "data.fit" && o.name == "fitted" {
                return fit_picture(inv, produced, &t, title).map(Some);
            }
            // A table of names (fit parameters) has no x axis to draw against.
            let first = text.lines().next().and_then(|h| h.split(',').next()).map(str::trim).unwrap_or("");
            if t.names.len() < 2
                || t.names.first().is_none_or(|n| n != first)
                || !t.columns[0].iter().any(|v| v.is_finite())
            {
                return Ok(None);
            }
            // At most eight columns, so the legend stays readable.
            let ys: Vec<usize> = (1..t.names.len()).take(8).collect();
            Ok(Some(line_figure(&t, 0, &ys, title, false, crate::chart::width_for(inv.vertex.index.is_some()))?))
        }
        _ => Ok(None),
    }
}

/// The picture of a fit: the data as points, the model drawn smoothly over
/// them with the fitted parameters, and each parameter with its error in
/// the legend.
fn fit_picture(inv: &Invocation, produced: &Produced, fitted: &Table, title: Option<Rich>) -> Result<Figure, String> {
    if fitted.names.len() < 3 {
        return Err("the fitted table needs the columns x, y and fit".into());
    }
    let params_out = produced.outputs.iter().find(|p| p.name == "params").ok_or("the fit has no parameters")?;
    let params_text = std::fs::read_to_string(inv.work_dir.join(&params_out.path))
        .map_err(|e| format!("cannot read the parameters: {e}"))?;
    let params: Vec<(String, f64, f64)> = params_text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cells = l.split(',');
            let name = cells.next()?.trim().to_string();
            let value = cells.next()?.trim().parse().ok()?;
            let error = cells.next().and_then(|e| e.trim().parse().ok()).unwrap_or(f64::NAN);
            Some((name, value, error))
        })
        .collect();
    let points: Vec<(f64, f64)> = fitted.columns[0]
        .iter()
        .zip(&fitted.columns[1])
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .collect();
    let (x0, x1) = crate::chart::range(points.iter().map(|p| p.0));
    // The model between the data's ends, smooth: 240 points of the fn at
    // the fitted parameters (the table's own fit column where it cannot run).
    let curve: Vec<(f64, f64)> = match crate::common::function(inv, "model") {
        Ok(ir) if x1 > x0 => {
            let f = crate::common::Evaluator::new(ir);
            (0..240)
                .map(|k| {
                    let x = x0 + (x1 - x0) * f64::from(k) / 239.0;
                    let mut args = vec![x];
                    args.extend(params.iter().map(|p| p.1));
                    (x, f.call(&args))
                })
                .filter(|p| p.1.is_finite())
                .collect()
        }
        _ => fitted.columns[0].iter().zip(&fitted.columns[2]).map(|(a, b)| (*a, *b)).collect(),
    };
    let width = crate::chart::width_for(inv.vertex.index.is_some());
    fit_figure(&fitted.names[0], &fitted.names[1], points, curve, &params, title, width)
}

/// A field's profiles along its axes through the centre, as CSV: the
/// coordinate, then the value along each axis (`along_x`, `along_y`,
/// `along_z`). Axes of different lengths or ranges get the x axis only.
pub fn profiles_csv(field: &Field) -> String {
    let dims = field.shape.len();
    let same =
        (1..dims).all(|a| field.shape[a] == field.shape[0] && field.lo[a] == field.lo[0] && field.hi[a] == field.hi[0]);
    let axes = if same { dims } else { 1 };
    let centre: Vec<usize> = field.shape.iter().map(|n| n / 2).collect();
    let index = |axis: usize, i: usize| {
        let mut at = centre.clone();
        at[axis] = i;
        at.iter().rev().zip(field.shape.iter().rev()).fold(0, |acc, (x, n)| acc * n + x)
    };
    let names = ["x", "y", "z"];
    let mut out = format!("coordinate [{}]", field.axis_unit);
    for name in names.iter().take(axes) {
        let unit = if field.value_unit.is_empty() { String::new() } else { format!(" [{}]", field.value_unit) };
        out.push_str(&format!(",along_{name}{unit}"));
    }
    out.push('\n');
    let n = field.shape[0];
    for i in 0..n {
        let x = if n > 1 { field.lo[0] + (field.hi[0] - field.lo[0]) * i as f64 / (n - 1) as f64 } else { field.lo[0] };
        out.push_str(&crate::common::float_text(x));
        for axis in 0..axes {
            out.push(',');
            out.push_str(&crate::common::float_text(field.values[index(axis, i)]));
        }
        out.push('\n');
    }
    out
}

/// The `series` emit of a tool whose outputs are fields: each field's
/// profiles (`NAME_profiles`, a Series), so that asking for `series` is
/// never silently ignored.
fn field_series(inv: &Invocation, produced: &Produced) -> Result<Vec<ProducedOutput>, ToolError> {
    let mut series = Vec::new();
    for o in &produced.outputs {
        if !o.kind.starts_with("Field") {
            continue;
        }
        let bytes = std::fs::read(inv.work_dir.join(&o.path))
            .map_err(|e| ToolError::failed(format!("cannot read `{}`: {e}", o.name)))?;
        let field = Field::from_bytes(&bytes).map_err(ToolError::failed)?;
        let mut table = write_output(inv, &format!("{}_profiles", o.name), profiles_csv(&field).as_bytes())?;
        table.kind = "Series".into();
        table.meta = serde_json::json!({"of": o.name, "profiles": "along each axis through the centre", "samples": field.shape[0]});
        series.push(table);
    }
    Ok(series)
}

/// The `animation` emit of a tool whose outputs are fields: a 3D field
/// turning about its x axis, a 2D field read as x by t played in time
/// (`NAME_animation`, with its thumbnail strip).
fn field_animations(inv: &Invocation, produced: &Produced) -> Result<Vec<ProducedOutput>, ToolError> {
    let mut out = Vec::new();
    for o in &produced.outputs {
        let motion = match o.kind.as_str() {
            "Field3D" => "rotate",
            "Field2D" => "time",
            _ => continue,
        };
        let bytes = std::fs::read(inv.work_dir.join(&o.path))
            .map_err(|e| ToolError::failed(format!("cannot read `{}`: {e}", o.name)))?;
        let field = Field::from_bytes(&bytes).map_err(ToolError::failed)?;
        out.extend(crate::animation::animate(inv, &field, motion, 48, 24, &format!("{}_animation", o.name))?);
    }
    Ok(out)
}

impl Tool for WithVisuals {
    fn code_version(&self) -> String {
        self.0.code_version()
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let again = inv.clone();
            let mut produced = self.0.run(inv).await?;
            let wants_series = again.vertex.props.emit.contains(&phx_sema::enums::Emit::Series);
            if wants_series && !produced.outputs.iter().any(|o| o.kind == "Series") {
                let series = field_series(&again, &produced)?;
                produced.outputs.extend(series);
            }
            let wants_animation = again.vertex.props.emit.contains(&phx_sema::enums::Emit::Animation);
            if wants_animation && !produced.outputs.iter().any(|o| o.kind == "Animation") {
                let animations = field_animations(&again, &produced)?;
                produced.outputs.extend(animations);
            }
            let wants_static = again.vertex.props.emit.contains(&phx_sema::enums::Emit::Static);
            if !wants_static || produced.outputs.iter().any(|o| o.kind == "Image") {
                return Ok(produced);
            }
            let mut views = Vec::new();
            for o in &produced.outputs {
                let Some(fig) = picture(&again, &produced, o).map_err(ToolError::failed)? else {
                    continue;
                };
                let mut pair = crate::plot::figure_outputs(&again, &format!("{}_view", o.name), &fig)?;
                pair[0].meta = serde_json::json!({"of": o.name, "dtype": "rgb8"});
                views.extend(pair);
            }
            produced.outputs.extend(views);
            Ok(produced)
        })
    }
}
