//! What the tools share: reading arguments, writing outputs.

use std::path::Path;
use std::sync::Arc;

use phx_runtime::command::{collect, output_path};
use phx_runtime::tool::{Invocation, ProducedOutput, ToolError};
use phx_sema::fnir::FnIr;
use phx_sema::value::Value;

/// An argument's value.
pub fn arg<'a>(inv: &'a Invocation, name: &str) -> Result<&'a Value, ToolError> {
    inv.vertex
        .args
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .ok_or_else(|| ToolError::failed(format!("the argument `{name}` is missing")))
}

/// The text of a scalar that another node produced (`derivative.expr`),
/// staged as a file: `None` when the argument is not such a reference.
fn upstream_scalar(inv: &Invocation, name: &str) -> Result<Option<String>, ToolError> {
    let Some([staged]) = inv.inputs.get(name).map(Vec::as_slice) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(inv.work_dir.join(&staged.path))
        .map_err(|e| ToolError::failed(format!("cannot read `{}` for `{name}`: {e}", staged.reference)))?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// A plain number argument, written in the program or made by a node.
pub fn float(inv: &Invocation, name: &str) -> Result<f64, ToolError> {
    if let Some(x) = arg(inv, name)?.as_f64() {
        return Ok(x);
    }
    match upstream_scalar(inv, name)? {
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| ToolError::failed(format!("`{name}` must be a number; its input holds `{text}`"))),
        None => Err(ToolError::failed(format!("`{name}` must be a number"))),
    }
}

/// A string argument, written in the program or made by a node.
pub fn string(inv: &Invocation, name: &str) -> Result<String, ToolError> {
    match arg(inv, name)? {
        Value::Str(s) => Ok(s.clone()),
        other => upstream_scalar(inv, name)?
            .ok_or_else(|| ToolError::failed(format!("`{name}` must be a string, found {other}"))),
    }
}

/// A function argument's IR.
pub fn function(inv: &Invocation, name: &str) -> Result<Arc<FnIr>, ToolError> {
    let Value::Fn(f) = arg(inv, name)? else {
        return Err(ToolError::failed(format!("`{name}` must be a fn")));
    };
    inv.vertex
        .functions
        .iter()
        .find(|(h, _)| *h == f.hash)
        .map(|(_, ir)| ir.clone())
        .ok_or_else(|| ToolError::failed(format!("the fn `{}` has no compiled body (it has errors)", f.name)))
}

/// Writes an output file and reads it back through the same checks as a
/// command's outputs.
pub fn write_output(inv: &Invocation, name: &str, bytes: &[u8]) -> Result<ProducedOutput, ToolError> {
    let kind =
        inv.vertex.outputs.iter().find(|(n, _)| n == name).map(|(_, k)| k.clone()).unwrap_or_else(|| "File".into());
    let rel = output_path(name, &kind);
    let path = inv.work_dir.join(&rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ToolError::failed(format!("cannot create `{}`: {e}", dir.display())))?;
    }
    std::fs::write(&path, bytes).map_err(|e| ToolError::failed(format!("cannot write output `{name}`: {e}")))?;
    collect(inv.work_dir, name, &kind, &rel)
}

/// A float as output text: shortest round-trip digits.
pub fn float_text(x: f64) -> String {
    format!("{x:?}")
}

/// The staged path of a file input.
pub fn input_path<'a>(inv: &'a Invocation, name: &str) -> Result<Vec<&'a Path>, ToolError> {
    let staged = inv.inputs.get(name).ok_or_else(|| ToolError::failed(format!("the input `{name}` was not staged")))?;
    Ok(staged.iter().map(|s| s.path.as_path()).collect())
}

/// A file the tool wrote somewhere in its working folder, as an output.
pub fn collect_file(inv: &Invocation, name: &str, kind: &str, path: &Path) -> Result<ProducedOutput, ToolError> {
    let rel = path
        .strip_prefix(inv.work_dir)
        .map_err(|_| ToolError::failed(format!("`{}` is outside the working folder", path.display())))?;
    collect(inv.work_dir, name, kind, rel)
}

/// A `fn` argument that must take exactly `arity` parameters.
pub fn function_of_arity(inv: &Invocation, name: &str, arity: usize) -> Result<Arc<FnIr>, ToolError> {
    let ir = function(inv, name)?;
    if ir.params.len() != arity {
        return Err(ToolError::failed(format!(
            "`{name}` must take {arity} argument(s); `{}` takes {}",
            ir.name,
            ir.params.len()
        )));
    }
    Ok(ir)
}

/// A function as native code when it compiles (once per body hash and
/// process), else on the reference interpreter: both give the same values.
pub struct Evaluator {
    ir: Arc<FnIr>,
    jit: Option<Arc<phx_codegen::Compiled>>,
}

impl Evaluator {
    /// Compiles `ir`, keeping the interpreter as the fallback.
    pub fn new(ir: Arc<FnIr>) -> Evaluator {
        let jit = crate::quantum::jit_for(&ir).ok();
        Evaluator { ir, jit }
    }

    /// The function at `args`.
    pub fn call(&self, args: &[f64]) -> f64 {
        match &self.jit {
            Some(j) => j.call(args),
            None => self.ir.eval_f64(args),
        }
    }
}

/// Refuses a run-time value past a stdlib cap (`name <= cap`) unless the
/// node sets `allow_large`, as the compiler does for literal values.
pub fn check_cap(inv: &Invocation, name: &str, value: i64, cap: i64) -> Result<(), ToolError> {
    if value > cap && !inv.vertex.props.allow_large {
        return Err(ToolError::failed(format!(
            "{name} = {value} exceeds the cap {name} <= {cap}; set allow_large = true to lift it"
        )));
    }
    Ok(())
}

/// A `Series` input read as a numeric table.
pub fn table_input(inv: &Invocation, name: &str) -> Result<crate::plot::Table, ToolError> {
    let paths = input_path(inv, name)?;
    let p = paths.first().ok_or_else(|| ToolError::failed(format!("no `{name}` input")))?;
    let text = std::fs::read_to_string(inv.work_dir.join(p))
        .map_err(|e| ToolError::failed(format!("cannot read the table `{name}`: {e}")))?;
    crate::plot::read_table(&text).map_err(ToolError::failed)
}
