//! The tools' names, input and output schemas, and result shapes.

use serde_json::{Value as Json, json};

/// Methods of `experiment_orchestrator`.
pub const ORCHESTRATOR: [&str; 5] = ["define_dag", "validate_dag", "run_dag", "publish_report", "collaborate_share"];
/// Methods of `distributed_collaboration`.
pub const COLLABORATION: [&str; 4] = ["job_submit", "session_share", "lab_notebook", "artifact_versioning"];

/// The properties each method takes.
fn method_properties(method: &str) -> Json {
    match method {
        "define_dag" => json!({
            "source": {"type": "string", "description": "A .phx program."},
            "spec": {"type": "object", "description": "The JSON form of a DAG (as `phx export --json` writes it)."},
            "natural_language": {"type": "string", "description": "What the experiment should do, in words; phx asks your model to write it (MCP sampling) and repairs it with the compiler's diagnostics."},
        }),
        "validate_dag" => json!({
            "dag_id": {"type": "string", "description": "From define_dag."},
            "source": {"type": "string", "description": "A .phx program, instead of dag_id."},
        }),
        "run_dag" => json!({
            "dag_id": {"type": "string"},
            "source": {"type": "string"},
            "policy": {"type": "string", "enum": ["local_first", "remote_first", "auto"]},
            "parallelism": {"type": "integer", "minimum": 1, "maximum": 256},
        }),
        "publish_report" => json!({
            "run_id": {"type": "string", "description": "From run_dag."},
            "title": {"type": "string"},
            "authors": {"type": "array", "items": {"type": "string"}},
            "bibliography": {"type": "array", "items": {"type": "string"}, "description": "BibTeX entries, one per item."},
        }),
        "collaborate_share" | "session_share" => json!({
            "run_id": {"type": "string"},
            "participants": {"type": "array", "items": {"type": "string"}},
            "access": {"type": "string", "enum": ["read", "write"]},
            "expires": {"type": "string", "description": "e.g. 72h"},
        }),
        "job_submit" => json!({
            "backend": {"type": "string", "enum": ["slurm", "k8s"]},
            "job": {"type": "object", "description": "`command` (run by /bin/sh on the cluster), `env` (name to value), `resources` (`cpus`, `gpus`, `mem_mb`, `time_s`), `outputs` (files the command writes, returned as artifacts); `image` and `mounts` are for Kubernetes"},
        }),
        "lab_notebook" => json!({
            "title": {"type": "string"},
            "markdown": {"type": "string"},
            "attach": {"type": "array", "items": {"type": "string"}, "description": "Run ids, artifact hashes or file paths."},
        }),
        "artifact_versioning" => json!({
            "artifact": {"type": "string", "description": "A SHA-256 or a unique prefix of one."},
            "node": {"type": "string", "description": "A node name: its artifacts across runs."},
        }),
        _ => json!({}),
    }
}

fn required(method: &str) -> Vec<&'static str> {
    match method {
        "publish_report" => vec!["run_id"],
        "lab_notebook" => vec!["title"],
        "job_submit" => vec!["backend", "job"],
        _ => vec![],
    }
}

/// What every result's `structuredContent` holds; each method adds its own
/// fields (the schema leaves them open).
fn output_schema() -> Json {
    json!({
        "type": "object",
        "properties": {
            "method": {"type": "string"},
            "ok": {"type": "boolean"},
            "dag_id": {"type": "string"},
            "diagnostics": {"type": "array", "items": {"type": "object", "properties": {
                "code": {"type": "string"}, "severity": {"type": "string"}, "message": {"type": "string"},
                "line": {"type": "integer"}, "column": {"type": "integer"}, "help": {"type": ["string", "null"]}
            }, "required": ["code", "severity", "message", "line", "column"]}},
            "nodes": {"type": "array"},
            "edges": {"type": "array"},
            "program": {"type": "string"},
            "run_id": {"type": "string"},
            "status": {"type": "string"},
            "cache_hits": {"type": "integer"},
            "device_mix": {"type": "object"},
            "artifacts": {"type": "array"},
            "reportable": {"type": "object"},
            "report": {"type": ["string", "null"]},
            "entry": {"type": "object"},
            "error": {"type": ["string", "null"]},
            "backend": {"type": "string"},
            "job_id": {"type": ["string", "null"]},
            "log": {"type": "object", "properties": {"stdout": {"type": "string"}, "stderr": {"type": "string"}}},
            "provenance": {"type": "object"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "url": {"type": "string"},
            "share_id": {"type": "string"},
            "bundle": {"type": ["string", "null"]}
        },
        "required": ["method", "ok"]
    })
}

fn tool(name: &str, title: &str, description: &str, methods: &[&str], routed: bool) -> Json {
    let mut props = serde_json::Map::new();
    let mut req: Vec<&str> = Vec::new();
    if routed {
        props.insert("method".into(), json!({"type": "string", "enum": methods}));
        req.push("method");
    }
    for m in methods {
        if let Json::Object(p) = method_properties(m) {
            for (k, v) in p {
                props.entry(k).or_insert(v);
            }
        }
        if !routed {
            req.extend(required(m));
        }
    }
    json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": {"type": "object", "properties": props, "required": req},
        "outputSchema": output_schema(),
    })
}

/// Every tool, consolidated ones first, then the legacy names.
pub fn list() -> Vec<Json> {
    let mut out = vec![
        tool(
            "experiment_orchestrator",
            "Define, check, run and report phx experiments",
            "Route by `method`: define_dag (from .phx `source`, a DAG `spec`, or `natural_language`), validate_dag, run_dag (policy, parallelism), publish_report (PDF), collaborate_share.",
            &ORCHESTRATOR,
            true,
        ),
        tool(
            "distributed_collaboration",
            "Cluster jobs, sharing, the lab notebook and artifact history",
            "Route by `method`: job_submit (slurm or k8s), session_share, lab_notebook (a signed entry), artifact_versioning (hash, lineage, cache status).",
            &COLLABORATION,
            true,
        ),
    ];
    for m in ORCHESTRATOR.iter().chain(COLLABORATION.iter()) {
        out.push(tool(
            m,
            m,
            &format!("The `{m}` method under its own name, for clients that predate the consolidated tools."),
            &[m],
            false,
        ));
    }
    out
}

/// A successful result.
pub fn success(summary: String, structured: Json) -> Json {
    json!({"content": [{"type": "text", "text": summary}], "structuredContent": structured, "isError": false})
}

/// A failed call: a message that says what to change.
pub fn failure(message: String) -> Json {
    failure_of("", message)
}

/// A failed call of `method`.
pub fn failure_of(method: &str, message: String) -> Json {
    json!({
        "content": [{"type": "text", "text": message}],
        "structuredContent": {"method": method, "ok": false, "error": message},
        "isError": true,
    })
}
