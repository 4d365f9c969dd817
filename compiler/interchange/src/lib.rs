//! The JSON form of a program (language spec, section 8), both ways.
//!
//! `export` walks the syntax tree and writes each item as JSON: literals as
//! JSON values, quantities as `{"value", "unit"}`, params as `{"param"}`,
//! node outputs as `{"ref"}`, and anything else as `{"expr": "source"}`.
//! `import` writes `.phx` text back, formatted; `import(export(f))` checks
//! to the same DAG with the same static keys.

use std::fmt::Write as _;

use phx_syntax::ast::*;
use serde_json::{Map, Value as Json, json};

/// Why a JSON document is not a program.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("the document is not JSON: {0}")]
    NotJson(String),
    #[error("`{path}`: {message}")]
    Shape { path: String, message: String },
    #[error("the program written from the JSON does not parse: {0}")]
    Syntax(String),
}

fn shape(path: &str, message: impl Into<String>) -> ImportError {
    ImportError::Shape { path: path.to_string(), message: message.into() }
}

/// Exports a program's source text to its JSON form. Fails only when the
/// text has syntax errors.
pub fn export(text: &str) -> Result<Json, Vec<phx_syntax::SyntaxError>> {
    let parsed = phx_syntax::parse_file(text);
    if !parsed.errors.is_empty() {
        return Err(parsed.errors);
    }
    let params: Vec<String> = parsed
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Param(p) => Some(p.name.name.clone()),
            _ => None,
        })
        .collect();
    let nodes: Vec<String> = parsed
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Node(n) => Some(n.name.name.clone()),
            _ => None,
        })
        .collect();
    let enc = Encoder { params: &params, nodes: &nodes };
    let mut root = Map::new();
    let mut imports = Vec::new();
    let mut param_map = Map::new();
    let mut lets = Map::new();
    let mut fns = Vec::new();
    let mut tools = Vec::new();
    let mut node_list = Vec::new();
    let mut reports = Vec::new();
    for item in &parsed.items {
        let doc = item.doc().map(str::to_string);
        match item {
            Item::Import(i) => imports.push(json!({"path": i.path.as_plain().unwrap_or_default(), "as": i.alias.name})),
            Item::Experiment(e) => {
                let mut m = Map::new();
                m.insert("name".into(), json!(e.name.name));
                if let Some(d) = doc {
                    m.insert("doc".into(), json!(d));
                }
                for f in &e.fields {
                    let v = if f.name.name == "policy" { enc.enum_or_expr(&f.value) } else { enc.expr(&f.value) };
                    m.insert(f.name.name.clone(), v);
                }
                root.insert("experiment".into(), Json::Object(m));
            }
            Item::Param(p) => {
                let mut m = Map::new();
                m.insert("type".into(), json!(phx_fmt::type_to_string(&p.ty)));
                if let Some(d) = &p.default {
                    m.insert("default".into(), enc.expr(d));
                }
                if let Some(d) = doc {
                    m.insert("doc".into(), json!(d));
                }
                param_map.insert(p.name.name.clone(), Json::Object(m));
            }
            Item::Let(l) => {
                let mut m = Map::new();
                m.insert("value".into(), enc.expr(&l.value));
                if let Some(t) = &l.ty {
                    m.insert("type".into(), json!(phx_fmt::type_to_string(t)));
                }
                if let Some(d) = doc {
                    m.insert("doc".into(), json!(d));
                }
                lets.insert(l.name.name.clone(), Json::Object(m));
            }
            Item::Fn(f) => fns.push(source_item(&f.name.name, doc, item)),
            Item::Tool(t) => tools.push(source_item(&t.path.text(), doc, item)),
            Item::Report(r) => reports.push(source_item(&r.name.name, doc, item)),
            Item::Node(n) => {
                let mut m = Map::new();
                m.insert("id".into(), json!(n.name.name));
                m.insert("tool".into(), json!(n.tool.text()));
                if !n.binders.is_empty() {
                    let sweep: Map<String, Json> =
                        n.binders.iter().map(|b| (b.name.name.clone(), enc.expr(&b.values))).collect();
                    m.insert("sweep".into(), Json::Object(sweep));
                }
                let args: Map<String, Json> =
                    n.args.iter().map(|a| (a.name.name.clone(), enc.expr(&a.value))).collect();
                m.insert("args".into(), Json::Object(args));
                let mut props = Map::new();
                for p in &n.props {
                    match p.name.name.as_str() {
                        "emit" | "device" => {
                            m.insert(p.name.name.clone(), enc.enum_or_expr(&p.value));
                        }
                        "backend" => {
                            m.insert("backend".into(), enc.enum_or_expr(&p.value));
                        }
                        _ => {
                            props.insert(p.name.name.clone(), enc.expr(&p.value));
                        }
                    }
                }
                if !props.is_empty() {
                    m.insert("props".into(), Json::Object(props));
                }
                if let Some(d) = doc {
                    m.insert("doc".into(), json!(d));
                }
                node_list.push(Json::Object(m));
            }
        }
    }
    if !imports.is_empty() {
        root.insert("imports".into(), Json::Array(imports));
    }
    root.insert("params".into(), Json::Object(param_map));
    if !lets.is_empty() {
        root.insert("lets".into(), Json::Object(lets));
    }
    if !fns.is_empty() {
        root.insert("fns".into(), Json::Array(fns));
    }
    if !tools.is_empty() {
        root.insert("tools".into(), Json::Array(tools));
    }
    root.insert("nodes".into(), Json::Array(node_list));
    if !reports.is_empty() {
        root.insert("reports".into(), Json::Array(reports));
    }
    Ok(Json::Object(root))
}

fn source_item(name: &str, doc: Option<String>, item: &Item) -> Json {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    if let Some(d) = doc {
        m.insert("doc".into(), json!(d));
    }
    m.insert("source".into(), json!(item_source(item)));
    Json::Object(m)
}

/// One item printed on its own, without its doc comment.
fn item_source(item: &Item) -> String {
    let mut one = item.clone();
    strip_doc(&mut one);
    // Printing through the formatter keeps one canonical layout.
    let text = render_items(std::slice::from_ref(&one));
    text.trim_end().to_string()
}

fn strip_doc(item: &mut Item) {
    match item {
        Item::Import(i) => i.doc = None,
        Item::Experiment(i) => i.doc = None,
        Item::Param(i) => i.doc = None,
        Item::Let(i) => i.doc = None,
        Item::Fn(i) => i.doc = None,
        Item::Tool(i) => i.doc = None,
        Item::Node(i) => i.doc = None,
        Item::Report(i) => i.doc = None,
    }
}

/// Renders items through the formatter (by printing a minimal source and
/// formatting it): the one place that knows the layout.
fn render_items(items: &[Item]) -> String {
    let mut src = String::new();
    for i in items {
        src.push_str(&crude_item(i));
        src.push('\n');
    }
    phx_fmt::format_source(&src).unwrap_or(src)
}

/// The item as parseable (not yet pretty) text.
fn crude_item(item: &Item) -> String {
    use phx_fmt::{expr_to_string as e, string_lit, type_to_string as t};
    let fields =
        |fs: &[Field]| fs.iter().map(|f| format!("{} = {}", f.name.name, e(&f.value))).collect::<Vec<_>>().join("\n");
    match item {
        Item::Import(i) => format!("import {} as {}", string_lit(&i.path, 0), i.alias.name),
        Item::Experiment(x) => format!("experiment {} {{\n{}\n}}", x.name.name, fields(&x.fields)),
        Item::Param(p) => match &p.default {
            Some(d) => format!("param {}: {} = {}", p.name.name, t(&p.ty), e(d)),
            None => format!("param {}: {}", p.name.name, t(&p.ty)),
        },
        Item::Let(l) => match &l.ty {
            Some(ty) => format!("let {}: {} = {}", l.name.name, t(ty), e(&l.value)),
            None => format!("let {} = {}", l.name.name, e(&l.value)),
        },
        Item::Fn(f) => {
            let ps: Vec<String> = f.params.iter().map(|p| format!("{}: {}", p.name.name, t(&p.ty))).collect();
            let mut body = String::new();
            for l in &f.body.lets {
                let _ = writeln!(body, "let {} = {}", l.name.name, e(&l.value));
            }
            body.push_str(&e(&f.body.value));
            let ret = f.ret.as_ref().map(|r| format!(" -> {}", t(r))).unwrap_or_default();
            format!("fn {}({}){ret} {{\n{body}\n}}", f.name.name, ps.join(", "))
        }
        Item::Tool(tool) => {
            let ps: Vec<String> = tool
                .params
                .iter()
                .map(|p| {
                    let mut s = format!("{}: {}", p.name.name, t(&p.ty));
                    if let Some(d) = &p.default {
                        s.push_str(&format!(" = {}", e(d)));
                    }
                    for c in &p.conditions {
                        s.push_str(if c.kind == ConditionKind::Where { " where " } else { " cap " });
                        s.push_str(&e(&c.expr));
                    }
                    s
                })
                .collect();
            let os: Vec<String> = tool.outputs.iter().map(|o| format!("{}: {}", o.name.name, t(&o.ty))).collect();
            format!(
                "tool {}({}) -> ({}) {{\n{}\n}}",
                tool.path.text(),
                ps.join(", "),
                os.join(", "),
                fields(&tool.fields)
            )
        }
        Item::Node(n) => {
            let binders = if n.binders.is_empty() {
                String::new()
            } else {
                format!(
                    "[{}]",
                    n.binders
                        .iter()
                        .map(|b| format!("{} in {}", b.name.name, e(&b.values)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let args: Vec<String> = n.args.iter().map(|a| format!("{} = {}", a.name.name, e(&a.value))).collect();
            let props = if n.props.is_empty() { String::new() } else { format!(" {{\n{}\n}}", fields(&n.props)) };
            format!("node {}{binders} = {}({}){props}", n.name.name, n.tool.text(), args.join(", "))
        }
        Item::Report(r) => format!("report {} {{\n{}\n}}", r.name.name, crude_entries(&r.entries)),
    }
}

fn crude_entries(entries: &[ReportEntry]) -> String {
    use phx_fmt::{expr_to_string as e, string_lit};
    let mut out = String::new();
    for en in entries {
        match en {
            ReportEntry::Field(f) => {
                let _ = writeln!(out, "{} = {}", f.name.name, e(&f.value));
            }
            ReportEntry::Section { heading, entries, .. } => {
                let _ = writeln!(out, "section {} {{\n{}\n}}", string_lit(heading, 0), crude_entries(entries));
            }
            ReportEntry::Text { text, .. } => {
                let _ = writeln!(out, "text {}", string_lit(text, 0));
            }
            ReportEntry::Figure { target, fields, .. } | ReportEntry::Table { target, fields, .. } => {
                let kw = if matches!(en, ReportEntry::Figure { .. }) { "figure" } else { "table" };
                let mut r = target.node.name.clone();
                if let Some(i) = &target.index {
                    r.push_str(&format!("[{}]", e(i)));
                }
                if let Some(o) = &target.output {
                    r.push_str(&format!(".{}", o.name));
                }
                let fs = if fields.is_empty() {
                    String::new()
                } else {
                    format!(
                        " {{ {} }}",
                        fields
                            .iter()
                            .map(|f| format!("{} = {}", f.name.name, e(&f.value)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let _ = writeln!(out, "{kw} {r}{fs}");
            }
        }
    }
    out
}

struct Encoder<'a> {
    params: &'a [String],
    nodes: &'a [String],
}

impl Encoder<'_> {
    fn expr(&self, e: &Expr) -> Json {
        match &e.kind {
            ExprKind::Number(n) => number_json(n, false),
            ExprKind::Unary { op: UnaryOp::Neg, operand } => match &operand.kind {
                ExprKind::Number(n) => number_json(n, true),
                _ => json!({"expr": phx_fmt::expr_to_string(e)}),
            },
            ExprKind::Bool(b) => json!(b),
            ExprKind::Str(s) if !s.triple && s.as_plain().is_some() => json!(s.as_plain().unwrap_or_default()),
            ExprKind::Quantity { number, unit } if number.value.is_finite() => {
                json!({"value": number_json(number, false), "unit": unit.text()})
            }
            ExprKind::Name(id) if self.params.contains(&id.name) => json!({"param": id.name}),
            ExprKind::Member { base, member } => match &base.kind {
                ExprKind::Name(id) if self.nodes.contains(&id.name) => {
                    json!({"ref": format!("{}.{}", id.name, member.name)})
                }
                _ => json!({"expr": phx_fmt::expr_to_string(e)}),
            },
            ExprKind::List(items) => Json::Array(items.iter().map(|i| self.expr(i)).collect()),
            _ => json!({"expr": phx_fmt::expr_to_string(e)}),
        }
    }

    /// A list of bare names (emits, devices) as strings; anything else as
    /// an expression.
    fn enum_or_expr(&self, e: &Expr) -> Json {
        match &e.kind {
            ExprKind::Name(id) => json!(id.name),
            ExprKind::List(items) if items.iter().all(|i| matches!(i.kind, ExprKind::Name(_))) => Json::Array(
                items
                    .iter()
                    .map(|i| match &i.kind {
                        ExprKind::Name(id) => json!(id.name),
                        _ => Json::Null,
                    })
                    .collect(),
            ),
            _ => json!({"expr": phx_fmt::expr_to_string(e)}),
        }
    }
}

fn number_json(n: &NumberLit, negative: bool) -> Json {
    match n.int {
        Some(i) => json!(if negative { -i } else { i }),
        None => {
            let v = if negative { -n.value } else { n.value };
            serde_json::Number::from_f64(v).map_or_else(|| json!({"expr": n.text.clone()}), Json::Number)
        }
    }
}

/// Writes `.phx` text from the JSON form, formatted canonically.
pub fn import(json_text: &str) -> Result<String, ImportError> {
    let doc: Json = serde_json::from_str(json_text).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let root =
        doc.as_object().ok_or_else(|| shape("$", "expected an object with `experiment`, `params` and `nodes`"))?;
    let known = ["experiment", "imports", "params", "lets", "fns", "tools", "nodes", "reports"];
    for k in root.keys() {
        if !known.contains(&k.as_str()) {
            return Err(shape(&format!("$.{k}"), format!("unknown key; expected one of: {}", known.join(", "))));
        }
    }
    let mut out = String::new();
    let doc_lines = |d: Option<&Json>, out: &mut String| {
        if let Some(Json::String(s)) = d {
            for line in s.lines() {
                let _ = writeln!(out, "/// {line}");
            }
        }
    };
    if let Some(exp) = root.get("experiment") {
        let m = exp.as_object().ok_or_else(|| shape("$.experiment", "expected an object"))?;
        let name = m.get("name").and_then(Json::as_str).ok_or_else(|| shape("$.experiment.name", "expected a name"))?;
        check_ident(name, "$.experiment.name")?;
        doc_lines(m.get("doc"), &mut out);
        let _ = writeln!(out, "experiment {name} {{");
        for (k, v) in m {
            if k == "name" || k == "doc" {
                continue;
            }
            check_ident(k, &format!("$.experiment.{k}"))?;
            let text = if k == "policy" {
                enum_text(v, &format!("$.experiment.{k}"))?
            } else {
                value_text(v, &format!("$.experiment.{k}"))?
            };
            let _ = writeln!(out, "  {k} = {text}");
        }
        out.push_str("}\n\n");
    }
    if let Some(imps) = root.get("imports") {
        for (i, imp) in imps.as_array().ok_or_else(|| shape("$.imports", "expected a list"))?.iter().enumerate() {
            let path = imp
                .get("path")
                .and_then(Json::as_str)
                .ok_or_else(|| shape(&format!("$.imports[{i}].path"), "expected a string"))?;
            let alias = imp
                .get("as")
                .and_then(Json::as_str)
                .ok_or_else(|| shape(&format!("$.imports[{i}].as"), "expected a name"))?;
            check_ident(alias, &format!("$.imports[{i}].as"))?;
            let _ = writeln!(out, "import {} as {alias}", quote(path));
        }
    }
    if let Some(params) = root.get("params") {
        for (name, p) in params.as_object().ok_or_else(|| shape("$.params", "expected an object"))? {
            let path = format!("$.params.{name}");
            check_ident(name, &path)?;
            let ty = p
                .get("type")
                .and_then(Json::as_str)
                .ok_or_else(|| shape(&format!("{path}.type"), "expected a type such as \"Int\""))?;
            check_type(ty, &format!("{path}.type"))?;
            doc_lines(p.get("doc"), &mut out);
            match p.get("default") {
                Some(d) => {
                    let _ = writeln!(out, "param {name}: {ty} = {}", value_text(d, &format!("{path}.default"))?);
                }
                None => {
                    let _ = writeln!(out, "param {name}: {ty}");
                }
            }
        }
    }
    if let Some(lets) = root.get("lets") {
        for (name, l) in lets.as_object().ok_or_else(|| shape("$.lets", "expected an object"))? {
            let path = format!("$.lets.{name}");
            check_ident(name, &path)?;
            doc_lines(l.get("doc"), &mut out);
            let v = l.get("value").ok_or_else(|| shape(&format!("{path}.value"), "missing"))?;
            let ty = match l.get("type").and_then(Json::as_str) {
                Some(t) => {
                    check_type(t, &format!("{path}.type"))?;
                    format!(": {t}")
                }
                None => String::new(),
            };
            let _ = writeln!(out, "let {name}{ty} = {}", value_text(v, &format!("{path}.value"))?);
        }
    }
    for key in ["fns", "tools"] {
        if let Some(list) = root.get(key) {
            for (i, f) in
                list.as_array().ok_or_else(|| shape(&format!("$.{key}"), "expected a list"))?.iter().enumerate()
            {
                let path = format!("$.{key}[{i}]");
                doc_lines(f.get("doc"), &mut out);
                let src = f
                    .get("source")
                    .and_then(Json::as_str)
                    .ok_or_else(|| shape(&format!("{path}.source"), "expected the item's source text"))?;
                let want = if key == "fns" { ItemKind::Fn } else { ItemKind::Tool };
                check_source(src, want, &path)?;
                let _ = writeln!(out, "{src}\n");
            }
        }
    }
    if let Some(nodes) = root.get("nodes") {
        for (i, n) in nodes.as_array().ok_or_else(|| shape("$.nodes", "expected a list"))?.iter().enumerate() {
            let path = format!("$.nodes[{i}]");
            let m = n.as_object().ok_or_else(|| shape(&path, "expected an object"))?;
            let id = m
                .get("id")
                .and_then(Json::as_str)
                .ok_or_else(|| shape(&format!("{path}.id"), "expected the node's name"))?;
            check_ident(id, &format!("{path}.id"))?;
            let tool = m
                .get("tool")
                .and_then(Json::as_str)
                .ok_or_else(|| shape(&format!("{path}.tool"), "expected a tool such as \"quantum.orbital\""))?;
            for seg in tool.split('.') {
                check_ident(seg, &format!("{path}.tool"))?;
            }
            for k in m.keys() {
                if !["id", "tool", "args", "emit", "device", "backend", "sweep", "props", "doc"].contains(&k.as_str()) {
                    return Err(shape(
                        &format!("{path}.{k}"),
                        "unknown key; node keys are id, tool, args, emit, device, backend, sweep, props, doc",
                    ));
                }
            }
            doc_lines(m.get("doc"), &mut out);
            let mut binders = Vec::new();
            if let Some(sweep) = m.get("sweep") {
                for (b, v) in sweep.as_object().ok_or_else(|| shape(&format!("{path}.sweep"), "expected an object"))? {
                    check_ident(b, &format!("{path}.sweep.{b}"))?;
                    binders.push(format!("{b} in {}", value_text(v, &format!("{path}.sweep.{b}"))?));
                }
            }
            let sweep = if binders.is_empty() { String::new() } else { format!("[{}]", binders.join(", ")) };
            let mut args = Vec::new();
            if let Some(a) = m.get("args") {
                for (k, v) in a.as_object().ok_or_else(|| shape(&format!("{path}.args"), "expected an object"))? {
                    check_ident(k, &format!("{path}.args.{k}"))?;
                    args.push(format!("{k} = {}", value_text(v, &format!("{path}.args.{k}"))?));
                }
            }
            let mut props = Vec::new();
            for k in ["emit", "device", "backend"] {
                if let Some(v) = m.get(k) {
                    props.push(format!("{k} = {}", enum_text(v, &format!("{path}.{k}"))?));
                }
            }
            if let Some(p) = m.get("props") {
                for (k, v) in p.as_object().ok_or_else(|| shape(&format!("{path}.props"), "expected an object"))? {
                    check_ident(k, &format!("{path}.props.{k}"))?;
                    props.push(format!("{k} = {}", value_text(v, &format!("{path}.props.{k}"))?));
                }
            }
            let _ = write!(out, "node {id}{sweep} = {tool}({})", args.join(", "));
            if props.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, " {{\n  {}\n}}", props.join("\n  "));
            }
        }
    }
    if let Some(list) = root.get("reports") {
        for (i, r) in list.as_array().ok_or_else(|| shape("$.reports", "expected a list"))?.iter().enumerate() {
            let path = format!("$.reports[{i}]");
            doc_lines(r.get("doc"), &mut out);
            let src = r
                .get("source")
                .and_then(Json::as_str)
                .ok_or_else(|| shape(&format!("{path}.source"), "expected the report's source text"))?;
            check_source(src, ItemKind::Report, &path)?;
            let _ = writeln!(out, "{src}\n");
        }
    }
    phx_fmt::format_source(&out)
        .map_err(|errs| ImportError::Syntax(errs.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ")))
}

fn check_ident(s: &str, path: &str) -> Result<(), ImportError> {
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok && !["true", "false", "if", "else"].contains(&s) {
        Ok(())
    } else {
        Err(shape(path, format!("`{s}` is not a valid name")))
    }
}

fn check_type(s: &str, path: &str) -> Result<(), ImportError> {
    let parsed = phx_syntax::parse_chunk(&format!("param x: {s}"));
    if parsed.errors.is_empty() && parsed.items.len() == 1 {
        Ok(())
    } else {
        Err(shape(path, format!("`{s}` is not a type")))
    }
}

fn check_source(src: &str, want: ItemKind, path: &str) -> Result<(), ImportError> {
    let parsed = phx_syntax::parse_file(src);
    if let Some(e) = parsed.errors.first() {
        return Err(shape(&format!("{path}.source"), format!("does not parse: {}", e.message)));
    }
    match parsed.items.as_slice() {
        [one] if one.kind() == want => Ok(()),
        _ => Err(shape(&format!("{path}.source"), format!("expected exactly one `{}` item", want.keyword()))),
    }
}

fn quote(s: &str) -> String {
    let lit =
        StringLit { parts: vec![StringPart::Text(s.to_string())], triple: false, span: phx_syntax::Span::default() };
    phx_fmt::string_lit(&lit, 0)
}

fn expr_checked(s: &str, path: &str) -> Result<String, ImportError> {
    let parsed = phx_syntax::parse_chunk(&format!("let x = {s}"));
    if parsed.errors.is_empty() && parsed.items.len() == 1 {
        Ok(s.to_string())
    } else {
        Err(shape(path, format!("`{s}` is not an expression")))
    }
}

fn enum_text(v: &Json, path: &str) -> Result<String, ImportError> {
    match v {
        Json::String(s) => {
            check_ident(s, path)?;
            Ok(s.clone())
        }
        Json::Array(items) => {
            let mut parts = Vec::new();
            for (i, x) in items.iter().enumerate() {
                parts.push(enum_text(x, &format!("{path}[{i}]"))?);
            }
            Ok(format!("[{}]", parts.join(", ")))
        }
        other => value_text(other, path),
    }
}

fn value_text(v: &Json, path: &str) -> Result<String, ImportError> {
    match v {
        Json::Null => Err(shape(path, "null is not a value")),
        Json::Bool(b) => Ok(b.to_string()),
        Json::Number(n) => Ok(number_text(n)),
        Json::String(s) => Ok(quote(s)),
        Json::Array(items) => {
            let mut parts = Vec::new();
            for (i, x) in items.iter().enumerate() {
                parts.push(value_text(x, &format!("{path}[{i}]"))?);
            }
            Ok(format!("[{}]", parts.join(", ")))
        }
        Json::Object(m) => {
            if let Some(p) = m.get("param") {
                let p = p.as_str().ok_or_else(|| shape(&format!("{path}.param"), "expected a name"))?;
                check_ident(p, &format!("{path}.param"))?;
                return Ok(p.to_string());
            }
            if let Some(r) = m.get("ref") {
                let r = r.as_str().ok_or_else(|| shape(&format!("{path}.ref"), "expected `node.output`"))?;
                return expr_checked(r, &format!("{path}.ref"));
            }
            if let Some(e) = m.get("expr") {
                let e = e.as_str().ok_or_else(|| shape(&format!("{path}.expr"), "expected source text"))?;
                return expr_checked(e, &format!("{path}.expr"));
            }
            if let (Some(value), Some(unit)) = (m.get("value"), m.get("unit")) {
                let unit =
                    unit.as_str().ok_or_else(|| shape(&format!("{path}.unit"), "expected a unit such as \"bohr\""))?;
                let num = match value {
                    Json::Number(n) => number_text(n),
                    _ => return Err(shape(&format!("{path}.value"), "expected a number")),
                };
                let (neg, digits) = match num.strip_prefix('-') {
                    Some(d) => (true, d.to_string()),
                    None => (false, num.clone()),
                };
                let single = unit.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && unit.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
                let u = if single { unit.to_string() } else { format!("[{unit}]") };
                let text = format!("{}{digits} {u}", if neg { "-" } else { "" });
                return expr_checked(&text, path);
            }
            Err(shape(
                path,
                "expected a value: a number, string, bool, list, {\"value\", \"unit\"}, {\"param\"}, {\"ref\"} or {\"expr\"}",
            ))
        }
    }
}

fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let s = format!("{f:?}");
    if s.contains(['.', 'e', 'E']) || !f.is_finite() { s } else { format!("{s}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_json_imports() {
        let spec = r#"{"experiment": {"name": "hydrogen_2p", "policy": "local_first"},
 "params": {"grid": {"type": "Int", "default": 96}},
 "nodes": [
   {"id": "density", "tool": "quantum.orbital",
    "args": {"n": 2, "l": 1, "m": 0, "grid": {"param": "grid"},
             "extent": {"value": 24, "unit": "bohr"}},
    "emit": ["static", "series"], "device": ["gpu", "cpu"]},
   {"id": "slice", "tool": "plot.heatmap",
    "args": {"field": {"ref": "density.density"}, "plane": "xz"},
    "emit": ["static"]}]}"#;
        let text = import(spec).unwrap();
        assert!(text.contains("extent = 24 bohr"), "{text}");
        assert!(text.contains("field = density.density"), "{text}");
        let back = export(&text).unwrap();
        let again = import(&back.to_string()).unwrap();
        assert_eq!(text, again);
    }

    #[test]
    fn bad_json_says_where() {
        assert!(matches!(import("{"), Err(ImportError::NotJson(_))));
        let e = import(r#"{"nodes": [{"id": "a b", "tool": "x.y"}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "`$.nodes[0].id`: `a b` is not a valid name");
        let e = import(r#"{"nodes": [{"id": "a", "tool": "x.y", "args": {"n": {"expr": "1 +"}}}]}"#).unwrap_err();
        assert!(e.to_string().contains("$.nodes[0].args.n"), "{e}");
    }
}
