//! The tool schemas and the language, documented for people (Markdown),
//! programs (JSON) and LLMs (a compact prompt-sized summary).

use std::fmt::Write as _;

use phx_sema::schema::ToolSchema;
use phx_sema::value::Value;
use serde_json::{Value as Json, json};

use crate::queries::stdlib;

/// Every stdlib tool, sorted by name.
pub fn tools() -> Vec<&'static ToolSchema> {
    let mut v: Vec<&ToolSchema> = stdlib().values().map(|s| s.as_ref()).collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn conditions(t: &ToolSchema, p: &phx_sema::schema::ParamSchema, kind: phx_syntax::ast::ConditionKind) -> Vec<String> {
    let _ = t;
    p.conditions.iter().filter(|c| c.kind == kind).map(|c| c.text.clone()).collect()
}

/// One tool as JSON.
pub fn tool_json(t: &ToolSchema) -> Json {
    use phx_syntax::ast::ConditionKind as K;
    json!({
        "name": t.name,
        "doc": t.doc,
        "signature": t.signature(),
        "params": t.params.iter().map(|p| json!({
            "name": p.name,
            "type": p.ty.to_string(),
            "default": p.default_text,
            "required": p.default.is_none(),
            "doc": p.doc,
            "where": conditions(t, p, K::Where),
            "cap": conditions(t, p, K::Cap),
        })).collect::<Vec<_>>(),
        "outputs": t.outputs.iter().map(|o| json!({"name": o.name, "type": o.ty.to_string(), "doc": o.doc})).collect::<Vec<_>>(),
        "emits": t.emits,
        "devices": t.devices,
        "version": t.version,
    })
}

/// All tools, units and constants as one JSON document.
pub fn json_doc(only: Option<&ToolSchema>) -> Json {
    if let Some(t) = only {
        return tool_json(t);
    }
    json!({
        "language_version": "0.1",
        "tools": tools().into_iter().map(tool_json).collect::<Vec<_>>(),
        "units": phx_units::UNITS.iter().map(|u| json!({"name": u.name, "dimension": u.dim.to_string(), "si_factor": u.factor, "description": u.description})).collect::<Vec<_>>(),
        "constants": phx_units::CONSTANTS.iter().map(|c| json!({"name": c.name, "value": c.value, "unit": c.unit, "description": c.description, "exact": c.exact})).collect::<Vec<_>>(),
        "node_properties": phx_sema::check::NODE_PROPS.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
        "diagnostic_codes": phx_diagnostics::Code::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
    })
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// One tool as Markdown.
pub fn tool_markdown(t: &ToolSchema, out: &mut String) {
    use phx_syntax::ast::ConditionKind as K;
    let _ = writeln!(out, "## `{}`\n", t.name);
    if let Some(d) = &t.doc {
        let _ = writeln!(out, "{d}\n");
    }
    let _ = writeln!(out, "```phx\n{}\n```\n", t.signature());
    let _ = writeln!(out, "| parameter | type | default | conditions | description |\n| --- | --- | --- | --- | --- |");
    for p in &t.params {
        let mut conds: Vec<String> = conditions(t, p, K::Where).into_iter().map(|c| format!("where `{c}`")).collect();
        conds.extend(conditions(t, p, K::Cap).into_iter().map(|c| format!("cap `{c}`")));
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} | {} |",
            p.name,
            md_escape(&p.ty.to_string()),
            p.default_text.as_deref().map_or("required".to_string(), |d| format!("`{}`", md_escape(d))),
            md_escape(&conds.join(", ")),
            md_escape(p.doc.as_deref().unwrap_or(""))
        );
    }
    let _ = writeln!(out, "\n| output | type | description |\n| --- | --- | --- |");
    output_rows(t, out);
    let emits = if t.emits.is_empty() { "nothing".to_string() } else { t.emits.join(", ") };
    let _ = writeln!(out, "\nEmits: {emits}. Devices: {}. Version: {}.\n", t.devices.join(", "), t.version);
}

/// Every tool, the units and the constants as Markdown.
pub fn markdown(only: Option<&ToolSchema>) -> String {
    let mut out = String::new();
    if let Some(t) = only {
        tool_markdown(t, &mut out);
        return out;
    }
    out.push_str("# The phx standard library\n\n");
    for t in tools() {
        tool_markdown(t, &mut out);
    }
    out.push_str("## Units\n\n| unit | dimension | in SI | |\n| --- | --- | --- | --- |\n");
    for u in phx_units::UNITS {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            u.name,
            md_escape(&u.dim.to_string()),
            phx_units::format_f64(u.factor),
            u.description
        );
    }
    out.push_str(
        "\n## Constants (`constants.NAME`, CODATA 2022)\n\n| name | value | unit | |\n| --- | --- | --- | --- |\n",
    );
    for c in phx_units::CONSTANTS {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {}{} |",
            c.name,
            phx_units::format_f64(c.value),
            c.unit,
            c.description,
            if c.exact { " (exact)" } else { "" }
        );
    }
    out
}

/// The header of every generated page of the book: where it comes from.
fn generated_note(from: &str) -> String {
    format!(
        "<!-- Generated from {from}; do not edit. `PHX_BLESS=1 cargo test --test docs` writes it again (tests/docs.rs fails when it differs). -->\n\n"
    )
}

/// A tool's page in the book (`docs/src/stdlib/NAME.md`): its doc, its
/// signature, every parameter with its unit, default, `where` and `cap`,
/// its outputs, emits, devices and version, then the hand-written notes on
/// its physics, accuracy and an example (`notes/NAME.md`).
pub fn book_page(t: &ToolSchema) -> String {
    use phx_syntax::ast::ConditionKind as K;
    let family = t.name.split('.').next().unwrap_or(&t.name);
    let mut out = generated_note(&format!("the declaration of `{}` in stdlib/tools/{family}.phx", t.name));
    let _ = writeln!(out, "# {}\n", t.name);
    if let Some(d) = &t.doc {
        let _ = writeln!(out, "{d}\n");
    }
    let _ = writeln!(out, "```text\n{}\n```\n", t.signature());
    out.push_str("## Parameters\n\n");
    if t.params.is_empty() {
        out.push_str("None.\n\n");
    } else {
        out.push_str(
            "| parameter | type | default | where | cap | description |\n| --- | --- | --- | --- | --- | --- |\n",
        );
        for p in &t.params {
            let code = |v: Vec<String>| v.iter().map(|c| format!("`{}`", md_escape(c))).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} | {} | {} |",
                p.name,
                md_escape(&p.ty.to_string()),
                p.default_text.as_deref().map_or("required".to_string(), |d| format!("`{}`", md_escape(d))),
                code(conditions(t, p, K::Where)),
                code(conditions(t, p, K::Cap)),
                md_escape(p.doc.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
    }
    out.push_str("## Outputs\n\n| output | type | description |\n| --- | --- | --- |\n");
    output_rows(t, &mut out);
    let emits = if t.emits.is_empty() {
        "nothing (a node of it needs no `emit`)".to_string()
    } else {
        t.emits.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
    };
    let devices = t.devices.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        out,
        "\n## Emits, devices, version\n\n- Emits: {emits}.\n- Devices, in the tool's order of preference: {devices}.\n- Version: `{}` (part of every cache key of its nodes).\n",
        t.version
    );
    let _ = writeln!(out, "{{{{#include notes/{}.md}}}}", t.name);
    out
}

/// The book's unit table (`docs/src/reference/units.md`): every unit, the
/// named quantity kinds and the constants, from the compiler's own tables.
pub fn units_page() -> String {
    let mut out = generated_note("the compiler's unit and constant tables (compiler/units)");
    out.push_str(
        "# The unit table\n\nEvery unit a quantity may be written in (`24 bohr`, `1.5 eV`, `9.81 [m/s^2]`), its\ndimension and its exact factor to SI. Units combine in brackets with `*`, `/`\nand integer powers `^`: `[kg*m^2/s^2]`, `[m/s^2]`, `[1/cm]`. A quantity\nkeeps its value in SI with full precision, so converting is exact up to\nthe factors below (CODATA 2022; exact where the SI defines them).\n\n",
    );
    out.push_str("## Units\n\n| unit | what it is | dimension | in SI |\n| --- | --- | --- | --- |\n");
    for u in phx_units::UNITS {
        let _ = writeln!(
            out,
            "| `{}` | {} | `{}` | {} |",
            u.name,
            md_escape(u.description),
            md_escape(&u.dim.to_string()),
            phx_units::format_f64(u.factor)
        );
    }
    out.push_str("\n## Quantity types\n\nA parameter or `param` of one of these types takes a quantity of that\ndimension; any other dimension is `phx::unit-mismatch`. `Quantity[UNIT]` names\nany other dimension (`Quantity[m/s^2]`).\n\n| type | dimension in SI base units |\n| --- | --- |\n");
    for (name, dim) in phx_units::KINDS {
        let _ = writeln!(out, "| `{name}` | `{}` |", md_escape(&dim.si_units()));
    }
    out.push_str("\n## Constants\n\n`constants.NAME` in any expression is the constant as a quantity with\nits dimension (`constants.h * constants.c / (1.5 eV)` is a Length).\n\n| name | what it is | value | unit |\n| --- | --- | --- | --- |\n");
    for c in phx_units::CONSTANTS {
        let _ = writeln!(
            out,
            "| `{}` | {}{} | {} | `{}` |",
            c.name,
            md_escape(c.description),
            if c.exact { " (exact)" } else { "" },
            phx_units::format_f64(c.value),
            c.unit
        );
    }
    out
}

/// The language summary for LLMs.
pub const LANGUAGE_SUMMARY: &str = r#"# phx in brief (language 0.1)
A `.phx` file declares one experiment as a DAG of tool calls. Items, in any order:
- `experiment NAME { title = "...", authors = ["..."], policy = local_first }` (policy: local_first | remote_first | auto)
- `param NAME: TYPE = DEFAULT` (override: `phx run f.phx --set NAME=VALUE`); `let NAME = EXPR` (compile-time constant)
- `fn NAME(x: Float, ...) -> Float { let r = sqrt(x * x); exp(-r) }`: pure numeric, Int/Float/Bool, `if c { a } else { b }`,
  builtins sin cos tan asin acos atan atan2 sinh cosh tanh exp ln log10 sqrt abs pow min max floor ceil, constant pi; no recursion
- `node NAME = ns.tool(arg = EXPR, ...) { emit = [static, series], device = [gpu, cpu], resources = { cpus = 4, mem = 8 GiB }, retries = 1, timeout = 30 min, allow_large = true, cache = true, after = [other] }`
  Arguments are always named. `other.output` refers to another node's output and adds an edge.
  `emit` is REQUIRED when the tool can emit anything (missing: phx::missing-emit) and must be a subset of the tool's emits.
- Sweeps: `node scan[v in 1..4] = ...` (1..=4 inclusive, linspace(a, b, n), [a, b, c]; several binders = cartesian product).
  `scan[2].out` is one instance's output, `scan[*].out` the list of all.
- `tool ns.name(p: Type = default where COND cap COND) -> (out: Type) { run = "cmd {p} {p:K} --out {out}", emits = [series], device = [cpu], version = "1" }`
- `import "other.phx" as lib` brings lib.fn, lib.let, lib.param and lib.ns.tool (never nodes).
- `report NAME { title = "...", bibliography = "refs.bib", section "Results" { text "markdown [@key]"  figure NODE { caption = "..." }  table NODE.output { rows = 12 } } }`
Types: Int Float Bool String Path; quantities Length Time Mass Energy Temperature Charge Angle Frequency Memory Dimensionless or `Quantity[m/s^2]`;
List[T], records { k = v }, Field1D Field2D Field3D Series Image Animation File Fn.
Quantities: `24 bohr`, `1.5 eV`, `300 K`, `2 h`, `8 GiB`, `9.81 [m/s^2]`; a quantity of the wrong dimension is phx::unit-mismatch. `constants.hbar` etc. (CODATA 2022).
Caps (e.g. grid <= 160, frames <= 300) fail with phx::cap-exceeded unless the node sets `allow_large = true`.
Diagnostics: phx::syntax unknown-name duplicate-name unknown-tool unknown-arg missing-arg type-mismatch unit-mismatch constraint cap-exceeded missing-emit unsupported-emit unsupported-device unknown-output cycle not-visual import; warnings allow-large unused raw-placeholder. `phx explain-code CODE` explains one.
"#;

/// The prompt-sized summary: the language, every tool's signature and doc,
/// and two complete examples.
pub fn llm() -> String {
    let mut out = String::from(LANGUAGE_SUMMARY);
    out.push_str("\n# Tools (signature; emits; devices; doc)\n");
    for t in tools() {
        let caps: Vec<String> = t
            .params
            .iter()
            .flat_map(|p| {
                p.conditions.iter().filter(|c| c.kind == phx_syntax::ast::ConditionKind::Cap).map(|c| c.text.clone())
            })
            .collect();
        let wheres: Vec<String> = t
            .params
            .iter()
            .flat_map(|p| {
                p.conditions.iter().filter(|c| c.kind == phx_syntax::ast::ConditionKind::Where).map(|c| c.text.clone())
            })
            .collect();
        let emits = if t.emits.is_empty() { "-".to_string() } else { t.emits.join(" ") };
        let _ = write!(out, "- {}; emits {emits}; {}", t.signature(), t.devices.join(" "));
        if !wheres.is_empty() {
            let _ = write!(out, "; where {}", wheres.join(", "));
        }
        if !caps.is_empty() {
            let _ = write!(out, "; caps {}", caps.join(", "));
        }
        let _ = writeln!(out, ". {}", t.doc.as_deref().unwrap_or("").replace('\n', " "));
    }
    out.push_str("\n# Example 1: examples/hydrogen_2p.phx\n```phx\n");
    out.push_str(include_str!("../../../examples/hydrogen_2p.phx"));
    out.push_str("```\n\n# Example 2: examples/harmonic_scan.phx\n```phx\n");
    out.push_str(include_str!("../../../examples/harmonic_scan.phx"));
    out.push_str("```\n");
    out
}

/// A value as a short text, for summaries.
pub fn value_text(v: &Value) -> String {
    v.to_string()
}

/// The rows of a tool's output table (`| output | type | description |`).
fn output_rows(t: &ToolSchema, out: &mut String) {
    for o in &t.outputs {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} |",
            o.name,
            md_escape(&o.ty.to_string()),
            md_escape(o.doc.as_deref().unwrap_or(""))
        );
    }
}
