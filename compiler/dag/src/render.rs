//! Text renderings of the DAG: Graphviz dot and Mermaid.

use crate::Dag;

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz `dot` text: one box per vertex (id and tool), one arrow per
/// edge labelled with the output (dashed for `after`).
pub fn to_dot(dag: &Dag) -> String {
    let mut out =
        String::from("digraph phx {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    if let Some(e) = &dag.experiment {
        out.push_str(&format!("  label=\"{}\";\n", dot_escape(&e.name)));
    }
    for v in dag.vertices() {
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\\n{}\"];\n",
            dot_escape(&v.id),
            dot_escape(&v.id),
            dot_escape(&v.tool)
        ));
    }
    for e in &dag.edges() {
        match &e.output {
            Some(o) => out.push_str(&format!(
                "  \"{}\" -> \"{}\" [label=\"{}\"];\n",
                dot_escape(&e.from),
                dot_escape(&e.to),
                dot_escape(o)
            )),
            None => {
                out.push_str(&format!("  \"{}\" -> \"{}\" [style=dashed];\n", dot_escape(&e.from), dot_escape(&e.to)))
            }
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid_id(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// Mermaid flowchart text.
pub fn to_mermaid(dag: &Dag) -> String {
    let mut out = String::from("flowchart LR\n");
    for v in dag.vertices() {
        out.push_str(&format!(
            "  {}[\"{}<br/><small>{}</small>\"]\n",
            mermaid_id(&v.id),
            v.id.replace('"', "#quot;"),
            v.tool
        ));
    }
    for e in &dag.edges() {
        match &e.output {
            Some(o) => out.push_str(&format!("  {} -->|{}| {}\n", mermaid_id(&e.from), o, mermaid_id(&e.to))),
            None => out.push_str(&format!("  {} -.-> {}\n", mermaid_id(&e.from), mermaid_id(&e.to))),
        }
    }
    out
}
