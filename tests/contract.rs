//! The graphics contract on every node: each standard tool, asked for each
//! emit it declares, makes the files the contract names (PNG + SVG, CSV,
//! GIF/MP4 + thumbnail strip) and every output carries its metadata; an
//! emit a tool does not declare is `phx::unsupported-emit` at check time.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{json_of, phx_in};
use serde_json::Value as Json;

/// What the calls below need: functions, a table, and upstream nodes.
const PRELUDE: &str = r#"fn harmonic(x: Float) -> Float {
  0.5 * x * x
}

fn free(x: Float) -> Float {
  0 * x
}

fn gauss(x: Float, y: Float, z: Float) -> Float {
  exp(-(x * x + y * y + z * z))
}

fn swirl_x(x: Float, y: Float) -> Float {
  -y
}

fn swirl_y(x: Float, y: Float) -> Float {
  x
}

fn line(t: Float, a: Float, b: Float) -> Float {
  a + b * t
}

node up_orbital = quantum.orbital(n = 2, l = 1, m = 0, grid = 16) {
  emit = [series]
}

node up_levels = quantum.eigen1d(potential = harmonic, x_min = -6, x_max = 6, points = 200, levels = 3) {
  emit = [series]
}

node up_table = data.load_csv(path = "data.csv") {
  emit = [series]
}

node up_h = plot.heatmap(field = up_orbital.density, resolution = 32) {
  emit = [static]
}
"#;

/// A small call of each standard tool that declares emits.
fn calls() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("quantum.orbital", "quantum.orbital(n = 2, l = 1, m = 0, grid = 16)"),
        ("quantum.eigen1d", "quantum.eigen1d(potential = harmonic, x_min = -6, x_max = 6, points = 200, levels = 3)"),
        (
            "quantum.wavepacket",
            "quantum.wavepacket(potential = free, x0 = -5, k0 = 2, sigma = 1, x_min = -20, x_max = 20, points = 256, frames = 8, steps_per_frame = 2)",
        ),
        ("field.evaluate", "field.evaluate(f = gauss, grid = 12, extent = 4 bohr)"),
        ("plot.line", "plot.line(data = up_levels.energies)"),
        ("plot.heatmap", "plot.heatmap(field = up_orbital.density, resolution = 32)"),
        ("plot.surface", "plot.surface(field = up_orbital.density, resolution = 24)"),
        ("plot.vector_field", "plot.vector_field(fx = swirl_x, fy = swirl_y, grid = 8)"),
        ("plot.animation", "plot.animation(field = up_orbital.density, frames = 6)"),
        ("plot.contact_sheet", "plot.contact_sheet(images = [up_h.image, up_h.image], columns = 2)"),
        ("data.load_csv", "data.load_csv(path = \"data.csv\")"),
        ("data.fft", "data.fft(data = up_table.table, column = \"y\")"),
        ("data.fit", "data.fit(data = up_table.table, model = line, x = \"t\", y = \"y\", initial = [0.5, 1.5])"),
        ("data.stack", "data.stack(inputs = [up_table.table, up_table.table])"),
        ("ml.pca", "ml.pca(data = up_table.table, components = 2)"),
    ])
}

/// Every standard tool's declared emits, from `phx schema`.
fn declared_emits(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let schema = json_of(&phx_in(dir, &["schema", "--format", "json"]));
    schema["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let emits = t["emits"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
            (t["name"].as_str().unwrap().to_string(), emits)
        })
        .collect()
}

fn node_name(tool: &str, emit: &str) -> String {
    format!("{}_{emit}", tool.replace('.', "_"))
}

fn bytes_of(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn is_png(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
}

fn is_svg(b: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&b[..b.len().min(400)]).to_string();
    text.contains("<svg")
}

/// The files an emit promises, on node `n` of a run.
fn assert_emit(dir: &Path, n: &Json, emit: &str) {
    let id = n["id"].as_str().unwrap();
    let visuals = &n["visuals"];
    match emit {
        "static" => {
            let pictures = visuals["static"].as_array().unwrap();
            assert!(!pictures.is_empty(), "{id}: static gave no picture: {n}");
            for p in pictures {
                assert!(is_png(&bytes_of(dir, p["png"].as_str().unwrap())), "{id}: not a PNG: {p}");
                let svg = p["svg"].as_str().unwrap_or_else(|| panic!("{id}: a picture without its SVG: {p}"));
                assert!(is_svg(&bytes_of(dir, svg)), "{id}: not an SVG: {p}");
            }
        }
        "series" => {
            let tables = visuals["series"].as_array().unwrap();
            assert!(!tables.is_empty(), "{id}: series gave no CSV: {n}");
            for t in tables {
                let text = String::from_utf8(bytes_of(dir, t.as_str().unwrap())).unwrap();
                let mut lines = text.lines();
                let header = lines.next().unwrap_or_default();
                assert!(!header.is_empty() && lines.next().is_some(), "{id}: an empty CSV: {text}");
                let width = header.split(',').count();
                assert!(text.lines().skip(1).all(|l| l.split(',').count() == width), "{id}: ragged CSV {t}");
            }
        }
        "animation" => {
            let anims = visuals["animation"].as_array().unwrap();
            assert!(!anims.is_empty(), "{id}: animation gave none: {n}");
            for a in anims {
                let b = bytes_of(dir, a["file"].as_str().unwrap());
                assert!(b.starts_with(b"GIF8") || b.get(4..8) == Some(b"ftyp"), "{id}: neither GIF nor MP4: {a}");
                let strip = a["thumbnails"].as_str().unwrap_or_else(|| panic!("{id}: no thumbnail strip: {a}"));
                assert!(is_png(&bytes_of(dir, strip)), "{id}: the strip is not a PNG");
                assert!(a["format"].is_string(), "{id}: the metadata does not say which format: {a}");
            }
        }
        other => panic!("an emit this test does not know: {other}"),
    }
}

/// The metadata every output carries, and what data outputs add.
fn assert_meta(n: &Json) {
    let id = n["id"].as_str().unwrap();
    for (name, o) in n["outputs"].as_object().unwrap() {
        let meta = &o["meta"];
        for key in ["device", "duration_ms", "cached", "sha256", "bytes"] {
            assert!(!meta[key].is_null(), "{id}.{name} has no `{key}`: {meta}");
        }
        assert_eq!(meta["sha256"], o["sha256"], "{id}.{name}");
        let kind = o["kind"].as_str().unwrap();
        let data = kind.starts_with("Field") || kind == "Image" || kind == "Animation";
        if data {
            for key in ["dtype", "samples", "mesh"] {
                assert!(!meta[key].is_null(), "{id}.{name} ({kind}) has no `{key}`: {meta}");
            }
        }
        if kind == "Series" {
            for key in ["dtype", "samples"] {
                assert!(!meta[key].is_null(), "{id}.{name} (Series) has no `{key}`: {meta}");
            }
        }
    }
}

#[test]
fn every_tool_honours_every_emit_it_declares() {
    let d = common::fresh_dir("contract", "emits");
    let mut csv = String::from("t,y,z\n");
    for i in 0..64 {
        let t = i as f64 * 0.25;
        csv.push_str(&format!("{t},{},{}\n", 0.5 + 1.5 * t + 0.01 * (i % 3) as f64, (t * 0.7).sin()));
    }
    std::fs::write(d.join("data.csv"), csv).unwrap();
    let declared = declared_emits(&d);
    let calls = calls();
    let mut program = String::from(PRELUDE);
    let mut asked = Vec::new();
    for (tool, emits) in &declared {
        if emits.is_empty() {
            continue;
        }
        let call =
            calls.get(tool.as_str()).unwrap_or_else(|| panic!("{tool} declares {emits:?}: add a call of it here"));
        for emit in emits {
            let name = node_name(tool, emit);
            program.push_str(&format!("\nnode {name} = {call} {{\n  emit = [{emit}]\n}}\n"));
            asked.push((tool.clone(), emit.clone(), name));
        }
    }
    std::fs::write(d.join("contract.phx"), &program).unwrap();
    let out = phx_in(&d, &["run", "contract.phx", "--format", "json"]);
    let doc = json_of(&out);
    assert_eq!(doc["status"], "succeeded", "{doc}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut covered = BTreeSet::new();
    for (tool, emit, name) in &asked {
        let n = common::node(&doc, name);
        assert_emit(&d, n, emit);
        assert_meta(n);
        covered.insert(tool.clone());
    }
    // Every tool with emits was asked, and the run JSON's metadata is
    // what `phx show` and `phx artifact show` print too.
    assert!(covered.len() >= 15, "{covered:?}");
    let shown = json_of(&phx_in(&d, &["show", doc["run_id"].as_str().unwrap(), "--format", "json"]));
    let orbital = shown["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "quantum_orbital_static").unwrap();
    assert_eq!(orbital["outputs"]["density"]["meta"]["mesh"], serde_json::json!([16, 16, 16]), "{orbital}");
    let sha = orbital["outputs"]["density"]["sha256"].as_str().unwrap();
    let artifact = json_of(&phx_in(&d, &["artifact", "show", sha, "--format", "json"]));
    assert_eq!(artifact["meta"]["samples"], 16 * 16 * 16, "{artifact}");
    let text = String::from_utf8(phx_in(&d, &["artifact", "show", sha]).stdout).unwrap();
    assert!(text.contains("16×16×16") && text.contains("4096 samples"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_emit_a_tool_does_not_declare_is_refused_at_check_time() {
    let d = common::fresh_dir("contract", "undeclared");
    let declared = declared_emits(&d);
    let mut cases = Vec::new();
    for (tool, emits) in &declared {
        for emit in ["static", "series", "animation"] {
            if !emits.iter().any(|e| e == emit) {
                cases.push((tool.clone(), emit));
            }
        }
    }
    // Tools without emits (cas, constants, units, export, shell) and plot
    // tools asked for what they do not make.
    assert!(
        cases.iter().any(|(t, _)| t == "export.csv")
            && cases.iter().any(|(t, e)| t == "plot.line" && *e == "animation")
    );
    for (tool, emit) in cases {
        let program = format!("node n = {tool}() {{\n  emit = [{emit}]\n}}\n");
        std::fs::write(d.join("u.phx"), &program).unwrap();
        let out = phx_in(&d, &["check", "u.phx", "--format", "json"]);
        let doc = json_of(&out);
        let codes: Vec<&str> =
            doc["diagnostics"].as_array().unwrap().iter().filter_map(|x| x["code"].as_str()).collect();
        assert!(codes.contains(&"phx::unsupported-emit"), "{tool} with emit {emit}: {doc}");
        assert_eq!(out.status.code(), Some(1));
    }
    let _ = std::fs::remove_dir_all(&d);
}
