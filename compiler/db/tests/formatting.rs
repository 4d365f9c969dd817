//! `phx fmt` is idempotent, keeps comments, and does not change meaning.

mod common;

use proptest::prelude::*;

fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut out = Vec::new();
    for entry in walk(std::path::Path::new(dir)) {
        out.push((entry.display().to_string(), std::fs::read_to_string(&entry).unwrap()));
    }
    assert!(out.len() >= 6);
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "phx") {
            files.push(p);
        }
    }
    files.sort();
    files
}

#[test]
fn examples_are_formatted_and_idempotent() {
    for (path, text) in examples() {
        let once = phx_fmt::format_source(&text).unwrap();
        assert_eq!(once, text, "{path} is not in canonical form; run `phx fmt {path}`");
        assert_eq!(phx_fmt::format_source(&once).unwrap(), once);
    }
}

#[test]
fn formatting_keeps_the_dag() {
    let messy = "experiment   e{title=\"t\"}\nparam g:Int=64 // grid\n/// the orbital\nnode a=quantum.orbital(n=2,l=1,m=0,grid=g){emit=[static],device=[gpu,cpu]}\n// between\nnode b=plot.heatmap(field=a.density,plane=\"xz\"){emit=[static]}\n";
    let formatted = phx_fmt::format_source(messy).unwrap();
    insta::assert_snapshot!("messy", formatted);
    let (_, d1) = common::check_with(messy, &[]);
    let (_, d2) = common::check_with(&formatted, &[]);
    assert!(d1.iter().all(|d| !d.is_error()) && d2.iter().all(|d| !d.is_error()));
    let k1 = keys(messy);
    assert_eq!(k1, keys(&formatted));
}

fn keys(text: &str) -> Vec<(String, String)> {
    let mut db = phx_db::Database::new();
    let f = db.set_file("main.phx", text.to_string());
    db.check(f).dag.vertices().iter().map(|v| (v.id.clone(), v.static_key.clone())).collect()
}

fn comment_count(text: &str) -> usize {
    phx_syntax::scan::scan(text).comments.len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Random edits that still parse: the formatter keeps every comment and
    /// is idempotent.
    #[test]
    fn mutated_inputs_that_parse_format_idempotently(
        which in 0usize..7,
        cuts in proptest::collection::vec((0usize..4000, 0usize..6, "[ \n]{0,3}|// c[a-z]{0,3}\n|[a-z]{1,3}|,|\\(|\\)"), 1..4),
    ) {
        let all = examples();
        let (_, text) = &all[which % all.len()];
        let mut chars: Vec<char> = text.chars().collect();
        for (at, len, ins) in &cuts {
            let at = at % chars.len().max(1);
            let end = (at + len).min(chars.len());
            chars.splice(at..end, ins.chars());
        }
        let mutated: String = chars.into_iter().collect();
        if let Ok(once) = phx_fmt::format_source(&mutated) {
            prop_assert_eq!(comment_count(&once), comment_count(&mutated));
            let twice = phx_fmt::format_source(&once).expect("formatted output parses");
            prop_assert_eq!(&twice, &once);
        }
    }
}
