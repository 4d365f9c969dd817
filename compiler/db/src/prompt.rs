//! What a model is shown to write a program for a request, small enough
//! for a small model: the tools the request needs (chosen by its words, the
//! tools' names and docs, and what their inputs need), each listed in full,
//! and an example program that calls exactly those tools, made from their
//! schemas and checked by the compiler.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use phx_diagnostics::Severity;
use phx_sema::schema::{ParamSchema, ToolSchema};
use phx_sema::types::Ty;
use phx_syntax::ast::{BinaryOp, CompareOp, ConditionKind, ExprKind};

use crate::gbnf::{Shape, ShapeFn, accepts, string_choices};

/// Phrases that name what a tool does, beyond its own name and doc: the
/// words physicists use for it.
const ALIASES: &[(&str, &[&str])] = &[
    (
        "quantum.orbital",
        &[
            "orbital",
            "orbitals",
            "hydrogen",
            "atom",
            "atomic",
            "electron density",
            "1s",
            "2s",
            "2p",
            "3s",
            "3p",
            "3d",
            "4s",
            "4p",
            "4d",
            "4f",
            "wavefunction",
            "wave function",
            "quantum numbers",
        ],
    ),
    (
        "quantum.eigen1d",
        &[
            "eigen",
            "eigenvalue",
            "eigenvalues",
            "eigenstate",
            "eigenstates",
            "eigenproblem",
            "eigenvalue problem",
            "bound state",
            "bound states",
            "energy levels",
            "energy level",
            "levels",
            "harmonic",
            "oscillator",
            "potential well",
            "square well",
            "double well",
            "schrodinger",
            "morse",
            "anharmonic",
            "ground state",
        ],
    ),
    (
        "quantum.wavepacket",
        &[
            "wave packet",
            "wavepacket",
            "packet",
            "tunnelling",
            "tunneling",
            "barrier",
            "time evolution",
            "evolve",
            "propagate",
            "split operator",
            "scattering",
        ],
    ),
    (
        "field.evaluate",
        &[
            "evaluate",
            "sample the function",
            "scalar field",
            "function on a grid",
            "potential of",
            "charge distribution",
        ],
    ),
    (
        "plot.heatmap",
        &[
            "slice",
            "heatmap",
            "heat map",
            "plane",
            "xz",
            "xy",
            "yz",
            "colour map",
            "color map",
            "colormap",
            "cross section",
            "map of",
        ],
    ),
    (
        "plot.line",
        &[
            "line plot",
            "curve",
            "graph",
            "versus",
            "vs",
            "against",
            "chart",
            "plot the",
            "plot them",
            "plot it",
            "plotted",
        ],
    ),
    ("plot.surface", &["surface", "relief", "3d plot", "landscape"]),
    ("plot.vector_field", &["vector field", "arrows", "quiver", "field lines", "electric field"]),
    ("plot.animation", &["animation", "animate", "animated", "movie", "video", "gif", "rotating", "rotate", "frames"]),
    (
        "plot.contact_sheet",
        &["contact sheet", "gallery", "montage", "side by side", "atlas", "grid of images", "thumbnails", "sheet"],
    ),
    ("data.load_csv", &["load", "csv", "read", "measured", "measurements", "data file", "dataset", "loaded"]),
    ("data.fit", &["fit", "fitting", "least squares", "regression", "fitted"]),
    ("data.fft", &["fft", "fourier", "power spectrum", "frequency spectrum", "frequencies"]),
    ("data.stack", &["stack", "combine", "gather", "merge", "concatenate", "one table", "stacked", "all together"]),
    ("ml.pca", &["pca", "principal component", "principal components", "dimensionality"]),
    ("export.csv", &["export", "csv file", "as csv", "to csv", "save"]),
    ("export.vtk", &["vtk", "paraview"]),
    ("export.gltf", &["gltf", "mesh", "isosurface", "vr", "3d model", "blender"]),
    ("cas.diff", &["derivative", "differentiate", "d/dx", "second derivative"]),
    ("cas.simplify", &["simplify", "simplified"]),
    ("cas.integrate", &["integral", "integrate", "quadrature", "area under"]),
    ("cas.solve", &["root", "solve", "zero of", "roots"]),
    (
        "constants.get",
        &["constant", "planck", "speed of light", "boltzmann", "avogadro", "codata", "fine structure", "hbar"],
    ),
    ("units.convert", &["convert", "conversion", "in nanometres", "in nm", "wavelength"]),
    ("shell.run", &["shell", "command", "script", "tar", "archive"]),
];

/// Words of tool docs too common to say which tool is meant.
const COMMON: &[&str] = &[
    "the", "and", "for", "with", "from", "each", "into", "that", "this", "their", "field", "fields", "grid", "table",
    "tables", "values", "value", "file", "function", "plot", "data", "image", "images", "one", "two", "all", "its",
    "are", "by", "of", "on", "in", "a", "an", "to", "or", "as", "is", "be", "it", "at", "per", "other", "columns",
    "column", "regular", "units", "along", "axis", "get", "run", "line", "like", "real",
];

/// Phrases that ask for one node per value.
const SWEEP_WORDS: &[&str] = &[
    "sweep",
    "scan",
    "for each",
    "for every",
    "for all",
    "several",
    "series of",
    "varying",
    "vary",
    "range of",
    "family of",
    "each of",
    "multiple",
    "different values",
    "for n =",
    "for k =",
    "from 1 to",
    "n = 1 to",
    "sweeping",
];

/// The tools chosen for a request, in the order their nodes go (producers
/// first), and whether it asks for a sweep.
#[derive(Clone, Debug)]
pub struct Selection {
    pub tools: Vec<Arc<ToolSchema>>,
    pub sweep: bool,
}

/// The request as lower-case words separated by single spaces.
fn normalise(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '/' || c == '=' || c == '.' {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    format!(" {} ", out.replace(". ", " ").trim_end_matches('.').trim())
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Whether two words are the same word (`orbital`, `orbitals`; `fit`,
/// `fitting`).
fn same_word(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short == long || (short.len() >= 3 && long.starts_with(short) && long.len() - short.len() <= 4)
}

/// How strongly a request names a tool.
fn score(request: &str, request_words: &[String], t: &ToolSchema) -> u32 {
    // Named outright: `use data.fft`.
    let mut s = if request.contains(&t.name.to_lowercase()) { 4 } else { 0 };
    if let Some((_, aliases)) = ALIASES.iter().find(|(n, _)| *n == t.name) {
        for a in *aliases {
            if request.contains(&format!(" {a} ")) {
                s += 2;
            }
        }
    }
    let last = t.name.rsplit('.').next().unwrap_or(&t.name);
    // `export.csv` is named by its aliases: a file to load is often a CSV.
    let named_by_aliases = t.name == "export.csv";
    for part in last.split('_').filter(|_| !named_by_aliases) {
        if part.len() >= 3 && !COMMON.contains(&part) && request_words.iter().any(|w| same_word(w, part)) {
            s += 2;
        }
    }
    let doc_words: BTreeSet<String> = t
        .doc
        .as_deref()
        .map(words)
        .unwrap_or_default()
        .into_iter()
        .filter(|w| w.len() >= 4 && !COMMON.contains(&w.as_str()))
        .collect();
    let hits = doc_words.iter().filter(|d| request_words.iter().any(|w| w.len() >= 4 && same_word(w, d))).count();
    s + (hits as u32).min(2)
}

/// Chooses the tools for `request` among `tools`: those it names (a score
/// of 2: an alias, the tool's name, or two words of its doc), then, until
/// every required input can be fed, a producer for each input no chosen
/// tool makes. At most `max` tools; the request's strongest first.
pub fn select_tools(request: &str, tools: &[Arc<ToolSchema>], max: usize) -> Selection {
    let text = normalise(request);
    let request_words = words(request);
    let mut scored: Vec<(u32, &Arc<ToolSchema>)> =
        tools.iter().map(|t| (score(&text, &request_words, t), t)).filter(|(s, _)| *s >= 2).collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
    let mut chosen: Vec<Arc<ToolSchema>> = scored.iter().take(max).map(|(_, t)| (*t).clone()).collect();
    if chosen.is_empty() {
        for n in ["quantum.orbital", "plot.heatmap"] {
            if let Some(t) = tools.iter().find(|t| t.name == n) {
                chosen.push(t.clone());
            }
        }
    }
    // Feed every required data input.
    for _ in 0..4 {
        let mut added = false;
        for t in chosen.clone() {
            for p in t.params.iter().filter(|p| p.default.is_none() && needs_node(&p.ty)) {
                let want = element(&p.ty);
                if chosen.iter().any(|c| c.name != t.name && c.outputs.iter().any(|o| accepts(&want, &o.ty))) {
                    continue;
                }
                let producer = default_producer(&want)
                    .and_then(|n| tools.iter().find(|t| t.name == n))
                    .or_else(|| tools.iter().find(|c| c.outputs.iter().any(|o| accepts(&want, &o.ty))));
                if let Some(p) = producer
                    && !chosen.iter().any(|c| c.name == p.name)
                {
                    chosen.push(p.clone());
                    added = true;
                }
            }
        }
        if !added {
            break;
        }
    }
    let sweep = SWEEP_WORDS.iter().any(|w| text.contains(&format!(" {w} ")))
        || request_words.windows(3).any(|w| w[0].parse::<i64>().is_ok() && w[1] == "to" && w[2].parse::<i64>().is_ok())
        || text.contains("..");
    Selection { tools: order(chosen), sweep }
}

/// Whether values of `ty` come from another node.
fn needs_node(ty: &Ty) -> bool {
    match ty {
        Ty::List(e) => needs_node(e),
        Ty::Union(ps) => ps.iter().all(needs_node),
        t => t.is_data(),
    }
}

fn element(ty: &Ty) -> Ty {
    match ty {
        Ty::List(e) => (**e).clone(),
        t => t.clone(),
    }
}

/// The tool that usually makes a value of `ty` for a physicist.
fn default_producer(ty: &Ty) -> Option<&'static str> {
    let fits = |probe: Ty| accepts(ty, &probe);
    if fits(Ty::Field3D) {
        Some("quantum.orbital")
    } else if fits(Ty::Field2D) || fits(Ty::Field1D) {
        Some("field.evaluate")
    } else if fits(Ty::Series) {
        Some("data.load_csv")
    } else if fits(Ty::Image) {
        Some("plot.heatmap")
    } else {
        None
    }
}

/// Producers before the tools that read them.
fn order(tools: Vec<Arc<ToolSchema>>) -> Vec<Arc<ToolSchema>> {
    let mut left = tools;
    let mut out: Vec<Arc<ToolSchema>> = Vec::new();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            t.params.iter().filter(|p| p.default.is_none() && needs_node(&p.ty)).all(|p| {
                let want = element(&p.ty);
                out.iter().any(|o| o.outputs.iter().any(|x| accepts(&want, &x.ty)))
                    || !left.iter().any(|o| o.name != t.name && o.outputs.iter().any(|x| accepts(&want, &x.ty)))
            })
        });
        out.push(left.remove(ready.unwrap_or(0)));
    }
    out
}

/// The name a node of `tool` gets in an example.
fn node_name(tool: &str) -> &str {
    match tool {
        "quantum.orbital" => "density",
        "quantum.eigen1d" => "levels",
        "quantum.wavepacket" => "packet",
        "field.evaluate" => "field",
        "plot.heatmap" => "slice",
        "plot.line" => "curve",
        "plot.surface" => "relief",
        "plot.vector_field" => "arrows",
        "plot.animation" => "movie",
        "plot.contact_sheet" => "sheet",
        "data.load_csv" => "measured",
        "data.fit" => "fitted",
        "data.fft" => "spectrum",
        "data.stack" => "stacked",
        "ml.pca" => "components",
        "export.csv" => "csv",
        "export.vtk" => "vtk",
        "export.gltf" => "mesh",
        "cas.diff" => "derivative",
        "cas.simplify" => "simplified",
        "cas.integrate" => "integral",
        "cas.solve" => "root",
        "constants.get" => "constant",
        "units.convert" => "converted",
        "shell.run" => "command",
        other => other.rsplit('.').next().unwrap_or(other),
    }
}

/// The arity a `Fn` parameter asks for in its `where` (`arity(f) == 1`,
/// `arity(f) >= 1 && arity(f) <= 3`, `arity(model) >= 2`): the least, but
/// three for a field (so it can be sliced) and for a fitted model (x and
/// two parameters).
fn fn_arity(tool: &str, p: &ParamSchema) -> usize {
    let mut lo = 1usize;
    let mut hi = 3usize;
    fn walk(e: &phx_syntax::ast::Expr, lo: &mut usize, hi: &mut usize) {
        match &e.kind {
            ExprKind::Binary { op: BinaryOp::And, lhs, rhs } => {
                walk(lhs, lo, hi);
                walk(rhs, lo, hi);
            }
            ExprKind::Compare { first, rest } => {
                if let (ExprKind::Call { callee, .. }, [(op, v)]) = (&first.kind, rest.as_slice())
                    && callee.text() == "arity"
                    && let ExprKind::Number(n) = &v.kind
                    && let Some(k) = n.int
                {
                    let k = k.max(0) as usize;
                    match op {
                        CompareOp::Eq => (*lo, *hi) = (k, k),
                        CompareOp::Ge => *lo = k,
                        CompareOp::Gt => *lo = k + 1,
                        CompareOp::Le => *hi = k,
                        CompareOp::Lt => *hi = k.saturating_sub(1),
                        CompareOp::Ne => {}
                    }
                }
            }
            _ => {}
        }
    }
    for c in p.conditions.iter().filter(|c| c.kind == ConditionKind::Where) {
        walk(&c.expr, &mut lo, &mut hi);
    }
    let hi = hi.max(lo);
    if tool == "field.evaluate" || p.name == "model" { 3.clamp(lo, hi) } else { lo.max(1) }
}

/// A `fn` for a `Fn` parameter of `tool`: its name, parameters and body.
fn example_fn(tool: &ToolSchema, p: &ParamSchema, arity: usize) -> (&'static str, Vec<&'static str>, &'static str) {
    let args = ["x", "y", "z"];
    match (tool.name.as_str(), p.name.as_str(), arity) {
        (_, "potential", _) => ("v", vec!["x"], "x * x / 2"),
        (_, "model", 2) => ("model", vec!["x", "a"], "a * x"),
        (_, "model", _) => ("model", vec!["x", "a", "b"], "a * exp(-b * x)"),
        (_, "fx", _) => ("fx", vec!["x", "y"], "-y"),
        (_, "fy", _) => ("fy", vec!["x", "y"], "x"),
        ("field.evaluate", _, 3) => ("f", vec!["x", "y", "z"], "exp(-x * x - y * y - z * z)"),
        ("field.evaluate", _, 2) => ("f", vec!["x", "y"], "exp(-x * x - y * y)"),
        ("cas.solve", _, _) => ("f", vec!["x"], "x * x - 2"),
        (_, _, 1) => ("f", vec!["x"], "exp(-x * x)"),
        (_, _, n) => ("f", args[..n.clamp(1, 3)].to_vec(), "x"),
    }
}

/// The shape of the program for `sel`: the node name of each tool, the
/// `fn`s its `Fn` parameters take, and whether the first node sweeps.
pub fn shape(sel: &Selection) -> Shape {
    let mut names: Vec<String> = Vec::new();
    let mut fns: Vec<ShapeFn> = Vec::new();
    let taken =
        |n: &str, names: &[String], fns: &[ShapeFn]| names.iter().any(|x| x == n) || fns.iter().any(|f| f.name == n);
    for t in &sel.tools {
        for p in t.params.iter().filter(|p| p.ty == Ty::Fn && p.default.is_none()) {
            let (name, params, body) = example_fn(t, p, fn_arity(&t.name, p));
            let mut name = name.to_string();
            while taken(&name, &names, &fns) {
                name.push('2');
            }
            fns.push(ShapeFn {
                name,
                params: params.iter().map(|s| s.to_string()).collect(),
                tool: t.name.clone(),
                param: p.name.clone(),
                body: body.to_string(),
            });
        }
    }
    for t in &sel.tools {
        let mut name = node_name(&t.name).to_string();
        while taken(&name, &names, &fns) {
            name.push('x');
        }
        names.push(name);
    }
    // Only a node with an integer or a number to vary can sweep.
    let sweep =
        sel.sweep && sel.tools.first().is_some_and(|t| t.params.iter().any(|p| matches!(p.ty, Ty::Int | Ty::Float)));
    Shape { tools: sel.tools.clone(), names, fns, sweep }
}

/// Candidate values of a parameter, best first, for an example.
fn candidates(p: &ParamSchema) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = &p.default_text {
        out.push(d.clone());
    }
    match &p.ty {
        Ty::Int => {
            for v in ["1", "0", "2", "3", "10"] {
                out.push(v.into());
            }
        }
        Ty::Float => {
            let named: &[&str] = match p.name.as_str() {
                n if n.ends_with("min") || n == "lo" || n == "from" => &["-10.0"],
                n if n.ends_with("max") || n == "hi" || n == "to" => &["10.0"],
                "x0" => &["-5.0"],
                _ => &["1.0"],
            };
            out.extend(named.iter().map(|s| s.to_string()));
            for v in ["1.0", "0.0", "10.0", "-10.0"] {
                out.push(v.into());
            }
        }
        Ty::Bool => out.push("false".into()),
        Ty::String => {
            if let Some(c) = string_choices(p) {
                out.extend(c.iter().map(|c| format!("\"{c}\"")));
            }
            let v = match p.name.as_str() {
                "x" | "column" | "var" => "\"x\"",
                "y" => "\"y\"",
                "name" => "\"hbar\"",
                "expr" => "\"x^2 * sin(x)\"",
                "to" => "\"nm\"",
                "command" => "\"echo done\"",
                _ => "\"\"",
            };
            out.push(v.into());
        }
        Ty::Path => out.push("\"data.csv\"".into()),
        Ty::Quantity(Some(d)) => {
            let unit = crate::gbnf::small_units(Some(*d), None).first().cloned().unwrap_or_default();
            out.push(format!("1 {unit}"));
        }
        Ty::Quantity(None) => out.push("1.5 eV".into()),
        Ty::List(e) if **e == Ty::String => out.push("[\"y\"]".into()),
        Ty::List(e) if **e == Ty::Float => {
            for v in ["[1.0, 1.0]", "[1.0]", "[1.0, 1.0, 1.0]"] {
                out.push(v.into());
            }
        }
        Ty::Record => out.push("{}".into()),
        _ => {}
    }
    out.dedup();
    out
}

/// One node of an example: its name, tool, arguments and sweep binder.
struct ExampleNode {
    name: String,
    tool: Arc<ToolSchema>,
    args: Vec<Arg>,
    binder: Option<String>,
}

/// One argument of an example node.
struct Arg {
    name: String,
    choices: Vec<String>,
    at: usize,
}

/// An example program that calls each tool of `sel` once, in order, wired
/// by types (each data input reads the nearest earlier output that fits),
/// with a sweep on the first node when the request asks for one. Values
/// satisfy the tools' conditions: each is tried against the compiler until
/// the program checks clean. The second value lists the tools the example
/// could not call cleanly (empty when it checks).
pub fn example_program(sel: &Selection) -> (String, Vec<String>) {
    let shape = shape(sel);
    let mut fns: BTreeMap<String, String> = BTreeMap::new();
    for f in &shape.fns {
        let ps: Vec<String> = f.params.iter().map(|a| format!("{a}: Float")).collect();
        fns.insert(f.name.clone(), format!("fn {}({}) -> Float {{\n  {}\n}}\n", f.name, ps.join(", "), f.body));
    }
    let mut nodes: Vec<ExampleNode> = Vec::new();
    for (k, (t, name)) in shape.tools.iter().zip(&shape.names).enumerate() {
        let name = name.clone();
        let mut args = Vec::new();
        let mut binder = None;
        for p in t.params.iter() {
            if p.default.is_some() {
                continue;
            }
            let choices: Vec<String> = if needs_node(&p.ty) {
                let want = element(&p.ty);
                let list = matches!(p.ty, Ty::List(_));
                let mut refs = Vec::new();
                for ExampleNode { name: n, tool: nt, binder: b, .. } in nodes.iter().rev() {
                    if let Some(o) = nt.outputs.iter().find(|o| accepts(&want, &o.ty)) {
                        refs.push(match (list, b.is_some()) {
                            (true, true) => format!("{n}[*].{}", o.name),
                            (true, false) => format!("[{n}.{}]", o.name),
                            (false, true) => format!("{n}[0].{}", o.name),
                            (false, false) => format!("{n}.{}", o.name),
                        });
                    }
                }
                refs
            } else if p.ty == Ty::Fn {
                shape.fns.iter().filter(|f| f.tool == t.name && f.param == p.name).map(|f| f.name.clone()).collect()
            } else {
                candidates(p)
            };
            if choices.is_empty() {
                continue;
            }
            args.push(Arg { name: p.name.clone(), choices, at: 0 });
        }
        // A sweep on the first node over its first integer (or number).
        if shape.sweep && k == 0 {
            let pick =
                t.params.iter().find(|p| p.ty == Ty::Int).or_else(|| t.params.iter().find(|p| p.ty == Ty::Float));
            if let Some(p) = pick {
                let values = match (&p.ty, p.default_text.as_deref()) {
                    (Ty::Int, Some(d)) => match d.parse::<i64>() {
                        Ok(v) if v >= 4 => format!("[{}, {v}, {}]", v / 2, v * 2),
                        _ => "1..4".to_string(),
                    },
                    (Ty::Int, None) => "1..4".to_string(),
                    _ => "[1.0, 2.0, 3.0]".to_string(),
                };
                binder = Some(format!("{} in {values}", p.name));
                match args.iter_mut().find(|a| a.name == p.name) {
                    Some(a) => a.choices = vec![p.name.clone()],
                    None => {
                        // In the parameters' declared order.
                        let order = |n: &str| t.params.iter().position(|q| q.name == n).unwrap_or(usize::MAX);
                        let pos = args.iter().position(|a| order(&a.name) > order(&p.name)).unwrap_or(args.len());
                        args.insert(pos, Arg { name: p.name.clone(), choices: vec![p.name.clone()], at: 0 })
                    }
                }
            }
        }
        nodes.push(ExampleNode { name, tool: t.clone(), args, binder });
    }
    // Try the values against the compiler: an error inside an argument's
    // value moves that argument to its next candidate.
    let mut text = String::new();
    let mut stuck = Vec::new();
    for _ in 0..24 {
        let (t, spans) = render(&fns, &nodes);
        text = t;
        let mut db = crate::Database::new();
        let file = db.set_file("/phx-example/example.phx", text.clone());
        let errors: Vec<_> =
            db.check(file).diagnostics.iter().filter(|d| d.severity == Severity::Error).cloned().collect();
        if errors.is_empty() {
            return (text, Vec::new());
        }
        // Each argument moves once a round (a sweep repeats one error per
        // instance).
        let mut hit = BTreeSet::new();
        for e in &errors {
            let at = e.span.start as usize;
            if let Some(x) = spans.iter().find(|(_, _, s, end)| *s <= at && at < (*end).max(*s + 1)) {
                hit.insert((x.0, x.1));
            }
        }
        let mut moved = false;
        for (ni, ai) in hit {
            let arg = &mut nodes[ni].args[ai];
            if arg.at + 1 < arg.choices.len() {
                arg.at += 1;
                moved = true;
            }
        }
        if !moved {
            stuck = errors.iter().map(|e| e.message.clone()).collect();
            break;
        }
    }
    (text, stuck)
}

/// The example's text, and where each argument's value is: (node, arg,
/// start, end).
fn render(fns: &BTreeMap<String, String>, nodes: &[ExampleNode]) -> (String, Vec<(usize, usize, usize, usize)>) {
    let mut out = String::new();
    let mut spans = Vec::new();
    for src in fns.values() {
        out.push_str(src);
        out.push('\n');
    }
    for (ni, ExampleNode { name, tool: t, args, binder }) in nodes.iter().enumerate() {
        let _ = write!(out, "node {name}");
        if let Some(b) = binder {
            let _ = write!(out, "[{b}]");
        }
        let _ = write!(out, " = {}(", t.name);
        for (ai, a) in args.iter().enumerate() {
            if ai > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{} = ", a.name);
            let start = out.len();
            out.push_str(&a.choices[a.at.min(a.choices.len() - 1)]);
            spans.push((ni, ai, start, out.len()));
        }
        out.push(')');
        match t.emits.first() {
            Some(e) => {
                let _ = write!(out, " {{\n  emit = [{e}]\n}}\n\n");
            }
            None => out.push_str("\n\n"),
        }
    }
    (out.trim_end().to_string() + "\n", spans)
}

/// A tool in one line for a prompt: its signature with each parameter's
/// conditions, what it emits, and the first sentence of its doc.
pub fn tool_line(t: &ToolSchema) -> String {
    let params: Vec<String> = t
        .params
        .iter()
        .map(|p| {
            let mut s = match &p.default_text {
                Some(d) => format!("{}: {} = {d}", p.name, p.ty),
                None => format!("{}: {}", p.name, p.ty),
            };
            for c in &p.conditions {
                let kw = if c.kind == ConditionKind::Where { "where" } else { "max" };
                let text = if c.kind == ConditionKind::Cap {
                    c.text.replace(&format!("{} <= ", p.name), "")
                } else {
                    c.text.clone()
                };
                let _ = write!(s, " {kw} {text}");
            }
            s
        })
        .collect();
    let outs: Vec<String> = t.outputs.iter().map(|o| format!("{}: {}", o.name, o.ty)).collect();
    let doc = t.doc.as_deref().unwrap_or("").replace('\n', " ");
    let first = doc.split_inclusive(". ").next().unwrap_or("").trim();
    let emits = if t.emits.is_empty() { String::new() } else { format!(" emit [{}].", t.emits.join(", ")) };
    format!("{}({}) -> ({}).{emits} {first}", t.name, params.join(", "), outs.join(", "))
}

/// The system prompt for writing `.phx` text: the shape of a program, the
/// chosen tools in full, the names of the others, and the example.
pub fn system_prompt(sel: &Selection, all: &[Arc<ToolSchema>], example: &str) -> String {
    let mut out = String::from(
        "You write programs in phx, a language for physics pipelines. Answer with the program only, no explanations.\n\
         A program has `fn` items (numeric functions of Float) and `node` items. A node calls one tool with named arguments:\n\
         node NAME = TOOL(ARG = VALUE, ...) {\n  emit = [static]\n}\n\
         Values: integers, numbers, quantities with a unit (20 bohr, 1.5 eV), strings in double quotes, lists [a, b], \
         a function's name, or another node's output NODE.OUTPUT. `emit` lists the pictures and tables a node shows, from its tool's emit list.\n\
         A sweep makes one node per value: node NAME[n in 1..4] = TOOL(n = n, ...); NAME[0].OUTPUT is the first instance's output, NAME[*].OUTPUT the list of all.\n\nTools:\n",
    );
    for t in &sel.tools {
        let _ = writeln!(out, "- {}", tool_line(t));
    }
    let others: Vec<&str> =
        all.iter().filter(|t| !sel.tools.iter().any(|s| s.name == t.name)).map(|t| t.name.as_str()).collect();
    if !others.is_empty() {
        let _ = writeln!(out, "Other tools: {}.", others.join(", "));
    }
    let _ = write!(out, "\nExample:\n{example}");
    out
}
