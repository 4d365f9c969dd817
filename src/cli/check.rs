//! `phx check FILE... [--format json]`

use serde_json::json;

use super::common::{self, CompileOpts, FormatArg, TextOrJson};
use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The files to check.
    #[arg(required = true)]
    files: Vec<String>,
    /// `json` prints `{"diagnostics": [...], "nodes": N, "edges": M}`.
    #[command(flatten)]
    format: FormatArg,
    #[command(flatten)]
    opts: CompileOpts,
}

pub fn run(a: Args) -> u8 {
    let mut all = Vec::new();
    let (mut nodes, mut edges, mut errors, mut warnings) = (0usize, 0usize, 0usize, 0usize);
    for path in &a.files {
        let loaded = match common::load(path, &a.opts) {
            Ok(l) => l,
            Err(code) => return code,
        };
        let full = loaded.check();
        let checked = full.checked.clone();
        let text = loaded.file.text(&loaded.db);
        // Errors inside imported files, shown where they are.
        for imported in &full.imported {
            errors += imported.errors.len();
            match a.format.format {
                TextOrJson::Json => {
                    all.extend(common::json_diagnostics(&imported.errors, &imported.path, &imported.text))
                }
                TextOrJson::Text => common::print_diagnostics(&imported.errors, &imported.path, &imported.text),
            }
        }
        nodes += checked.dag.vertex_count();
        edges += checked.dag.edge_count();
        errors += checked.diagnostics.iter().filter(|d| d.is_error()).count();
        warnings += checked.diagnostics.iter().filter(|d| !d.is_error()).count();
        match a.format.format {
            TextOrJson::Json => all.extend(common::json_diagnostics(&checked.diagnostics, &loaded.path, text)),
            TextOrJson::Text => {
                common::print_diagnostics(&checked.diagnostics, &loaded.path, text);
                let status = if checked.has_errors() { "failed" } else { "ok" };
                common::out(&format!(
                    "{path}: {status}: {} node{}, {} edge{}, {} error{}, {} warning{}\n",
                    checked.dag.vertex_count(),
                    plural(checked.dag.vertex_count()),
                    checked.dag.edge_count(),
                    plural(checked.dag.edge_count()),
                    checked.diagnostics.iter().filter(|d| d.is_error()).count(),
                    plural(checked.diagnostics.iter().filter(|d| d.is_error()).count()),
                    checked.diagnostics.iter().filter(|d| !d.is_error()).count(),
                    plural(checked.diagnostics.iter().filter(|d| !d.is_error()).count()),
                ));
            }
        }
        common::release_at_exit(checked);
        common::release_at_exit(full);
        common::release_at_exit(loaded);
    }
    let _ = warnings;
    if a.format.format == TextOrJson::Json {
        common::print_json(&json!({"diagnostics": all, "nodes": nodes, "edges": edges}));
    }
    if errors > 0 { exit::INVALID } else { exit::OK }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
