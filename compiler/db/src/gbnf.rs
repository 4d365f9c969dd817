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

/// A GBNF literal: the text in double quotes, escaped.
pub fn lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
        "\"fn\" s1 name s \"(\" w (fn-param (w \",\" w fn-param)* (w \",\")?)? wc \")\" (s \"->\" s type)? s block",
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
        "\"tool\" s1 path s \"(\" w (tool-param (w \",\" w tool-param)* (w \",\")?)? wc \")\" (s \"->\" s \"(\" w (tool-output (w \",\" w tool-output)* (w \",\")?)? wc \")\")? (s field-block)?",
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
            g.rule(
                &call,
                format!("{} w ({arg} (w \",\" w {arg})* (w \",\")?)? wc \")\"", lit(&format!("{}(", t.name))),
            );
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
    g.rule("list", "\"[\" w (expr (w \",\" w expr)* (w \",\")?)? wc \"]\"");
    g.rule("record", "\"{\" w (field (sep field)* (s \",\")?)? wc \"}\"");
    g.rule("if-expr", "\"if\" s1 expr s block (s \"else\" (s block | s1 if-expr))?");
    g.rule("call", "path \"(\" w (call-arg (w \",\" w call-arg)* (w \",\")?)? wc \")\"");
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

/// The small profile: `fn`s, then nodes of `tools` in their order.
pub fn small(tools: &[Arc<ToolSchema>]) -> String {
    let mut g = Grammar::default();
    let wants_fn = tools.iter().any(|t| t.params.iter().any(|p| mentions(&p.ty, &|t| matches!(t, Ty::Fn))));
    let groups: Vec<String> = tools.iter().map(|t| rule_name("nodes-", &t.name)).collect();
    // At least one node: the first group present is not optional.
    let mut seq = Vec::new();
    for i in 0..groups.len() {
        let mut parts = vec![groups[i].clone()];
        parts.extend(groups[i + 1..].iter().map(|n| format!("{n}?")));
        seq.push(parts.join(" "));
    }
    let nodes = if seq.is_empty() { "\"\"".to_string() } else { format!("({})", seq.join(" | ")) };
    if wants_fn {
        g.rule("root", format!("fn-item{{0,3}} {nodes}"));
    } else {
        g.rule("root", nodes);
    }
    excluding_words(&mut g, "name", &RESERVED, Some(16));
    g.rule("int", "\"-\"? [0-9]{1,5}");
    g.rule("num", "\"-\"? [0-9]{1,5} (\".\" [0-9]{1,6})? ([eE] \"-\"? [0-9]{1,2})?");
    g.rule("text", "\"\\\"\" [a-zA-Z0-9 _.,:;()|^+*/=<>%$'!?#@~-]{0,48} \"\\\"\"");
    g.rule("int-v", "int | name (\" + \" [0-9])?");
    g.rule("num-v", "num | name");
    g.rule("bool-v", "\"true\" | \"false\"");
    g.rule("sweep", "int \"..\" \"=\"? int | \"[\" num (\", \" num){0,7} \"]\"");
    g.rule("binders", "\"[\" name \" in \" sweep \"]\"");
    g.rule("at", "(\"[\" (int | name) \"]\")?");
    if wants_fn {
        g.rule("fn-item", "\"fn \" name \"(\" name \": Float\" (\", \" name \": Float\"){0,3} \") -> Float {\\n  \" fexpr \"\\n}\\n\\n\"");
        g.rule("fexpr", "fterm ((\" + \" | \" - \") fterm){0,5}");
        g.rule("fterm", "ffactor ((\" * \" | \" / \") ffactor){0,4}");
        g.rule("ffactor", "fatom (\" ^ \" (num | name))?");
        g.rule(
            "fatom",
            format!(
                "num | name | \"-\" fatom | (\"pi\") | {} \"(\" fexpr (\", \" fexpr)? \")\" | \"(\" fexpr \")\"",
                alts(BUILTINS)
            ),
        );
    }
    for (t, group) in tools.iter().zip(&groups) {
        let node = rule_name("node-", &t.name);
        g.rule(group, format!("{node} {node}?"));
        let args = small_args(&mut g, t, tools);
        let props = if t.emits.is_empty() {
            "\"\\n\\n\"".to_string()
        } else {
            let subsets = emit_subsets(&t.emits);
            format!("\" {{\\n  emit = [\" {} \"]\\n}}\\n\\n\"", alts(&subsets))
        };
        g.rule(&node, format!("\"node \" name binders? \" = \" {} {args} \")\" {props}", lit(&format!("{}(", t.name))));
    }
    g.text(&format!(
        "phx programs for a small model: fns, then nodes of {} in this order.\nGenerated by phx; every sentence parses with phx.",
        tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
    ))
}

/// Every non-empty subset of a tool's emits, in the tool's order.
fn emit_subsets(emits: &[String]) -> Vec<String> {
    let n = emits.len().min(4);
    (1u32..(1 << n))
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).map(|i| emits[i].clone()).collect::<Vec<_>>().join(", "))
        .collect()
}

fn mentions(t: &Ty, pred: &dyn Fn(&Ty) -> bool) -> bool {
    pred(t)
        || match t {
            Ty::List(e) => mentions(e, pred),
            Ty::Union(ps) => ps.iter().any(|p| mentions(p, pred)),
            _ => false,
        }
}

/// The argument list of a tool in the small profile: the parameters in
/// their declared order, the required ones always, each optional one
/// maybe; a comma between those present.
fn small_args(g: &mut Grammar, t: &ToolSchema, tools: &[Arc<ToolSchema>]) -> String {
    let args: Vec<(String, bool)> = t
        .params
        .iter()
        .map(|p| (format!("{} {}", lit(&format!("{} = ", p.name)), value_rule(g, t, p, tools)), p.default.is_none()))
        .collect();
    if args.is_empty() {
        return String::new();
    }
    // head(i): nothing written yet; the first present argument takes no comma.
    let base = rule_name("args-", &t.name);
    let tail = |from: usize| -> String {
        args[from..]
            .iter()
            .map(|(a, req)| if *req { format!("\", \" {a}") } else { format!("(\", \" {a})?") })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for i in (0..args.len()).rev() {
        let name = format!("{base}-{i}");
        let (a, req) = &args[i];
        let rest = tail(i + 1);
        let here = format!("{a} {rest}").trim().to_string();
        let body = if *req {
            here
        } else if i + 1 < args.len() {
            format!("{here} | {base}-{}", i + 1)
        } else {
            format!("{here} | \"\"")
        };
        g.rule(&name, body);
    }
    format!("{base}-0")
}

/// The rule for the values of one parameter (shared between parameters of
/// the same shape).
fn value_rule(g: &mut Grammar, t: &ToolSchema, p: &ParamSchema, tools: &[Arc<ToolSchema>]) -> String {
    if p.ty == Ty::String
        && let Some(choices) = string_choices(p)
    {
        let name = rule_name("choice-", &format!("{}-{}", t.name, p.name));
        let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
        g.rule(&name, alts(&quoted));
        return name;
    }
    shape_rule(g, &p.ty, tools)
}

fn shape_rule(g: &mut Grammar, ty: &Ty, tools: &[Arc<ToolSchema>]) -> String {
    match ty {
        Ty::Int => "int-v".into(),
        Ty::Float => {
            let outs = outputs_for(ty, tools);
            if outs.is_empty() {
                "num-v".into()
            } else {
                let r = ref_rule(g, ty, &outs);
                let name = "float-v".to_string();
                g.rule(&name, format!("num-v | {r}"));
                name
            }
        }
        Ty::Bool => "bool-v".into(),
        Ty::String | Ty::Path => {
            let outs = if *ty == Ty::String { outputs_for(ty, tools) } else { Vec::new() };
            if outs.is_empty() {
                "text".into()
            } else {
                let r = ref_rule(g, ty, &outs);
                g.rule("string-v", format!("text | {r}"));
                "string-v".into()
            }
        }
        Ty::Quantity(dim) => {
            let units = units_of(*dim);
            let name = match dim {
                Some(d) => rule_name("q-", &d.kind_name().map(str::to_string).unwrap_or_else(|| d.si_units())),
                None => "q-any".into(),
            };
            if !g.has(&name) {
                g.rule(&name, format!("num \" \" {}", alts(&units)));
            }
            name
        }
        Ty::List(elem) => {
            let inner = shape_rule(g, elem, tools);
            let name = format!("list-{inner}");
            if !g.has(&name) {
                let outs = if elem.is_data() { outputs_for(elem, tools) } else { Vec::new() };
                let splat = if outs.is_empty() { String::new() } else { format!(" | name \"[*].\" {}", alts(&outs)) };
                g.rule(&name, format!("\"[\" ({inner} (\", \" {inner}){{0,7}})? \"]\"{splat}"));
            }
            name
        }
        Ty::Fn => "name".into(),
        Ty::Record => {
            g.rule("record-v", "\"{}\"");
            "record-v".into()
        }
        t if t.is_data() || matches!(t, Ty::Union(_) | Ty::Any) => {
            let outs = outputs_for(t, tools);
            if outs.is_empty() {
                g.rule("ref-any", "name \".\" name");
                return "ref-any".into();
            }
            ref_rule(g, t, &outs)
        }
        _ => "num-v".into(),
    }
}

fn ref_rule(g: &mut Grammar, ty: &Ty, outs: &[String]) -> String {
    let name = rule_name("ref-", &ty.to_string());
    if !g.has(&name) {
        g.rule(&name, format!("name at \".\" {}", alts(outs)));
    }
    name
}

/// The names of the outputs of `tools` that may be passed as `ty`.
pub fn outputs_for(ty: &Ty, tools: &[Arc<ToolSchema>]) -> Vec<String> {
    let mut out: Vec<String> =
        tools.iter().flat_map(|t| t.outputs.iter()).filter(|o| accepts(ty, &o.ty)).map(|o| o.name.clone()).collect();
    out.sort();
    out.dedup();
    out
}
