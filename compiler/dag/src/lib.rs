//! The DAG IR: one vertex per node instance, edges from output references
//! and `after`, cycle detection, and the static key of every vertex
//! (language spec, section 5). This is the contract between the compiler
//! and the runtime: a vertex carries everything needed to run it.

mod json;
mod render;

pub use json::{dag_to_json, value_to_json};
pub use render::{to_dot, to_mermaid};

use std::collections::HashMap;
use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use phx_diagnostics::{Code, Diagnostic};
use phx_sema::check::CheckedNode;
pub use phx_sema::check::NodeProps;
pub use phx_sema::enums::{BackendKind, Device, Emit};
use phx_sema::value::{Instances, OutputRef, Value, json_string};
use phx_syntax::Span;
use sha2::{Digest, Sha256};

/// One edge of the DAG.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The output that flows (`None` for an `after` edge).
    pub output: Option<String>,
    /// The argument of `to` that receives it.
    pub arg: Option<String>,
}

/// One node instance, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Vertex {
    /// `density`, or `scan[3]` for an instance of a sweep.
    pub id: String,
    /// The node's name.
    pub node: String,
    pub index: Option<usize>,
    pub tool: String,
    pub tool_version: String,
    /// Whether the tool is built into phx (stdlib) or command-backed.
    pub builtin: bool,
    pub run: Option<String>,
    pub image: Option<String>,
    pub bindings: Arc<[(String, Value)]>,
    /// Every parameter, defaults filled in; output references stay symbolic.
    pub args: Arc<[(String, Value)]>,
    /// Each parameter's declared type, as written (`File`, `List[File]`);
    /// shared by every instance of a node.
    pub param_types: Arc<[(String, String)]>,
    /// Each output of the tool, with its type's name; shared by every
    /// instance of a node.
    pub outputs: Arc<[(String, String)]>,
    /// The node's properties, typed as the checker read them (`emit`,
    /// `device`, `backend`, `resources` with the tool's defaults filled in,
    /// `retries`, `timeout`, `allow_large`, `cache`, `after`).
    pub props: NodeProps,
    pub caps_lifted: Vec<String>,
    /// Vertex ids this one waits for (data and `after`).
    pub depends_on: Vec<String>,
    /// SHA-256 of the tool, its version, its canonical arguments and the
    /// static keys of its inputs.
    pub static_key: String,
    /// The lowered IR of every `fn` its arguments pass, by body hash: what a
    /// tool evaluates (and what a worker elsewhere needs).
    pub functions: Vec<(String, Arc<phx_sema::fnir::FnIr>)>,
}

/// Experiment-level settings carried into the IR.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExperimentInfo {
    pub name: String,
    pub fields: Vec<(String, Value)>,
}

impl ExperimentInfo {
    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The policy (default `local_first`).
    pub fn policy(&self) -> String {
        match self.field("policy") {
            Some(Value::Enum(_, p)) => p.clone(),
            _ => "local_first".into(),
        }
    }
}

/// The whole DAG of a program.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Dag {
    pub experiment: Option<ExperimentInfo>,
    pub params: Vec<(String, Value)>,
    /// Vertices in a topological order (inputs before their users).
    pub vertices: Vec<Vertex>,
    pub edges: Vec<Edge>,
}

impl Dag {
    /// A vertex by id.
    pub fn vertex(&self, id: &str) -> Option<&Vertex> {
        self.vertices.iter().find(|v| v.id == id)
    }
}

/// Where a node is declared, for cycle diagnostics.
pub type NodeSpans = HashMap<String, Span>;

/// Builds the DAG from checked nodes (in file order). Nodes with errors
/// still get vertices, so a partial graph can be drawn; the caller knows
/// from the diagnostics whether it may run.
pub fn build(
    nodes: &[&CheckedNode],
    experiment: Option<ExperimentInfo>,
    params: Vec<(String, Value)>,
    spans: &NodeSpans,
) -> (Dag, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let default_resources: Vec<(String, Value)> = match experiment.as_ref().and_then(|e| e.field("resources")) {
        Some(Value::Record(r)) => r.clone(),
        _ => Vec::new(),
    };
    let mut vertices: Vec<Vertex> = Vec::new();
    let mut edges: Vec<Edge> = Vec::new();
    for node in nodes {
        let Some(tool) = &node.tool else { continue };
        let param_types: Arc<[(String, String)]> =
            tool.params.iter().map(|p| (p.name.clone(), p.ty.to_string())).collect();
        let outputs: Arc<[(String, String)]> =
            tool.outputs.iter().map(|o| (o.name.clone(), o.ty.to_string())).collect();
        for inst in &node.instances {
            let mut depends_on: Vec<String> = Vec::new();
            // Membership in a set: a gather over a large sweep has one
            // dependency per instance.
            let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
            for (arg, v) in inst.args.iter() {
                let mut refs = Vec::new();
                v.output_refs(&mut refs);
                for r in refs {
                    for from in r.vertex_ids() {
                        edges.push(Edge {
                            from: from.clone(),
                            to: inst.id.clone(),
                            output: Some(r.output.clone()),
                            arg: Some(arg.clone()),
                        });
                        if seen.insert(from.clone()) {
                            depends_on.push(from);
                        }
                    }
                }
            }
            for a in &inst.props.after {
                edges.push(Edge { from: a.clone(), to: inst.id.clone(), output: None, arg: None });
                if seen.insert(a.clone()) {
                    depends_on.push(a.clone());
                }
            }
            let mut resources = default_resources.clone();
            for (k, v) in &inst.props.resources {
                match resources.iter_mut().find(|(n, _)| n == k) {
                    Some(slot) => slot.1 = v.clone(),
                    None => resources.push((k.clone(), v.clone())),
                }
            }
            vertices.push(Vertex {
                id: inst.id.clone(),
                node: node.name.clone(),
                index: inst.index,
                tool: tool.name.clone(),
                tool_version: tool.version.clone(),
                builtin: tool.builtin,
                run: tool.run.clone(),
                image: tool.image.clone(),
                bindings: inst.bindings.clone(),
                args: inst.args.clone(),
                param_types: param_types.clone(),
                outputs: outputs.clone(),
                props: NodeProps { resources, ..inst.props.clone() },
                caps_lifted: inst.caps_lifted.clone(),
                depends_on,
                static_key: String::new(),
                functions: Vec::new(),
            });
        }
    }

    let ids: Vec<(&str, &str)> = vertices.iter().map(|v| (v.id.as_str(), v.node.as_str())).collect();
    let (cycle_diags, in_cycle) = cycles(&ids, edges.iter().map(|e| (e.from.as_str(), e.to.as_str())), spans);
    diags.extend(cycle_diags);
    let index_of: HashMap<&str, usize> = vertices.iter().enumerate().map(|(i, v)| (v.id.as_str(), i)).collect();

    // Topological order (Kahn), inputs first; vertices on cycles go last.
    let n = vertices.len();
    let mut indegree = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, v) in vertices.iter().enumerate() {
        for d in &v.depends_on {
            if let Some(&j) = index_of.get(d.as_str()) {
                indegree[i] += 1;
                users[j].push(i);
            }
        }
    }
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|i| indegree[*i] == 0).collect();
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                queue.push_back(u);
            }
        }
    }
    if order.len() < n {
        let mut placed = vec![false; n];
        for &i in &order {
            placed[i] = true;
        }
        order.extend((0..n).filter(|i| !placed[*i]));
    }

    drop(index_of);
    // Static keys, in topological order so inputs are ready.
    let mut keys: HashMap<String, String> = HashMap::with_capacity(n);
    for &i in &order {
        let key = if in_cycle[i] { String::new() } else { static_key(&vertices[i], &keys) };
        keys.insert(vertices[i].id.clone(), key.clone());
        vertices[i].static_key = key;
    }
    let mut slots: Vec<Option<Vertex>> = vertices.into_iter().map(Some).collect();
    let vertices: Vec<Vertex> = order.into_iter().filter_map(|i| slots[i].take()).collect();
    edges.dedup();
    (Dag { experiment, params, vertices, edges }, diags)
}

/// The cycles among vertices `(id, node)` joined by `edges` (from, to):
/// one diagnostic per set of nodes on a cycle, and which vertices are on one.
fn cycles<'a>(
    ids: &[(&'a str, &'a str)],
    edges: impl Iterator<Item = (&'a str, &'a str)>,
    spans: &NodeSpans,
) -> (Vec<Diagnostic>, Vec<bool>) {
    let mut diags = Vec::new();
    // The graph over vertices; petgraph finds the strongly connected parts.
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(ids.len(), ids.len());
    let mut index_of: HashMap<&str, NodeIndex> = HashMap::with_capacity(ids.len());
    for (i, (id, _)) in ids.iter().enumerate() {
        index_of.insert(id, graph.add_node(i));
    }
    for (from, to) in edges {
        if let (Some(&a), Some(&b)) = (index_of.get(from), index_of.get(to)) {
            graph.update_edge(a, b, ());
        }
    }
    let mut in_cycle = vec![false; ids.len()];
    let mut reported: Vec<Vec<String>> = Vec::new();
    for scc in tarjan_scc(&graph) {
        let cyclic = scc.len() > 1 || graph.contains_edge(scc[0], scc[0]);
        if !cyclic {
            continue;
        }
        for n in &scc {
            in_cycle[graph[*n]] = true;
        }
        let path = cycle_path(&graph, &scc);
        let on: Vec<String> = path.iter().map(|n| ids[graph[*n]].0.to_string()).collect();
        // Report a cycle once per set of nodes (a sweep repeats it per instance).
        let mut nodes_on: Vec<String> = path.iter().map(|n| ids[graph[*n]].1.to_string()).collect();
        nodes_on.dedup();
        let mut key = nodes_on.clone();
        key.sort();
        if reported.contains(&key) {
            continue;
        }
        reported.push(key);
        let mut shown = on.clone();
        shown.push(on[0].clone());
        let first = ids[graph[path[0]]].1;
        let span = spans.get(first).copied().unwrap_or_default();
        let mut d = Diagnostic::new(Code::Cycle, span, format!("the nodes form a cycle: {}", shown.join(" -> ")))
            .with_help("a node cannot depend on its own output; break the cycle by removing one of these references");
        for (i, id) in on.iter().enumerate() {
            let node = ids[graph[path[i]]].1;
            let next = &on[(i + 1) % on.len()];
            if let Some(s) = spans.get(node)
                && node != first
            {
                d = d.with_related(*s, format!("`{id}` is on the cycle (it feeds `{next}`)"));
            }
        }
        diags.push(d);
    }
    (diags, in_cycle)
}

/// A node's vertices and, for each, the vertices it reads: all that cycle
/// detection needs of a checked node. It stays equal while an edit changes
/// a value but no reference, so an editor's cycle check is not redone.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeEdges {
    /// `(vertex id, the vertex ids it reads)`, one per instance; empty when
    /// the node's tool is unknown.
    pub vertices: Vec<(String, Vec<String>)>,
}

/// The edges of one checked node.
pub fn node_edges(node: &CheckedNode) -> NodeEdges {
    if node.tool.is_none() {
        return NodeEdges::default();
    }
    let vertices = node
        .instances
        .iter()
        .map(|inst| {
            let mut from = Vec::new();
            for (_, v) in inst.args.iter() {
                let mut refs = Vec::new();
                v.output_refs(&mut refs);
                for r in refs {
                    from.extend(r.vertex_ids());
                }
            }
            from.extend(inst.props.after.iter().cloned());
            (inst.id.clone(), from)
        })
        .collect();
    NodeEdges { vertices }
}

/// The cycle diagnostics among nodes given by name with their edges.
pub fn cycles_among(nodes: &[(&str, &NodeEdges)], spans: &NodeSpans) -> Vec<Diagnostic> {
    let mut ids: Vec<(&str, &str)> = Vec::new();
    let mut edges: Vec<(&str, &str)> = Vec::new();
    for (name, node) in nodes {
        for (id, from) in &node.vertices {
            ids.push((id.as_str(), name));
            edges.extend(from.iter().map(|f| (f.as_str(), id.as_str())));
        }
    }
    cycles(&ids, edges.into_iter(), spans).0
}

/// A cycle through the nodes of a strongly connected component, in order.
fn cycle_path(graph: &DiGraph<usize, ()>, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    let start = *scc.iter().min_by_key(|n| graph[**n]).unwrap_or(&scc[0]);
    if graph.contains_edge(start, start) {
        return vec![start];
    }
    let members: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
    // Breadth-first from start back to start gives the shortest cycle.
    let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for m in graph.neighbors(n) {
            if !members.contains(&m) {
                continue;
            }
            if m == start {
                let mut path = vec![n];
                let mut cur = n;
                while cur != start {
                    cur = prev[&cur];
                    path.push(cur);
                }
                path.reverse();
                return path;
            }
            if m != start && !prev.contains_key(&m) {
                prev.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    scc.to_vec()
}

/// The canonical JSON of a vertex's arguments, with each output reference
/// replaced by the static key of the vertex it reads (and the output name),
/// so that keys follow content, not node names.
pub fn canonical_args(v: &Vertex, keys: &HashMap<String, String>) -> String {
    let mut sorted: Vec<&(String, Value)> = v.args.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::from("{");
    for (i, (k, val)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(k));
        out.push(':');
        write_keyed(val, keys, &mut out);
    }
    out.push('}');
    out
}

fn write_keyed(v: &Value, keys: &HashMap<String, String>, out: &mut String) {
    match v {
        Value::Output(r) => write_ref(r, keys, out),
        Value::List(items) if !v.is_static() => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_keyed(x, keys, out);
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
                write_keyed(x, keys, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.canonical_json()),
    }
}

fn write_ref(r: &OutputRef, keys: &HashMap<String, String>, out: &mut String) {
    let one = |id: &str, out: &mut String| {
        out.push_str("{\"input\":");
        out.push_str(&json_string(keys.get(id).map_or("", String::as_str)));
        out.push_str(",\"output\":");
        out.push_str(&json_string(&r.output));
        out.push('}');
    };
    match &r.instances {
        Instances::All(_) => {
            out.push('[');
            for (i, id) in r.vertex_ids().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                one(id, out);
            }
            out.push(']');
        }
        _ => one(&r.vertex_ids()[0], out),
    }
}

/// The static key of a vertex: SHA-256 over the canonical JSON of the tool's
/// name and version, its arguments and its inputs' static keys.
pub fn static_key(v: &Vertex, keys: &HashMap<String, String>) -> String {
    // The vertices whose outputs the arguments read (not `after`).
    let mut read: std::collections::HashSet<String> = std::collections::HashSet::new();
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
        "{{\"args\":{},\"inputs\":[{}],\"tool\":{},\"version\":{}}}",
        canonical_args(v, keys),
        input_keys.join(","),
        json_string(&v.tool),
        json_string(&v.tool_version)
    );
    hex::encode(Sha256::digest(doc.as_bytes()))
}
