//! The DAG as JSON (`phx graph --format json`), and values in the shape of
//! the language spec's JSON form.

use phx_sema::value::Value;
use serde_json::{Map, Value as Json, json};

use crate::Dag;

/// A value as JSON: numbers and strings as themselves, quantities as
/// `{"value", "unit", "si"}`, output references as `{"ref": "a.b"}`,
/// functions as `{"fn": name, "hash": ...}`.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Bool(b) => json!(b),
        Value::Str(s) => json!(s),
        Value::Quantity { si, dim, written } => {
            let mut m = Map::new();
            match written {
                Some((w, u)) => {
                    m.insert("value".into(), json!(w));
                    m.insert("unit".into(), json!(u));
                }
                None => {
                    m.insert("value".into(), json!(si));
                    m.insert("unit".into(), json!(dim.si_units()));
                }
            }
            m.insert("si".into(), json!(si));
            m.insert("dim".into(), json!(dim.si_units()));
            Json::Object(m)
        }
        Value::List(items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Record(fields) => Json::Object(fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect()),
        Value::Enum(_, s) => json!(s),
        Value::Fn(f) => json!({"fn": f.name, "arity": f.arity, "hash": f.hash}),
        Value::Output(o) => json!({"ref": o.text()}),
        Value::Node(n) => json!({"node": n}),
        Value::Error => Json::Null,
    }
}

/// The whole DAG as JSON: experiment, params, vertices and edges.
pub fn dag_to_json(dag: &Dag) -> Json {
    let nodes: Vec<Json> = dag
        .vertices()
        .iter()
        .map(|v| {
            json!({
                "id": v.id,
                "node": v.node,
                "index": v.index,
                "tool": v.tool,
                "version": v.tool_version,
                "builtin": v.builtin,
                "run": v.run,
                "image": v.image,
                "bindings": Json::Object(v.bindings.iter().map(|(k, x)| (k.clone(), value_to_json(x))).collect()),
                "args": Json::Object(v.args.iter().map(|(k, x)| (k.clone(), value_to_json(x))).collect()),
                "param_types": Json::Object(v.param_types.iter().map(|(k, t)| (k.clone(), json!(t))).collect()),
                "outputs": Json::Object(v.outputs.iter().map(|(k, t)| (k.clone(), json!(t))).collect()),
                "emit": v.props.emit,
                "device": v.props.device,
                "backend": v.props.backend,
                "resources": Json::Object(v.props.resources.iter().map(|(k, x)| (k.clone(), value_to_json(x))).collect()),
                "retries": v.props.retries,
                "timeout_s": v.props.timeout_s,
                "allow_large": v.props.allow_large,
                "cache": v.props.cache,
                "caps_lifted": v.caps_lifted,
                "depends_on": v.depends_on,
                "static_key": v.static_key,
            })
        })
        .collect();
    let edges: Vec<Json> =
        dag.edges().iter().map(|e| json!({"from": e.from, "to": e.to, "output": e.output, "arg": e.arg})).collect();
    let experiment = dag.experiment.as_ref().map(|e| {
        let mut m = Map::new();
        m.insert("name".into(), json!(e.name));
        m.insert("policy".into(), json!(e.policy()));
        for (k, v) in &e.fields {
            if k != "policy" {
                m.insert(k.clone(), value_to_json(v));
            }
        }
        Json::Object(m)
    });
    json!({
        "experiment": experiment,
        "params": Json::Object(dag.params.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect()),
        "nodes": nodes,
        "edges": edges,
    })
}
