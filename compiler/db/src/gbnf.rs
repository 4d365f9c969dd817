//! The language as a GBNF grammar (llama.cpp's grammar format), specialised
//! to a set of tools: a server that decodes under it cannot write a program
//! that does not parse, or that calls a tool or passes an argument that
//! does not exist.
//!
//! Two profiles. [`Profile::Full`] is the whole language (every item, any
//! expression as an argument), with tool names and each tool's argument
//! names enumerated: `phx schema --format gbnf` prints it, and every
//! example program is a sentence of it. [`Profile::Small`] is what a small
//! model can follow: `fn`s with a simple expression grammar, then nodes of
//! the given tools in the given order (each at most twice), every argument
//! a value of its parameter's shape (an integer, a number, a quantity in a
//! unit of the right dimension, one of a string's allowed values, a
//! reference `node.output` to an output of the right type, a list) and the
//! `emit` list a subset of what the tool can emit.
//!
//! Both are subsets of what the pest grammar (grammar/phx.pest) accepts:
//! the tests derive random sentences and parse them with phx's parser.
//! Where the pest grammar is subtle the GBNF is stricter: inside an item,
//! a line break is allowed only inside brackets and must be followed by
//! indentation (an item keyword at the start of a line starts a new item
//! for phx's scanner), blocks separate their entries by a comma, `;` or a
//! line break (a number followed by a name on one line is a quantity), and
//! names never are `true`, `false`, `if` or `else`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use phx_sema::schema::ParamSchema;
pub use phx_sema::schema::ToolSchema;
use phx_sema::types::Ty;
use phx_syntax::ast::{BinaryOp, CompareOp, ConditionKind, ExprKind};
use phx_units::Dim;

/// Which grammar to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The whole language, tools and argument names enumerated.
    Full,
    /// Nodes of the given tools (in their order) with typed values: what a
    /// small model can follow.
    Small,
}

/// The words a name may not be: they are read as something else.
pub const RESERVED: [&str; 4] = ["true", "false", "if", "else"];

/// The builtins of `fn` bodies (language spec, section 4).
pub const BUILTINS: [&str; 20] = [
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "exp", "ln", "log10", "sqrt", "abs",
    "pow", "min", "max", "floor", "ceil",
];

/// A GBNF literal: the text in double quotes, escaped as in JSON (GBNF
/// reads the same escapes).
pub fn lit(s: &str) -> String {
    phx_sema::value::json_string(s)
}

/// Zero or more `item`s separated by commas, a trailing comma allowed.
fn comma_list(item: &str) -> String {
    format!("({item} (w \",\" w {item})* (w \",\")?)?")
}

/// Alternatives of literals, longest first (for readability; GBNF itself
/// does not care about order).
fn alts<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> String {
    let mut v: Vec<String> = words.into_iter().map(|w| w.as_ref().to_string()).collect();
    v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    v.dedup();
    let parts: Vec<String> = v.iter().map(|w| lit(w)).collect();
    format!("({})", parts.join(" | "))
}

/// A GBNF rule name for a tool or parameter: letters, digits and dashes.
fn rule_name(prefix: &str, name: &str) -> String {
    let mut out = String::from(prefix);
    for c in name.chars() {
        out.push(if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' });
    }
    out
}

/// A grammar under construction: rules in order of definition.
#[derive(Default)]
struct Grammar {
    rules: Vec<(String, String)>,
    names: BTreeSet<String>,
}

impl Grammar {
    fn rule(&mut self, name: &str, body: impl Into<String>) {
        if self.names.insert(name.to_string()) {
            self.rules.push((name.to_string(), body.into()));
        }
    }

    fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    fn text(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            let _ = writeln!(out, "# {line}");
        }
        for (n, b) in &self.rules {
            let _ = writeln!(out, "{n} ::= {b}");
        }
        out
    }
}

/// Rules for names: `first rest*` that are never one of `words` (built
/// from the trie of the words, so it is an ordinary context-free rule).
/// `max` bounds the length (`None`: unbounded).
fn excluding_words(g: &mut Grammar, name: &str, words: &[&str], max: Option<usize>) {
    const FIRST: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    const REST: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";
    let rest_any = match max {
        Some(m) => format!("[a-zA-Z0-9_]{{0,{}}}", m.saturating_sub(1)),
        None => "[a-zA-Z0-9_]*".to_string(),
    };
    // A state is a proper prefix of some word; its rule matches the rest
    // of a name that starts with that prefix.
    fn class_of(chars: &BTreeSet<char>) -> String {
        let mut s = String::from("[");
        for c in chars {
            s.push(*c);
        }
        s.push(']');
        s
    }
    let mut prefixes: BTreeSet<String> = BTreeSet::new();
    for w in words {
        for i in 0..w.len() {
            prefixes.insert(w[..i].to_string());
        }
    }
    let state_name = |p: &str| if p.is_empty() { name.to_string() } else { format!("{name}-{p}") };
    for p in &prefixes {
        let alphabet = if p.is_empty() { FIRST } else { REST };
        let next: BTreeSet<char> = words
            .iter()
            .filter(|w| w.starts_with(p.as_str()) && w.len() > p.len())
            .filter_map(|w| w[p.len()..].chars().next())
            .collect();
        let free: BTreeSet<char> = alphabet.chars().filter(|c| !next.contains(c)).collect();
        let used = p.chars().count() + 1;
        let free_rest = match max {
            Some(m) => format!("[a-zA-Z0-9_]{{0,{}}}", m.saturating_sub(used)),
            None => rest_any.clone(),
        };
        let mut alternatives = vec![format!("{} {free_rest}", class_of(&free))];
        for c in &next {
            let q = format!("{p}{c}");
            let is_word = words.contains(&q.as_str());
            let deeper = prefixes.contains(&q);
            match (is_word, deeper) {
                // `q` itself is excluded: something must follow.
                (true, true) => alternatives.push(format!("{} {}", lit(&c.to_string()), state_name(&q))),
                (true, false) => {
                    if max.is_none_or(|m| m > used) {
                        let more = max.map_or("+".to_string(), |m| format!("{{1,{}}}", m - used));
                        alternatives.push(format!("{} [a-zA-Z0-9_]{more}", lit(&c.to_string())));
                    }
                }
                (false, true) => alternatives.push(format!("{} ({})?", lit(&c.to_string()), state_name(&q))),
                (false, false) => alternatives.push(format!("{} {free_rest}", lit(&c.to_string()))),
            }
        }
        g.rule(&state_name(p), alternatives.join(" | "));
    }
}

/// The values a `String` parameter may take when its `where` condition
/// lists them (`plane == "xy" || plane == "xz"`).
pub fn string_choices(p: &ParamSchema) -> Option<Vec<String>> {
    for c in p.conditions.iter().filter(|c| c.kind == ConditionKind::Where) {
        let mut leaves = Vec::new();
        collect_or(&c.expr, &mut leaves);
        let mut out = Vec::new();
        for leaf in leaves {
            let ExprKind::Compare { first, rest } = &leaf.kind else { return None };
            let [(CompareOp::Eq, value)] = rest.as_slice() else { return None };
            let (ExprKind::Name(n), ExprKind::Str(s)) = (&first.kind, &value.kind) else { return None };
            if n.name != p.name {
                return None;
            }
            out.push(s.as_plain()?);
        }
        if !out.is_empty() {
            return Some(out);
        }
    }
    None
}

fn collect_or<'a>(e: &'a phx_syntax::ast::Expr, out: &mut Vec<&'a phx_syntax::ast::Expr>) {
    match &e.kind {
        ExprKind::Binary { op: BinaryOp::Or, lhs, rhs } => {
            collect_or(lhs, out);
            collect_or(rhs, out);
        }
        ExprKind::Paren(inner) => collect_or(inner, out),
        _ => out.push(e),
    }
}

/// Words that are never a unit after a number (they follow expressions).
const NOT_UNIT: [&str; 8] = ["where", "cap", "in", "as", "if", "else", "true", "false"];

/// The unit names of one dimension (any, for `None`), from the compiler's
/// unit table: those a number may be followed by.
pub fn units_of(dim: Option<Dim>) -> Vec<&'static str> {
    phx_units::UNITS
        .iter()
        .filter(|u| dim.is_none_or(|d| u.dim == d))
        .map(|u| u.name)
        .filter(|n| !NOT_UNIT.contains(n))
        .filter(|n| n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_'))
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// Every tool a program can call: the standard library's, its own and
/// those of the files it imports, sorted by name.
pub fn program_tools(db: &crate::Database, file: crate::SourceFile) -> Vec<Arc<ToolSchema>> {
    use phx_sema::Env;
    let env = db.env(file);
    let mut names = env.tool_names();
    names.dedup();
    names
        .iter()
        .filter_map(|n| {
            env.tool(n).map(|t| if t.name == *n { t } else { Arc::new(ToolSchema { name: n.clone(), ..(*t).clone() }) })
        })
        .collect()
}

/// Every standard tool, sorted by name.
pub fn stdlib_tools() -> Vec<Arc<ToolSchema>> {
    let mut v: Vec<Arc<ToolSchema>> = crate::stdlib().values().cloned().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Whether an output of type `out` may be passed where `want` is expected.
pub fn accepts(want: &Ty, out: &Ty) -> bool {
    let field = |t: &Ty| matches!(t, Ty::Field | Ty::Field1D | Ty::Field2D | Ty::Field3D);
    match want {
        Ty::Union(parts) => parts.iter().any(|p| accepts(p, out)),
        Ty::Any => true,
        Ty::Float => matches!(out, Ty::Float | Ty::Int),
        w if field(w) && matches!(out, Ty::Field) => true,
        Ty::Field => field(out),
        w => w == out,
    }
}

/// The whole language, specialised to `tools`.
pub fn full(tools: &[Arc<ToolSchema>]) -> String {
    let mut g = Grammar::default();
    g.rule("root", "wtop item (nl wtop item)* wtop");
    // Whitespace: `wtop` between items; `s` inside an item at bracket depth
    // 0 (no line breaks); `w` inside brackets (a line break must be
    // followed by indentation); `wc` before a closing bracket (which may
    // stand at the start of a line).
    g.rule("wtop", "([ \\t\\r\\n] | comment)*");
    g.rule("nl", "[ \\t]* (\"\\n\" | comment)");
    g.rule("comment", "\"//\" [^\\n]* \"\\n\"");
    g.rule("s", "[ \\t]*");
    g.rule("s1", "[ \\t]+");
    // A line break inside brackets: blank and comment lines, then indentation.
    g.rule("lb", "(\"\\n\" | comment) ([ \\t]* (\"\\n\" | comment))* [ \\t]");
    g.rule("w", "([ \\t] | lb)*");
    g.rule("wc", "([ \\t\\n] | comment)*");
    // Entries of a block: a comma (a semicolon in a `fn` body) or a line
    // break between them.
    g.rule("sep", "s \",\" w | s lb w");
    g.rule("bsep", "s \";\" w | s lb w");
    let mut items = vec!["import-item", "experiment-item", "param-item", "let-item", "fn-item", "tool-item"];
    if !tools.is_empty() {
        items.push("node-item");
    }
    items.push("report-item");
    g.rule("item", items.join(" | "));
    excluding_words(&mut g, "name", &RESERVED, None);
    g.rule("path", "name (\".\" name)*");
    g.rule("import-item", "\"import\" s string s1 \"as\" s1 name");
    g.rule("experiment-item", "\"experiment\" s1 name s field-block");
    g.rule("param-item", "\"param\" s1 name s \":\" s type (s \"=\" s expr)?");
    g.rule("let-item", "\"let\" s1 name (s \":\" s type)? s \"=\" s expr");
    g.rule(
        "fn-item",
        format!("\"fn\" s1 name s \"(\" w {} wc \")\" (s \"->\" s type)? s block", comma_list("fn-param")),
    );
    g.rule("fn-param", "name w \":\" w type");
    // The value of a block after a line break must not start with `-` or
    // `[`: phx would read them as a subtraction or an index of the line
    // before (a line break is only whitespace).
    g.rule("block", "\"{\" w (let-stmt bsep)* block-value (s \";\")? wc \"}\"");
    g.rule("block-value", "(\"!\" s)* block-primary postfix* (s infix s unary)*");
    g.rule("block-primary", "if-expr | quantity | number | string | boolean | record | call | name | paren");
    g.rule("let-stmt", "\"let\" s1 name w \"=\" w expr");
    g.rule(
        "tool-item",
        format!(
            "\"tool\" s1 path s \"(\" w {} wc \")\" (s \"->\" s \"(\" w {} wc \")\")? (s field-block)?",
            comma_list("tool-param"),
            comma_list("tool-output")
        ),
    );
    g.rule("tool-param", "name w \":\" w type (w \"=\" w expr)? (s1 (\"where\" | \"cap\") s1 expr)*");
    g.rule("tool-output", "name w \":\" w type");
    // Nodes: the tool's name, then its own argument names.
    let mut calls = Vec::new();
    for t in tools {
        let call = rule_name("call-", &t.name);
        let arg = rule_name("arg-", &t.name);
        let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
        if names.is_empty() {
            g.rule(&call, format!("{} wc \")\"", lit(&format!("{}(", t.name))));
        } else {
            g.rule(&arg, format!("{} w \"=\" w expr", alts(&names)));
            g.rule(&call, format!("{} w {} wc \")\"", lit(&format!("{}(", t.name)), comma_list(&arg)));
        }
        calls.push(call);
    }
    if !calls.is_empty() {
        g.rule("node-item", "\"node\" s1 name (s binders)? s \"=\" s node-call (s field-block)?");
        g.rule("node-call", calls.join(" | "));
    }
    g.rule("binders", "\"[\" w binder (w \",\" w binder)* (w \",\")? wc \"]\"");
    g.rule("binder", "name s1 \"in\" s1 expr");
    g.rule("report-item", "\"report\" s1 name s report-block");
    g.rule("report-block", "\"{\" w (report-entry (sep report-entry)* (s \",\")?)? wc \"}\"");
    g.rule("report-entry", "section-entry | text-entry | figure-entry | table-entry | field");
    g.rule("section-entry", "\"section\" s string s report-block");
    g.rule("text-entry", "\"text\" s string");
    g.rule("figure-entry", "\"figure\" s1 node-ref (s field-block)?");
    g.rule("table-entry", "\"table\" s1 node-ref (s field-block)?");
    g.rule("node-ref", "name (\"[\" w expr wc \"]\")? (\".\" name)?");
    g.rule("field-block", "\"{\" w (field (sep field)* (s \",\")?)? wc \"}\"");
    g.rule("field", "name w \"=\" w expr");
    // Types and units.
    let mut type_names: Vec<&str> = phx_sema::types::type_names().filter(|n| *n != "List").collect();
    type_names.sort();
    g.rule("type", "type-atom (s \"|\" s type-atom)*");
    g.rule(
        "type-atom",
        format!("\"Quantity[\" w unit-expr wc \"]\" | \"List[\" w type wc \"]\" | {}", alts(&type_names)),
    );
    // Inline spaces only around `*` and `/`: `/` followed by `//` would be
    // read as a comment.
    g.rule("unit-expr", "unit-factor (s (\"*\" | \"/\") s unit-factor)*");
    g.rule("unit-factor", "(unit | \"1\") (\"^\" \"-\"? [0-9]{1,2})?");
    g.rule("unit", alts(units_of(None)));
    // Expressions.
    g.rule("expr", "unary (s infix s unary)*");
    g.rule("infix", "\"||\" | \"&&\" | \"==\" | \"!=\" | \"<=\" | \">=\" | \"<\" | \">\" | \"..=\" | \"..\" | \"+\" | \"-\" | \"*\" | \"/\" | \"%\" | \"^\"");
    g.rule("unary", "((\"-\" | \"!\") s)* primary postfix*");
    g.rule("postfix", "\"[\" w \"*\" wc \"]\" | \"[\" w expr wc \"]\" | \".\" name");
    g.rule("primary", "if-expr | quantity | number | string | boolean | list | record | call | name | paren");
    g.rule("paren", "\"(\" w expr wc \")\"");
    g.rule("boolean", "\"true\" | \"false\"");
    g.rule("list", format!("\"[\" w {} wc \"]\"", comma_list("expr")));
    g.rule("record", "\"{\" w (field (sep field)* (s \",\")?)? wc \"}\"");
    g.rule("if-expr", "\"if\" s1 expr s block (s \"else\" (s block | s1 if-expr))?");
    g.rule("call", format!("path \"(\" w {} wc \")\"", comma_list("call-arg")));
    g.rule("call-arg", "(name w \"=\" w)? expr");
    g.rule("number", "[0-9]+ (\".\" [0-9]+)? ([eE] [+-]? [0-9]+)?");
    g.rule("quantity", "number [ \\t]+ (unit | \"[\" w unit-expr wc \"]\")");
    g.rule("string", "triple-string | plain-string");
    g.rule("triple-string", "\"\\\"\\\"\\\"\" ([^\"] | \"\\\"\" [^\"] | \"\\\"\\\"\" [^\"])* \"\\\"\\\"\\\"\"");
    g.rule("plain-string", "\"\\\"\" (string-char | escape | \"{{\" | \"}}\" | interp)* \"\\\"\"");
    g.rule("string-char", "[^\"\\\\{}\\n]");
    g.rule("escape", "\"\\\\\" [nrt\"\\\\{}0]");
    // A placeholder or interpolation names a value (`{omega:Hz}`); a
    // general expression there could hold a string or a record, whose
    // quotes and braces read differently inside a string.
    // The format after `:` is a unit or a number format (`K`, `.3`):
    // brackets or quotes there would also mislead phx's scanner.
    g.rule("interp", "\"{\" s path s (\":\" s [a-zA-Z0-9_.%^*+-]+ s)? \"}\"");
    g.text(&format!(
        "The phx language (0.1) as a GBNF grammar, specialised to {} tools.\nGenerated by `phx schema --format gbnf`; every sentence parses with phx.",
        tools.len()
    ))
}

/// What a small model's program looks like, decided by phx before the
/// model writes (the example of the prompt has this shape too): a node of
/// each tool, in order, with its name; the `fn`s that the tools' `Fn`
/// parameters take, with their names and parameters; whether the first
/// node sweeps.
#[derive(Clone, Debug)]
pub struct Shape {
    pub tools: Vec<Arc<ToolSchema>>,
    /// The node name of each tool, in the same order.
    pub names: Vec<String>,
    pub fns: Vec<ShapeFn>,
    pub sweep: bool,
}

/// A `fn` of a [`Shape`].
#[derive(Clone, Debug)]
pub struct ShapeFn {
    pub name: String,
    pub params: Vec<String>,
    /// The tool and parameter it is passed to.
    pub tool: String,
    pub param: String,
    /// The body the example shows.
    pub body: String,
}

/// The small profile for `tools` in their order (names and `fn`s as the
/// prompt's example has them).
pub fn small(tools: &[Arc<ToolSchema>]) -> String {
    small_for(&crate::prompt::shape(&crate::prompt::Selection { tools: tools.to_vec(), sweep: false }))
}

/// The small profile of a shape: its `fn`s (bodies over their own
/// parameters), then a node of each tool in order, named as the shape
/// says, each data input an output of an earlier node that fits (one node
/// of a tool: a sweep makes many).
pub fn small_for(shape: &Shape) -> String {
    let mut g = Grammar::default();
    let mut root: Vec<String> = Vec::new();
    for (k, f) in shape.fns.iter().enumerate() {
        let name = format!("fn-{k}");
        let vars = f.params.join("-");
        let body = fn_expr_rules(&mut g, &f.params);
        let params: Vec<String> = f.params.iter().map(|p| format!("{p}: Float")).collect();
        g.rule(
            &name,
            format!("{} {body} \"\\n}}\\n\\n\"", lit(&format!("fn {}({}) -> Float {{\n  ", f.name, params.join(", ")))),
        );
        let _ = vars;
        root.push(name);
    }
    excluding_words(&mut g, "bind", &RESERVED, Some(16));
    g.rule("int", "\"-\"? [0-9]{1,5}");
    g.rule("num", "\"-\"? [0-9]{1,5} (\".\" [0-9]{1,6})?");
    g.rule("text", "\"\\\"\" [a-zA-Z0-9 _.,:;()|^+*/=<>%$'!?#@~-]{0,48} \"\\\"\"");
    g.rule("int-v", "int | bind");
    g.rule("num-v", "num | bind");
    g.rule("bool-v", "\"true\" | \"false\"");
    g.rule("sweep", "[0-9]{1,3} \"..\" \"=\"? [0-9]{1,3} | \"[\" num (\", \" num){0,7} \"]\"");
    g.rule("binders", "\"[\" bind \" in \" sweep \"]\"");
    g.rule("at", "(\"[\" ([0-9] | bind) \"]\")?");
    for (i, (t, name)) in shape.tools.iter().zip(&shape.names).enumerate() {
        let group = format!("nodes-{i}");
        let args = small_args(&mut g, shape, i);
        let props = if t.emits.is_empty() {
            "\"\\n\\n\"".to_string()
        } else {
            let subsets = emit_subsets(&t.emits);
            format!("\" {{\\n  emit = [\" {} \"]\\n}}\\n\\n\"", alts(&subsets))
        };
        let call = lit(&format!(" = {}(", t.name));
        // The first node sweeps when the request asks for one.
        let first = if i == 0 && shape.sweep { "binders" } else { "binders?" };
        g.rule(&group, format!("{} {first} {call} {args} \")\" {props}", lit(&format!("node {name}"))));
        root.push(group);
    }
    if root.is_empty() {
        root.push("\"\"".into());
    }
    // The root goes first in the text.
    g.rules.insert(0, ("root".into(), root.join(" ")));
    g.names.insert("root".into());
    g.text(&format!(
        "phx programs for a small model: fns, then nodes of {} in this order.\nGenerated by phx; every sentence parses with phx.",
        shape.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
    ))
}

/// The rules of a `fn` body over `vars`: sums of products of numbers,
/// the variables, `pi` and builtins of one level of such terms (bounded,
/// so a small model cannot wander off).
fn fn_expr_rules(g: &mut Grammar, vars: &[String]) -> String {
    let key = vars.join("-");
    let (fe, ft, fa, fp, fi, fj, var) = (
        format!("fe-{key}"),
        format!("ft-{key}"),
        format!("fa-{key}"),
        format!("fp-{key}"),
        format!("fi-{key}"),
        format!("fj-{key}"),
        format!("var-{key}"),
    );
    if g.has(&fe) {
        return fe;
    }
    const UNARY: [&str; 16] = [
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "ln", "log10", "sqrt", "abs",
        "floor", "ceil",
    ];
    const BINARY: [&str; 4] = ["atan2", "pow", "min", "max"];
    g.rule(&var, alts(vars.iter().map(String::as_str).chain(["pi"])));
    g.rule("fnum", "[0-9]{1,4} (\".\" [0-9]{1,4})?");
    g.rule(&fe, format!("{ft} ((\" + \" | \" - \") {ft}){{0,3}}"));
    g.rule(&ft, format!("{fa} ((\" * \" | \" / \") {fa}){{0,3}}"));
    g.rule(&fa, format!("\"-\"? {fp} (\" ^ \" fnum)?"));
    g.rule(
        &fp,
        format!(
            "fnum | {var} | {} \"(\" {fi} \")\" | {} \"(\" {fi} \", \" {fi} \")\" | \"(\" {fi} \")\"",
            alts(UNARY),
            alts(BINARY)
        ),
    );
    g.rule(&fi, format!("{fj} ((\" + \" | \" - \" | \" * \" | \" / \") {fj}){{0,5}}"));
    g.rule(&fj, format!("\"-\"? (fnum | {var}) (\" ^ \" fnum)?"));
    fe
}

/// Every non-empty subset of a tool's emits, in the tool's order.
fn emit_subsets(emits: &[String]) -> Vec<String> {
    let n = emits.len().min(4);
    (1u32..(1 << n))
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).map(|i| emits[i].clone()).collect::<Vec<_>>().join(", "))
        .collect()
}

/// The argument list of node `i` of a shape: the parameters in their
/// declared order, the required ones always, each optional one maybe; a
/// comma between those present.
fn small_args(g: &mut Grammar, shape: &Shape, i: usize) -> String {
    let t = &shape.tools[i];
    let args: Vec<(String, bool)> = t
        .params
        .iter()
        .map(|p| (format!("{} {}", lit(&format!("{} = ", p.name)), value_rule(g, shape, i, p)), p.default.is_none()))
        .collect();
    if args.is_empty() {
        return String::new();
    }
    // head(k): nothing written yet; the first present argument takes no comma.
    let base = format!("args-{i}");
    let tail = |from: usize| -> String {
        args[from..]
            .iter()
            .map(|(a, req)| if *req { format!("\", \" {a}") } else { format!("(\", \" {a})?") })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for k in (0..args.len()).rev() {
        let name = format!("{base}-{k}");
        let (a, req) = &args[k];
        let rest = tail(k + 1);
        let here = format!("{a} {rest}").trim().to_string();
        let body = if *req {
            here
        } else if k + 1 < args.len() {
            format!("{here} | {base}-{}", k + 1)
        } else {
            format!("{here} | \"\"")
        };
        g.rule(&name, body);
    }
    format!("{base}-0")
}

/// The rule for the values of parameter `p` of node `i`.
fn value_rule(g: &mut Grammar, shape: &Shape, i: usize, p: &ParamSchema) -> String {
    let t = &shape.tools[i];
    if p.ty == Ty::String
        && let Some(choices) = string_choices(p)
    {
        let name = rule_name("choice-", &format!("{}-{}", t.name, p.name));
        let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
        g.rule(&name, alts(&quoted));
        return name;
    }
    if p.ty == Ty::Fn {
        let names: Vec<&str> =
            shape.fns.iter().filter(|f| f.tool == t.name && f.param == p.name).map(|f| f.name.as_str()).collect();
        if !names.is_empty() {
            return alts(names);
        }
    }
    let refs = refs_rule(g, shape, i, p);
    let plain = shape_rule(g, &p.ty, p.default_text.as_deref());
    match (refs, plain) {
        (Some(r), Some(v)) => format!("({r} | {v})"),
        (Some(r), None) => r,
        (None, Some(v)) => v,
        // Nothing earlier makes it: any node's output, for the fixes.
        (None, None) => {
            g.rule("ref-any", "[a-z] [a-z0-9_]{0,15} \".\" [a-z] [a-z0-9_]{0,15}");
            "ref-any".into()
        }
    }
}

/// Outputs of earlier nodes that fit `p` (for a list: a list of them, or
/// every instance of a sweep).
fn refs_rule(g: &mut Grammar, shape: &Shape, i: usize, p: &ParamSchema) -> Option<String> {
    let list = matches!(p.ty, Ty::List(_));
    let want = match &p.ty {
        Ty::List(e) => (**e).clone(),
        t => t.clone(),
    };
    if !(want.is_data() || matches!(want, Ty::Union(_) | Ty::Float | Ty::String | Ty::Int)) {
        return None;
    }
    let mut one = Vec::new();
    let mut all = Vec::new();
    for (t, name) in shape.tools[..i].iter().zip(&shape.names) {
        let outs: Vec<&str> = t.outputs.iter().filter(|o| accepts(&want, &o.ty)).map(|o| o.name.as_str()).collect();
        if outs.is_empty() {
            continue;
        }
        one.push(format!("{} at \".\" {}", lit(name), alts(&outs)));
        all.push(format!("{} \"[*].\" {}", lit(name), alts(&outs)));
    }
    if one.is_empty() {
        return None;
    }
    let name = format!("ref-{i}-{}", rule_name("", &p.name));
    g.rule(&name, one.join(" | "));
    if !list {
        return Some(name);
    }
    let lname = format!("refs-{i}-{}", rule_name("", &p.name));
    g.rule(&lname, format!("\"[\" {name} (\", \" {name}){{0,3}} \"]\" | {}", all.join(" | ")));
    Some(lname)
}

/// Units a physicist writes most, first among those of their dimension.
const PREFERRED_UNITS: [&str; 20] = [
    "bohr", "angstrom", "nm", "m", "eV", "meV", "hartree", "J", "K", "s", "fs", "ps", "Hz", "GHz", "rad", "deg", "GiB",
    "MB", "kg", "amu",
];

/// The units a small program may write for a dimension (any, for `None`):
/// the one the parameter's default is written in, the usual ones of that
/// dimension, then the first two of the table.
pub fn small_units(dim: Option<Dim>, default: Option<&str>) -> Vec<String> {
    let all = units_of(dim);
    let mut out: Vec<String> =
        default.and_then(|d| d.split_whitespace().nth(1)).map(str::to_string).into_iter().collect();
    for u in PREFERRED_UNITS.iter().filter(|u| all.contains(u)).chain(all.iter().take(2)) {
        if !out.iter().any(|o| o == u) {
            out.push(u.to_string());
        }
    }
    out
}

/// The rule for plain values of a type (no references).
fn shape_rule(g: &mut Grammar, ty: &Ty, default: Option<&str>) -> Option<String> {
    Some(match ty {
        Ty::Int => "int-v".into(),
        Ty::Float => "num-v".into(),
        Ty::Bool => "bool-v".into(),
        Ty::String | Ty::Path => "text".into(),
        Ty::Quantity(dim) => {
            let units = small_units(*dim, default);
            let name = rule_name("q-", &units.join("-"));
            if !g.has(&name) {
                g.rule(&name, format!("num \" \" {}", alts(&units)));
            }
            name
        }
        Ty::List(elem) if !elem.is_data() && !matches!(**elem, Ty::Union(_)) => {
            let inner = shape_rule(g, elem, None)?;
            let name = format!("list-{inner}");
            if !g.has(&name) {
                g.rule(&name, format!("\"[\" ({inner} (\", \" {inner}){{0,7}})? \"]\""));
            }
            name
        }
        Ty::Record => {
            g.rule("record-v", "\"{}\"");
            "record-v".into()
        }
        _ => return None,
    })
}

/// The names of the outputs of `tools` that may be passed as `ty`.
pub fn outputs_for(ty: &Ty, tools: &[Arc<ToolSchema>]) -> Vec<String> {
    let mut out: Vec<String> =
        tools.iter().flat_map(|t| t.outputs.iter()).filter(|o| accepts(ty, &o.ty)).map(|o| o.name.clone()).collect();
    out.sort();
    out.dedup();
    out
}
