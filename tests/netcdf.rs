//! Field artifacts are NetCDF files by the CF conventions that the
//! scientific Python stack reads as they are: the real `phx` binary makes
//! fields of one, two and three axes, and xarray (in a virtual environment
//! this test makes on first use) reads each one and finds phx's own
//! grid, units and values.

use std::path::{Path, PathBuf};
use std::process::Command;

use phx_stdlib::field::Field;
use serde_json::{Value as Json, json};

mod common;
use common::{json_of, node, phx_in};

const PROGRAM: &str = "fn g(x: Float) -> Float {
  x * x
}

fn flat(x: Float) -> Float {
  0.0
}

node o = quantum.orbital(n = 2, l = 1, m = 0, grid = 12, extent = 10 bohr) {
  emit = [series]
}

node line = field.evaluate(f = g, grid = 9, extent = 3 bohr) {
  emit = [series]
}

node packet = quantum.wavepacket(potential = flat, x0 = -5.0, k0 = 1.0, sigma = 2.0, x_min = -20.0, x_max = 20.0, points = 64, frames = 5) {
  emit = [series]
}
";

/// The Python of the virtual environment with xarray, scipy and numpy:
/// `PHX_XARRAY_VENV`, else one under the build's target folder, made on
/// first use.
fn python() -> PathBuf {
    common::python_venv(
        "PHX_XARRAY_VENV",
        "phx-xarray-venv",
        "import xarray, scipy, numpy",
        &[&["xarray", "scipy", "numpy"]],
    )
}

/// What phx itself reads from a field artifact, for the Python side.
fn expected(d: &Path, doc: &Json, id: &str, output: &str) -> Json {
    let n = node(doc, id);
    let path = d.join(n["outputs"][output]["path"].as_str().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"CDF\x01"), "{id}.{output} is NetCDF classic");
    let (field, meta) = Field::read_netcdf(&bytes).unwrap();
    assert_eq!(meta.name, output);
    let axes: Vec<Json> = meta
        .axes
        .iter()
        .enumerate()
        .map(|(a, axis)| {
            json!({
                "name": axis.name,
                "units": phx_stdlib::field::udunits(&axis.unit),
                "axis": axis.name.to_uppercase(),
                "lo": field.lo[a],
                "hi": field.hi[a],
                "n": field.shape[a],
            })
        })
        .collect();
    json!({
        "path": path,
        "node": id,
        "tool": n["tool"],
        "variable": output,
        "axes": axes,
        "units": phx_stdlib::field::udunits(&field.value_unit),
        "values": field.values,
    })
}

#[test]
fn xarray_reads_phx_fields_as_phx_wrote_them() {
    let d = common::fresh_dir("netcdf", "xarray");
    std::fs::write(d.join("f.phx"), PROGRAM).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "f.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");

    let mut orbital = expected(&d, &doc, "o", "density");
    assert_eq!(orbital["units"], "bohr-3");
    orbital["integral"] = node(&doc, "o")["outputs"]["density"]["meta"]["grid_integral"].clone();
    assert!(orbital["integral"].is_f64(), "{doc}");

    let mut line = expected(&d, &doc, "line", "values");
    line["square_of_x"] = json!(true);
    // The series emit's profile of the 1D field: its values again.
    let csv =
        std::fs::read_to_string(d.join(node(&doc, "line")["outputs"]["values_profiles"]["path"].as_str().unwrap()))
            .unwrap();
    let profile: Vec<f64> = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(profile.len(), 9, "{csv}");
    line["profile"] = json!(profile);

    let packet = expected(&d, &doc, "packet", "density");
    assert_eq!(packet["axes"][1]["name"], "t", "x by t");
    assert_eq!(packet["units"], "bohr-1");

    let file = d.join("expected.json");
    std::fs::write(&file, serde_json::to_vec(&json!([orbital, line, packet])).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netcdf/check_fields.py");
    let out = Command::new(python()).arg(script).arg(&file).current_dir(&d).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "xarray disagrees with phx:\n{text}");
    assert_eq!(text.matches("matches phx").count(), 3, "{text}");

    // The same computation, the same bytes: a run without the cache makes
    // identical files (the store is content-addressed).
    let again = json_of(&phx_in(&d, &["run", "f.phx", "--no-cache", "--format", "json"]));
    for (id, output) in [("o", "density"), ("line", "values"), ("packet", "density")] {
        assert_eq!(
            node(&again, id)["outputs"][output]["sha256"],
            node(&doc, id)["outputs"][output]["sha256"],
            "{id}.{output} is deterministic"
        );
    }
}
