//! The DAG IR: one family per node (a sweep's instances are derived from
//! its index space, not stored), edges from output references and `after`,
//! cycle detection, and the static key of every vertex (language spec,
//! section 5). This is the contract between the compiler and the runtime:
//! a vertex carries everything needed to run it.

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

/// What every instance of a node shares: stored once per node and reached
/// from each [`Vertex`] through `Deref` (`vertex.tool`, `vertex.outputs`).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// The node's name.
    pub node: String,
    pub tool: String,
    pub tool_version: String,
    /// Whether the tool is built into phx (stdlib) or command-backed.
    pub builtin: bool,
    pub run: Option<String>,
    pub image: Option<String>,
    /// Each parameter's declared type, as written (`File`, `List[File]`).
    pub param_types: Arc<[(String, String)]>,
    /// Each output of the tool, with its type's name.
    pub outputs: Arc<[(String, String)]>,
    /// The lowered IR of every `fn` the node's arguments pass, by body hash:
    /// what a tool evaluates (and what a worker elsewhere needs).
    pub functions: Vec<(String, Arc<phx_sema::fnir::FnIr>)>,
}

/// One node instance, ready to run, derived from its [`Family`].
#[derive(Clone, Debug, PartialEq)]
pub struct Vertex {
    /// `density`, or `scan[3]` for an instance of a sweep.
    pub id: String,
    pub index: Option<usize>,
    pub bindings: Arc<[(String, Value)]>,
    /// Every parameter, defaults filled in; output references stay symbolic.
    pub args: Arc<[(String, Value)]>,
    /// The node's properties, typed as the checker read them (`emit`,
    /// `device`, `backend`, `resources` with the tool's and the
    /// experiment's defaults filled in, `retries`, `timeout`, `allow_large`,
    /// `cache`, `after`).
    pub props: NodeProps,
    pub caps_lifted: Vec<String>,
    /// Vertex ids this one waits for (data and `after`).
    pub depends_on: Vec<String>,
    /// SHA-256 of the tool, its version, its canonical arguments and the
    /// static keys of its inputs.
    pub static_key: String,
    /// What it shares with the other instances of its node.
    pub info: Arc<NodeInfo>,
}

impl Vertex {
    /// A vertex of no program: node `node` calling the command-backed
    /// `tool` with `args`, with default properties and nothing upstream
    /// (what tests of one node's handling start from, then adjust).
    pub fn lone(node: &str, tool: &str, args: Vec<(&str, Value)>) -> Vertex {
        Vertex {
            id: node.to_string(),
            index: None,
            bindings: Arc::new([]),
            args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Vec<_>>().into(),
            props: NodeProps { cache: true, ..NodeProps::default() },
            caps_lifted: vec![],
            depends_on: vec![],
            static_key: "k".into(),
            info: Arc::new(NodeInfo {
                node: node.to_string(),
                tool: tool.to_string(),
                tool_version: "1".into(),
                builtin: false,
                run: None,
                image: None,
                param_types: Arc::new([]),
                outputs: Arc::new([]),
                functions: vec![],
            }),
        }
    }

    /// Its shared part, to change (a copy if other vertices share it).
    pub fn info_mut(&mut self) -> &mut NodeInfo {
        Arc::make_mut(&mut self.info)
    }
}

impl std::ops::Deref for Vertex {
    type Target = NodeInfo;
    fn deref(&self) -> &NodeInfo {
        &self.info
    }
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

/// A node of the DAG with all its instances: one for a plain node, the
/// whole index space for a sweep. Its instances are derived on demand.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub info: Arc<NodeInfo>,
    /// The checked node: its instance set.
    pub checked: Arc<CheckedNode>,
}

impl Family {
    /// The node's name.
    pub fn name(&self) -> &str {
        &self.info.node
    }

    /// The number of instances.
    pub fn len(&self) -> usize {
        self.checked.instances.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the node is a sweep.
    pub fn is_sweep(&self) -> bool {
        self.checked.instances.is_sweep()
    }

    /// The instance set.
    pub fn instances(&self) -> &phx_sema::InstanceSet {
        &self.checked.instances
    }

    /// Calls `f` on each output reference of instance `i`'s arguments, with
    /// the argument's name.
    fn for_each_ref(&self, i: usize, f: &mut dyn FnMut(&str, &OutputRef)) {
        self.checked.instances.for_each_arg(i, &mut |name, v| {
            if !v.is_static() {
                visit_refs(v, &mut |r| f(name, r));
            }
        });
    }
}

fn visit_refs(v: &Value, f: &mut dyn FnMut(&OutputRef)) {
    match v {
        Value::Output(r) => f(r),
        Value::List(items) => items.iter().for_each(|x| visit_refs(x, f)),
        Value::Record(fields) => fields.iter().for_each(|(_, x)| visit_refs(x, f)),
        _ => {}
    }
}

/// Receives edges `(from, output, arg)` into one vertex.
type EdgeSink<'a> = dyn FnMut(String, Option<&str>, Option<&str>) + 'a;

/// A reference to one vertex: its family (by position) and index.
pub type At = (u32, u32);

/// The whole DAG of a program: its families, in an order where every input
/// comes first; vertices, edges and static keys are derived from them when
/// asked (a check of a million-instance sweep asks for none of them).
#[derive(Clone, Debug, Default)]
pub struct Dag {
    pub experiment: Option<ExperimentInfo>,
    pub params: Vec<(String, Value)>,
    pub families: Vec<Family>,
    /// The experiment's default `resources`, under each node's own.
    default_resources: Vec<(String, Value)>,
    /// Family positions by node name.
    by_name: HashMap<String, u32>,
    /// Where each family's vertices start in [`Dag::vertices`] (in family
    /// order; unused when `order` is set).
    starts: Vec<usize>,
    /// Vertices in a topological order, when instances of one node depend
    /// on each other (else families in order, each in index order).
    order: Option<Vec<At>>,
    /// Vertices on a cycle (they get no static key).
    in_cycle: std::collections::HashSet<At>,
    keys: std::sync::OnceLock<Vec<Vec<[u8; 32]>>>,
    vertices: std::sync::OnceLock<Vec<Vertex>>,
}

impl PartialEq for Dag {
    fn eq(&self, other: &Dag) -> bool {
        self.experiment == other.experiment
            && self.params == other.params
            && self.families == other.families
            && self.default_resources == other.default_resources
            && self.order == other.order
            && self.in_cycle == other.in_cycle
    }
}

/// A key that marks "no key" (a vertex on a cycle).
const NO_KEY: [u8; 32] = [0; 32];

impl Dag {
    /// Every vertex, in a topological order (inputs before their users).
    /// Built on first use; a large sweep is better walked by family.
    pub fn vertices(&self) -> &[Vertex] {
        self.vertices.get_or_init(|| self.each_at().map(|(f, i)| self.make_vertex(f as usize, i as usize)).collect())
    }

    /// A vertex by id (`name` or `name[i]`), found by its family and index.
    pub fn vertex(&self, id: &str) -> Option<&Vertex> {
        let (f, i) = self.position(id)?;
        if self.order.is_some() {
            return self.vertices().iter().find(|v| v.id == id);
        }
        self.vertices().get(self.starts[f as usize] + i as usize)
    }

    /// Where the vertex `id` (`name` or `name[i]`) is: its family and
    /// index, found without building any vertex.
    pub fn position(&self, id: &str) -> Option<At> {
        let (node, index) = match id.strip_suffix(']').and_then(|rest| rest.split_once('[')) {
            Some((node, i)) => (node, Some(i.parse::<usize>().ok()?)),
            None => (id, None),
        };
        let f = *self.by_name.get(node)?;
        let fam = &self.families[f as usize];
        let i = index.unwrap_or(0);
        if index.is_some() != fam.is_sweep() || i >= fam.len() {
            return None;
        }
        Some((f, i as u32))
    }

    /// Every vertex's position, in a topological order (the order of
    /// [`Dag::vertices`]), without building them.
    pub fn positions(&self) -> impl Iterator<Item = At> + '_ {
        self.each_at()
    }

    /// The vertex at `at`, built on its own (a run walks a large sweep
    /// this way instead of holding every vertex at once).
    pub fn instance(&self, at: At) -> Vertex {
        self.make_vertex(at.0 as usize, at.1 as usize)
    }

    /// How many vertices there are, without building them.
    pub fn vertex_count(&self) -> usize {
        self.families.iter().map(Family::len).sum()
    }

    /// A family by node name.
    pub fn family(&self, node: &str) -> Option<&Family> {
        self.by_name.get(node).map(|&f| &self.families[f as usize])
    }

    /// Every vertex position in topological order.
    fn each_at(&self) -> Box<dyn Iterator<Item = At> + '_> {
        match &self.order {
            Some(order) => Box::new(order.iter().copied()),
            None => Box::new(
                self.families.iter().enumerate().flat_map(|(f, fam)| (0..fam.len()).map(move |i| (f as u32, i as u32))),
            ),
        }
    }

    /// The static key of instance `i` of family `f` (empty on a cycle).
    pub fn static_key(&self, f: usize, i: usize) -> String {
        let k = self.keys()[f][i];
        if k == NO_KEY { String::new() } else { hex::encode(k) }
    }

    fn keys(&self) -> &Vec<Vec<[u8; 32]>> {
        self.keys.get_or_init(|| {
            let mut keys: Vec<Vec<[u8; 32]>> = self.families.iter().map(|f| vec![NO_KEY; f.len()]).collect();
            let mut order_cache = LexOrders::default();
            for (f, i) in self.each_at() {
                if self.in_cycle.contains(&(f, i)) {
                    continue;
                }
                let k = self.compute_key(f as usize, i as usize, &keys, &mut order_cache);
                keys[f as usize][i as usize] = k;
            }
            keys
        })
    }

    /// Every edge, one per instance read (built on demand: a gather over a
    /// million instances has a million).
    pub fn edges(&self) -> Vec<Edge> {
        let mut out: Vec<Edge> = Vec::new();
        for (f, i) in self.each_at() {
            let to = self.families[f as usize].instances().id(i as usize);
            self.distinct_edges(f as usize, i as usize, &mut |from, output, arg| {
                out.push(Edge {
                    from,
                    to: to.clone(),
                    output: output.map(str::to_string),
                    arg: arg.map(str::to_string),
                });
            });
        }
        out
    }

    /// How many edges there are, without building them.
    pub fn edge_count(&self) -> usize {
        let mut n = 0;
        for (f, fam) in self.families.iter().enumerate() {
            let per = |i: usize| {
                let mut count = 0usize;
                self.distinct_edges(f, i, &mut |_, _, _| count += 1);
                count
            };
            if fam.instances().uniform() && !fam.is_empty() {
                n += per(0) * fam.len();
            } else {
                n += (0..fam.len()).map(per).sum::<usize>();
            }
        }
        n
    }

    /// [`Dag::instance_edges`] without an edge that repeats the one before
    /// (the same reference written twice in a row).
    fn distinct_edges(&self, f: usize, i: usize, out: &mut EdgeSink<'_>) {
        let mut last: Option<(String, Option<String>, Option<String>)> = None;
        self.instance_edges(f, i, &mut |from, output, arg| {
            let here = (from, output.map(str::to_string), arg.map(str::to_string));
            if last.as_ref() != Some(&here) {
                out(here.0.clone(), output, arg);
                last = Some(here);
            }
        });
    }

    /// Calls `f(from, output, arg)` for each edge into instance `i` of
    /// family `f`: data edges in argument order, then `after`.
    fn instance_edges(&self, f: usize, i: usize, out: &mut EdgeSink<'_>) {
        let fam = &self.families[f];
        fam.for_each_ref(i, &mut |arg, r| {
            for from in r.vertex_ids() {
                out(from, Some(&r.output), Some(arg));
            }
        });
        for a in &fam.instances().props(i).after {
            out(a.clone(), None, None);
        }
    }

    fn make_vertex(&self, f: usize, i: usize) -> Vertex {
        let fam = &self.families[f];
        let set = fam.instances();
        let props = set.props(i);
        // The order of `instance_edges`: data edges in argument order, then
        // `after`. One reference alone names each vertex once (a gather of
        // a million needs no set of a million names to drop repeats).
        let mut refs = 0usize;
        let mut depends_on: Vec<String> = Vec::new();
        fam.for_each_ref(i, &mut |_, r| {
            refs += 1;
            depends_on.extend(r.vertex_ids());
        });
        depends_on.extend(props.after.iter().cloned());
        if refs + props.after.len() > 1 {
            let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
            depends_on.retain(|d| seen.insert(d.clone()));
        }
        let mut resources = self.default_resources.clone();
        for (k, v) in &props.resources {
            match resources.iter_mut().find(|(n, _)| n == k) {
                Some(slot) => slot.1 = v.clone(),
                None => resources.push((k.clone(), v.clone())),
            }
        }
        Vertex {
            id: set.id(i),
            index: set.is_sweep().then_some(i),
            bindings: set.space().map_or_else(Vec::new, |s| s.bindings(i)).into(),
            args: set.args(i),
            props: NodeProps { resources, ..props.clone() },
            caps_lifted: set.caps_lifted(i),
            depends_on,
            static_key: self.static_key(f, i),
            info: fam.info.clone(),
        }
    }

    /// The key of one vertex read by an output reference (`NO_KEY` when
    /// unknown).
    fn key_at(&self, keys: &[Vec<[u8; 32]>], node: &str, index: usize) -> [u8; 32] {
        self.by_name.get(node).and_then(|&f| keys.get(f as usize)).and_then(|k| k.get(index)).copied().unwrap_or(NO_KEY)
    }

    /// SHA-256 over the canonical JSON of the tool's name and version, the
    /// arguments (each output reference replaced by the static key of the
    /// vertex it reads, and the output's name) and the inputs' static keys
    /// in the order of their ids. Written straight into the hash, so a
    /// gather over a million instances needs no million-entry document.
    fn compute_key(&self, f: usize, i: usize, keys: &[Vec<[u8; 32]>], orders: &mut LexOrders) -> [u8; 32] {
        let fam = &self.families[f];
        let mut h = HashWriter::default();
        h.push_str("{\"args\":");
        self.write_keyed_fields(&fam.instances().args(i), keys, &mut h);
        // The inputs: every vertex read, once, in the order of its id.
        // (node, index, how many for `name[*]`)
        let mut read: Vec<(String, Option<usize>, usize)> = Vec::new();
        fam.for_each_ref(i, &mut |_, r| match r.instances {
            Instances::Single => read.push((r.node.clone(), None, 0)),
            Instances::One(k) => read.push((r.node.clone(), Some(k), 0)),
            Instances::All(0) => {}
            Instances::All(n) => read.push((r.node.clone(), None, n)),
        });
        // Expand into single vertices; a whole family comes in its ids' order.
        let mut single: Vec<(String, [u8; 32])> = Vec::new();
        let mut wholes: Vec<(&str, usize)> = Vec::new();
        for (node, index, all) in &read {
            if *all > 0 {
                if !wholes.contains(&(node.as_str(), *all)) {
                    wholes.push((node.as_str(), *all));
                }
            } else {
                let id = match index {
                    Some(k) => format!("{node}[{k}]"),
                    None => node.clone(),
                };
                let key = self.key_at(keys, node, index.unwrap_or(0));
                single.push((id, key));
            }
        }
        h.push_str(",\"inputs\":[");
        let mut first = true;
        let mut emit = |key: &[u8; 32], h: &mut HashWriter| {
            if !first {
                h.push_str(",");
            }
            first = false;
            h.push_str("\"");
            if *key != NO_KEY {
                h.push_hex(key);
            }
            h.push_str("\"");
        };
        if wholes.is_empty() {
            single.sort();
            single.dedup_by(|a, b| a.0 == b.0);
            for (_, key) in &single {
                emit(key, &mut h);
            }
        } else {
            // Merge the single ids with each whole family's ids, all in
            // byte order of the id (what sorting the id strings gives).
            let mut ids: Vec<(String, [u8; 32])> = single;
            for &(node, n) in &wholes {
                if n <= 4096 {
                    for k in 0..n {
                        ids.push((format!("{node}[{k}]"), self.key_at(keys, node, k)));
                    }
                }
            }
            let big: Vec<(&str, usize)> = wholes.iter().copied().filter(|(_, n)| *n > 4096).collect();
            ids.sort();
            ids.dedup_by(|a, b| a.0 == b.0);
            if big.is_empty() {
                for (_, key) in &ids {
                    emit(key, &mut h);
                }
            } else {
                // Streams of (id, key) from each big family, merged with the rest.
                let mut streams: Vec<(&str, Arc<[u32]>, usize)> = Vec::new();
                for (node, n) in big {
                    let order = orders.get(n);
                    streams.push((node, order, 0));
                }
                let mut small = ids.into_iter().peekable();
                let mut last: Option<String> = None;
                loop {
                    // The smallest head among the big streams.
                    let mut best: Option<(String, usize)> = None;
                    for (s, (node, order, pos)) in streams.iter().enumerate() {
                        if let Some(&k) = order.get(*pos) {
                            let id = format!("{node}[{k}]");
                            if best.as_ref().is_none_or(|(b, _)| id < *b) {
                                best = Some((id, s));
                            }
                        }
                    }
                    let take_small = match (&best, small.peek()) {
                        (Some((b, _)), Some((sid, _))) => sid <= b,
                        (None, Some(_)) => true,
                        _ => false,
                    };
                    let (id, key) = if take_small {
                        let Some((sid, key)) = small.next() else { break };
                        (sid, key)
                    } else if let Some((b, s)) = best {
                        let (node, order, pos) = &mut streams[s];
                        let k = order[*pos] as usize;
                        *pos += 1;
                        let key = self.key_at(keys, node, k);
                        (b, key)
                    } else {
                        break;
                    };
                    if last.as_ref() == Some(&id) {
                        continue;
                    }
                    emit(&key, &mut h);
                    last = Some(id);
                }
            }
        }
        h.push_str("],\"tool\":");
        h.push_str(&json_string(&fam.info.tool));
        h.push_str(",\"version\":");
        h.push_str(&json_string(&fam.info.tool_version));
        h.push_str("}");
        h.finish()
    }

    fn write_keyed(&self, v: &Value, keys: &[Vec<[u8; 32]>], out: &mut HashWriter) {
        match v {
            Value::Output(r) => self.write_ref(r, keys, out),
            Value::List(items) if !v.is_static() => {
                out.push_str("[");
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",");
                    }
                    self.write_keyed(x, keys, out);
                }
                out.push_str("]");
            }
            Value::Record(fields) if !v.is_static() => self.write_keyed_fields(fields, keys, out),
            other => out.push_str(&other.canonical_json()),
        }
    }

    /// `{"name":value,...}` in name order (a node's arguments, a record).
    fn write_keyed_fields(&self, fields: &[(String, Value)], keys: &[Vec<[u8; 32]>], out: &mut HashWriter) {
        let mut sorted: Vec<&(String, Value)> = fields.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        out.push_str("{");
        for (i, (k, x)) in sorted.into_iter().enumerate() {
            if i > 0 {
                out.push_str(",");
            }
            out.push_str(&json_string(k));
            out.push_str(":");
            self.write_keyed(x, keys, out);
        }
        out.push_str("}");
    }

    fn write_ref(&self, r: &OutputRef, keys: &[Vec<[u8; 32]>], out: &mut HashWriter) {
        let output = json_string(&r.output);
        let one = |index: usize, out: &mut HashWriter| {
            out.push_str("{\"input\":\"");
            let key = self.key_at(keys, &r.node, index);
            if key != NO_KEY {
                out.push_hex(&key);
            }
            out.push_str("\",\"output\":");
            out.push_str(&output);
            out.push_str("}");
        };
        match &r.instances {
            Instances::All(n) => {
                out.push_str("[");
                for k in 0..*n {
                    if k > 0 {
                        out.push_str(",");
                    }
                    one(k, out);
                }
                out.push_str("]");
            }
            Instances::One(k) => one(*k, out),
            Instances::Single => one(0, out),
        }
    }
}

/// Writes a document into SHA-256 through a small buffer.
#[derive(Default)]
struct HashWriter {
    hasher: Sha256,
    buf: Vec<u8>,
}

impl HashWriter {
    fn push_str(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
        if self.buf.len() >= 1 << 16 {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    fn push_hex(&mut self, key: &[u8; 32]) {
        let mut hexed = [0u8; 64];
        if hex::encode_to_slice(key, &mut hexed).is_ok() {
            self.buf.extend_from_slice(&hexed);
        }
    }

    fn finish(mut self) -> [u8; 32] {
        self.hasher.update(&self.buf);
        self.hasher.finalize().into()
    }
}

/// For each family size `n`, the indices `0..n` in the byte order of their
/// ids `name[k]` (`name[10]` before `name[1]`, as strings sort): the order in
/// which a static key lists the inputs of a gather.
#[derive(Default)]
struct LexOrders {
    by_len: HashMap<usize, Arc<[u32]>>,
}

impl LexOrders {
    fn get(&mut self, n: usize) -> Arc<[u32]> {
        self.by_len
            .entry(n)
            .or_insert_with(|| {
                let mut order: Vec<u32> = (0..n as u32).collect();
                // `k]` compared as bytes: the suffix after the shared `name[`.
                order.sort_by_cached_key(|k| format!("{k}]"));
                order.into()
            })
            .clone()
    }
}

/// Where a node is declared, for cycle diagnostics.
pub type NodeSpans = HashMap<String, Span>;

/// Builds the DAG from checked nodes (in file order). Nodes with errors
/// still get families, so a partial graph can be drawn; the caller knows
/// from the diagnostics whether it may run. `fn_ir` gives the lowered IR of
/// a `fn` by name, for the functions the arguments pass.
pub fn build(
    nodes: &[Arc<CheckedNode>],
    experiment: Option<ExperimentInfo>,
    params: Vec<(String, Value)>,
    spans: &NodeSpans,
    fn_ir: &dyn Fn(&str) -> Option<Arc<phx_sema::fnir::FnIr>>,
) -> (Dag, Vec<Diagnostic>) {
    let default_resources: Vec<(String, Value)> = match experiment.as_ref().and_then(|e| e.field("resources")) {
        Some(Value::Record(r)) => r.clone(),
        _ => Vec::new(),
    };
    let mut families: Vec<Family> = Vec::new();
    for node in nodes {
        let Some(tool) = &node.tool else { continue };
        let set = &node.instances;
        // The functions any instance passes.
        let mut functions: Vec<(String, Arc<phx_sema::fnir::FnIr>)> = Vec::new();
        for i in 0..set.distinct() {
            set.for_each_arg(i, &mut |_, v| {
                let mut names = Vec::new();
                collect_fns(v, &mut names);
                for (name, hash) in names {
                    if !functions.iter().any(|(h, _)| *h == hash)
                        && let Some(ir) = fn_ir(&name)
                    {
                        functions.push((hash, ir));
                    }
                }
            });
        }
        let info = NodeInfo {
            node: node.name.clone(),
            tool: tool.name.clone(),
            tool_version: tool.version.clone(),
            builtin: tool.builtin,
            run: tool.run.clone(),
            image: tool.image.clone(),
            param_types: tool.params.iter().map(|p| (p.name.clone(), p.ty.to_string())).collect(),
            outputs: tool.outputs.iter().map(|o| (o.name.clone(), o.ty.to_string())).collect(),
            functions,
        };
        families.push(Family { info: Arc::new(info), checked: node.clone() });
    }
    let by_name: HashMap<String, u32> =
        families.iter().enumerate().map(|(i, f)| (f.info.node.clone(), i as u32)).collect();
    let mut dag = Dag { experiment, params, default_resources, by_name, ..Dag::default() };

    // The graph of nodes: which families each one reads.
    let n = families.len();
    let mut reads: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (f, fam) in families.iter().enumerate() {
        let set = fam.instances();
        let add = |node: &str, reads: &mut Vec<usize>| {
            if let Some(&g) = dag.by_name.get(node)
                && !reads.contains(&(g as usize))
            {
                reads.push(g as usize);
            }
        };
        for i in 0..set.distinct() {
            fam.for_each_ref(i, &mut |_, r| add(&r.node, &mut reads[f]));
            for a in &set.props(i).after {
                add(after_node(a), &mut reads[f]);
            }
        }
    }
    // Nodes in order, inputs first, in file order where free.
    let order = topological(&reads);
    let mut slots: Vec<Option<Family>> = families.into_iter().map(Some).collect();
    let mut diags = Vec::new();
    if order.len() == n {
        dag.families = order.into_iter().filter_map(|f| slots[f].take()).collect();
        dag.by_name = dag.families.iter().enumerate().map(|(i, f)| (f.info.node.clone(), i as u32)).collect();
        dag.starts = dag
            .families
            .iter()
            .scan(0usize, |at, f| {
                let start = *at;
                *at += f.len();
                Some(start)
            })
            .collect();
    } else {
        // Some nodes read each other: order (and find cycles) by instance.
        dag.families = slots.into_iter().flatten().collect();
        let (instance_order, in_cycle, cycle_diags) = instance_order(&dag, spans);
        dag.order = Some(instance_order);
        dag.in_cycle = in_cycle;
        diags.extend(cycle_diags);
    }
    (dag, diags)
}

/// The node an `after` entry names (`a` or `a[3]`).
fn after_node(id: &str) -> &str {
    id.split('[').next().unwrap_or(id)
}

fn collect_fns(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Fn(f) => out.push((f.name.clone(), f.hash.clone())),
        Value::List(items) => items.iter().for_each(|x| collect_fns(x, out)),
        Value::Record(fields) => fields.iter().for_each(|(_, x)| collect_fns(x, out)),
        _ => {}
    }
}

/// The vertex order, the vertices on cycles and the cycle diagnostics, by
/// instance: for programs whose nodes read each other (a sweep whose
/// instances read earlier ones, or a real cycle).
fn instance_order(dag: &Dag, spans: &NodeSpans) -> (Vec<At>, std::collections::HashSet<At>, Vec<Diagnostic>) {
    let mut ats: Vec<At> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut nodes: Vec<&str> = Vec::new();
    for (f, fam) in dag.families.iter().enumerate() {
        for i in 0..fam.len() {
            ats.push((f as u32, i as u32));
            ids.push(fam.instances().id(i));
            nodes.push(fam.name());
        }
    }
    let mut edges: Vec<(String, String)> = Vec::new();
    let mut depends: Vec<Vec<String>> = Vec::with_capacity(ats.len());
    for (k, &(f, i)) in ats.iter().enumerate() {
        let mut deps: Vec<String> = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        dag.instance_edges(f as usize, i as usize, &mut |from, _, _| {
            edges.push((from.clone(), ids[k].clone()));
            if seen.insert(from.clone()) {
                deps.push(from);
            }
        });
        depends.push(deps);
    }
    let pairs: Vec<(&str, &str)> = ids.iter().map(String::as_str).zip(nodes.iter().copied()).collect();
    let (diags, cyclic) = cycles(&pairs, edges.iter().map(|(a, b)| (a.as_str(), b.as_str())), spans);
    let index_of: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let n = ats.len();
    let reads: Vec<Vec<usize>> =
        depends.iter().map(|deps| deps.iter().filter_map(|d| index_of.get(d.as_str()).copied()).collect()).collect();
    let mut order = topological(&reads);
    if order.len() < n {
        let mut placed = vec![false; n];
        for &i in &order {
            placed[i] = true;
        }
        order.extend((0..n).filter(|i| !placed[*i]));
    }
    let in_cycle = (0..n).filter(|&k| cyclic[k]).map(|k| ats[k]).collect();
    (order.into_iter().map(|k| ats[k]).collect(), in_cycle, diags)
}

/// Kahn's order of `0..n` where `reads[i]` lists what `i` waits for: free
/// items in their given order first; items on a cycle are left out.
fn topological(reads: &[Vec<usize>]) -> Vec<usize> {
    let n = reads.len();
    let mut indegree: Vec<usize> = reads.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, r) in reads.iter().enumerate() {
        for &j in r {
            users[j].push(i);
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
    order
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
    let set = &node.instances;
    let vertices = (0..set.len())
        .map(|i| {
            let mut from = Vec::new();
            set.for_each_arg(i, &mut |_, v| {
                let mut refs = Vec::new();
                v.output_refs(&mut refs);
                for r in refs {
                    from.extend(r.vertex_ids());
                }
            });
            from.extend(set.props(i).after.iter().cloned());
            (set.id(i), from)
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
