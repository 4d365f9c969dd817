//! `constants.get` and `units.convert`.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use phx_sema::value::Value;

use crate::common::{arg, float_text, string, write_output};

/// `constants.get(name)`: a CODATA 2022 value in SI and its unit.
pub struct ConstantsGet;

impl Tool for ConstantsGet {
    fn code_version(&self) -> String {
        crate::code_version("constants.get")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let name = string(&inv, "name")?;
            let Some(c) = phx_units::constant(&name) else {
                let names: Vec<&str> = phx_units::CONSTANTS.iter().map(|c| c.name).collect();
                let hint = phx_units::closest(&name, names.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                return Err(ToolError::failed(format!(
                    "no constant is named `{name}`{hint} (known: {})",
                    names.join(", ")
                )));
            };
            let value = write_output(&inv, "value", float_text(c.value).as_bytes())?;
            let unit = write_output(&inv, "unit", c.unit.as_bytes())?;
            Ok(Produced { outputs: vec![value, unit], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

/// `units.convert(value, to)`: a quantity as a number in another unit.
pub struct UnitsConvert;

impl Tool for UnitsConvert {
    fn code_version(&self) -> String {
        crate::code_version("units.convert")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let to = string(&inv, "to")?;
            let (si, dim) = match arg(&inv, "value")? {
                Value::Quantity { si, dim, .. } => (*si, *dim),
                v => (v.as_f64().ok_or_else(|| ToolError::failed("`value` must be a quantity"))?, phx_units::Dim::NONE),
            };
            let target = phx_units::resolve_text(&to).map_err(|e| {
                ToolError::failed(format!(
                    "unknown unit `{}`{}",
                    e.name,
                    e.suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default()
                ))
            })?;
            if target.dim != dim {
                return Err(ToolError::failed(format!("cannot convert {dim} to `{to}`, which is {}", target.dim)));
            }
            let out = write_output(&inv, "value", float_text(si / target.factor).as_bytes())?;
            Ok(Produced { outputs: vec![out], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}
