//! Requests at a position walk only the items around it; they must answer
//! exactly as if the whole file had been walked.

use phx_db::Database;
use phx_lsp::ide::Analysis;

/// Runs `check` on the analysis of every example (its path and text).
fn for_each_example(mut check: impl FnMut(&str, &str, &Analysis)) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "phx"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "the examples are there");
    for path in paths {
        let (path, text) = (path.display().to_string(), std::fs::read_to_string(&path).unwrap());
        let mut db = Database::new();
        let file = db.load_with_imports(&path, &phx_db::FsLoader);
        check(&path, &text, &Analysis::new(&db, file));
    }
}

#[test]
fn the_occurrence_at_every_offset_is_the_one_the_whole_file_gives() {
    for_each_example(|path, text, a| {
        let all = a.occurrences();
        for offset in 0..=text.len() {
            // The rule of `at`, over every occurrence of the file.
            let contains =
                |o: &&phx_lsp::walk::Occurrence| o.span.start as usize <= offset && offset <= o.span.end as usize;
            let expected = all
                .iter()
                .filter(contains)
                .filter(|o| !matches!(o.role, phx_lsp::walk::Role::Quantity))
                .min_by_key(|o| o.span.end - o.span.start)
                .or_else(|| all.iter().find(contains))
                .cloned();
            assert_eq!(a.at(offset), expected, "{path} at byte {offset}");
        }
    });
}

#[test]
fn inlay_hints_of_a_range_are_those_of_the_whole_file_in_it() {
    let mut seen = 0;
    for_each_example(|path, text, a| {
        let whole = a.inlay_hints(0, text.len());
        seen += whole.len();
        let step = (text.len() / 7).max(1);
        for start in (0..text.len()).step_by(step) {
            let end = (start + step).min(text.len());
            let expected: Vec<_> = whole.iter().filter(|(at, _)| (start..=end).contains(at)).cloned().collect();
            assert_eq!(a.inlay_hints(start, end), expected, "{path} in {start}..={end}");
        }
    });
    assert!(seen > 5, "the examples have params and sweeps to hint at");
}

#[test]
fn semantic_tokens_of_a_range_are_those_of_the_whole_file_there() {
    for_each_example(|path, text, a| {
        let whole = a.semantic_tokens();
        assert!(whole.len() > 20, "{path} has tokens");
        let step = (text.len() / 9).max(1);
        for start in (0..text.len()).step_by(step) {
            let end = (start + step + 17).min(text.len());
            let expected: Vec<_> = whole.iter().filter(|t| (start..end).contains(&t.0)).cloned().collect();
            assert_eq!(a.semantic_tokens_in(start, end), expected, "{path} in {start}..{end}");
        }
    });
}
