//! The GBNF grammars of `phx schema --format gbnf` and of `phx gen`: read
//! back from their text, every random sentence parses with phx's parser,
//! and every example program is a sentence of the full grammar specialised
//! to its own tools.

mod support;

use std::path::Path;
use std::sync::Arc;

use phx_db::gbnf::{self, Profile};
use phx_db::{Database, FsLoader};
use support::gbnf::{Rng, read};
use support::jsonschema::{Texts, generate, validate};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn parses(text: &str) -> Result<(), String> {
    let parsed = phx_syntax::parse_file(text);
    match parsed.errors.first() {
        None => Ok(()),
        Some(e) => {
            let (a, b) = (e.span.start as usize, e.span.end as usize);
            let mut from = a.saturating_sub(120);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (b + 40).min(text.len());
            while !text.is_char_boundary(to) {
                to += 1;
            }
            Err(format!("{} at {:?}: {:?} >>> {:?}", e.message, e.span, &text[from..a], &text[a..to]))
        }
    }
}

fn examples() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(Path::new(ROOT).join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "phx"))
        .collect();
    v.push(Path::new(ROOT).join("examples/lib/potentials.phx"));
    v.sort();
    v
}

fn sentences_parse(grammar: &str, count: usize, depth: usize, seed: u64) {
    let cfg = read(grammar);
    let mut rng = Rng::new(seed);
    for i in 0..count {
        let s = cfg.generate(&mut rng, depth);
        if let Err(e) = parses(&s) {
            panic!("sentence {i} of the grammar does not parse: {e}\n---\n{s:?}\n---");
        }
    }
}

#[test]
fn random_sentences_of_the_full_grammar_parse() {
    let grammar = gbnf::full(&gbnf::stdlib_tools());
    for seed in 1..=6 {
        sentences_parse(&grammar, 60, 14 + seed as usize, seed);
    }
}

#[test]
fn random_sentences_of_small_grammars_parse() {
    let all = gbnf::stdlib_tools();
    let by = |names: &[&str]| -> Vec<Arc<phx_sema::schema::ToolSchema>> {
        names.iter().map(|n| all.iter().find(|t| t.name == *n).unwrap().clone()).collect()
    };
    let sets: [Vec<Arc<phx_sema::schema::ToolSchema>>; 6] = [
        by(&["quantum.orbital", "plot.heatmap"]),
        by(&["quantum.eigen1d", "data.stack", "plot.line"]),
        by(&["data.load_csv", "data.fit", "export.csv"]),
        by(&["quantum.wavepacket", "plot.animation"]),
        by(&["field.evaluate", "plot.surface", "plot.contact_sheet", "export.vtk", "export.gltf"]),
        all.clone(),
    ];
    for (k, tools) in sets.iter().enumerate() {
        sentences_parse(&gbnf::small(tools), 80, 40, 100 + k as u64);
    }
}

#[test]
fn every_example_is_a_sentence_of_the_full_grammar() {
    for path in examples() {
        let mut db = Database::new();
        let p = path.to_string_lossy().to_string();
        let file = db.load_with_imports(&p, &FsLoader);
        let tools = gbnf::program_tools(&db, file);
        let grammar = gbnf::full(&tools);
        let cfg = read(&grammar);
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(at) = cfg.recognize(&text) {
            let line = text[..text.char_indices().nth(at).map_or(text.len(), |(b, _)| b)].lines().count();
            panic!("{} is not a sentence of its grammar: stuck at character {at} (line {line})", path.display());
        }
    }
}

#[test]
fn the_small_grammar_admits_a_typical_program_and_rejects_unknown_names() {
    let all = gbnf::stdlib_tools();
    let tools: Vec<_> = ["quantum.orbital", "plot.heatmap"]
        .iter()
        .map(|n| all.iter().find(|t| t.name == *n).unwrap().clone())
        .collect();
    let cfg = read(&gbnf::small(&tools));
    let good = "node density = quantum.orbital(n = 1, l = 0, m = 0, grid = 64, extent = 20 bohr) {\n  emit = [static, series]\n}\n\nnode slice = plot.heatmap(field = density.density, plane = \"xz\") {\n  emit = [static]\n}\n\n";
    assert_eq!(cfg.recognize(good), Ok(()));
    for bad in [
        good.replace("quantum.orbital", "quantum.orbitals"),
        good.replace("grid = 64", "grids = 64"),
        good.replace("20 bohr", "20 eV"),
        good.replace("\"xz\"", "\"xq\""),
        good.replace("emit = [static]\n}\n\n", "emit = [series]\n}\n\n"),
        good.replace("node density", "node true"),
    ] {
        assert!(cfg.recognize(&bad).is_err(), "admitted:\n{bad}");
    }
}

/// The example program of the prompt is a sentence of the grammar sent
/// with it, for every tool alone (with what feeds it) and for requests.
#[test]
fn the_example_is_a_sentence_of_the_grammar_sent_with_it() {
    use phx_db::prompt::{self, Selection, select_tools};
    let all = gbnf::stdlib_tools();
    let mut selections: Vec<Selection> = Vec::new();
    for t in &all {
        let sel = select_tools(&format!("use {}", t.name), &all, 5);
        selections.push(Selection { sweep: true, ..sel.clone() });
        selections.push(sel);
    }
    for r in [
        "A contact sheet of xz slices of the hydrogen orbitals for n = 1 to 3",
        "Load measurements.csv and fit an exponential decay, then export the fit as CSV",
        "Evaluate a Gaussian and integrate exp(-x^2), then find the root of x^3 - 2",
    ] {
        selections.push(select_tools(r, &all, 5));
    }
    for sel in selections {
        let (example, stuck) = prompt::example_program(&sel);
        assert!(stuck.is_empty(), "{example}: {stuck:?}");
        let grammar = gbnf::small_for(&prompt::shape(&sel));
        let text = format!("{example}\n");
        if let Err(at) = read(&grammar).recognize(&text) {
            panic!("the example is not a sentence of its grammar (stuck at {at}):\n{text}\n{grammar}");
        }
    }
}

#[test]
fn random_instances_of_the_json_schemas_import_as_programs_that_parse() {
    let all = gbnf::stdlib_tools();
    let by = |names: &[&str]| -> Vec<Arc<phx_sema::schema::ToolSchema>> {
        names.iter().map(|n| all.iter().find(|t| t.name == *n).unwrap().clone()).collect()
    };
    let cases = [
        (Profile::Full, all.clone()),
        (Profile::Small, all.clone()),
        (Profile::Small, by(&["quantum.orbital", "plot.heatmap"])),
        (Profile::Small, by(&["data.load_csv", "data.fit", "quantum.eigen1d", "data.stack"])),
    ];
    let texts = Texts::default();
    for (k, (profile, tools)) in cases.iter().enumerate() {
        let schema = phx_db::dag_schema::schema(tools, *profile);
        let mut rng = Rng::new(7 + k as u64);
        for i in 0..150 {
            let v = generate(&schema, &schema, &mut rng, 0, "", "", &texts);
            validate(&schema, &schema, &v, "$")
                .unwrap_or_else(|e| panic!("the generator made a non-instance: {e}\n{v:#}"));
            let text = phx_interchange::import(&v.to_string())
                .unwrap_or_else(|e| panic!("instance {i} ({profile:?}) does not import: {e}\n{v:#}"));
            if let Err(e) = parses(&text) {
                panic!("instance {i} ({profile:?}) imports to a program that does not parse: {e}\n{text}");
            }
        }
    }
}

#[test]
fn every_example_is_an_instance_of_the_full_json_schema() {
    for path in examples() {
        let mut db = Database::new();
        let p = path.to_string_lossy().to_string();
        let file = db.load_with_imports(&p, &FsLoader);
        let tools = gbnf::program_tools(&db, file);
        let schema = phx_db::dag_schema::schema(&tools, Profile::Full);
        let json = phx_interchange::export(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if let Err(e) = validate(&schema, &schema, &json, "$") {
            panic!("{} exported is not an instance of its schema: {e}", path.display());
        }
    }
}

/// Many more sentences than the suite's tests (a minute or two):
/// `cargo test -p phx-db --test grammar -- --ignored`.
#[test]
#[ignore]
fn fuzz_many() {
    let grammar = gbnf::full(&gbnf::stdlib_tools());
    for seed in 1000..1400u64 {
        sentences_parse(&grammar, 50, 10 + (seed % 20) as usize, seed);
    }
    let all = gbnf::stdlib_tools();
    for seed in 0..100u64 {
        sentences_parse(&gbnf::small(&all), 50, 30 + (seed % 30) as usize, seed);
    }
}
