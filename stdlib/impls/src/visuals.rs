//! The graphics contract for tools that compute data rather than pictures:
//! a node that emits `static` gets a PNG and an SVG of each field or table
//! it produced (`density_view`, `density_view_svg`), drawn after the tool
//! ran. Plot tools, which make their own pictures, are left alone.

use std::sync::Arc;

use phx_runtime::tool::{BoxFuture, Invocation, Produced, ProducedOutput, Tool, ToolError};
use plotters::prelude::*;

use crate::common::write_output;
use crate::field::Field;
use crate::plot::{draw_lines, heatmap_files, read_table, slice};

/// A tool whose `static` emits get pictures of its data outputs.
pub struct WithVisuals(pub Arc<dyn Tool>);

/// The picture of one output, as (png, svg) paths in the working folder;
/// `None` for kinds that have no natural picture.
fn picture(inv: &Invocation, o: &ProducedOutput) -> Result<Option<(std::path::PathBuf, std::path::PathBuf)>, String> {
    let source = inv.work_dir.join(&o.path);
    let (png, svg) =
        (inv.work_dir.join(format!("{}_view.png", o.name)), inv.work_dir.join(format!("{}_view.svg", o.name)));
    let title = format!("{}.{}", inv.vertex.id, o.name);
    match o.kind.as_str() {
        "Field2D" | "Field3D" => {
            let bytes = std::fs::read(&source).map_err(|e| format!("cannot read `{}`: {e}", o.name))?;
            let field = Field::from_bytes(&bytes)?;
            // The xz plane: where a 3D density's axis (z) shows.
            let s = slice(&field, "xz")?;
            heatmap_files(&png, &svg, &s, 160, &title, &field.value_unit)?;
        }
        "Series" => {
            let text = std::fs::read_to_string(&source).map_err(|e| format!("cannot read `{}`: {e}", o.name))?;
            let t = read_table(&text)?;
            // A table of names (fit parameters) has no x axis to draw against.
            if t.names.len() < 2 || !t.columns[0].iter().any(|v| v.is_finite()) {
                return Ok(None);
            }
            // At most eight curves, so the legend stays readable.
            let ys: Vec<usize> = (1..t.names.len()).take(8).collect();
            let size = (680u32, 480u32);
            draw_lines(&BitMapBackend::new(&png, size).into_drawing_area(), &t, 0, &ys, &title, false)
                .map_err(|e| format!("cannot draw the PNG: {e}"))?;
            draw_lines(&SVGBackend::new(&svg, size).into_drawing_area(), &t, 0, &ys, &title, false)
                .map_err(|e| format!("cannot draw the SVG: {e}"))?;
        }
        _ => return Ok(None),
    }
    Ok(Some((png, svg)))
}

impl Tool for WithVisuals {
    fn code_version(&self) -> String {
        self.0.code_version()
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let again = inv.clone();
            let mut produced = self.0.run(inv).await?;
            let wants_static = again.vertex.props.emit.contains(&phx_sema::enums::Emit::Static);
            if !wants_static || produced.outputs.iter().any(|o| o.kind == "Image") {
                return Ok(produced);
            }
            let mut views = Vec::new();
            for o in &produced.outputs {
                let Some((png, svg)) = picture(&again, o).map_err(ToolError::failed)? else {
                    continue;
                };
                let read = |p: &std::path::Path| {
                    std::fs::read(p).map_err(|e| ToolError::failed(format!("cannot read the picture: {e}")))
                };
                let mut image = write_output(&again, &format!("{}_view", o.name), &read(&png)?)?;
                image.kind = "Image".into();
                image.meta = serde_json::json!({"of": o.name, "dtype": "rgb8"});
                let mut vector = write_output(&again, &format!("{}_view_svg", o.name), &read(&svg)?)?;
                vector.kind = "Svg".into();
                views.push(image);
                views.push(vector);
            }
            produced.outputs.extend(views);
            Ok(produced)
        })
    }
}
