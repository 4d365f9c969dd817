//! The compiler's own fixes: each kind of error a model's program has,
//! fixed by `phx_db::fixes::repair` to a program that checks clean.

use std::collections::BTreeMap;

use phx_db::fixes::repair;
use phx_db::{Database, MapLoader};

fn errors(text: &str) -> Vec<String> {
    let mut db = Database::new();
    let file = db.set_file("/t/p.phx", text.to_string());
    db.diagnostics(file)
        .iter()
        .filter(|d| d.severity == phx_diagnostics::Severity::Error)
        .map(|d| format!("{}: {}", d.code.as_str(), d.message))
        .collect()
}

fn repaired(text: &str) -> phx_db::fixes::Repaired {
    let files = BTreeMap::new();
    repair("/t/p.phx", text, &MapLoader(&files), 30)
}

#[test]
fn each_kind_of_error_is_fixed() {
    let cases = [
        // did you mean (a node, an argument, a tool)
        (
            "node density = quantum.orbital(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\nnode slice = plot.heatmap(field = densty.density) {\n  emit = [static]\n}\n",
            "phx::unknown-name",
        ),
        ("node d = quantum.orbital(n = 1, l = 0, m = 0, gird = 32) {\n  emit = [static]\n}\n", "phx::unknown-arg"),
        ("node d = quantum.orbitl(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\n", "phx::unknown-tool"),
        // a missing emit
        ("node d = quantum.orbital(n = 1, l = 0, m = 0)\n", "phx::missing-emit"),
        // a cap, a where
        ("node d = quantum.orbital(n = 1, l = 0, m = 0, grid = 500) {\n  emit = [static]\n}\n", "phx::cap-exceeded"),
        ("node d = quantum.orbital(n = 1, l = 1, m = 0) {\n  emit = [static]\n}\n", "phx::constraint"),
        // Two conditions that hang together: `l` first, then `m`.
        ("node d = quantum.orbital(n = 1, l = 1, m = 1) {\n  emit = [static]\n}\n", "phx::constraint"),
        (
            "node d = quantum.orbital(n = 2, l = 1, m = 0) {\n  emit = [static]\n}\nnode s = plot.heatmap(field = d.density, plane = \"xq\") {\n  emit = [static]\n}\n",
            "phx::constraint",
        ),
        // units: a plain number for a length, a length for a plain number
        ("node d = quantum.orbital(n = 1, l = 0, m = 0, extent = 20) {\n  emit = [static]\n}\n", "phx::unit-mismatch"),
        (
            "fn v(x: Float) -> Float {\n  x * x\n}\nnode e = quantum.eigen1d(potential = v, x_min = -5 bohr, x_max = 5 bohr) {\n  emit = [static]\n}\n",
            "phx::unit-mismatch",
        ),
        // an emit the tool lacks
        (
            "node d = quantum.orbital(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\nnode s = plot.heatmap(field = d.density) {\n  emit = [static, series]\n}\n",
            "phx::unsupported-emit",
        ),
        // a repeated node, a renamed duplicate
        (
            "node d = quantum.orbital(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\nnode d = quantum.orbital(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\n",
            "phx::duplicate-name",
        ),
        (
            "node d = quantum.orbital(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\nnode d = plot.heatmap(field = d.density) {\n  emit = [static]\n}\n",
            "phx::duplicate-name",
        ),
        // types: the wrong output, an unknown node, an unknown fn
        (
            "node d = quantum.orbital(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\nnode s = plot.heatmap(field = d.radial) {\n  emit = [static]\n}\n",
            "phx::type-mismatch",
        ),
        (
            "node d = quantum.orbital(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\nnode s = plot.heatmap(field = orbital.density) {\n  emit = [static]\n}\n",
            "phx::unknown-name",
        ),
        (
            "fn harmonic(x: Float) -> Float {\n  x * x\n}\nnode e = quantum.eigen1d(potential = q, x_min = -5.0, x_max = 5.0) {\n  emit = [static]\n}\n",
            "phx::unknown-name",
        ),
        // a required argument left out
        ("node d = quantum.orbital(n = 1, l = 0) {\n  emit = [static]\n}\n", "phx::missing-arg"),
        (
            "node t = data.load_csv(path = \"a.csv\") {\n  emit = [static]\n}\nnode f = data.fft(column = \"y\") {\n  emit = [static]\n}\n",
            "phx::missing-arg",
        ),
    ];
    for (text, code) in cases {
        let before = errors(text);
        assert!(
            before.iter().any(|e| e.starts_with(code)),
            "the case for {code} has no such error: {before:?}\n{text}"
        );
        let r = repaired(text);
        assert_eq!(r.errors, 0, "{code}: not fixed: {:?}\n{}\napplied {:?}", errors(&r.text), r.text, r.applied);
        assert!(errors(&r.text).is_empty());
        assert!(!r.applied.is_empty() && r.applied.iter().any(|a| a.contains(code)), "{code}: {:?}", r.applied);
    }
}

#[test]
fn what_the_compiler_cannot_fix_is_left_alone() {
    // A syntax error and a value of the wrong type are the model's to fix.
    for text in [
        "node d = quantum.orbital(n = 1, l = 0, m = 0 {\n",
        "node d = quantum.orbital(n = \"one\", l = 0, m = 0) {\n  emit = [static]\n}\n",
    ] {
        let r = repaired(text);
        assert_eq!(r.text, text);
        assert!(r.applied.is_empty() && r.errors > 0);
    }
}
