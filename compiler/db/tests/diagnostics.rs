//! Every diagnostic code: a program that must raise it, a near-miss that
//! must not, and a snapshot of the rendered message.

mod common;

use common::{check, check_with, render};
use phx_diagnostics::Code;

const ORBITAL: &str = "quantum.orbital(n = 2, l = 1, m = 0)";

struct Case {
    code: Code,
    name: &'static str,
    bad: String,
    near_miss: String,
}

fn case(code: Code, name: &'static str, bad: &str, near_miss: &str) -> Case {
    Case { code, name, bad: bad.to_string(), near_miss: near_miss.to_string() }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            Code::Syntax,
            "syntax",
            "node a = quantum.orbital(n = 2 l = 1, m = 0) {\n  emit = [static]\n}\n",
            "node a = quantum.orbital(n = 2, l = 1, m = 0) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::UnknownName,
            "unknown_name",
            "param level: Int = 2\nnode a = quantum.orbital(n = levl, l = 1, m = 0) {\n  emit = [static]\n}\n",
            "param level: Int = 2\nnode a = quantum.orbital(n = level, l = 1, m = 0) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::DuplicateName,
            "duplicate_name",
            "param grid: Int = 64\nparam grid: Int = 96\nnode a = quantum.orbital(n = 2, l = 1, m = 0, grid = grid) {\n  emit = [static]\n}\n",
            "param grid: Int = 64\nparam grid2: Int = 96\nnode a = quantum.orbital(n = 2, l = 1, m = 0, grid = grid + grid2 - 96) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::UnknownTool,
            "unknown_tool",
            "node a = quantum.orbitl(n = 2, l = 1, m = 0) {\n  emit = [static]\n}\n",
            &format!("node a = {ORBITAL} {{\n  emit = [static]\n}}\n"),
        ),
        case(
            Code::UnknownArg,
            "unknown_arg",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, extnt = 24 bohr) {\n  emit = [static]\n}\n",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, extent = 24 bohr) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::MissingArg,
            "missing_arg",
            "node a = quantum.orbital(l = 1, m = 0) {\n  emit = [static]\n}\n",
            &format!("node a = {ORBITAL} {{\n  emit = [static]\n}}\n"),
        ),
        case(
            Code::TypeMismatch,
            "type_mismatch",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, grid = \"fine\") {\n  emit = [static]\n}\n",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, grid = 96) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::UnitMismatch,
            "unit_mismatch",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, extent = 3 eV) {\n  emit = [static]\n}\n",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, extent = 3 angstrom) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::Constraint,
            "constraint",
            "node a = quantum.orbital(n = 2, l = 2, m = 0) {\n  emit = [static]\n}\n",
            "node a = quantum.orbital(n = 3, l = 2, m = 0) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::CapExceeded,
            "cap_exceeded",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, grid = 200) {\n  emit = [static]\n}\n",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, grid = 200) {\n  emit        = [static]\n  allow_large = true\n}\n",
        ),
        case(
            Code::MissingEmit,
            "missing_emit",
            &format!("node a = {ORBITAL}\n"),
            &format!("node a = {ORBITAL} {{\n  emit = [series]\n}}\n"),
        ),
        case(
            Code::UnsupportedEmit,
            "unsupported_emit",
            "node a = quantum.eigen1d(potential = v, x_min = -5.0, x_max = 5.0) {\n  emit = [static, animation]\n}\nfn v(x: Float) -> Float { x * x }\n",
            "node a = quantum.eigen1d(potential = v, x_min = -5.0, x_max = 5.0) {\n  emit = [static, series]\n}\nfn v(x: Float) -> Float { x * x }\n",
        ),
        case(
            Code::UnsupportedDevice,
            "unsupported_device",
            "node a = data.load_csv(path = \"x.csv\") {\n  emit   = [series]\n  device = [gpu]\n}\n",
            "node a = data.load_csv(path = \"x.csv\") {\n  emit   = [series]\n  device = [cpu]\n}\n",
        ),
        case(
            Code::UnknownOutput,
            "unknown_output",
            &format!(
                "node a = {ORBITAL} {{\n  emit = [series]\n}}\nnode b = plot.heatmap(field = a.densty) {{\n  emit = [static]\n}}\n"
            ),
            &format!(
                "node a = {ORBITAL} {{\n  emit = [series]\n}}\nnode b = plot.heatmap(field = a.density) {{\n  emit = [static]\n}}\n"
            ),
        ),
        case(
            Code::Cycle,
            "cycle",
            "node a = plot.contact_sheet(images = [c.image]) {\n  emit = [static]\n}\nnode b = plot.contact_sheet(images = [a.image]) {\n  emit = [static]\n}\nnode c = plot.contact_sheet(images = [b.image]) {\n  emit = [static]\n}\n",
            "node a = plot.contact_sheet(images = []) {\n  emit = [static]\n}\nnode b = plot.contact_sheet(images = [a.image]) {\n  emit = [static]\n}\nnode c = plot.contact_sheet(images = [b.image]) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::NotVisual,
            "not_visual",
            &format!("node a = {ORBITAL} {{\n  emit = [series]\n}}\nreport r {{\n  figure a\n}}\n"),
            &format!("node a = {ORBITAL} {{\n  emit = [series, static]\n}}\nreport r {{\n  figure a\n}}\n"),
        ),
        case(
            Code::Import,
            "import",
            "import \"missing.phx\" as lib\nnode a = quantum.orbital(n = 2, l = 1, m = 0, grid = lib.grid) {\n  emit = [static]\n}\n",
            "import \"lib.phx\" as lib\nnode a = quantum.orbital(n = 2, l = 1, m = 0, grid = lib.grid) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::AllowLarge,
            "allow_large",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, grid = 200) {\n  emit        = [static]\n  allow_large = true\n}\n",
            "node a = quantum.orbital(n = 2, l = 1, m = 0, grid = 160) {\n  emit        = [static]\n  allow_large = true\n}\n",
        ),
        case(
            Code::Unused,
            "unused",
            &format!("let spare = 3\nnode a = {ORBITAL} {{\n  emit = [static]\n}}\n"),
            "let spare = 3\nnode a = quantum.orbital(n = spare, l = 1, m = 0) {\n  emit = [static]\n}\n",
        ),
        case(
            Code::RawPlaceholder,
            "raw_placeholder",
            "tool lab.say(words: String) -> (said: File) {\n  run = \"echo {words:raw} > {said}\"\n}\n\nnode a = lab.say(words = \"hi\")\n",
            "tool lab.say(words: String) -> (said: File) {\n  run = \"echo {words} > {said}\"\n}\n\nnode a = lab.say(words = \"hi\")\n",
        ),
    ]
}

const LIB: (&str, &str) = ("lib.phx", "let grid = 64\n");

#[test]
fn every_code_is_raised_and_near_misses_are_clean() {
    let mut covered = Vec::new();
    for c in cases() {
        let (_, bad) = check_with(&c.bad, &[LIB]);
        let hits: Vec<_> = bad.iter().filter(|d| d.code == c.code).cloned().collect();
        assert!(!hits.is_empty(), "{}: expected {} in\n{}\ngot {:#?}", c.name, c.code, c.bad, bad);
        for d in &hits {
            assert!(!d.message.is_empty());
            assert!(d.span.end as usize <= c.bad.len(), "{}: span out of range", c.name);
        }
        let (_, near) = check_with(&c.near_miss, &[LIB]);
        let errors: Vec<_> = near.iter().filter(|d| d.code == c.code || d.is_error()).collect();
        assert!(errors.is_empty(), "{}: the near-miss raised {:#?}\n{}", c.name, errors, c.near_miss);
        insta::assert_snapshot!(c.name, render(&hits, &c.bad));
        covered.push(c.code);
    }
    for code in Code::ALL {
        // device-fallback is a run-time warning; the runtime tests it.
        if code != Code::DeviceFallback {
            assert!(covered.contains(&code), "no test case for {code}");
        }
    }
}

#[test]
fn three_ev_as_a_length_names_both_dimensions() {
    let d = check("node a = quantum.orbital(n = 2, l = 1, m = 0, extent = 3 eV) {\n  emit = [static]\n}\n");
    let m = &d.iter().find(|d| d.code == Code::UnitMismatch).expect("unit mismatch").message;
    assert!(m.contains("Length") && m.contains("Energy"), "{m}");
}

#[test]
fn a_syntax_error_does_not_hide_other_items() {
    let text = "node a = quantum.orbital(n = 2 l = 1) {\n  emit = [static]\n}\n\nnode b = quantum.orbitl(n = 1, l = 0, m = 0) {\n  emit = [static]\n}\n\nparam p: Length = 2 eV\n";
    let d = check(text);
    let codes: Vec<Code> = d.iter().map(|d| d.code).collect();
    assert!(codes.contains(&Code::Syntax), "{codes:?}");
    assert!(codes.contains(&Code::UnknownTool), "{codes:?}");
    assert!(codes.contains(&Code::UnitMismatch), "{codes:?}");
}

#[test]
fn import_cycles_are_reported() {
    let (_, d) = check_with(
        "import \"a.phx\" as a\nlet x = a.y\nnode n = quantum.orbital(n = x, l = 0, m = 0) {\n  emit = [static]\n}\n",
        &[("a.phx", "import \"main.phx\" as m\nlet y = 1\n")],
    );
    assert!(d.iter().any(|d| d.code == Code::Import && d.message.contains("cycle")), "{d:#?}");
}

#[test]
fn let_cycles_are_reported_not_looped() {
    let d =
        check("let a = b + 1\nlet b = a + 1\nnode n = quantum.orbital(n = a, l = 0, m = 0) {\n  emit = [static]\n}\n");
    assert!(d.iter().any(|d| d.code == Code::Cycle), "{d:#?}");
}

#[test]
fn recursion_in_fn_is_refused() {
    let d = check("fn f(x: Float) -> Float { f(x) }\nnode n = cas.solve(f = f, lo = 0.0, hi = 1.0)\n");
    assert!(d.iter().any(|d| d.code == Code::Cycle && d.message.contains("recurs")), "{d:#?}");
}

#[test]
fn did_you_mean_on_misspelt_tool_argument_output_and_name() {
    let d = check(
        "param grid: Int = 64\nnode a = quantum.orbitl(n = 2, l = 1, m = 0) {\n  emit = [static]\n}\nnode b = quantum.orbital(n = 2, l = 1, m = 0, gird = grid) {\n  emit = [static]\n}\nnode c = plot.heatmap(field = b.densty) {\n  emit = [static]\n}\nnode e = quantum.orbital(n = 2, l = 1, m = 0, grid = gridd) {\n  emit = [static]\n}\n",
    );
    let helps: Vec<String> = d.iter().filter_map(|d| d.help.clone()).collect();
    for want in ["did you mean `quantum.orbital`?", "did you mean `grid`?", "did you mean `density`?"] {
        assert!(helps.iter().any(|h| h == want), "missing {want}: {helps:#?}");
    }
}

#[test]
fn cap_help_gives_the_allowed_range() {
    let d = check("node a = quantum.orbital(n = 2, l = 1, m = 0, grid = 161) {\n  emit = [static]\n}\n");
    let cap = d.iter().find(|d| d.code == Code::CapExceeded).expect("cap");
    assert!(cap.help.as_deref().unwrap_or("").contains("grid <= 160"), "{cap:#?}");
    assert!(cap.message.contains("161"));
}

#[test]
fn cycle_message_names_every_node_in_order() {
    let text = "node a = plot.contact_sheet(images = [c.image]) {\n  emit = [static]\n}\nnode b = plot.contact_sheet(images = [a.image]) {\n  emit = [static]\n}\nnode c = plot.contact_sheet(images = [b.image]) {\n  emit = [static]\n}\n";
    let d = check(text);
    let cyc = d.iter().find(|d| d.code == Code::Cycle).expect("cycle");
    assert!(cyc.message.contains("a -> b -> c -> a"), "{}", cyc.message);
    assert_eq!(cyc.related.len(), 2, "b and c are related locations");
}

#[test]
fn set_overrides_are_type_and_unit_checked() {
    use std::collections::BTreeMap;
    let text = "param extent: Length = 24 bohr\nnode a = quantum.orbital(n = 2, l = 1, m = 0, extent = extent) {\n  emit = [static]\n}\n";
    for (value, ok) in [("30 bohr", true), ("2 nm", true), ("3 eV", false), ("\"far\"", false), ("1 +", false)] {
        let mut db = phx_db::Database::new();
        db.set_overrides(BTreeMap::from([("extent".to_string(), value.to_string())]));
        let f = db.set_file("main.phx", text.to_string());
        let errors = db.check(f).diagnostics.iter().filter(|d| d.is_error()).count();
        assert_eq!(errors == 0, ok, "--set extent={value}");
    }
}

#[test]
fn libraries_do_not_warn_about_unused_items() {
    let d = check("/// A library: nothing here is used locally.\nlet grid = 64\nfn f(x: Float) -> Float { x }\n");
    assert!(d.is_empty(), "{d:#?}");
}
