use super::*;

fn fmt(s: &str) -> String {
    format_source(s).expect("parses")
}

#[test]
fn formats_the_spec_program_idempotently() {
    let src = include_str!("../../../examples/hydrogen_2p.phx");
    let once = fmt(src);
    assert_eq!(fmt(&once), once);
    assert_eq!(once, src, "the spec's own program is already in canonical form");
}

#[test]
fn keeps_every_comment() {
    let src = "// head\nparam a: Int = 1 // trailing\n\n/// doc\nnode n = t.x(a = 1, // inside\n b = 2) {\n  // in block\n  emit = [static]\n}\n// tail\n";
    let out = fmt(src);
    for c in ["// head", "// trailing", "/// doc", "// inside", "// in block", "// tail"] {
        assert!(out.contains(c), "lost {c}:\n{out}");
    }
    assert_eq!(fmt(&out), out);
}

#[test]
fn normalises_spacing() {
    assert_eq!(fmt("let   x=1+2*3\n"), "let x = 1 + 2 * 3\n");
    assert_eq!(
        fmt("node a=t.x(b=1){emit=[static],device=[gpu,cpu]}"),
        "node a = t.x(b = 1) {\n  emit   = [static]\n  device = [gpu, cpu]\n}\n"
    );
}

#[test]
fn indexing_a_number_keeps_its_meaning() {
    // A comment and a newline between a number and `[` make an index, not a
    // quantity; printing must not turn it into `9.81[m / s]`.
    let out = fmt("let g = 9.81 // c\n[m / s]\n");
    assert!(out.contains("(9.81)[m / s]"), "{out}");
    assert_eq!(fmt(&out), out);
    assert_eq!(fmt("let g = 9.81 [m/s^2]\n"), "let g = 9.81 [m/s^2]\n");
}
