//! `data.load_csv`, `data.stack`, `export.csv`: tables as CSV with a header.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};

use crate::common::{input_path, write_output};

fn read_table(inv: &Invocation, rel: &std::path::Path) -> Result<String, ToolError> {
    std::fs::read_to_string(inv.work_dir.join(rel))
        .map_err(|e| ToolError::failed(format!("cannot read `{}` as text: {e}", rel.display())))
}

/// `data.load_csv(path)`: a CSV file (header line first) as a Series.
pub struct LoadCsv;

impl Tool for LoadCsv {
    fn code_version(&self) -> String {
        crate::code_version("data.load_csv")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let paths = input_path(&inv, "path")?;
            let text = read_table(&inv, paths.first().ok_or_else(|| ToolError::failed("no file"))?)?;
            let out = write_output(&inv, "table", text.as_bytes())?;
            Ok(Produced { outputs: vec![out], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

/// `data.stack(inputs)`: tables with one header, one after another.
pub struct Stack;

impl Tool for Stack {
    fn code_version(&self) -> String {
        crate::code_version("data.stack")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let mut out = String::new();
            let mut header: Option<String> = None;
            let paths = inv
                .inputs
                .get("inputs")
                .map(|v| v.iter().map(|s| (s.reference.clone(), s.path.clone())).collect::<Vec<_>>())
                .unwrap_or_default();
            for (reference, rel) in paths {
                let text = read_table(&inv, &rel)?;
                let mut lines = text.lines();
                let h = lines.next().unwrap_or("").trim().to_string();
                match &header {
                    None => {
                        out.push_str(&h);
                        out.push('\n');
                        header = Some(h);
                    }
                    Some(first) if *first != h => {
                        return Err(ToolError::failed(format!(
                            "`{reference}` has the columns `{h}`, but the first table has `{first}`"
                        )));
                    }
                    Some(_) => {}
                }
                for l in lines.filter(|l| !l.trim().is_empty()) {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            if header.is_none() {
                out.push_str("empty\n");
            }
            let table = write_output(&inv, "table", out.as_bytes())?;
            Ok(Produced { outputs: vec![table], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

/// `export.csv(data)`: a Series as a plain CSV file.
pub struct ExportCsv;

impl Tool for ExportCsv {
    fn code_version(&self) -> String {
        crate::code_version("export.csv")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let paths = input_path(&inv, "data")?;
            let text = read_table(&inv, paths.first().ok_or_else(|| ToolError::failed("no table"))?)?;
            let file = write_output(&inv, "file", text.as_bytes())?;
            Ok(Produced { outputs: vec![file], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}
