//! The parser never panics and never hangs, whatever it is given.

use phx_syntax::{decode, parse_file};
use proptest::prelude::*;

const SPEC: &str = include_str!("../../../examples/hydrogen_2p.phx");

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    for open in ["(", "[", "{"] {
        let text = format!("let x = {}1", open.repeat(100_000));
        let parsed = parse_file(&text);
        assert!(!parsed.errors.is_empty());
        assert!(parsed.errors[0].message.contains("nest"), "{:?}", parsed.errors[0]);
    }
    let text = format!("let x = {}1", "-".repeat(100_000));
    assert!(!parse_file(&text).errors.is_empty());
    let text = format!("let x = 1{}", " + 1".repeat(60_000));
    assert!(!parse_file(&text).errors.is_empty());
}

#[test]
fn moderately_deep_nesting_parses() {
    let text = format!("let x = {}1{}", "(".repeat(100), ")".repeat(100));
    let parsed = parse_file(&text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
}

#[test]
fn nul_bytes_and_invalid_utf8() {
    let parsed = parse_file("param a: Int = 1\n\0\0\nparam b: Int = 2\n");
    assert!(!parsed.errors.is_empty());
    assert!(parsed.items.iter().any(|i| i.name() == "a"));
    assert!(parsed.items.iter().any(|i| i.name() == "b"));
    let (text, err) = decode(b"param a: Int = 1\n\xff\xfe\n");
    assert!(err.is_some());
    let _ = parse_file(&text);
}

#[test]
fn every_span_lies_inside_the_text() {
    let parsed = parse_file(SPEC);
    for item in parsed.items {
        let mut item = item;
        phx_syntax::visit::visit_spans_mut(&mut item, &mut |s| {
            assert!(s.start <= s.end && (s.end as usize) <= SPEC.len(), "{s:?}");
            assert!(SPEC.is_char_boundary(s.start as usize) && SPEC.is_char_boundary(s.end as usize));
        });
    }
}

fn mutate(text: &str, cuts: &[(usize, usize, String)]) -> String {
    let mut bytes: Vec<char> = text.chars().collect();
    for (at, len, insert) in cuts {
        if bytes.is_empty() {
            break;
        }
        let at = at % bytes.len();
        let end = (at + len % 8).min(bytes.len());
        bytes.splice(at..end, insert.chars());
    }
    bytes.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (text, _) = decode(&bytes);
        let parsed = parse_file(&text);
        for e in &parsed.errors {
            prop_assert!((e.span.end as usize) <= text.len());
        }
    }

    #[test]
    fn mutated_programs_never_panic(cuts in proptest::collection::vec((0usize..2000, 0usize..8, "[a-z0-9{}()\\[\\]=,.\"/ \n*+-]{0,6}"), 1..6)) {
        let text = mutate(SPEC, &cuts);
        let parsed = parse_file(&text);
        for e in &parsed.errors {
            prop_assert!((e.span.end as usize) <= text.len());
        }
    }
}
