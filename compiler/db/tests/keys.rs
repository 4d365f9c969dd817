//! Static keys (language spec, section 5) and the values in the IR.

use phx_sema::Value;
use phx_sema::enums::{BackendKind, Device};

fn dag(text: &str) -> std::sync::Arc<phx_dag::Dag> {
    let mut db = phx_db::Database::new();
    let f = db.set_file("main.phx", text.to_string());
    let c = db.check(f);
    assert!(!c.has_errors(), "{:#?}", c.diagnostics);
    c.dag.clone()
}

fn orbital(extent: &str, name: &str) -> String {
    format!(
        "node {name} = quantum.orbital(n = 2, l = 1, m = 0, extent = {extent}) {{\n  emit = [static]\n}}\nnode view = plot.heatmap(field = {name}.density) {{\n  emit = [static]\n}}\n"
    )
}

#[test]
fn twenty_four_bohr_keeps_full_precision() {
    let d = dag(&orbital("24 bohr", "a"));
    let v = d.vertex("a").unwrap();
    let extent = &v.args.iter().find(|(n, _)| n == "extent").unwrap().1;
    match extent {
        Value::Quantity { si, .. } => assert_eq!(*si, 24.0 * 5.29177210544e-11),
        other => panic!("{other:?}"),
    }
}

#[test]
fn equal_quantities_in_other_units_give_equal_keys() {
    let a = dag(&orbital("2 nm", "a"));
    let b = dag(&orbital("20 angstrom", "a"));
    assert_eq!(a.vertex("a").unwrap().static_key, b.vertex("a").unwrap().static_key);
}

#[test]
fn keys_follow_content_not_names() {
    let a = dag(&orbital("24 bohr", "a"));
    let b = dag(&orbital("24 bohr", "renamed"));
    assert_eq!(a.vertex("a").unwrap().static_key, b.vertex("renamed").unwrap().static_key);
    assert_eq!(a.vertex("view").unwrap().static_key, b.vertex("view").unwrap().static_key);
    let c = dag(&orbital("25 bohr", "a"));
    assert_ne!(
        a.vertex("view").unwrap().static_key,
        c.vertex("view").unwrap().static_key,
        "an input's key is part of the key"
    );
}

#[test]
fn functions_enter_keys_by_body_hash() {
    let prog = |body: &str, name: &str| {
        format!("fn {name}(x: Float) -> Float {{ {body} }}\nnode r = cas.solve(f = {name}, lo = 0.0, hi = 2.0)\n")
    };
    let a = dag(&prog("x * x - 2", "f"));
    let b = dag(&prog("x * x - 2", "g"));
    let c = dag(&prog("x * x - 3", "f"));
    assert_eq!(a.vertex("r").unwrap().static_key, b.vertex("r").unwrap().static_key);
    assert_ne!(a.vertex("r").unwrap().static_key, c.vertex("r").unwrap().static_key);
}

#[test]
fn sweeps_expand_in_order_with_cartesian_products() {
    let d = dag(
        "node s[a in 1..3, b in [10, 20, 30]] = quantum.orbital(n = a + 1, l = a, m = 0, grid = b) {\n  emit = [static]\n}\nnode sheet = data.stack(inputs = []) {\n  emit = [series]\n}\n",
    );
    let ids: Vec<&str> = d.vertices.iter().filter(|v| v.node == "s").map(|v| v.id.as_str()).collect();
    assert_eq!(ids.len(), 6);
    let s4 = d.vertex("s[4]").unwrap();
    assert_eq!(s4.bindings.to_vec(), vec![("a".to_string(), Value::Int(2)), ("b".to_string(), Value::Int(20))]);
}

#[test]
fn splat_and_after_make_edges() {
    let d = dag(
        "node s[i in 0..4] = quantum.orbital(n = 2, l = 1, m = 0, grid = 32 + i) {\n  emit = [static]\n}\nnode views[i in 0..4] = plot.heatmap(field = s[i].density) {\n  emit = [static]\n}\nnode sheet = plot.contact_sheet(images = views[*].image) {\n  emit = [static]\n}\nnode last = export.vtk(field = s[0].density) {\n  after = [sheet]\n}\n",
    );
    assert_eq!(d.vertex("sheet").unwrap().depends_on.len(), 4);
    assert!(d.vertex("last").unwrap().depends_on.contains(&"sheet".to_string()));
    // Inputs come first in the vertex order.
    let pos = |id: &str| d.vertices.iter().position(|v| v.id == id).unwrap();
    assert!(pos("s[3]") < pos("views[3]") && pos("views[3]") < pos("sheet") && pos("sheet") < pos("last"));
}

#[test]
fn the_ir_carries_what_the_runtime_needs() {
    let d = dag(
        "experiment e {\n  title = \"t\"\n  resources = { cpus = 2 }\n}\nnode a = quantum.orbital(n = 2, l = 1, m = 0) {\n  emit      = [static, series]\n  device    = [gpu, cpu]\n  backend   = slurm\n  resources = { mem = 8 GiB, time = 30 min }\n  retries   = 2\n}\n",
    );
    let v = d.vertex("a").unwrap();
    assert_eq!(v.tool_version, "0.2.0");
    assert_eq!(v.props.device, vec![Device::Gpu, Device::Cpu]);
    assert_eq!(v.props.backend, Some(BackendKind::Slurm));
    assert_eq!(v.props.retries, 2);
    assert_eq!(v.props.timeout_s, Some(10.0), "stdlib nodes time out after 10 s by default");
    let res: Vec<&str> = v.props.resources.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(res, vec!["cpus", "mem", "time"], "experiment defaults merge with the node's");
    assert!(v.args.iter().any(|(n, v)| n == "grid" && *v == Value::Int(64)), "defaults are filled in");
}

#[test]
fn resources_batch_is_a_positive_integer() {
    let sweep = |batch: &str| {
        format!(
            "node s[i in 0..4] = quantum.orbital(n = 2, l = 1, m = 0) {{\n  emit      = [static]\n  resources = {{ batch = {batch} }}\n}}\n"
        )
    };
    let d = dag(&sweep("100"));
    let v = d.vertex("s[2]").unwrap();
    assert!(v.props.resources.iter().any(|(k, x)| k == "batch" && *x == Value::Int(100)), "{:?}", v.props.resources);
    for bad in ["0", "-3", "2.5", "\"many\""] {
        let mut db = phx_db::Database::new();
        let f = db.set_file("main.phx", sweep(bad));
        let c = db.check(f);
        assert!(c.has_errors(), "batch = {bad} was accepted");
        assert!(c.diagnostics.iter().any(|d| d.message.contains("resources.batch")), "{bad}: {:#?}", c.diagnostics);
    }
}
