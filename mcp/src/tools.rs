//! The tools: names, descriptions, MCP annotations, and input and output
//! schemas generated from the types of `api`.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value as Json, json};

use super::api::*;

/// Methods of `experiment_orchestrator`.
pub const ORCHESTRATOR: [&str; 5] = ["define_dag", "validate_dag", "run_dag", "publish_report", "collaborate_share"];
/// Methods of `distributed_collaboration`.
pub const COLLABORATION: [&str; 4] = ["job_submit", "session_share", "lab_notebook", "artifact_versioning"];

/// Whether `tools/list` names a tool `name`.
pub fn exists(name: &str) -> bool {
    matches!(name, "experiment_orchestrator" | "distributed_collaboration")
        || ORCHESTRATOR.contains(&name)
        || COLLABORATION.contains(&name)
}

/// The JSON schema of `T`, self-contained (no `$ref`s), without the
/// meta-schema line.
pub fn schema_of<T: JsonSchema>() -> Json {
    let schema = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>();
    let mut v = serde_json::to_value(&schema).unwrap_or(json!({"type": "object"}));
    if let Json::Object(m) = &mut v {
        m.remove("$schema");
    }
    v
}

/// The input schema of one method.
pub fn input_of(method: &str) -> Json {
    match method {
        "define_dag" => schema_of::<DefineDag>(),
        "validate_dag" => schema_of::<ValidateDag>(),
        "run_dag" => schema_of::<RunDag>(),
        "publish_report" => schema_of::<phx_app::report::PublishRequest>(),
        "collaborate_share" | "session_share" => schema_of::<Share>(),
        "job_submit" => schema_of::<JobSubmit>(),
        "lab_notebook" => schema_of::<LabNotebook>(),
        "artifact_versioning" => schema_of::<ArtifactVersioning>(),
        _ => json!({"type": "object"}),
    }
}

/// The output schema of one method's successful result.
pub fn output_of(method: &str) -> Json {
    match method {
        "define_dag" => schema_of::<Reply<Defined>>(),
        "validate_dag" => schema_of::<Reply<Validated>>(),
        "run_dag" => schema_of::<Reply<Ran>>(),
        "publish_report" => schema_of::<Reply<Published>>(),
        "collaborate_share" | "session_share" => schema_of::<Reply<Shared>>(),
        "job_submit" => schema_of::<Reply<Submitted>>(),
        "lab_notebook" => schema_of::<Reply<Noted>>(),
        "artifact_versioning" => schema_of::<Reply<Versioned>>(),
        _ => json!({"type": "object"}),
    }
}

/// What a tool result's `structuredContent` may be: one of the methods'
/// results, or a failure.
fn output_schema(methods: &[&str]) -> Json {
    let mut any: Vec<Json> = methods.iter().map(|m| output_of(m)).collect();
    any.push(schema_of::<Failure>());
    json!({"type": "object", "anyOf": any})
}

/// A routed tool's input: `method` and the union of its methods'
/// properties (each method checks its own when called).
fn routed_input(methods: &[&str]) -> Json {
    let mut props = Map::new();
    props.insert("method".into(), json!({"type": "string", "enum": methods, "description": "Which method to call."}));
    for m in methods {
        if let Some(p) = input_of(m).get("properties").and_then(Json::as_object) {
            for (k, v) in p {
                props.entry(k.clone()).or_insert(v.clone());
            }
        }
    }
    json!({"type": "object", "properties": props, "required": ["method"]})
}

/// MCP tool annotations: what a method may do to the world.
fn annotations(methods: &[&str]) -> Json {
    let read_only = methods.iter().all(|m| matches!(*m, "validate_dag" | "artifact_versioning"));
    // Runs write results and may run commands; shares and entries are new
    // records, never a change to what exists.
    let open_world = methods.iter().any(|m| matches!(*m, "run_dag" | "job_submit" | "define_dag"));
    let idempotent = methods.iter().all(|m| matches!(*m, "validate_dag" | "artifact_versioning" | "define_dag"));
    json!({"readOnlyHint": read_only, "destructiveHint": false, "idempotentHint": idempotent, "openWorldHint": open_world})
}

fn tool(name: &str, title: &str, description: &str, methods: &[&str], routed: bool) -> Json {
    let input = if routed { routed_input(methods) } else { input_of(methods[0]) };
    let mut a = annotations(methods);
    a["title"] = json!(title);
    json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": input,
        "outputSchema": output_schema(methods),
        "annotations": a,
    })
}

/// Every tool, consolidated ones first, then the methods under their own names.
pub fn list() -> Vec<Json> {
    let mut out = vec![
        tool(
            "experiment_orchestrator",
            "Define, check, run and report phx experiments",
            "Route by `method`: define_dag (from .phx `source`, a DAG `spec`, a `path` in the experiment folder, or `natural_language`), validate_dag, run_dag (policy, backend, parallelism; progress notifications per node; cancellable; programs that run commands, cluster backends and files outside the experiment folder need the server's grants, see `initialize` instructions), publish_report (PDF), collaborate_share (a signed bundle and a link).",
            &ORCHESTRATOR,
            true,
        ),
        tool(
            "distributed_collaboration",
            "Cluster jobs, sharing, the lab notebook and artifact history",
            "Route by `method`: job_submit (slurm or k8s: env, resources, outputs, image and volume mounts on Kubernetes; the log streams as progress; needs the server's --allow-cluster grant), session_share, lab_notebook (a signed entry, optionally about a run, with its report attached), artifact_versioning (hash, lineage, cache status).",
            &COLLABORATION,
            true,
        ),
    ];
    for m in ORCHESTRATOR.iter().chain(COLLABORATION.iter()) {
        out.push(tool(m, m, &format!("The `{m}` method under its own name."), &[m], false));
    }
    out
}

/// A successful result: a text summary and the structured result.
pub fn success(summary: String, structured: Json) -> Json {
    json!({"content": [{"type": "text", "text": summary}], "structuredContent": structured, "isError": false})
}

/// A failed call: a message that says what to change.
pub fn failure(f: &Failure) -> Json {
    let text = match &f.help {
        Some(h) => format!("{} [{}]\nhelp: {h}", f.error, f.code),
        None => format!("{} [{}]", f.error, f.code),
    };
    json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": serde_json::to_value(f).unwrap_or(Json::Null),
        "isError": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method's input schema is the schema of its Rust type: a field
    /// added to the type appears in the tool with no other edit.
    #[test]
    fn every_schema_is_generated_from_the_rust_types() {
        let tools = list();
        let by_name = |n: &str| tools.iter().find(|t| t["name"] == n).cloned().expect("listed");
        assert_eq!(by_name("run_dag")["inputSchema"], schema_of::<RunDag>());
        assert_eq!(by_name("job_submit")["inputSchema"], schema_of::<JobSubmit>());
        for m in ORCHESTRATOR.iter().chain(COLLABORATION.iter()) {
            let t = by_name(m);
            assert_eq!(t["inputSchema"], input_of(m), "{m}");
            assert_eq!(t["outputSchema"]["anyOf"][0], output_of(m), "{m}");
            assert_eq!(t["inputSchema"]["type"], "object", "{m}");
            assert!(!t.to_string().contains("$ref"), "{m}: schemas are self-contained");
        }
        // The routed tools offer every property of every method.
        let orchestrator = by_name("experiment_orchestrator");
        for field in ["source", "spec", "natural_language", "dag_id", "policy", "backend", "parallelism", "run_id"] {
            assert!(orchestrator["inputSchema"]["properties"].get(field).is_some(), "{field}");
        }
        // A field of a nested application type reaches the schema too.
        let job = &by_name("job_submit")["inputSchema"]["properties"]["job"]["properties"];
        for field in ["command", "env", "resources", "outputs", "image", "mounts"] {
            assert!(job.get(field).is_some(), "job.{field}");
        }
        let policy = by_name("run_dag")["inputSchema"]["properties"]["policy"].to_string();
        for p in ["local_first", "remote_first", "auto"] {
            assert!(policy.contains(p), "{policy}");
        }
    }

    /// No object lists a property twice among its required ones (a
    /// flattened field named like one of the envelope's would).
    #[test]
    fn required_properties_are_unique() {
        fn walk(v: &Json, at: &str) {
            match v {
                Json::Object(m) => {
                    if let Some(Json::Array(req)) = m.get("required") {
                        let mut names: Vec<&str> = req.iter().filter_map(Json::as_str).collect();
                        names.sort_unstable();
                        let before = names.len();
                        names.dedup();
                        assert_eq!(before, names.len(), "{at}: {req:?}");
                    }
                    for (k, x) in m {
                        walk(x, &format!("{at}/{k}"));
                    }
                }
                Json::Array(items) => items.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{at}/{i}"))),
                _ => {}
            }
        }
        for t in list() {
            walk(&t, t["name"].as_str().unwrap_or(""));
        }
    }

    #[test]
    fn exactly_the_listed_tools_exist() {
        for t in list() {
            assert!(exists(t["name"].as_str().unwrap()), "{}", t["name"]);
        }
        assert_eq!(list().len(), 2 + ORCHESTRATOR.len() + COLLABORATION.len());
        for name in ["", "fly", "Run_dag", "run_dag ", "experiment_orchestrator/run_dag"] {
            assert!(!exists(name), "{name}");
        }
    }

    #[test]
    fn every_tool_says_what_it_may_do() {
        for t in list() {
            let a = &t["annotations"];
            for hint in ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] {
                assert!(a[hint].is_boolean(), "{}: {hint}", t["name"]);
            }
        }
        let validate = list().into_iter().find(|t| t["name"] == "validate_dag").unwrap();
        assert_eq!(validate["annotations"]["readOnlyHint"], true);
        let run = list().into_iter().find(|t| t["name"] == "run_dag").unwrap();
        assert_eq!(run["annotations"]["readOnlyHint"], false);
    }
}
