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
    let mut db = Database::counting();
    let file = db.set_file("big.phx", program(n, 40, "static"));
    let first = db.check(file);
    assert!(!first.has_errors(), "{:#?}", first.diagnostics);
    assert_eq!(first.dag.vertex_count(), n + 3);

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
    let mut db = Database::counting();
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
    let mut db = Database::counting();
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

/// Types over the first digit of the middle node's `grid = 40`, three
/// times, checking after each edit as an editor does; returns what the
/// last edit cost.
fn type_in_the_middle(n: usize) -> std::collections::HashMap<String, usize> {
    let mut db = Database::counting();
    let text = program(n, 40, "static");
    let file = db.set_file("big.phx", text.clone());
    assert!(db.diagnostics(file).is_empty());
    let at = text.find(&format!("node orb{} ", n / 2)).unwrap();
    let at = at + text[at..].find("grid = ").unwrap() + "grid = ".len();
    let mut last = Default::default();
    for digit in ["3", "2", "5"] {
        db.start_counting();
        db.edit_file("big.phx", at, at + 1, digit);
        assert!(db.diagnostics(file).is_empty());
        last = db.executions();
    }
    // The file is what an editor would hold, and checks the same from scratch.
    let typed = format!("{}5{}", &text[..at], &text[at + 1..]);
    assert_eq!(file.text(&db), &typed);
    let mut fresh = Database::new();
    let again = fresh.set_file("big.phx", typed);
    assert_eq!(
        fresh.check(again).dag.vertex(&format!("orb{}", n / 2)).unwrap().args,
        db.check(file).dag.vertex(&format!("orb{}", n / 2)).unwrap().args
    );
    last
}

#[test]
fn typing_inside_one_item_costs_the_same_in_small_and_large_files() {
    let small = type_in_the_middle(100);
    let large = type_in_the_middle(2_000);
    for runs in [&small, &large] {
        // Only the typed-in node is checked again, and its chunk parsed.
        assert_eq!(runs.get("check_node_query").copied().unwrap_or(0), 1, "{runs:#?}");
        assert_eq!(runs.get("parse_chunk").copied().unwrap_or(0), 1, "{runs:#?}");
        assert_eq!(runs.get("file_item_diagnostics").copied().unwrap_or(0), 0, "{runs:#?}");
    }
    // What salsa visits grows with the depth of the range trees (one level
    // more here), not with the number of items (20 times more).
    let (s, l) = (small["validated"], large["validated"]);
    assert!(l < 2 * s && l < 200, "validated {s} memos for 100 nodes, {l} for 2,000:\n{small:#?}\n{large:#?}");
}

#[test]
fn edits_that_move_split_and_merge_chunks_give_the_same_result_as_a_fresh_check() {
    // Random edits anywhere, including across item boundaries; after each,
    // the incremental database agrees with a fresh one.
    let mut text = program(30, 40, "static");
    let mut db = Database::counting();
    let file = db.set_file("big.phx", text.clone());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |m: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m as u64) as usize
    };
    let pieces = ["", "x", "\n", "}\n", "node z = t.f() {\n", "// c\n", "\"", "{", "node", "1", "let q = 2\n"];
    // Bursts of typing at one place (which makes its chunk the hot one)
    // between jumps anywhere.
    let mut typing_at: Option<usize> = None;
    for round in 0..400 {
        let len = text.len();
        let (start, end, insert) = match typing_at {
            Some(at) if next(8) != 0 && at <= len => (at, at, ["a", "1", " ", "_", "2", "."][next(6)]),
            _ => {
                let mut start = next(len + 1);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (start + next(12)).min(len);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                (start, end, pieces[next(pieces.len())])
            }
        };
        typing_at = Some(start + insert.len());
        text.replace_range(start..end, insert);
        if round % 7 == 0 {
            db.set_file("big.phx", text.clone());
        } else {
            db.edit_file("big.phx", start, end, insert);
        }
        assert_eq!(file.text(&db), &text);
        let mut fresh = Database::new();
        let f = fresh.set_file("big.phx", text.clone());
        assert_eq!(db.diagnostics(file), fresh.diagnostics(f), "after edit {round}");
        assert_eq!(db.check(file).dag.vertex_count(), fresh.check(f).dag.vertex_count());
    }
}

#[test]
fn typing_in_a_param_reaches_the_nodes_that_read_it() {
    // Every keystroke lands in the param's chunk, which turns hot; the
    // node that reads the param must still see each new value.
    let mut text = format!("param g: Int = 40\n\n{}", program(20, 40, "static")).replacen("grid = 40", "grid = g", 1);
    let mut db = Database::counting();
    let file = db.set_file("big.phx", text.clone());
    assert!(db.diagnostics(file).is_empty(), "{:#?}", db.diagnostics(file));
    let at = "param g: Int = 40".len();
    // 40 -> 40000 (over the grid's cap: an error at the node), and back.
    let mut steps: Vec<(usize, usize, &str)> = (0..3).map(|i| (at + i, at + i, "0")).collect();
    steps.extend((0..3).rev().map(|i| (at + i, at + i + 1, "")));
    let mut saw_error = false;
    for (start, end, insert) in steps {
        text.replace_range(start..end, insert);
        db.edit_file("big.phx", start, end, insert);
        let mut fresh = Database::new();
        let f = fresh.set_file("big.phx", text.clone());
        let got = db.diagnostics(file);
        assert_eq!(got, fresh.diagnostics(f), "{}", &text[..at + 4]);
        saw_error |= got.iter().any(|d| d.is_error() && d.span.start as usize > at + 4);
    }
    assert!(saw_error, "a grid of 40000 is over the cap where the node reads it");
    assert!(db.diagnostics(file).is_empty());
}

#[test]
fn chunks_an_edit_replaces_let_go_of_their_trees() {
    let mut db = Database::new();
    let text = program(5, 40, "static");
    let file = db.set_file("big.phx", text.clone());
    let before: Vec<phx_db::ChunkInput> = file.chunks(&db).as_ref().clone();
    // Join the third node's chunk with the fourth's (its keyword is gone).
    let at = text.find("node orb3 ").unwrap();
    db.edit_file("big.phx", at, at + "node".len(), "nod");
    let after = file.chunks(&db).as_ref().clone();
    assert_eq!(after.len() + 1, before.len());
    let dropped: Vec<_> = before.iter().filter(|c| !after.contains(c)).collect();
    assert!(!dropped.is_empty());
    for chunk in dropped {
        assert!(chunk.parse(&db).items.is_empty() && chunk.keys(&db).is_empty());
    }
    // What is still in the file keeps its trees.
    assert!(after.iter().all(|c| !c.parse(&db).items.is_empty() || !c.parse(&db).errors.is_empty()));
}
