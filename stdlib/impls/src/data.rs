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

/// The label of each stacked table: the node it came from (`levels[0]`
/// of `levels[0].energies`), numbered when two would read the same.
fn instance_labels(references: &[String]) -> Vec<String> {
    let base: Vec<String> = references
        .iter()
        .map(|r| match r.rsplit_once('.') {
            Some((node, _)) if !node.is_empty() => node.to_string(),
            _ => r.clone(),
        })
        .collect();
    let unique = base.iter().enumerate().all(|(i, b)| !base[..i].contains(b));
    if unique { base } else { base.iter().enumerate().map(|(i, b)| format!("{b} #{}", i + 1)).collect() }
}

/// `data.stack(inputs)`: tables with one header, one after another, and a
/// last column `instance` naming the node each row came from, so a
/// sweep's tables stay told apart (one labelled curve each in a plot).
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
            let labels = instance_labels(&paths.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>());
            for ((reference, rel), label) in paths.iter().zip(&labels) {
                let text = read_table(&inv, rel)?;
                let mut lines = text.lines();
                let h = lines.next().unwrap_or("").trim().to_string();
                // A table stacked before keeps its instances, under ours.
                let nested = h.split(',').next_back().is_some_and(|c| c.trim() == "instance");
                match &header {
                    None => {
                        out.push_str(&h);
                        if !nested {
                            out.push_str(",instance");
                        }
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
                // A label is one CSV cell: no commas or quotes in it.
                let label = label.replace([',', '"'], " ");
                for l in lines.filter(|l| !l.trim().is_empty()) {
                    match l.rsplit_once(',').filter(|_| nested) {
                        Some((cells, inner)) => out.push_str(&format!("{cells},{label}/{}", inner.trim())),
                        None => out.push_str(&format!("{},{label}", l.trim_end())),
                    }
                    out.push('\n');
                }
            }
            if header.is_none() {
                out.push_str("empty\n");
            }
            let mut table = write_output(&inv, "table", out.as_bytes())?;
            table.meta = serde_json::json!({"instances": labels});
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_named_after_their_nodes() {
        let refs = vec!["levels[0].energies".to_string(), "levels[1].energies".to_string()];
        assert_eq!(instance_labels(&refs), ["levels[0]", "levels[1]"]);
        let same = vec!["table.table".to_string(), "table.table".to_string()];
        assert_eq!(instance_labels(&same), ["table #1", "table #2"]);
    }
}
