//! The checks of items: each function takes one item's syntax and the
//! [`Env`] around it, and returns what it found. Nothing here does I/O or
//! knows about the database; the database calls these per item.

use crate::enums::{BackendKind, Device, Emit};
use std::sync::Arc;

use crate::report::{ReportBlock, ReportSpec};
use phx_diagnostics::{Code, Diagnostic, did_you_mean};
use phx_syntax::Span;
use phx_syntax::ast::{ConditionKind, Expr, ExprKind, Field, Node, Param, Report, ReportEntry, StringPart};

use crate::env::{EmptyEnv, Env, Global, NodeSig};
use crate::eval::{Eval, Misfit, coerce};
use crate::schema::ToolSchema;
use crate::types::{EnumKind, Ty, resolve_type};
use crate::value::{OutputRef, Value};

/// Options that change what the checks accept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CheckOptions {
    /// `--allow-large`: lift every cap, with a warning.
    pub allow_large: bool,
}

/// The properties of one node instance, evaluated.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NodeProps {
    pub emit: Vec<Emit>,
    /// In order of preference.
    pub device: Vec<Device>,
    pub backend: Option<BackendKind>,
    /// `resources`, each value in SI (`mem` in bytes, `time` in seconds).
    pub resources: Vec<(String, Value)>,
    pub retries: u32,
    /// Seconds; `None` means no timeout.
    pub timeout_s: Option<f64>,
    pub allow_large: bool,
    pub cache: bool,
    /// Vertex ids to wait for.
    pub after: Vec<String>,
}

/// One instance of a node (a plain node has one).
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The vertex id: `name` or `name[i]`.
    pub id: String,
    pub index: Option<usize>,
    /// The sweep binders' values.
    pub bindings: Arc<[(String, Value)]>,
    /// Every parameter of the tool, in schema order, defaults filled in
    /// (shared with the DAG's vertex, not copied).
    pub args: Arc<[(String, Value)]>,
    pub props: NodeProps,
    /// The caps this instance exceeds and that `allow_large` lifted.
    pub caps_lifted: Vec<String>,
}

/// A checked node.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedNode {
    pub name: String,
    pub tool: Option<Arc<ToolSchema>>,
    /// Its instances: one for a plain node, a family for a sweep.
    pub instances: InstanceSet,
    pub diags: Vec<Diagnostic>,
}

/// The index space of a sweep: each binder's values, and their product
/// (the first binder varying slowest).
#[derive(Clone, Debug, PartialEq)]
pub struct SweepSpace {
    pub binders: Vec<(String, Vec<Value>)>,
    pub len: usize,
}

impl SweepSpace {
    /// The binders' values of instance `i`.
    pub fn bindings(&self, i: usize) -> Vec<(String, Value)> {
        let mut out = Vec::with_capacity(self.binders.len());
        let mut rest = i;
        for (name, values) in self.binders.iter().rev() {
            let n = values.len().max(1);
            out.push((name.clone(), values.get(rest % n).cloned().unwrap_or(Value::Error)));
            rest /= n;
        }
        out.reverse();
        out
    }
}

/// The instances of a node, held as a family: the arguments and properties
/// every instance shares are stored once, and only what depends on the
/// sweep's binders is stored per instance. [`InstanceSet::get`] derives an
/// instance on demand, equal to what checking it alone would give.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct InstanceSet {
    /// The node's name (an instance's id is `name[i]`).
    node: String,
    /// The sweep, when the node is one.
    space: Option<Arc<SweepSpace>>,
    len: usize,
    /// Instance 0's arguments; the `varying` positions differ per instance.
    template: Arc<[(String, Value)]>,
    /// Positions in `template` whose value depends on the binders.
    varying: Vec<usize>,
    /// `len × varying.len()` values, instance by instance.
    values: Vec<Value>,
    /// One entry shared by all, or one per instance when they differ.
    props: Vec<NodeProps>,
    /// Caps lifted in every instance.
    lifted_all: Vec<String>,
    /// Caps lifted in some instances only, by index (ascending).
    lifted_some: Vec<(usize, Vec<String>)>,
}

impl InstanceSet {
    /// No instances (a node whose tool is unknown).
    pub fn empty(node: &str) -> InstanceSet {
        InstanceSet { node: node.to_string(), ..InstanceSet::default() }
    }

    /// The number of instances.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sweep, when the node is one.
    pub fn space(&self) -> Option<&SweepSpace> {
        self.space.as_deref()
    }

    /// Whether the node is a sweep.
    pub fn is_sweep(&self) -> bool {
        self.space.is_some()
    }

    /// The vertex id of instance `i`.
    pub fn id(&self, i: usize) -> String {
        if self.space.is_some() { format!("{}[{i}]", self.node) } else { self.node.clone() }
    }

    /// Whether every instance has the same arguments and properties.
    pub fn uniform(&self) -> bool {
        self.varying.is_empty() && self.props.len() <= 1
    }

    /// How many instances must be looked at to see every distinct one: one
    /// when they are uniform, else all.
    pub fn distinct(&self) -> usize {
        if self.uniform() { self.len.min(1) } else { self.len }
    }

    /// Instance `i`'s arguments.
    pub fn args(&self, i: usize) -> Arc<[(String, Value)]> {
        if self.varying.is_empty() || i == 0 {
            return self.template.clone();
        }
        let mut args: Vec<(String, Value)> = self.template.to_vec();
        let row = &self.values[i * self.varying.len()..(i + 1) * self.varying.len()];
        for (&at, v) in self.varying.iter().zip(row) {
            args[at].1 = v.clone();
        }
        args.into()
    }

    /// Calls `f` on every argument value of instance `i` without building
    /// the instance (the shared ones from the template).
    pub fn for_each_arg(&self, i: usize, f: &mut dyn FnMut(&str, &Value)) {
        let row = if self.varying.is_empty() {
            &[][..]
        } else {
            &self.values[i * self.varying.len()..(i + 1) * self.varying.len()]
        };
        for (at, (name, v)) in self.template.iter().enumerate() {
            match self.varying.iter().position(|&p| p == at) {
                Some(k) => f(name, &row[k]),
                None => f(name, v),
            }
        }
    }

    /// Instance `i`'s properties.
    pub fn props(&self, i: usize) -> &NodeProps {
        &self.props[if self.props.len() == 1 { 0 } else { i }]
    }

    /// The caps instance `i` exceeds that `allow_large` lifted.
    pub fn caps_lifted(&self, i: usize) -> Vec<String> {
        let mut out = self.lifted_all.clone();
        if let Ok(k) = self.lifted_some.binary_search_by_key(&i, |(j, _)| *j) {
            out.extend(self.lifted_some[k].1.iter().cloned());
        }
        out
    }

    /// Instance `i`, whole.
    pub fn get(&self, i: usize) -> Instance {
        Instance {
            id: self.id(i),
            index: self.space.as_ref().map(|_| i),
            bindings: self.space.as_ref().map_or_else(Vec::new, |s| s.bindings(i)).into(),
            args: self.args(i),
            props: self.props(i).clone(),
            caps_lifted: self.caps_lifted(i),
        }
    }

    /// Every instance, derived one at a time.
    pub fn iter(&self) -> impl Iterator<Item = Instance> + '_ {
        (0..self.len).map(|i| self.get(i))
    }
}

/// Node properties and their types.
pub const NODE_PROPS: [(&str, &str); 9] = [
    ("emit", "List[Emit]"),
    ("device", "List[Device]"),
    ("backend", "Backend"),
    ("resources", "Record { cpus, mem, gpus, time, batch }"),
    ("retries", "Int"),
    ("timeout", "Time"),
    ("allow_large", "Bool"),
    ("cache", "Bool"),
    ("after", "List[node]"),
];

/// The stdlib's default timeout of a node, in seconds.
pub const STDLIB_TIMEOUT_S: f64 = 10.0;

fn misfit(m: Misfit, span: Span, context: &str) -> Diagnostic {
    match m {
        Misfit::Type(msg) => Diagnostic::new(Code::TypeMismatch, span, format!("{context}: {msg}")),
        Misfit::Unit(msg) => Diagnostic::new(Code::UnitMismatch, span, format!("{context}: {msg}")),
    }
}

/// Evaluates a `param`'s default (or its `--set` override, parsed already)
/// and checks it against the declared type.
pub fn check_param(p: &Param, override_expr: Option<&Expr>, env: &dyn Env) -> (Value, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let ty = resolve_type(&p.ty, &mut diags);
    let (expr, context) = match (override_expr, &p.default) {
        (Some(e), _) => (e, format!("the override `--set {}=...`", p.name.name)),
        (None, Some(d)) => (d, format!("the default of `{}`", p.name.name)),
        (None, None) => {
            diags.push(
                Diagnostic::new(
                    Code::MissingArg,
                    p.name.span,
                    format!("the param `{}` has no default and no value was given", p.name.name),
                )
                .with_help(format!("give it a default, or run with `--set {}=VALUE`", p.name.name)),
            );
            return (Value::Error, diags);
        }
    };
    let mut ev = Eval::new(env);
    let v = ev.eval(expr, Some(&ty));
    let span = if override_expr.is_some() { p.name.span } else { expr.span };
    for mut d in ev.diags {
        if override_expr.is_some() {
            d.span = span;
            d.message = format!("{context}: {}", d.message);
        }
        diags.push(d);
    }
    if !v.is_static() && !v.has_error() {
        diags.push(Diagnostic::new(
            Code::TypeMismatch,
            span,
            format!("{context} must be known before anything runs, but `{v}` is a node's output"),
        ));
        return (Value::Error, diags);
    }
    match coerce(v, &ty) {
        Ok(v) => (v, diags),
        Err(m) => {
            diags.push(misfit(m, span, &context));
            (Value::Error, diags)
        }
    }
}

/// Evaluates a `let`.
pub fn check_let(
    value: &Expr,
    ty: Option<&phx_syntax::ast::TypeExpr>,
    name: &str,
    env: &dyn Env,
) -> (Value, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let ty = ty.map(|t| resolve_type(t, &mut diags));
    let mut ev = Eval::new(env);
    let v = ev.eval(value, ty.as_ref());
    diags.extend(ev.diags);
    if !v.is_static() && !v.has_error() {
        diags.push(
            Diagnostic::new(
                Code::TypeMismatch,
                value.span,
                format!("`let {name}` must be known at compile time, but `{v}` is a node's output"),
            )
            .with_help("pass the output straight to the node that uses it"),
        );
        return (Value::Error, diags);
    }
    match ty {
        Some(t) => match coerce(v, &t) {
            Ok(v) => (v, diags),
            Err(m) => {
                diags.push(misfit(m, value.span, &format!("`let {name}`")));
                (Value::Error, diags)
            }
        },
        None => (v, diags),
    }
}

/// Evaluates a sweep's binder lists; `None` for a plain node. The product
/// is not formed: a family's instances are derived from it by index.
pub fn sweep_space(node: &Node, env: &dyn Env, diags: &mut Vec<Diagnostic>) -> Option<SweepSpace> {
    if node.binders.is_empty() {
        return None;
    }
    let mut lists: Vec<(String, Vec<Value>)> = Vec::new();
    for b in &node.binders {
        let mut ev = Eval::new(env);
        let v = ev.eval(&b.values, None);
        diags.extend(ev.diags);
        match v {
            Value::List(items) => lists.push((b.name.name.clone(), items)),
            Value::Error => lists.push((b.name.name.clone(), vec![Value::Error])),
            other => {
                diags.push(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        b.values.span,
                        format!("a sweep needs a list of values, found {} `{other}`", other.ty()),
                    )
                    .with_help("write a list `[a, b]`, a range `1..4` or `linspace(a, b, n)`"),
                );
                lists.push((b.name.name.clone(), vec![Value::Error]));
            }
        }
    }
    let total: usize =
        lists.iter().map(|(_, l)| l.len()).try_fold(1usize, |acc, n| acc.checked_mul(n)).unwrap_or(usize::MAX);
    if total > crate::eval::MAX_LIST {
        diags.push(Diagnostic::new(
            Code::Constraint,
            node.name.span,
            format!("this sweep makes {total} nodes; at most {} are allowed", crate::eval::MAX_LIST),
        ));
        return Some(SweepSpace { binders: lists, len: 0 });
    }
    Some(SweepSpace { binders: lists, len: total })
}

/// The signature of a node as other items see it.
pub fn node_sig(node: &Node, env: &dyn Env) -> NodeSig {
    let tool = node.tool.text();
    let schema = env.tool(&tool);
    let sweep = sweep_space(node, env, &mut Vec::new()).map(|space| space.len);
    let emits = node
        .props
        .iter()
        .find(|p| p.name.name == "emit")
        .map(|p| match &p.value.kind {
            ExprKind::List(items) => items
                .iter()
                .filter_map(|i| match &i.kind {
                    ExprKind::Name(id) => Some(id.name.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    NodeSig {
        name: node.name.name.clone(),
        tool,
        sweep,
        outputs: schema.map(|s| s.outputs.iter().map(|o| (o.name.clone(), o.ty.clone())).collect()).unwrap_or_default(),
        emits,
    }
}

/// Checks a node: its tool, arguments, conditions, caps and properties, for
/// every instance of a sweep.
pub fn check_node(node: &Node, env: &dyn Env, opts: CheckOptions) -> CheckedNode {
    let mut diags = Vec::new();
    let tool_name = node.tool.text();
    let Some(schema) = env.tool(&tool_name) else {
        let names = env.tool_names();
        let help = did_you_mean(&tool_name, names.iter().map(String::as_str))
            .or_else(|| Some("`phx schema` lists every tool".to_string()));
        diags.push(
            Diagnostic::new(Code::UnknownTool, node.tool.span, format!("unknown tool `{tool_name}`"))
                .with_help_opt(help),
        );
        // Still resolve the arguments' names, so unknown names surface.
        let mut ev = Eval::new(env);
        for a in &node.args {
            ev.eval(&a.value, None);
        }
        diags.extend(ev.diags);
        return CheckedNode {
            name: node.name.name.clone(),
            tool: None,
            instances: InstanceSet::empty(&node.name.name),
            diags,
        };
    };

    // Argument names are the same for every instance: check them once.
    let mut seen: Vec<&str> = Vec::new();
    for a in &node.args {
        if seen.contains(&a.name.name.as_str()) {
            diags.push(Diagnostic::new(
                Code::DuplicateName,
                a.name.span,
                format!("the argument `{}` is given twice", a.name.name),
            ));
        }
        seen.push(&a.name.name);
        if schema.param(&a.name.name).is_none() {
            let names: Vec<&str> = schema.params.iter().map(|p| p.name.as_str()).collect();
            let help = did_you_mean(&a.name.name, names.iter().copied())
                .unwrap_or_else(|| format!("`{}` takes: {}", schema.name, names.join(", ")));
            diags.push(
                Diagnostic::new(
                    Code::UnknownArg,
                    a.name.span,
                    format!("`{}` has no parameter `{}`", schema.name, a.name.name),
                )
                .with_help(help),
            );
        }
    }
    let missing: Vec<String> = schema
        .params
        .iter()
        .filter(|p| p.default.is_none() && !node.args.iter().any(|a| a.name.name == p.name))
        .map(|p| format!("`{}: {}`", p.name, p.ty))
        .collect();
    if !missing.is_empty() {
        let plural = if missing.len() == 1 { "" } else { "s" };
        diags.push(
            Diagnostic::new(
                Code::MissingArg,
                node.args_span,
                format!("`{}` needs the argument{plural} {}", schema.name, missing.join(", ")),
            )
            .with_help(format!(
                "add {}",
                missing
                    .iter()
                    .map(|m| m.trim_matches('`').split(':').next().unwrap_or("").to_string() + " = ...")
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
    for p in &node.props {
        if !NODE_PROPS.iter().any(|(n, _)| *n == p.name.name) {
            let help = did_you_mean(&p.name.name, NODE_PROPS.iter().map(|(n, _)| *n)).unwrap_or_else(|| {
                format!("node properties: {}", NODE_PROPS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
            });
            diags.push(
                Diagnostic::new(Code::UnknownArg, p.name.span, format!("a node has no property `{}`", p.name.name))
                    .with_help(help),
            );
        }
    }

    let space = sweep_space(node, env, &mut diags);
    let instances = check_family(node, &schema, env, opts, space, &mut diags);
    dedup(&mut diags);
    CheckedNode { name: node.name.name.clone(), tool: Some(schema), instances, diags }
}

/// How many diagnostics of one kind at one place a sweep reports before it
/// counts the rest in one line.
const SAME_DIAGNOSTIC_SHOWN: usize = 3;

/// Checks every instance of a node and keeps them as a family. Instance 0
/// is checked whole; the others re-evaluate only the arguments, properties
/// and conditions that mention a binder, and keep only those values.
fn check_family(
    node: &Node,
    schema: &ToolSchema,
    env: &dyn Env,
    opts: CheckOptions,
    space: Option<SweepSpace>,
    diags: &mut Vec<Diagnostic>,
) -> InstanceSet {
    let name = &node.name.name;
    let len = space.as_ref().map_or(1, |s| s.len);
    let mut set = InstanceSet { node: name.clone(), len, ..InstanceSet::default() };
    if len == 0 {
        set.space = space.map(Arc::new);
        return set;
    }
    let binders: Vec<&str> = node.binders.iter().map(|b| b.name.name.as_str()).collect();
    let mentions_binder = |e: &Expr| binders.iter().any(|b| mentions(e, b));
    // Positions (in schema order) of the arguments that depend on the binders.
    let varying: Vec<usize> = schema
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| node.args.iter().any(|a| a.name.name == p.name && mentions_binder(&a.value)))
        .map(|(i, _)| i)
        .collect();
    let props_vary = node.props.iter().any(|p| mentions_binder(&p.value));
    let varying_names: Vec<&str> = varying.iter().map(|&i| schema.params[i].name.as_str()).collect();
    // A condition is re-checked per instance when it reads a varying argument
    // (or when `allow_large` itself may vary).
    let per_instance = |c: &Expr| props_vary || varying_names.iter().any(|n| mentions(c, n));

    let instance0_diags = diags.len();
    let bindings0 = space.as_ref().map_or_else(Vec::new, |s| s.bindings(0));
    let note0 = binding_note(&bindings0);
    let mut ev = Eval { env, locals: bindings0, diags: Vec::new() };
    let args0: Vec<(String, Value)> =
        schema.params.iter().map(|p| (p.name.clone(), eval_arg(node, schema, p, &mut ev, &note0))).collect();
    diags.append(&mut ev.diags);
    let props0 = eval_props(node, schema, &mut ev, &note0);
    diags.append(&mut ev.diags);
    let lift0 = props0.allow_large || opts.allow_large;
    set.lifted_all = check_conditions(node, schema, &args0, lift0, &note0, &|c| !per_instance(c), diags);
    let some0 = check_conditions(node, schema, &args0, lift0, &note0, &per_instance, diags);
    if !some0.is_empty() {
        set.lifted_some.push((0, some0));
    }
    set.values.reserve(len * varying.len());
    set.values.extend(varying.iter().map(|&at| args0[at].1.clone()));
    set.template = args0.into();
    set.props.push(props0);

    if len > 1 && (!varying.is_empty() || props_vary) {
        let space = space.as_ref().expect("a family of more than one instance is a sweep");
        // The same diagnostic at the same place, counted past the first few.
        let mut seen: std::collections::HashMap<(Code, Span), usize> = std::collections::HashMap::new();
        for d in &diags[instance0_diags..] {
            *seen.entry((d.code, d.span)).or_default() += 1;
        }
        let mut instance_diags: Vec<Diagnostic> = Vec::new();
        let mut args: Vec<(String, Value)> = set.template.to_vec();
        for i in 1..len {
            ev.locals = space.bindings(i);
            let note = binding_note(&ev.locals);
            for &at in &varying {
                args[at].1 = eval_arg(node, schema, &schema.params[at], &mut ev, &note);
            }
            let props = if props_vary {
                let p = eval_props(node, schema, &mut ev, &note);
                set.props.push(p.clone());
                p
            } else {
                set.props[0].clone()
            };
            instance_diags.append(&mut ev.diags);
            let lift = props.allow_large || opts.allow_large;
            let some = check_conditions(node, schema, &args, lift, &note, &per_instance, &mut instance_diags);
            if !some.is_empty() {
                set.lifted_some.push((i, some));
            }
            set.values.extend(varying.iter().map(|&at| args[at].1.clone()));
            for d in instance_diags.drain(..) {
                let n = seen.entry((d.code, d.span)).or_default();
                *n += 1;
                if *n <= SAME_DIAGNOSTIC_SHOWN {
                    diags.push(d);
                }
            }
        }
        let mut more: Vec<((Code, Span), usize)> =
            seen.into_iter().filter(|(_, n)| *n > SAME_DIAGNOSTIC_SHOWN).collect();
        more.sort_by_key(|((c, s), _)| (s.start, *c));
        for ((code, span), n) in more {
            diags.push(Diagnostic::new(
                code,
                span,
                format!("and {} more instances of `{name}` with the same problem", n - SAME_DIAGNOSTIC_SHOWN),
            ));
        }
    }
    // When nothing depends on the binders every instance is instance 0, and
    // `values` (instance 0's varying values) stays empty.
    if !set.values.is_empty() {
        set.varying = varying;
    }
    set.space = space.map(Arc::new);
    set
}

/// Evaluates one argument of a node (the default when it is not given).
fn eval_arg(node: &Node, schema: &ToolSchema, p: &crate::schema::ParamSchema, ev: &mut Eval, note: &str) -> Value {
    match node.args.iter().find(|a| a.name.name == p.name) {
        Some(a) => {
            let v = ev.eval(&a.value, Some(&p.ty));
            match coerce(v, &p.ty) {
                Ok(v) => v,
                Err(m) => {
                    ev.diags.push(misfit(m, a.value.span, &format!("`{}` of `{}`{note}", p.name, schema.name)));
                    Value::Error
                }
            }
        }
        None => p.default.clone().unwrap_or(Value::Error),
    }
}

fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| seen.insert((d.code, d.span, d.message.clone())));
}

fn binding_note(bindings: &[(String, Value)]) -> String {
    if bindings.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = bindings.iter().map(|(n, v)| format!("{n} = {v}")).collect();
    format!(" (in the instance with {})", parts.join(", "))
}

/// Checks `where` and `cap` conditions; returns the caps that were lifted.
fn check_conditions(
    node: &Node,
    schema: &ToolSchema,
    args: &[(String, Value)],
    lift: bool,
    note: &str,
    which: &dyn Fn(&Expr) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut lifted = Vec::new();
    // One evaluator for every condition: the arguments are its locals.
    let mut ev = Eval { env: &EmptyEnv, locals: args.to_vec(), diags: Vec::new() };
    for p in &schema.params {
        for c in p.conditions.iter().filter(|c| which(&c.expr)) {
            ev.diags.clear();
            let holds = ev.eval(&c.expr, Some(&Ty::Bool));
            // A condition over run-time data cannot be decided now.
            if !ev.diags.is_empty() || !matches!(holds, Value::Bool(_)) {
                continue;
            }
            if holds == Value::Bool(true) {
                continue;
            }
            let span = node.args.iter().find(|a| a.name.name == p.name).map_or(node.args_span, |a| a.value.span);
            let mentioned: Vec<String> =
                args.iter().filter(|(n, _)| mentions(&c.expr, n)).map(|(n, v)| format!("{n} = {v}")).collect();
            let values = mentioned.join(", ");
            match c.kind {
                ConditionKind::Where => diags.push(
                    Diagnostic::new(Code::Constraint, span, format!("`{}` requires `{}`, but {values}{note}", schema.name, c.text))
                        .with_help(format!("choose a value with `{}`", c.text)),
                ),
                ConditionKind::Cap if lift => {
                    lifted.push(c.text.clone());
                    diags.push(
                        Diagnostic::new(Code::AllowLarge, span, format!("`{}` caps `{}`, and {values} exceeds it; the cap is lifted by `allow_large`{note}", schema.name, c.text))
                            .with_help("large runs can take long and use much memory"),
                    );
                }
                ConditionKind::Cap => diags.push(
                    Diagnostic::new(Code::CapExceeded, span, format!("{values} exceeds the cap of `{}`: `{}`{note}", schema.name, c.text))
                        .with_help(format!("allowed: `{}`; set `allow_large = true` on the node (or run with `--allow-large`) to lift the cap", c.text)),
                ),
            }
        }
    }
    lifted
}

fn mentions(e: &Expr, name: &str) -> bool {
    let mut found = false;
    walk_names(e, &mut |n| found |= n == name);
    found
}

/// Calls `f` on every plain name an expression mentions (not members).
pub fn walk_names(e: &Expr, f: &mut dyn FnMut(&str)) {
    match &e.kind {
        ExprKind::Name(id) => f(&id.name),
        ExprKind::Member { base, .. } | ExprKind::Splat { base } | ExprKind::Paren(base) => walk_names(base, f),
        ExprKind::Index { base, index } => {
            walk_names(base, f);
            walk_names(index, f);
        }
        ExprKind::Call { callee, args } => {
            if callee.segments.len() == 1 {
                f(&callee.segments[0].name);
            } else if let Some(first) = callee.segments.first() {
                f(&first.name);
            }
            for a in args {
                walk_names(&a.value, f);
            }
        }
        ExprKind::List(items) => items.iter().for_each(|i| walk_names(i, f)),
        ExprKind::Record(fields) => fields.iter().for_each(|x| walk_names(&x.value, f)),
        ExprKind::Unary { operand, .. } => walk_names(operand, f),
        ExprKind::Binary { lhs, rhs, .. } | ExprKind::Range { lo: lhs, hi: rhs, .. } => {
            walk_names(lhs, f);
            walk_names(rhs, f);
        }
        ExprKind::Compare { first, rest } => {
            walk_names(first, f);
            rest.iter().for_each(|(_, r)| walk_names(r, f));
        }
        ExprKind::If { cond, then, otherwise } => {
            walk_names(cond, f);
            walk_block(then, f);
            if let Some(o) = otherwise {
                match o.as_ref() {
                    phx_syntax::ast::Else::If(x) => walk_names(x, f),
                    phx_syntax::ast::Else::Block(b) => walk_block(b, f),
                }
            }
        }
        ExprKind::Str(s) => {
            for p in &s.parts {
                if let StringPart::Interp { expr, .. } = p {
                    walk_names(expr, f);
                }
            }
        }
        ExprKind::Number(_) | ExprKind::Quantity { .. } | ExprKind::Bool(_) => {}
    }
}

fn walk_block(b: &phx_syntax::ast::Block, f: &mut dyn FnMut(&str)) {
    for l in &b.lets {
        walk_names(&l.value, f);
    }
    walk_names(&b.value, f);
}

fn eval_props(node: &Node, schema: &ToolSchema, ev: &mut Eval, note: &str) -> NodeProps {
    let mut props = NodeProps { cache: true, ..NodeProps::default() };
    if !schema.builtin {
        props.timeout_s = None;
    } else {
        props.timeout_s = Some(STDLIB_TIMEOUT_S);
    }
    props.device = schema.devices.iter().filter_map(|d| Device::parse(d)).collect();
    let mut emit_given = false;
    for f in &node.props {
        match f.name.name.as_str() {
            "emit" => {
                emit_given = true;
                let v = prop_value(ev, f, &Ty::List(Box::new(Ty::Enum(EnumKind::Emit))), note);
                props.emit = enum_strings(&v).iter().filter_map(|e| Emit::parse(e)).collect();
                if let ExprKind::List(items) = &f.value.kind {
                    for (item, e) in items.iter().zip(enum_strings(&v)) {
                        if !schema.emits.contains(&e) {
                            let can =
                                if schema.emits.is_empty() { "nothing".to_string() } else { schema.emits.join(", ") };
                            ev.diags.push(
                                Diagnostic::new(
                                    Code::UnsupportedEmit,
                                    item.span,
                                    format!("`{}` cannot emit `{e}`; it can emit {can}", schema.name),
                                )
                                .with_help(if schema.emits.is_empty() {
                                    "remove the `emit` property".to_string()
                                } else {
                                    format!("use one of: {}", schema.emits.join(", "))
                                }),
                            );
                        }
                    }
                }
            }
            "device" => {
                let v = prop_value(ev, f, &Ty::List(Box::new(Ty::Enum(EnumKind::Device))), note);
                props.device = enum_strings(&v).iter().filter_map(|d| Device::parse(d)).collect();
                if let ExprKind::List(items) = &f.value.kind {
                    for (item, d) in items.iter().zip(enum_strings(&v)) {
                        if !schema.devices.contains(&d) {
                            ev.diags.push(
                                Diagnostic::new(
                                    Code::UnsupportedDevice,
                                    item.span,
                                    format!(
                                        "`{}` cannot run on `{d}`; it runs on {}",
                                        schema.name,
                                        schema.devices.join(", ")
                                    ),
                                )
                                .with_help(format!("use one of: {}", schema.devices.join(", "))),
                            );
                        }
                    }
                }
            }
            "backend" => {
                let v = prop_value(ev, f, &Ty::Enum(EnumKind::Backend), note);
                props.backend = enum_strings(&Value::List(vec![v])).pop().and_then(|b| BackendKind::parse(&b));
            }
            "resources" => {
                let v = prop_value(ev, f, &Ty::Record, note);
                if let Value::Record(fields) = v {
                    props.resources = check_resources(fields, f, ev);
                }
            }
            "retries" => {
                if let Value::Int(n) = prop_value(ev, f, &Ty::Int, note) {
                    if !(0..=100).contains(&n) {
                        ev.diags.push(Diagnostic::new(
                            Code::Constraint,
                            f.value.span,
                            format!("`retries` must be between 0 and 100, found {n}"),
                        ));
                    } else {
                        props.retries = n as u32;
                    }
                }
            }
            "timeout" => {
                if let Value::Quantity { si, .. } = prop_value(ev, f, &Ty::Quantity(Some(phx_units::Dim::TIME)), note) {
                    if si <= 0.0 {
                        ev.diags.push(Diagnostic::new(
                            Code::Constraint,
                            f.value.span,
                            "`timeout` must be positive".to_string(),
                        ));
                    } else {
                        props.timeout_s = Some(si);
                    }
                }
            }
            "allow_large" => {
                if let Value::Bool(b) = prop_value(ev, f, &Ty::Bool, note) {
                    props.allow_large = b;
                }
            }
            "cache" => {
                if let Value::Bool(b) = prop_value(ev, f, &Ty::Bool, note) {
                    props.cache = b;
                }
            }
            "after" => {
                let v = ev.eval(&f.value, None);
                let items = match v {
                    Value::List(items) => items,
                    other => vec![other],
                };
                for item in flatten(items) {
                    match item {
                        Value::Node(id) => props.after.push(id),
                        Value::Error => {}
                        other => ev.diags.push(Diagnostic::new(
                            Code::TypeMismatch,
                            f.value.span,
                            format!("`after` lists nodes, found {} `{other}`", other.ty()),
                        )),
                    }
                }
            }
            _ => {}
        }
    }
    if !emit_given && !schema.emits.is_empty() {
        ev.diags.push(
            Diagnostic::new(
                Code::MissingEmit,
                node.name.span,
                format!(
                    "the node `{}` uses `{}`, which can emit {}, but declares no `emit`",
                    node.name.name,
                    schema.name,
                    schema.emits.join(", ")
                ),
            )
            .with_help(format!(
                "add `emit = [{}]` to the node's properties (or the subset you want)",
                schema.emits.join(", ")
            )),
        );
    }
    if props.allow_large
        && props.timeout_s == Some(STDLIB_TIMEOUT_S)
        && !node.props.iter().any(|p| p.name.name == "timeout")
    {
        props.timeout_s = None;
    }
    props
}

fn flatten(items: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for i in items {
        match i {
            Value::List(inner) => out.extend(flatten(inner)),
            other => out.push(other),
        }
    }
    out
}

fn prop_value(ev: &mut Eval, f: &Field, ty: &Ty, note: &str) -> Value {
    let v = ev.eval(&f.value, Some(ty));
    match coerce(v, ty) {
        Ok(v) => v,
        Err(m) => {
            ev.diags.push(misfit(m, f.value.span, &format!("the property `{}`{note}", f.name.name)));
            Value::Error
        }
    }
}

fn enum_strings(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items.iter().flat_map(enum_strings).collect(),
        Value::Enum(_, s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `batch`: how many instances of a sweep one cluster array task runs.
const RESOURCE_KEYS: [(&str, &str); 7] = [
    ("cpus", "Int"),
    ("mem", "Memory"),
    ("gpus", "Int"),
    ("time", "Time"),
    ("partition", "String"),
    ("account", "String"),
    ("batch", "Int"),
];

fn check_resources(fields: Vec<(String, Value)>, f: &Field, ev: &mut Eval) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let field_spans: Vec<(String, Span)> = match &f.value.kind {
        ExprKind::Record(fs) => fs.iter().map(|x| (x.name.name.clone(), x.value.span)).collect(),
        _ => Vec::new(),
    };
    for (k, v) in fields {
        let span = field_spans.iter().find(|(n, _)| *n == k).map_or(f.value.span, |(_, s)| *s);
        let Some((_, tyname)) = RESOURCE_KEYS.iter().find(|(n, _)| *n == k) else {
            ev.diags.push(
                Diagnostic::new(Code::UnknownArg, span, format!("`resources` has no field `{k}`"))
                    .with_help_opt(did_you_mean(&k, RESOURCE_KEYS.iter().map(|(n, _)| *n))),
            );
            continue;
        };
        let ty = match *tyname {
            "Int" => Ty::Int,
            "String" => Ty::String,
            "Memory" => Ty::Quantity(Some(phx_units::Dim::INFORMATION)),
            _ => Ty::Quantity(Some(phx_units::Dim::TIME)),
        };
        match coerce(v, &ty) {
            Ok(Value::Int(b)) if k == "batch" && b < 1 => ev.diags.push(
                Diagnostic::new(Code::Constraint, span, format!("`resources.batch` must be at least 1, but it is {b}"))
                    .with_help("`batch = 1` runs each instance as a task of its own"),
            ),
            Ok(v) => out.push((k, v)),
            Err(m) => ev.diags.push(misfit(m, span, &format!("`resources.{k}`"))),
        }
    }
    out
}

/// Experiment fields and their types.
pub const EXPERIMENT_FIELDS: [(&str, &str); 8] = [
    ("title", "String"),
    ("description", "String"),
    ("authors", "List[String]"),
    ("version", "String"),
    ("tags", "List[String]"),
    ("policy", "Policy"),
    ("max_parallel", "Int"),
    ("resources", "Record"),
];

/// Checks an `experiment` block; returns its evaluated fields.
pub fn check_experiment(fields: &[Field], env: &dyn Env) -> (Vec<(String, Value)>, Vec<Diagnostic>) {
    let mut ev = Eval::new(env);
    let mut out: Vec<(String, Value)> = Vec::new();
    for f in fields {
        if out.iter().any(|(n, _)| *n == f.name.name) {
            ev.diags.push(Diagnostic::new(
                Code::DuplicateName,
                f.name.span,
                format!("the field `{}` is given twice", f.name.name),
            ));
            continue;
        }
        let ty = match f.name.name.as_str() {
            "title" | "description" | "version" => Ty::String,
            "authors" | "tags" => Ty::List(Box::new(Ty::String)),
            "policy" => Ty::Enum(EnumKind::Policy),
            "max_parallel" => Ty::Int,
            "resources" => Ty::Record,
            other => {
                let help = did_you_mean(other, EXPERIMENT_FIELDS.iter().map(|(n, _)| *n)).unwrap_or_else(|| {
                    format!("fields: {}", EXPERIMENT_FIELDS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
                });
                ev.diags.push(
                    Diagnostic::new(Code::UnknownArg, f.name.span, format!("an experiment has no field `{other}`"))
                        .with_help(help),
                );
                continue;
            }
        };
        let v = prop_value(&mut ev, f, &ty, "");
        let v = if f.name.name == "resources" {
            match v {
                Value::Record(r) => Value::Record(check_resources(r, f, &mut ev)),
                v => v,
            }
        } else {
            v
        };
        if let (Value::Int(n), "max_parallel") = (&v, f.name.name.as_str())
            && *n < 1
        {
            ev.diags.push(Diagnostic::new(
                Code::Constraint,
                f.value.span,
                format!("`max_parallel` must be at least 1, found {n}"),
            ));
        }
        out.push((f.name.name.clone(), v));
    }
    (out, ev.diags)
}

/// Checks a report and evaluates it: figures must be visual, tables must
/// name a Series output, text interpolations must resolve.
pub fn check_report(report: &Report, env: &dyn Env) -> (ReportSpec, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut top = ReportSpec { name: report.name.name.clone(), ..ReportSpec::default() };
    let blocks = check_entries(&report.entries, env, &mut diags, Some(&mut top));
    (ReportSpec { blocks, ..top }, diags)
}

const REPORT_FIELDS: [&str; 5] = ["title", "authors", "abstract", "bibliography", "date"];

fn string_field(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn check_entries(
    entries: &[ReportEntry],
    env: &dyn Env,
    diags: &mut Vec<Diagnostic>,
    mut top: Option<&mut ReportSpec>,
) -> Vec<ReportBlock> {
    let mut blocks = Vec::new();
    for e in entries {
        match e {
            ReportEntry::Field(f) => {
                let mut ev = Eval::new(env);
                let v = ev.eval(&f.value, None);
                diags.extend(ev.diags);
                let Some(fields) = top.as_deref_mut().filter(|_| REPORT_FIELDS.contains(&f.name.name.as_str())) else {
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownArg,
                            f.name.span,
                            format!(
                                "a report{} has no field `{}`",
                                if top.is_some() { "" } else { " section" },
                                f.name.name
                            ),
                        )
                        .with_help_opt(did_you_mean(&f.name.name, REPORT_FIELDS)),
                    );
                    continue;
                };
                let ok = match f.name.name.as_str() {
                    "authors" => match coerce(v.clone(), &Ty::List(Box::new(Ty::String))) {
                        Ok(Value::List(items)) => {
                            fields.authors = items.iter().filter_map(string_field).collect();
                            true
                        }
                        Ok(_) => true,
                        Err(_) => false,
                    },
                    name => {
                        let slot = match name {
                            "title" => &mut fields.title,
                            "abstract" => &mut fields.abstract_text,
                            "date" => &mut fields.date,
                            _ => &mut fields.bibliography,
                        };
                        *slot = string_field(&v);
                        matches!(v, Value::Str(_) | Value::Error)
                    }
                };
                if !ok {
                    diags.push(Diagnostic::new(
                        Code::TypeMismatch,
                        f.value.span,
                        format!(
                            "the report's `{}` must be {}",
                            f.name.name,
                            if f.name.name == "authors" { "a list of strings" } else { "a string" }
                        ),
                    ));
                }
            }
            ReportEntry::Section { heading, entries, .. } => {
                let mut ev = Eval::new(env);
                let h = ev.eval(&Expr { kind: ExprKind::Str(heading.clone()), span: heading.span }, None);
                diags.extend(ev.diags);
                let inner = check_entries(entries, env, diags, None);
                blocks.push(ReportBlock::Section { heading: string_field(&h).unwrap_or_default(), blocks: inner });
            }
            ReportEntry::Text { text, .. } => {
                let mut ev = Eval::new(env);
                let t = ev.eval(&Expr { kind: ExprKind::Str(text.clone()), span: text.span }, None);
                diags.extend(ev.diags);
                blocks.push(ReportBlock::Text { markdown: string_field(&t).unwrap_or_default() });
            }
            ReportEntry::Figure { target, fields, .. } | ReportEntry::Table { target, fields, .. } => {
                let is_figure = matches!(e, ReportEntry::Figure { .. });
                let Some(Global::Node(sig)) = env.global(&target.node.name) else {
                    let names = env.names();
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownName,
                            target.node.span,
                            format!("no node is named `{}`", target.node.name),
                        )
                        .with_help_opt(did_you_mean(&target.node.name, names.iter().map(String::as_str))),
                    );
                    continue;
                };
                if let Some(out) = &target.output
                    && !sig.outputs.iter().any(|(n, _)| *n == out.name)
                {
                    let outs: Vec<&str> = sig.outputs.iter().map(|(n, _)| n.as_str()).collect();
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownOutput,
                            out.span,
                            format!("node `{}` ({}) has no output `{}`", sig.name, sig.tool, out.name),
                        )
                        .with_help_opt(
                            did_you_mean(&out.name, outs.iter().copied())
                                .or_else(|| Some(format!("outputs: {}", outs.join(", ")))),
                        ),
                    );
                    continue;
                }
                let allowed: &[&str] = if is_figure { &["caption", "width"] } else { &["rows", "caption"] };
                let mut ev = Eval::new(env);
                let mut vals = Vec::new();
                for f in fields {
                    if !allowed.contains(&f.name.name.as_str()) {
                        ev.diags.push(
                            Diagnostic::new(
                                Code::UnknownArg,
                                f.name.span,
                                format!(
                                    "a {} has no field `{}`",
                                    if is_figure { "figure" } else { "table" },
                                    f.name.name
                                ),
                            )
                            .with_help_opt(did_you_mean(&f.name.name, allowed.iter().copied())),
                        );
                        continue;
                    }
                    let v = ev.eval(&f.value, None);
                    vals.push((f.name.name.clone(), v));
                }
                diags.extend(ev.diags);
                if is_figure {
                    let visual: Vec<&String> =
                        sig.emits.iter().filter(|e| *e == "static" || *e == "animation").collect();
                    if visual.is_empty() {
                        let emits = if sig.emits.is_empty() { "nothing".to_string() } else { sig.emits.join(", ") };
                        diags.push(
                            Diagnostic::new(Code::NotVisual, target.span, format!("the figure shows `{}`, which emits {emits}; a figure needs `static` or `animation`", sig.name))
                                .with_help(format!("add `static` to the `emit` of `{}`, or show it as a `table`", sig.name)),
                        );
                    }
                } else {
                    match &target.output {
                        None => diags.push(
                            Diagnostic::new(
                                Code::UnknownOutput,
                                target.span,
                                format!("a table names an output: `{}.OUTPUT`", sig.name),
                            )
                            .with_help_opt(
                                sig.outputs
                                    .iter()
                                    .find(|(_, t)| *t == Ty::Series)
                                    .map(|(n, _)| format!("write `table {}.{n}`", sig.name)),
                            ),
                        ),
                        Some(out) => {
                            if let Some((_, ty)) = sig.outputs.iter().find(|(n, _)| *n == out.name)
                                && *ty != Ty::Series
                            {
                                diags.push(Diagnostic::new(
                                    Code::TypeMismatch,
                                    out.span,
                                    format!("a table shows a Series, but `{}.{}` is {ty}", sig.name, out.name),
                                ));
                            }
                        }
                    }
                }
                let mut index = None;
                if let Some(idx) = &target.index {
                    let mut ev = Eval::new(env);
                    let v = ev.eval(idx, Some(&Ty::Int));
                    diags.extend(ev.diags);
                    match (v, sig.sweep) {
                        (Value::Int(i), Some(n)) if i >= 0 && (i as usize) < n => index = Some(i),
                        (Value::Int(i), Some(n)) => diags.push(Diagnostic::new(
                            Code::TypeMismatch,
                            idx.span,
                            format!("`{}` has {n} instances; index {i} is out of range", sig.name),
                        )),
                        (_, None) => diags.push(Diagnostic::new(
                            Code::TypeMismatch,
                            idx.span,
                            format!("`{}` is not a sweep, so it cannot be indexed", sig.name),
                        )),
                        _ => {}
                    }
                }
                let field = |name: &str| vals.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                let caption = field("caption").and_then(string_field);
                let index = index.map(|i| i as usize);
                if is_figure {
                    let width = field("width").and_then(|v| match v {
                        Value::Float(x) => Some(*x),
                        Value::Int(i) => Some(*i as f64),
                        Value::Quantity { si, dim, .. } if dim.is_none() => Some(*si),
                        _ => None,
                    });
                    if let Some(w) = width
                        && !(w > 0.0 && w <= 1.0)
                    {
                        let span = fields.iter().find(|f| f.name.name == "width").map_or(target.span, |f| f.value.span);
                        diags.push(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                span,
                                format!("a figure's width is a fraction of the page, found {w}"),
                            )
                            .with_help("give a number in (0, 1], e.g. `width = 0.6`"),
                        );
                    }
                    blocks.push(ReportBlock::Figure { node: sig.name.clone(), index, caption, width });
                } else {
                    let rows = field("rows").and_then(|v| match v {
                        Value::Int(i) if *i > 0 => Some(*i as usize),
                        _ => None,
                    });
                    if let Some(v) = field("rows")
                        && rows.is_none()
                        && !matches!(v, Value::Error)
                    {
                        let span = fields.iter().find(|f| f.name.name == "rows").map_or(target.span, |f| f.value.span);
                        diags.push(Diagnostic::new(
                            Code::TypeMismatch,
                            span,
                            format!("a table's `rows` is a positive Int, found {v}"),
                        ));
                    }
                    if let Some(out) = &target.output {
                        blocks.push(ReportBlock::Table {
                            node: sig.name.clone(),
                            index,
                            output: out.name.clone(),
                            rows,
                            caption,
                        });
                    }
                }
            }
        }
    }
    blocks
}

/// Every output reference of a checked node, per instance, with the vertex
/// ids each depends on.
pub fn instance_inputs(inst: &Instance) -> Vec<OutputRef> {
    let mut refs = Vec::new();
    for (_, v) in inst.args.iter() {
        v.output_refs(&mut refs);
    }
    refs
}
