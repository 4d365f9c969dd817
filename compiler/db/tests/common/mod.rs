//! Helpers shared by the compiler's integration tests.
#![allow(dead_code)]

use std::collections::HashMap;

use phx_db::{Database, FileLoader};
use phx_diagnostics::Diagnostic;

/// Files held in memory, for imports.
pub struct MemLoader(pub HashMap<String, String>);

impl FileLoader for MemLoader {
    fn load(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(path)
            .map(|s| s.clone().into_bytes())
            .ok_or_else(|| "No such file or directory (os error 2)".to_string())
    }
}

/// Checks `text` as `main.phx`, with `others` loadable by path.
pub fn check_with(text: &str, others: &[(&str, &str)]) -> (Database, Vec<Diagnostic>) {
    let mut files: HashMap<String, String> = others.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    files.insert("main.phx".into(), text.to_string());
    let mut db = Database::new();
    let file = db.load_with_imports("main.phx", &MemLoader(files));
    let diags = db.check(file).diagnostics.clone();
    // The editor's path (relative diagnostics, cycles without the DAG's
    // vertices) gives exactly what `phx check` gives.
    assert_eq!(db.diagnostics(file), diags, "the editor's diagnostics differ from phx check's for\n{text}");
    (db, diags)
}

/// Checks `text` alone.
pub fn check(text: &str) -> Vec<Diagnostic> {
    check_with(text, &[]).1
}

/// The diagnostics rendered as plain text, for snapshots.
pub fn render(diags: &[Diagnostic], text: &str) -> String {
    diags.iter().map(|d| phx_diagnostics::render_plain(d, "main.phx", text)).collect::<Vec<_>>().join("\n")
}
