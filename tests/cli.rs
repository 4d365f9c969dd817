//! End-to-end tests: the real `phx` binary on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

fn phx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("phx runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("phx-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn examples() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("examples")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "phx"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_checks_clean() {
    let all = examples();
    assert!(all.len() >= 6, "{all:?}");
    for ex in all {
        let o = phx(&["check", &ex, "--format", "json"]);
        let doc: serde_json::Value =
            serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{ex}: {e}\n{}", stdout(&o)));
        let diags = doc["diagnostics"].as_array().unwrap();
        let errors: Vec<_> = diags.iter().filter(|d| d["severity"] == "error").collect();
        assert!(errors.is_empty(), "{ex}: {errors:#?}");
        assert_eq!(o.status.code(), Some(0), "{ex}");
        // Only the example that lifts caps on purpose may warn, and only so.
        for d in diags {
            assert_eq!(d["code"], "phx::allow-large", "{ex}: {d}");
            assert!(ex.ends_with("wavepacket.phx"));
        }
        assert!(doc["nodes"].as_u64().unwrap() >= 3, "{ex}");
    }
}

#[test]
fn examples_use_every_construct() {
    let all: String = examples().iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    for construct in [
        "experiment ",
        "param ",
        "let ",
        "fn ",
        "tool ",
        "node ",
        "report ",
        "import ",
        "section ",
        "text ",
        "figure ",
        "table ",
        " in ",
        "[*]",
        "linspace(",
        "..=",
        "allow_large",
        "run ",
        "\"\"\"",
        "after ",
        "constants.",
        "[m",
        "resources",
        "backend",
        "if ",
    ] {
        assert!(all.contains(construct), "no example uses `{construct}`");
    }
}

fn spec_programs() -> Vec<String> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src/spec/language.md");
    let text =
        std::fs::read_to_string(&spec).unwrap_or_else(|e| panic!("the spec at {} is needed: {e}", spec.display()));
    text.split("```phx\n").skip(1).map(|b| b.split("```").next().unwrap().to_string()).collect()
}

#[test]
fn the_spec_examples_check_clean() {
    let programs = spec_programs();
    assert!(programs.len() >= 2);
    for (i, p) in programs.iter().enumerate() {
        let f = tmp(&format!("spec{i}.phx"), p);
        let o = phx(&["check", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "spec example {i}:\n{}{}", stdout(&o), stderr(&o));
    }
    // The first program is examples/hydrogen_2p.phx, word for word.
    assert_eq!(programs[0], std::fs::read_to_string("examples/hydrogen_2p.phx").unwrap());
}

#[test]
fn check_json_has_the_spec_shape_and_exit_code() {
    let f = tmp(
        "bad.phx",
        "param extent: Length = 3 eV\nnode a = quantum.orbital(n = 2, l = 1, m = 0, extent = extent) {\n  emit = [static]\n}\n",
    );
    let o = phx(&["check", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let d = &doc["diagnostics"][0];
    for key in ["code", "severity", "message", "file", "line", "column", "end_line", "end_column", "help"] {
        assert!(d.get(key).is_some(), "missing {key}: {d}");
    }
    assert_eq!(d["code"], "phx::unit-mismatch");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(1), Some(24)));
    assert_eq!((d["end_line"].as_u64(), d["end_column"].as_u64()), (Some(1), Some(28)));
    assert_eq!(doc["nodes"], 1);
    assert_eq!(doc["edges"], 0);
}

#[test]
fn check_text_renders_source_underline_code_and_help() {
    let f = tmp("typo.phx", "node a = quantum.orbitl(n = 2, l = 1, m = 0) {\n  emit = [static]\n}\n");
    let o = phx(&["check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("phx::unknown-tool"), "{err}");
    assert!(err.contains("node a = quantum.orbitl"), "{err}");
    assert!(err.contains("──────"), "{err}");
    assert!(err.contains("did you mean `quantum.orbital`?"), "{err}");
}

#[test]
fn columns_count_characters_not_bytes() {
    let f = tmp("utf8.phx", "/// Ångström and ψ in a doc comment.\nlet greeting = \"ψψψ\" + unknown\n");
    let o = phx(&["check", f.to_str().unwrap(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let d = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "phx::unknown-name").unwrap().clone();
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(2), Some(24)));
}

#[test]
fn fmt_check_and_rewrite() {
    let f = tmp("fmt.phx", "param   grid:Int=64\nnode a=quantum.orbital(n=2,l=1,m=0,grid=grid){emit=[static]}\n");
    let path = f.to_str().unwrap();
    assert_eq!(phx(&["fmt", "--check", path]).status.code(), Some(1));
    assert_eq!(phx(&["fmt", path]).status.code(), Some(0));
    assert_eq!(phx(&["fmt", "--check", path]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "param grid: Int = 64\n\nnode a = quantum.orbital(n = 2, l = 1, m = 0, grid = grid) {\n  emit = [static]\n}\n"
    );
    let broken = tmp("broken.phx", "node a = (\n");
    let before = std::fs::read_to_string(&broken).unwrap();
    assert_eq!(phx(&["fmt", broken.to_str().unwrap()]).status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), before, "a file with syntax errors is left alone");
}

#[test]
fn graph_in_every_format() {
    let ex = "examples/hydrogen_2p.phx";
    let dot = stdout(&phx(&["graph", ex, "--format", "dot"]));
    assert!(dot.starts_with("digraph phx {") && dot.contains("\"density\" -> \"slice\""), "{dot}");
    let mermaid = stdout(&phx(&["graph", ex, "--format", "mermaid"]));
    assert!(mermaid.starts_with("flowchart LR") && mermaid.contains("density -->|density| slice"), "{mermaid}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&phx(&["graph", ex, "--format", "json"]))).unwrap();
    assert_eq!(json["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(json["edges"].as_array().unwrap().len(), 2);
    assert_eq!(json["nodes"][0]["static_key"].as_str().unwrap().len(), 64);
    let svg = stdout(&phx(&["graph", ex, "--format", "svg"]));
    assert!(svg.starts_with("<svg") && svg.contains("quantum.orbital") && svg.trim_end().ends_with("</svg>"));
    let png = tmp("g.png", "");
    assert_eq!(phx(&["graph", ex, "--format", "png", "-o", png.to_str().unwrap()]).status.code(), Some(0));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 2000, "the PNG has content");
}

#[test]
fn set_overrides_change_the_dag() {
    let key = |args: &[&str]| -> String {
        let mut all = vec!["graph", "examples/hydrogen_2p.phx", "--format", "json"];
        all.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&stdout(&phx(&all))).unwrap();
        v["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "density").unwrap()["static_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(key(&[]), key(&["--set", "grid=128"]));
    assert_eq!(key(&[]), key(&["--set", "grid=96"]));
    let o = phx(&["check", "examples/hydrogen_2p.phx", "--set", "grid=\"big\""]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = phx(&["check", "examples/hydrogen_2p.phx", "--set", "gird=10"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("did you mean `grid`?"), "{}", stderr(&o));
    let o = phx(&["check", "examples/hydrogen_2p.phx", "--set", "grid=200"]);
    assert_eq!(o.status.code(), Some(1), "a cap");
    let o = phx(&["check", "examples/hydrogen_2p.phx", "--set", "grid=200", "--allow-large"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("phx::allow-large"));
}

#[test]
fn schema_formats() {
    let json: serde_json::Value = serde_json::from_str(&stdout(&phx(&["schema", "--format", "json"]))).unwrap();
    let tools = json["tools"].as_array().unwrap();
    let stdlib_spec =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src/spec/stdlib.md")).unwrap();
    let named: Vec<&str> =
        stdlib_spec.lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|l| l.split('`').next()).collect();
    assert_eq!(named.len(), 25);
    for n in &named {
        assert!(tools.iter().any(|t| t["name"] == *n), "the stdlib spec's `{n}` is not declared");
    }
    assert_eq!(tools.len(), named.len());
    let md = stdout(&phx(&["schema", "--format", "md"]));
    for t in tools {
        assert!(md.contains(&format!("## `{}`", t["name"].as_str().unwrap())));
    }
    let llm = stdout(&phx(&["schema", "--format", "llm"]));
    assert!(llm.len() < 24_000, "the llm form must fit a prompt: {} bytes", llm.len());
    assert!(llm.contains("experiment hydrogen_2p") && llm.contains("experiment harmonic_scan"));
    assert!(
        llm.contains("quantum.orbital(n: Int, l: Int, m: Int, Z: Int = 1, grid: Int = 64, extent: Length = 20 bohr)")
    );
    let one: serde_json::Value =
        serde_json::from_str(&stdout(&phx(&["schema", "quantum.orbital", "--format", "json"]))).unwrap();
    assert_eq!(one["emits"], serde_json::json!(["static", "series", "animation"]));
    let o = phx(&["schema", "quantum.orbitl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("did you mean `quantum.orbital`?"));
}

#[test]
fn export_then_import_gives_the_same_dag() {
    for ex in ["examples/hydrogen_2p.phx", "examples/orbitals_sweep.phx", "examples/md_lab.phx"] {
        let json = stdout(&phx(&["export", "--json", ex]));
        let jf = tmp("dag.json", &json);
        let out = tmp("imported.phx", "");
        let o = phx(&["import", jf.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let keys = |p: &str| -> Vec<(String, String)> {
            let v: serde_json::Value = serde_json::from_str(&stdout(&phx(&["graph", p, "--format", "json"]))).unwrap();
            v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| (n["id"].as_str().unwrap().to_string(), n["static_key"].as_str().unwrap().to_string()))
                .collect()
        };
        assert_eq!(keys(ex), keys(out.to_str().unwrap()), "{ex}");
    }
    let bad = tmp("bad.json", "{\"nodes\": [{\"id\": 3}]}");
    let o = phx(&["import", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("$.nodes[0].id"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(phx(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(phx(&["check"]).status.code(), Some(2));
    assert_eq!(phx(&["check", "does-not-exist.phx"]).status.code(), Some(2));
    assert_eq!(phx(&["check", "examples/hydrogen_2p.phx", "--set", "novalue"]).status.code(), Some(2));
    assert_eq!(phx(&["graph", "examples/hydrogen_2p.phx", "--format", "pdf"]).status.code(), Some(2));
}

#[test]
fn garbage_input_is_an_error_not_a_crash() {
    let mut bytes = b"node a = \xff\xfe\x00 quantum.orbital(".to_vec();
    bytes.extend(std::iter::repeat_n(b'(', 50_000));
    let dir = std::env::temp_dir().join(format!("phx-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("garbage.phx");
    std::fs::write(&p, &bytes).unwrap();
    for cmd in [vec!["check"], vec!["fmt", "--check"], vec!["graph"], vec!["export", "--json"]] {
        let mut args = cmd.clone();
        args.push(p.to_str().unwrap());
        let o = phx(&args);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{cmd:?}");
    }
}

#[test]
fn png_of_a_huge_graph_is_refused_with_a_reason() {
    let f = tmp(
        "huge.phx",
        "node s[i in 0..3000] = quantum.orbital(n = 2, l = 1, m = 0, grid = 32 + i % 64) {\n  emit = [static]\n}\n",
    );
    let out = tmp("huge.png", "");
    let o = phx(&["graph", f.to_str().unwrap(), "--format", "png", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("too large for a legible PNG"), "{}", stderr(&o));
    let svg = phx(&["graph", f.to_str().unwrap(), "--format", "svg"]);
    assert_eq!(svg.status.code(), Some(0));
    assert_eq!(stdout(&svg).matches("<g><title>").count(), 3000);
}

#[test]
fn a_plan_is_summarised_by_sweep_and_lists_instances_on_request() {
    let f = tmp(
        "plan.phx",
        "node o = quantum.orbital(n = 2, l = 1, m = 0, grid = 8) {\n  emit = [series]\n}\n\nnode s[i in 0..3000] = plot.heatmap(field = o.density, resolution = 8 + i % 8) {\n  emit = [static]\n}\n\nnode sheet = plot.contact_sheet(images = s[*].image) {\n  emit = [static]\n}\n",
    );
    let o = phx(&["run", f.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "one line per sweep, not per instance: {out}");
    assert!(lines[0].starts_with("o ") && lines[0].contains("would run (it has never run before)"), "{out}");
    assert!(
        lines[1].starts_with("s[0..3000]")
            && lines[1].contains("3,000 would run (its input `o` will be recomputed first; it has never run before)"),
        "{out}"
    );
    assert!(lines[2].starts_with("sheet") && lines[2].contains("would run (its inputs"), "{out}");
    assert!(lines[3].starts_with("plan: 3,002 would run, 0 cached"), "{out}");
    assert!(!stderr(&o).contains("would run"), "{}", stderr(&o));
    // `--verbose`: every instance, as it is decided.
    let v = phx(&["run", f.to_str().unwrap(), "--dry-run", "--verbose"]);
    assert_eq!(stderr(&v).matches("would run s[").count(), 3000);
    // JSON lists every instance too, and folds nothing.
    let j = phx(&["run", f.to_str().unwrap(), "--dry-run", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&j)).unwrap();
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 3002);
    assert!(doc.get("families").is_none(), "{}", doc.get("families").unwrap());
}

#[test]
fn a_folded_plan_still_names_the_instances_that_cannot_run() {
    let dir = common::fresh_dir("cli", "fold");
    for name in ["a.txt", "b.txt", "c.txt"] {
        std::fs::write(dir.join(name), name).unwrap();
    }
    // A folder where a file is named: found (so the run is admitted) but
    // not readable as a file, so that one instance fails in the plan.
    std::fs::create_dir(dir.join("folder.txt")).unwrap();
    std::fs::write(
        dir.join("f.phx"),
        "tool lab.cat(f: File) -> (out: File) {\n  run = \"cat {f} > {out}\"\n}\n\nnode t[f in [\"a.txt\", \"folder.txt\", \"b.txt\", \"c.txt\"]] = lab.cat(f = f)\n",
    )
    .unwrap();
    let f = dir.join("f.phx");
    let o = phx(&["run", f.to_str().unwrap(), "--dry-run"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "a plan with a node that cannot run fails: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("t[0..4]")
            && lines[0].contains("3 would run (it has never run before)")
            && lines[0].contains("1 failed"),
        "{out}"
    );
    assert!(lines[1].starts_with("plan: 3 would run, 0 cached"), "{out}");
    // The run itself: three succeed, the folder fails its instance.
    let run = phx(&["run", f.to_str().unwrap(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&run)).unwrap();
    let failed: Vec<&str> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "failed")
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["t[1]"]);
    // The command read the literal file where it was staged.
    let out = std::fs::read_dir(dir.join("results/t/0")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read_to_string(out).unwrap(), "a.txt");
    // Re-planned: three cached, the failed one listed with its reason.
    let again = stdout(&phx(&["run", f.to_str().unwrap(), "--dry-run"]));
    assert!(again.contains("3 cached") && again.contains("1 failed"), "{again}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_large_run_at_the_terminal_counts_its_sweep_and_names_what_failed() {
    // 300 instances: past the size where a run's summary is a table, so
    // the instances that went well are counted, not kept one by one.
    let dir = common::fresh_dir("cli", "large-run");
    let f = dir.join("f.phx");
    let program = |n: usize| {
        format!(
            "tool lab.touch(i: Int) -> (out: File) {{\n  run = \"test {{i}} -ne 7 && echo {{i}} > {{out}}\"\n}}\n\n\
             tool lab.count(parts: List[File]) -> (total: Int) {{\n  run = \"cat {{parts}} | wc -l > {{total}}\"\n}}\n\n\
             node t[i in 0..{n}] = lab.touch(i = i)\n\nnode all = lab.count(parts = t[*].out)\n"
        )
    };
    std::fs::write(&f, program(300)).unwrap();
    let o = phx(&["run", f.to_str().unwrap(), "--jobs", "2"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("t[0..300]") && lines[0].contains("299 ran (it has never run before), 1 failed"),
        "{out}"
    );
    assert!(lines[1].starts_with("all") && lines[1].contains("skipped"), "{out}");
    assert!(lines[2].contains("failed t[7]: the command exited with 1"), "{out}");
    assert!(lines[3].contains("skipped all: its input `t[7]` did not succeed"), "{out}");
    assert!(out.contains(": failed in ") && out.contains("299 ran, 0 cached, 1 failed, 1 skipped"), "{out}");
    assert!(out.contains("results/ (299 files by name)"), "{out}");
    // Its log counts the sweep instead of two lines an instance; the
    // failure has its own line at once.
    let log = stderr(&o);
    assert!(!log.contains("start     t[") && !log.contains("done      t["), "{log}");
    assert!(log.contains("t[*]: 300 of 300 done (0 cached, 1 failed)"), "{log}");
    assert!(log.contains("failed    t[7] (lab.touch)"), "{log}");
    assert!(log.contains("start     all (lab.count)") || log.contains("skipped   all"), "{log}");
    assert_eq!(std::fs::read_to_string(dir.join("results/t/299/out.txt")).unwrap().trim(), "299");
    assert!(!dir.join("results/t/7").exists());
    // Again: what succeeded comes from the cache, the failure is listed again.
    let again = stdout(&phx(&["run", f.to_str().unwrap()]));
    assert!(again.lines().next().unwrap().contains("299 cached, 1 failed"), "{again}");
    assert!(again.contains("0 ran, 299 cached, 1 failed"), "{again}");
    // JSON lists every instance, each with its place in results/.
    let j = phx(&["run", f.to_str().unwrap(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&j)).unwrap();
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 301);
    assert!(doc.get("families").is_none());
    assert_eq!(doc["placed_results"], 299);
    let t5 = nodes.iter().find(|n| n["id"] == "t[5]").unwrap();
    assert_eq!(t5["outputs"]["out"]["result"], "results/t/5/out.txt");
    // `--verbose`: every instance on its own line, as before.
    let verbose = phx(&["run", f.to_str().unwrap(), "--verbose"]);
    assert_eq!(stderr(&verbose).matches("cached    t[").count(), 299, "{}", stderr(&verbose));
    // Shortened, still failing: nothing is pruned by a run that failed.
    std::fs::write(&f, program(280)).unwrap();
    let shortened = stdout(&phx(&["run", f.to_str().unwrap()]));
    assert!(shortened.contains(": failed in "), "{shortened}");
    assert!(dir.join("results/t/290/out.txt").is_file(), "a failed run prunes nothing");
    // Shortened and mended: the instances it no longer has leave results/.
    std::fs::write(&f, program(250).replace("test {i} -ne 7 && ", "")).unwrap();
    let mended = stdout(&phx(&["run", f.to_str().unwrap()]));
    let first = mended.lines().next().unwrap();
    assert!(first.contains("249 ran (the implementation of lab.touch changed"), "{mended}");
    assert!(first.contains("1 ran (it has never run before)"), "the one that failed: {mended}");
    assert!(mended.contains(": succeeded in "), "{mended}");
    assert!(mended.contains("results/ (251 files by name)"), "{mended}");
    assert!(dir.join("results/t/249/out.txt").is_file() && !dir.join("results/t/250").exists());
    assert_eq!(std::fs::read_to_string(dir.join("results/all/total.txt")).unwrap().trim(), "250");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_streamed_run_lists_a_vertex_whose_results_could_not_be_placed() {
    let dir = common::fresh_dir("cli", "unplaced");
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    let f = dir.join("f.phx");
    std::fs::write(
        &f,
        "tool lab.touch(i: Int) -> (out: File) {\n  run = \"echo {i} > {out}\"\n}\n\nnode t[i in 0..3] = lab.touch(i = i)\n",
    )
    .unwrap();
    // `results/t/1` is a link to a folder of someone else's: refused.
    std::fs::create_dir_all(dir.join("results/t")).unwrap();
    std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("results/t/1")).unwrap();
    let o = phx(&["run", f.to_str().unwrap(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "every vertex is listed, placed or not: {doc}");
    let result = |id: &str| nodes.iter().find(|n| n["id"] == id).unwrap()["outputs"]["out"]["result"].clone();
    assert_eq!(result("t[0]"), "results/t/0/out.txt");
    assert!(result("t[1]").is_null(), "{doc}");
    assert_eq!(doc["status"], "succeeded");
    assert!(stderr(&o).contains("results/ not fully updated"), "{}", stderr(&o));
    assert!(std::fs::read_dir(dir.join("elsewhere")).unwrap().next().is_none(), "nothing written through the link");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_chained_sweep_whose_inputs_changed_gives_one_reason() {
    let dir = common::fresh_dir("cli", "chain");
    let f = dir.join("c.phx");
    std::fs::write(
        &f,
        "param k: Int = 1\n\ntool lab.touch(i: Int, k: Int) -> (out: File) {\n  run = \"echo {i} {k} > {out}\"\n}\n\n\
         tool lab.copy(f: File) -> (out: File) {\n  run = \"cat {f} > {out}\"\n}\n\n\
         node a[i in 0..150] = lab.touch(i = i, k = k)\n\nnode b[i in 0..150] = lab.copy(f = a[i].out)\n",
    )
    .unwrap();
    let first = phx(&["run", f.to_str().unwrap(), "--jobs", "2"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let again = stdout(&phx(&["run", f.to_str().unwrap(), "--set", "k=2", "--jobs", "2"]));
    let lines: Vec<&str> = again.lines().collect();
    assert!(
        lines[0].starts_with("a[0..150]") && lines[0].ends_with("150 ran (argument k changed from 1 to 2)"),
        "{again}"
    );
    // Each instance of b names its own input: one reason, not 150.
    assert!(lines[1].starts_with("b[0..150]") && lines[1].ends_with("150 ran (input a[i].out changed)"), "{again}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_re_run_of_a_sweep_reuses_every_instance_and_keeps_its_results() {
    // 100 instances: past the size where a sweep's cache entries are read
    // a window at a time, and hits are recorded by their own thread.
    let dir = common::fresh_dir("cli", "rerun");
    std::fs::create_dir_all(dir.join("x")).unwrap();
    std::fs::create_dir_all(dir.join("y")).unwrap();
    std::fs::write(dir.join("x/data.csv"), "x\n").unwrap();
    std::fs::write(dir.join("y/data.csv"), "y\n").unwrap();
    std::fs::write(
        dir.join("s.phx"),
        "tool lab.step(i: Int) -> (out: File) {\n  run = \"echo {i} > {out}\"\n}\n\ntool lab.both(a: File, b: File) -> (out: File) {\n  run = \"cat {a} {b} > {out}\"\n}\n\nnode s[i in 0..100] = lab.step(i = i)\n\nnode both = lab.both(a = \"x/data.csv\", b = \"y/data.csv\")\n",
    )
    .unwrap();
    let f = dir.join("s.phx");
    let first = phx(&["run", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // Two files of one name are both staged, each under a name of its own.
    assert_eq!(std::fs::read_to_string(dir.join("results/both/out.txt")).unwrap(), "x\ny\n");
    let again = phx(&["run", f.to_str().unwrap(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(doc["cache_hits"], 101, "{}", stderr(&again));
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 101);
    for n in nodes {
        let out = &n["outputs"]["out"];
        let placed = dir.join(out["result"].as_str().unwrap());
        assert!(placed.is_file(), "{placed:?}");
        assert_eq!(n["cached"], true);
    }
    assert_eq!(std::fs::read_to_string(dir.join("results/s/42/out.txt")).unwrap(), "42\n");
    // The cached run's record lists each instance with the outputs it reused.
    let id = doc["run_id"].as_str().unwrap();
    let shown = phx(&["show", id, "--dir", dir.to_str().unwrap(), "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    let s42 = shown["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "s[42]").unwrap();
    assert_eq!(s42["cached"], true);
    assert_eq!(
        s42["outputs"]["out"]["sha256"],
        nodes.iter().find(|n| n["id"] == "s[42]").unwrap()["outputs"]["out"]["sha256"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_of_a_large_sweep_is_shown_one_line_per_sweep() {
    let dir = common::fresh_dir("cli", "show");
    std::fs::write(
        dir.join("s.phx"),
        "tool lab.step(i: Int) -> (out: File) {\n  run = \"test {i} -ne 7 && echo {i} > {out}\"\n}\n\nnode s[i in 0..40] = lab.step(i = i)\n\nnode one = lab.step(i = 1)\n",
    )
    .unwrap();
    let run = phx(&["run", dir.join("s.phx").to_str().unwrap(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&run)).unwrap();
    let id = doc["run_id"].as_str().unwrap();
    let d = dir.to_str().unwrap();
    let o = phx(&["show", id, "--dir", d]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(text.contains("s[…] 40 instances: 1 failed, 39 succeeded"), "{text}");
    assert!(text.contains("      s[7] failed:"), "{text}");
    assert!(!text.contains("  s[3] "), "instances are not listed: {text}");
    assert!(text.contains("  one "), "a node outside the sweep is: {text}");
    let all = stdout(&phx(&["show", id, "--dir", d, "--all"]));
    assert_eq!(all.matches("  s[").count(), 40, "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_in_imported_files_are_shown_where_they_are() {
    let dir = std::env::temp_dir().join(format!("phx-cli-imports-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/consts.phx"), "let grid = 1 m + 1 s\n").unwrap();
    std::fs::write(dir.join("main.phx"), "import \"lib/consts.phx\" as c\nnode a = quantum.orbital(n = 2, l = 1, m = 0, grid = c.grid) {\n  emit = [static]\n}\n").unwrap();
    let o = phx(&["check", dir.join("main.phx").to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let files: Vec<&str> = doc["diagnostics"].as_array().unwrap().iter().map(|d| d["file"].as_str().unwrap()).collect();
    assert!(files.iter().any(|f| f.ends_with("lib/consts.phx")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("main.phx")), "{files:?}");
}

/// A source that is not UTF-8 is an error naming the byte, for the file
/// and for a file it imports; a run of it runs nothing.
#[test]
fn invalid_utf8_is_a_diagnostic_with_its_offset() {
    let dir = std::env::temp_dir().join(format!("phx-cli-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.phx");
    std::fs::write(&bad, b"param a: Int = 1\n// caf\xe9\n").unwrap();
    let o = phx(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not valid UTF-8 (invalid byte at offset 23)"), "{}", stderr(&o));
    let o = phx(&["check", bad.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["diagnostics"][0]["code"], "phx::syntax");
    let main = dir.join("main.phx");
    std::fs::write(&main, "import \"bad.phx\" as b\nparam x: Int = 2\n").unwrap();
    let o = phx(&["check", main.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.phx") && stderr(&o).contains("offset 23"), "{}", stderr(&o));
    let o = phx(&["run", bad.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(1));
}

/// Control characters in a source never reach the terminal through a
/// diagnostic's excerpt or message.
#[test]
fn diagnostics_escape_control_characters() {
    let p = tmp("control.phx", "param a: Int = \"\u{1b}[2J\u{1b}]0;owned\u{7}\"\nlet b = nope\u{1b}[31m\n");
    let o = phx(&["check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(!err.chars().any(|c| c.is_control() && c != '\n'), "{err:?}");
    assert!(err.contains("?[2J"), "{err}");
}
