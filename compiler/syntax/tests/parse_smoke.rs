use phx_syntax::parse_file;

#[test]
fn spec_examples_parse() {
    for path in ["../../examples/hydrogen_2p.phx", "/tmp/spec_tool.phx"] {
        let text = std::fs::read_to_string(path).unwrap();
        let parsed = parse_file(&text);
        assert!(parsed.errors.is_empty(), "{path}: {:#?}", parsed.errors);
        eprintln!("{path}: {} items", parsed.items.len());
        for item in &parsed.items {
            eprintln!("  {:?} {} doc={:?}", item.kind(), item.name(), item.doc());
        }
    }
}
