//! Writing programs with a model, shared by `phx mcp` (the client's model,
//! through MCP sampling) and `phx gen` (an OpenAI-compatible endpoint): the
//! prompt, reading the program out of an answer, checking it, and the
//! errors to send back for a repair.

use std::path::Path;

use phx_db::{Database, FsLoader};
use serde_json::{Value as Json, json};

/// The system prompt: the language summary of `phx schema --format llm`.
pub fn system_prompt() -> String {
    format!(
        "You write programs in the phx language. Answer with one ```phx code block and nothing else.\n\n{}",
        phx_db::schema_doc::llm()
    )
}

/// What a model needs to write a program for `wish`.
pub fn prompt_material(wish: &str) -> String {
    let example = include_str!("../examples/hydrogen_2p.phx");
    format!(
        "Write a phx program for this experiment:\n\n{wish}\n\nAn example program:\n```phx\n{example}```\n\nAnswer with one ```phx code block."
    )
}

/// The request for a repair, with the errors of the last answer.
pub fn repair_request(errors: &[String]) -> String {
    format!("phx check found these errors; answer with the whole corrected program:\n{}", errors.join("\n"))
}

/// The program text between ``` fences, or all of it.
pub fn program_from_reply(text: &str) -> String {
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        let after = after.split_once('\n').map(|(_, rest)| rest).unwrap_or(after);
        if let Some(end) = after.find("```") {
            return after[..end].trim().to_string() + "\n";
        }
    }
    text.trim().to_string() + "\n"
}

/// Checks `text` as if it were the file `path` (imports resolve from its
/// folder, on disk): `{ok, diagnostics, nodes, edges}`.
pub fn check_source(path: &Path, text: &str) -> Json {
    let shown = path.to_string_lossy();
    let mut db = Database::new();
    let file = db.set_file(&shown, text.to_string());
    db.load_imports_of(file, &FsLoader);
    let checked = db.check(file);
    let index = phx_syntax::LineIndex::new(text);
    let diagnostics: Vec<Json> = checked
        .diagnostics
        .iter()
        .map(|d| serde_json::to_value(phx_diagnostics::to_json(d, &shown, text, &index)).unwrap_or(Json::Null))
        .collect();
    let nodes: Vec<Json> = checked
        .dag
        .vertices
        .iter()
        .map(|v| json!({"id": v.id, "node": v.node, "tool": v.tool, "emit": v.emit, "device": v.device}))
        .collect();
    let edges: Vec<Json> =
        checked.dag.edges.iter().map(|e| json!({"from": e.from, "to": e.to, "output": e.output})).collect();
    json!({"ok": !checked.has_errors(), "diagnostics": diagnostics, "nodes": nodes, "edges": edges})
}

/// The errors of a check, one line each, as a model reads them.
pub fn error_lines(checked: &Json) -> Vec<String> {
    checked["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            format!(
                "line {}: {} {}{}",
                d["line"],
                d["code"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or(""),
                d["help"].as_str().map(|h| format!(" (help: {h})")).unwrap_or_default()
            )
        })
        .collect()
}
