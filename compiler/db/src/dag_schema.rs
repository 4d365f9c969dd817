//! The JSON form of a DAG (language spec, section 8) as a JSON Schema,
//! specialised to a set of tools: each node is one of the tools, with that
//! tool's own `args` (names, types, allowed values, which are required)
//! and `emit` list. A server that supports structured output (OpenAI,
//! vLLM, Ollama, llama.cpp) decodes under it; the answer becomes `.phx`
//! text through `phx import`.
//!
//! [`Profile::Full`] takes everything `phx export --json` writes (every
//! example program's JSON form is an instance); [`Profile::Small`] only
//! `fns` and `nodes` of the given tools, each value of its parameter's
//! shape, for a small model.

use std::sync::Arc;

use phx_sema::schema::{ParamSchema, ToolSchema};
use phx_sema::types::Ty;
use serde_json::{Map, Value as Json, json};

use crate::gbnf::{Profile, outputs_for, string_choices, units_of};

/// A name (a node, a `fn`, a sweep's binder), as a regular expression.
pub const NAME_PATTERN: &str = "^[a-z_][a-z0-9_]{0,23}$";
/// An output of another node: `node.output`, `node[0].output`, `node[*].output`.
pub const REF_PATTERN: &str = "^[a-z_][a-z0-9_]{0,23}(\\[([0-9]{1,3}|\\*)\\])?\\.[a-z_][a-z0-9_]{0,23}$";

/// The schema of a program calling `tools`.
pub fn schema(tools: &[Arc<ToolSchema>], profile: Profile) -> Json {
    let full = profile == Profile::Full;
    let nodes: Vec<Json> = tools.iter().map(|t| node_schema(t, tools, full)).collect();
    let source_item = if full {
        json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "source": {"type": "string"}, "doc": {"type": "string"}},
            "required": ["name", "source"],
            "additionalProperties": false
        })
    } else {
        json!({
            "type": "object",
            "properties": {"name": {"type": "string", "pattern": NAME_PATTERN}, "source": {"type": "string", "maxLength": 200}},
            "required": ["name", "source"],
            "additionalProperties": false
        })
    };
    let mut props = Map::new();
    if full {
        props.insert(
            "experiment".into(),
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "doc": {"type": "string"},
                    "policy": {"enum": ["local_first", "remote_first", "auto"]}
                },
                "required": ["name"],
                "additionalProperties": {"$ref": "#/$defs/value"}
            }),
        );
        props.insert(
            "imports".into(),
            json!({"type": "array", "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "as": {"type": "string"}},
                "required": ["path", "as"],
                "additionalProperties": false
            }}),
        );
        props.insert(
            "params".into(),
            json!({"type": "object", "additionalProperties": {
                "type": "object",
                "properties": {"type": {"type": "string"}, "default": {"$ref": "#/$defs/value"}, "doc": {"type": "string"}},
                "required": ["type"],
                "additionalProperties": false
            }}),
        );
        props.insert(
            "lets".into(),
            json!({"type": "object", "additionalProperties": {
                "type": "object",
                "properties": {"value": {"$ref": "#/$defs/value"}, "type": {"type": "string"}, "doc": {"type": "string"}},
                "required": ["value"],
                "additionalProperties": false
            }}),
        );
    }
    let mut fns = json!({"type": "array", "description": "`fn` items, each with its source text, e.g. \"fn v(x: Float) -> Float { x * x / 2 }\"", "items": source_item.clone()});
    if !full {
        fns["maxItems"] = json!(3);
    }
    // A small model is offered `fns` only where a tool takes one.
    if full || tools.iter().any(|t| t.params.iter().any(|p| p.ty == Ty::Fn)) {
        props.insert("fns".into(), fns);
    }
    if full {
        props.insert("tools".into(), json!({"type": "array", "items": source_item.clone()}));
        props.insert("reports".into(), json!({"type": "array", "items": source_item}));
    }
    let mut node_list = json!({"type": "array", "items": {"anyOf": nodes}});
    if !full {
        node_list["minItems"] = json!(1);
        node_list["maxItems"] = json!((2 * tools.len()).max(1));
    }
    props.insert("nodes".into(), node_list);
    let mut defs = Map::new();
    // A small model is held to names where a name is meant; the full form
    // takes any expression, as `phx export` writes it.
    let (ref_string, expr_string) = if full {
        (json!({"type": "string"}), json!({"type": "string"}))
    } else {
        (json!({"type": "string", "pattern": REF_PATTERN}), json!({"type": "string", "pattern": NAME_PATTERN}))
    };
    defs.insert("ref".into(), json!({
        "type": "object",
        "description": "another node's output, `node.output` (`node[0].output` for one instance of a sweep, `node[*].output` for all)",
        "properties": {"ref": ref_string},
        "required": ["ref"],
        "additionalProperties": false
    }));
    defs.insert(
        "expr".into(),
        json!({
            "type": "object",
            "description": if full { "any expression in phx syntax" } else { "a fn's name, or a sweep's binder" },
            "properties": {"expr": expr_string},
            "required": ["expr"],
            "additionalProperties": false
        }),
    );
    if full {
        defs.insert(
            "param".into(),
            json!({
                "type": "object",
                "properties": {"param": {"type": "string"}},
                "required": ["param"],
                "additionalProperties": false
            }),
        );
        defs.insert(
            "quantity".into(),
            json!({
                "type": "object",
                "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                "required": ["value", "unit"],
                "additionalProperties": false
            }),
        );
        defs.insert("value".into(), json!({"anyOf": [
            {"type": "number"}, {"type": "string"}, {"type": "boolean"},
            {"type": "array", "items": {"$ref": "#/$defs/value"}},
            {"$ref": "#/$defs/quantity"}, {"$ref": "#/$defs/ref"}, {"$ref": "#/$defs/param"}, {"$ref": "#/$defs/expr"}
        ]}));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "A phx program: the JSON form of its DAG (`phx import` writes it as .phx text)",
        "type": "object",
        "properties": props,
        "required": ["nodes"],
        "additionalProperties": false,
        "$defs": defs
    })
}

fn node_schema(t: &ToolSchema, tools: &[Arc<ToolSchema>], full: bool) -> Json {
    let mut args = Map::new();
    let mut required = Vec::new();
    for p in &t.params {
        args.insert(p.name.clone(), value_schema(p, &p.ty, tools, full));
        if p.default.is_none() {
            required.push(json!(p.name));
        }
    }
    let mut props = Map::new();
    props.insert(
        "id".into(),
        if full {
            json!({"type": "string", "description": "the node's name"})
        } else {
            json!({"type": "string", "description": "the node's name", "pattern": NAME_PATTERN})
        },
    );
    props.insert("tool".into(), json!({"const": t.name}));
    let mut args_schema = json!({"type": "object", "properties": args, "additionalProperties": false});
    if !required.is_empty() {
        args_schema["required"] = Json::Array(required.clone());
    }
    props.insert("args".into(), args_schema);
    let mut need = vec![json!("id"), json!("tool")];
    if !required.is_empty() {
        need.push(json!("args"));
    }
    if !t.emits.is_empty() {
        props.insert(
            "emit".into(),
            json!({"type": "array", "items": {"enum": t.emits}, "minItems": 1, "maxItems": t.emits.len()}),
        );
        if !full {
            need.push(json!("emit"));
        }
    }
    props.insert(
        "sweep".into(),
        json!({"type": "object", "description": "one node per value: {\"n\": [1, 2, 3]}; the binder is a name in `args` ({\"expr\": \"n\"})",
               "additionalProperties": if full { json!({"$ref": "#/$defs/value"}) } else { json!({"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 8}) }}),
    );
    if full {
        props.insert("device".into(), json!({"type": "array", "items": {"enum": t.devices}}));
        props.insert("backend".into(), json!({"enum": ["local", "slurm", "k8s"]}));
        props.insert("props".into(), json!({"type": "object", "additionalProperties": {"$ref": "#/$defs/value"}}));
        props.insert("doc".into(), json!({"type": "string"}));
    }
    json!({"type": "object", "properties": props, "required": need, "additionalProperties": false})
}

/// The values a parameter takes: its typed shape; another node's output
/// where one fits (`expr = derivative.expr`); in the full profile also a
/// param or any expression.
fn value_schema(p: &ParamSchema, ty: &Ty, tools: &[Arc<ToolSchema>], full: bool) -> Json {
    let typed = typed_schema(p, ty, tools, full);
    let scalar_ref = matches!(ty, Ty::Int | Ty::Float | Ty::String | Ty::Bool) && !outputs_for(ty, tools).is_empty();
    let mut alts = vec![typed];
    if full || scalar_ref {
        alts.push(json!({"$ref": "#/$defs/ref"}));
    }
    if full {
        alts.push(json!({"$ref": "#/$defs/param"}));
    }
    // A sweep's binder is a name; the full form takes any expression.
    if full || matches!(ty, Ty::Int | Ty::Float) {
        alts.push(json!({"$ref": "#/$defs/expr"}));
    }
    if alts.len() == 1 { alts.remove(0) } else { json!({"anyOf": alts}) }
}

fn typed_schema(p: &ParamSchema, ty: &Ty, tools: &[Arc<ToolSchema>], full: bool) -> Json {
    match ty {
        Ty::Int => json!({"type": "integer"}),
        Ty::Float => json!({"type": "number"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::String => match string_choices(p) {
            Some(c) => json!({"enum": c}),
            None if full => json!({"type": "string"}),
            None => json!({"type": "string", "maxLength": 60}),
        },
        Ty::Path => json!({"type": "string", "maxLength": if full { 4096 } else { 60 }}),
        Ty::Quantity(dim) => {
            let unit = if full { json!({"type": "string"}) } else { json!({"enum": units_of(*dim)}) };
            json!({"type": "object", "properties": {"value": {"type": "number"}, "unit": unit}, "required": ["value", "unit"], "additionalProperties": false})
        }
        Ty::List(e) => {
            let inner = if full { value_schema(p, e, tools, true) } else { typed_schema(p, e, tools, false) };
            if e.is_data() || matches!(**e, Ty::Union(_)) {
                // A list of outputs, or every instance's output of a sweep.
                json!({"anyOf": [{"type": "array", "items": inner}, {"$ref": "#/$defs/ref"}]})
            } else if full {
                json!({"type": "array", "items": inner})
            } else {
                json!({"type": "array", "items": inner, "maxItems": 8})
            }
        }
        Ty::Fn => json!({"$ref": "#/$defs/expr"}),
        Ty::Record => json!({"$ref": "#/$defs/expr"}),
        _ => json!({"$ref": "#/$defs/ref"}),
    }
}
