//! An edit re-does only what it touches, counted by query executions.

use phx_db::Database;

fn program(n: usize, edited_grid: usize, emit: &str) -> String {
    let mut s = String::from("experiment big {\n  title = \"many nodes\"\n}\n\nparam extent: Length = 20 bohr\n\n");
    for i in 0..n {
        let grid = if i == n / 2 { edited_grid } else { 32 + i % 64 };
        let e = if i == n / 2 { emit } else { "static" };
        s.push_str(&format!("node orb{i} = quantum.orbital(n = 2, l = 1, m = 0, grid = {grid}, extent = extent) {{\n  emit = [{e}]\n}}\n\n"));
    }
    // Three nodes read the edited node; the rest of the file does not.
    for j in 0..3 {
        s.push_str(&format!(
            "node view{j} = plot.heatmap(field = orb{}.density, plane = \"xz\") {{\n  emit = [static]\n}}\n\n",
            n / 2
        ));
    }
    s
}

#[test]
fn editing_one_argument_rechecks_one_node() {
    let n = 300;
    let mut db = Database::new();
    let file = db.set_file("big.phx", program(n, 40, "static"));
    let first = db.check(file);
    assert!(!first.has_errors(), "{:#?}", first.diagnostics);
    assert_eq!(first.dag.vertices.len(), n + 3);

    db.start_counting();
    db.set_file("big.phx", program(n, 48, "static"));
    let second = db.check(file);
    assert!(!second.has_errors());
    let runs = db.executions();
    // The edited node is re-checked; its signature (outputs, emits) did
    // not change, so the three nodes that read it are not.
    assert_eq!(runs.get("check_node_query").copied().unwrap_or(0), 1, "{runs:#?}");
    assert_eq!(runs.get("parse_chunk").copied().unwrap_or(0), 1, "{runs:#?}");
    assert_eq!(runs.get("param_value").copied().unwrap_or(0), 0, "{runs:#?}");
    let key_before = first.dag.vertex("orb150").unwrap().static_key.clone();
    let key_after = second.dag.vertex("orb150").unwrap().static_key.clone();
    assert_ne!(key_before, key_after, "the edited node's static key changes");
    assert_eq!(first.dag.vertex("orb10").unwrap().static_key, second.dag.vertex("orb10").unwrap().static_key);
}

#[test]
fn editing_what_others_read_rechecks_them_too() {
    let n = 300;
    let mut db = Database::new();
    let file = db.set_file("big.phx", program(n, 40, "static"));
    db.check(file);
    db.start_counting();
    // The emit list is part of the node's signature (figures read it).
    db.set_file("big.phx", program(n, 40, "static, series"));
    db.check(file);
    let runs = db.executions();
    assert_eq!(runs.get("check_node_query").copied().unwrap_or(0), 1 + 3, "{runs:#?}");
}

#[test]
fn whitespace_edits_above_an_item_do_not_recheck_it() {
    let n = 100;
    let mut db = Database::new();
    let text = program(n, 40, "static");
    let file = db.set_file("big.phx", text.clone());
    db.check(file);
    db.start_counting();
    db.set_file("big.phx", format!("// a comment at the top\n\n{text}"));
    let checked = db.check(file);
    assert!(!checked.has_errors());
    let runs = db.executions();
    assert_eq!(runs.get("check_node_query").copied().unwrap_or(0), 0, "{runs:#?}");
}
