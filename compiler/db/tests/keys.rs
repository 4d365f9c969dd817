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
    let ids: Vec<&str> = d.vertices().iter().filter(|v| v.node == "s").map(|v| v.id.as_str()).collect();
    assert_eq!(ids.len(), 6);
    // Looked up by family and index: ids that name no instance find nothing.
    for missing in ["s[6]", "s", "s[x]", "sheet[0]", "nothing"] {
        assert!(d.vertex(missing).is_none(), "{missing}");
    }
    assert_eq!(d.vertex("sheet").unwrap().id, "sheet");
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
    let pos = |id: &str| d.vertices().iter().position(|v| v.id == id).unwrap();
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

/// The static key as it was computed before sweeps were families: one
/// vertex at a time, from the whole canonical document, inputs sorted by
/// vertex id. Kept here as the reference the family IR must agree with.
fn reference_key(v: &phx_dag::Vertex, keys: &std::collections::HashMap<String, String>) -> String {
    use phx_sema::value::{Instances, json_string};
    use sha2::Digest;
    fn keyed(v: &Value, keys: &std::collections::HashMap<String, String>, out: &mut String) {
        match v {
            Value::Output(r) => {
                let one = |id: &str, out: &mut String| {
                    out.push_str(&format!(
                        "{{\"input\":{},\"output\":{}}}",
                        json_string(keys.get(id).map_or("", String::as_str)),
                        json_string(&r.output)
                    ));
                };
                if let Instances::All(_) = r.instances {
                    out.push('[');
                    for (i, id) in r.vertex_ids().iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        one(id, out);
                    }
                    out.push(']');
                } else {
                    one(&r.vertex_ids()[0], out);
                }
            }
            Value::List(items) if !v.is_static() => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    keyed(x, keys, out);
                }
                out.push(']');
            }
            Value::Record(fields) if !v.is_static() => {
                let mut sorted: Vec<&(String, Value)> = fields.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push('{');
                for (i, (k, x)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_string(k));
                    out.push(':');
                    keyed(x, keys, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.canonical_json()),
        }
    }
    let mut sorted: Vec<&(String, Value)> = v.args.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut args = String::from("{");
    for (i, (k, val)) in sorted.into_iter().enumerate() {
        if i > 0 {
            args.push(',');
        }
        args.push_str(&json_string(k));
        args.push(':');
        keyed(val, keys, &mut args);
    }
    args.push('}');
    let mut read = std::collections::HashSet::new();
    for (_, a) in v.args.iter() {
        let mut refs = Vec::new();
        a.output_refs(&mut refs);
        for r in refs {
            read.extend(r.vertex_ids());
        }
    }
    let mut inputs: Vec<(String, String)> = v
        .depends_on
        .iter()
        .filter(|d| read.contains(*d))
        .map(|d| (d.clone(), keys.get(d).cloned().unwrap_or_default()))
        .collect();
    inputs.sort();
    let input_keys: Vec<String> = inputs.iter().map(|(_, k)| json_string(k)).collect();
    let doc = format!(
        "{{\"args\":{args},\"inputs\":[{}],\"tool\":{},\"version\":{}}}",
        input_keys.join(","),
        json_string(&v.tool),
        json_string(&v.tool_version)
    );
    hex::encode(sha2::Sha256::digest(doc.as_bytes()))
}

#[test]
fn keys_of_a_family_equal_the_keys_of_its_instances_keyed_one_by_one() {
    // A sweep over two binders, a sweep reading it by index, gathers over
    // small and large families (the large one past the size where inputs
    // are merged as streams), a gather that also names single instances,
    // and `after`.
    let text = "tool lab.touch(i: Int, x: Float) -> (out: File) {\n  run = \"echo {i} {x} > {out}\"\n}\n\
tool lab.gather(parts: List[File], extra: List[File]) -> (total: File) {\n  run = \"cat {parts} {extra} > {total}\"\n}\n\
node a[i in 0..5000] = lab.touch(i = i, x = 0.5)\n\
node s[i in 0..3, x in [1.0, 2.5]] = lab.touch(i = i * 10, x = x)\n\
node t[k in 0..12] = lab.gather(parts = [s[k % 6].out], extra = [])\n\
node small = lab.gather(parts = t[*].total, extra = [s[1].out, t[3].total])\n\
node big = lab.gather(parts = a[*].out, extra = [a[17].out, s[0].out, small.total]) {\n  after = [t[2]]\n}\n";
    let d = dag(text);
    assert_eq!(d.vertex_count(), 5000 + 6 + 12 + 2);
    let mut keys = std::collections::HashMap::new();
    for v in d.vertices() {
        let want = reference_key(v, &keys);
        assert_eq!(v.static_key, want, "the key of `{}`", v.id);
        keys.insert(v.id.clone(), want);
    }
    // A family's instance keys equal those of the same instances written
    // out as plain nodes (keys follow content, not names).
    let written = dag("tool lab.touch(i: Int, x: Float) -> (out: File) {\n  run = \"echo {i} {x} > {out}\"\n}\n\
node s3 = lab.touch(i = 10, x = 2.5)\nnode s0 = lab.touch(i = 0, x = 1.0)\n");
    assert_eq!(d.vertex("s[3]").unwrap().static_key, written.vertex("s3").unwrap().static_key);
    assert_eq!(d.vertex("s[0]").unwrap().static_key, written.vertex("s0").unwrap().static_key);
}
