//! From text to syntax tree. Parsing never fails: it returns the items it
//! could read and the syntax errors it met, each with a span.

use std::cell::RefCell;
use std::sync::LazyLock;

use pest::Parser;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use crate::ast::*;
use crate::scan::{self, MAX_NESTING, MAX_OPERATORS};
use crate::{Span, SyntaxError};

#[derive(pest_derive::Parser)]
#[grammar = "../../../grammar/phx.pest"]
struct PhxGrammar;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left))
        .op(Op::infix(Rule::op_range, Assoc::Left) | Op::infix(Rule::op_range_incl, Assoc::Left))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left)
            | Op::infix(Rule::op_div, Assoc::Left)
            | Op::infix(Rule::op_rem, Assoc::Left))
        .op(Op::prefix(Rule::op_neg) | Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_pow, Assoc::Right))
        .op(Op::postfix(Rule::splat) | Op::postfix(Rule::index) | Op::postfix(Rule::member))
});

/// The items of one chunk and the errors met while reading it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedChunk {
    pub items: Vec<Item>,
    pub errors: Vec<SyntaxError>,
}

/// A whole file: its chunks, items (with the index of their chunk) and errors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedFile {
    pub items: Vec<Item>,
    pub errors: Vec<SyntaxError>,
    pub comments: Vec<scan::Comment>,
}

/// Decodes bytes as UTF-8; invalid sequences become U+FFFD and a syntax error
/// at the first of them.
pub fn decode(bytes: &[u8]) -> (String, Option<SyntaxError>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), None),
        Err(e) => {
            let at = e.valid_up_to();
            let text = String::from_utf8_lossy(bytes).into_owned();
            let err = SyntaxError {
                span: Span::new(at, at + 1),
                message: format!("the file is not valid UTF-8 (invalid byte at offset {at})"),
                help: Some("save the file as UTF-8".into()),
            };
            (text, Some(err))
        }
    }
}

/// Parses a whole file, chunk by chunk, with spans relative to the file.
pub fn parse_file(text: &str) -> ParsedFile {
    let scanned = scan::scan(text);
    let mut out = ParsedFile { comments: scanned.comments, ..ParsedFile::default() };
    for chunk in &scanned.chunks {
        let parsed = parse_chunk(&text[chunk.span.range()]);
        let base = chunk.span.start;
        for mut item in parsed.items {
            shift_item(&mut item, base);
            out.items.push(item);
        }
        for mut err in parsed.errors {
            err.span = err.span.shifted(base);
            out.errors.push(err);
        }
    }
    out
}

/// Parses one chunk of text (as found by [`scan::scan`]) with spans relative
/// to the chunk's start.
pub fn parse_chunk(text: &str) -> ParsedChunk {
    let stats = scan::scan(text);
    let max_depth = stats.chunks.iter().map(|c| c.max_depth).max().unwrap_or(0);
    let operators: u32 = stats.chunks.iter().map(|c| c.operators).sum();
    if max_depth > MAX_NESTING || operators > MAX_OPERATORS {
        let what = if max_depth > MAX_NESTING {
            format!("brackets nest {max_depth} levels deep here; at most {MAX_NESTING} are allowed")
        } else {
            format!("this item holds {operators} operators; at most {MAX_OPERATORS} are allowed")
        };
        return ParsedChunk {
            items: Vec::new(),
            errors: vec![SyntaxError {
                span: first_token_span(text),
                message: what,
                help: Some("split the expression with `let` items".into()),
            }],
        };
    }
    let builder = Builder { text, errors: RefCell::new(Vec::new()) };
    let (pairs, mut errors) = match PhxGrammar::parse(Rule::file, text) {
        Ok(pairs) => (Some(pairs), Vec::new()),
        Err(err) => (PhxGrammar::parse(Rule::items_prefix, text).ok(), vec![convert_error(text, err)]),
    };
    let mut items = Vec::new();
    if let Some(root) = pairs.and_then(|mut p| p.next()) {
        for pair in root.into_inner() {
            if pair.as_rule() == Rule::EOI {
                continue;
            }
            let mut item = builder.item(pair);
            item.set_doc(doc_before(text, item.span().start as usize));
            items.push(item);
        }
    }
    errors.extend(builder.errors.into_inner());
    ParsedChunk { items, errors }
}

fn first_token_span(text: &str) -> Span {
    let start = text.len() - text.trim_start().len();
    let end = text[start..].find(char::is_whitespace).map_or(text.len(), |e| start + e);
    Span::new(start, end)
}

/// The `///` lines directly above `at`, without their slashes.
fn doc_before(text: &str, at: usize) -> Option<String> {
    let mut lines = Vec::new();
    for line in text[..at].lines().rev() {
        let t = line.trim();
        if t.is_empty() && lines.is_empty() {
            continue;
        }
        match t.strip_prefix("///") {
            Some(rest) if !rest.starts_with('/') => lines.push(rest.strip_prefix(' ').unwrap_or(rest).to_string()),
            _ => break,
        }
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join("\n"))
}

fn rule_name(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "a name",
        Rule::path => "a name",
        Rule::expr => "an expression",
        Rule::number | Rule::quantity => "a number",
        Rule::plain_string | Rule::triple_string => "a string",
        Rule::type_expr | Rule::type_atom | Rule::generic_type | Rule::quantity_type => "a type",
        Rule::unit_expr | Rule::unit_factor | Rule::unit_name => "a unit",
        Rule::field => "a field `name = value`",
        Rule::named_arg => "an argument `name = value`",
        Rule::kw_import
        | Rule::kw_experiment
        | Rule::kw_param
        | Rule::kw_let
        | Rule::kw_fn
        | Rule::kw_tool
        | Rule::kw_node
        | Rule::kw_report => "an item (`experiment`, `param`, `let`, `fn`, `tool`, `node`, `report`, `import`)",
        Rule::kw_section | Rule::kw_text | Rule::kw_figure | Rule::kw_table => "a report entry",
        Rule::kw_in => "`in`",
        Rule::kw_as => "`as`",
        Rule::kw_else => "`else`",
        Rule::EOI => "the end of the file",
        Rule::block => "a block `{ ... }`",
        Rule::field_block => "a block `{ ... }`",
        Rule::binders => "sweep binders `[v in ...]`",
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_range
        | Rule::op_range_incl
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::op_rem
        | Rule::op_pow => "an operator",
        Rule::splat | Rule::index | Rule::member => "`.` or `[`",
        _ => return None,
    })
}

fn convert_error(text: &str, err: pest::error::Error<Rule>) -> SyntaxError {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let found_end = text[pos..]
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || matches!(c, '(' | ')' | '{' | '}' | '[' | ']' | ',' | '='))
        .map_or(text.len(), |(i, _)| pos + i.max(text[pos..].chars().next().map_or(0, char::len_utf8)));
    let found = &text[pos..found_end];
    let found_desc = if found.is_empty() {
        "the end of the text".to_string()
    } else {
        format!("`{}`", found.chars().take(40).collect::<String>())
    };
    let mut expected: Vec<&str> = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.iter().filter_map(rule_name).collect(),
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    expected.sort_unstable();
    expected.dedup();
    let message = if expected.is_empty() {
        format!("unexpected {found_desc}")
    } else {
        format!("expected {}, found {found_desc}", join_or(&expected))
    };
    let help = if found == "=" {
        Some("fields and arguments are separated by `,` or a new line; is a `,` missing before this name?".to_string())
    } else if found == "}" || found.is_empty() {
        Some("check that every `{`, `(` and `[` is closed".to_string())
    } else if found.starts_with('"') {
        Some("a string's `{` starts an interpolation; write `{{` for a literal brace".to_string())
    } else {
        None
    };
    SyntaxError { span: Span::new(pos, found_end.max(pos + 1).min(text.len().max(pos))), message, help }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

struct Builder<'t> {
    text: &'t str,
    errors: RefCell<Vec<SyntaxError>>,
}

/// The span of a pair without the whitespace and comments that pest's
/// implicit skipping leaves at its end (after a failed optional part).
fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    let text = pair.as_str();
    let mut end = trim_trailing_trivia(text).len();
    if end == 0 {
        end = text.len();
    }
    Span::new(s.start(), s.start() + end)
}

fn trim_trailing_trivia(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_end();
        let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        let last = &trimmed[line_start..];
        match comment_start(last) {
            Some(c) => text = &trimmed[..line_start + c],
            None => return trimmed,
        }
    }
}

/// Where a `//` comment starts on one line, outside string literals.
fn comment_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'/' if !in_str && b.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

impl Builder<'_> {
    fn error(&self, span: Span, message: String) {
        self.errors.borrow_mut().push(SyntaxError { span, message, help: None });
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: span_of(&pair) }
    }

    fn path(&self, pair: Pair<Rule>) -> DottedPath {
        let span = span_of(&pair);
        DottedPath { segments: pair.into_inner().map(|p| self.ident(p)).collect(), span }
    }

    fn item(&self, pair: Pair<Rule>) -> Item {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        // Every item starts with its keyword.
        inner.next();
        match rule {
            Rule::import_item => {
                let path = self.string(inner.next().expect("grammar: import path"));
                inner.next();
                let alias = self.ident(inner.next().expect("grammar: import alias"));
                Item::Import(Import { doc: None, path, alias, span })
            }
            Rule::experiment_item => {
                let name = self.ident(inner.next().expect("grammar: experiment name"));
                let fields = self.fields(inner.next().expect("grammar: experiment fields"));
                Item::Experiment(Experiment { doc: None, name, fields, span })
            }
            Rule::param_item => {
                let name = self.ident(inner.next().expect("grammar: param name"));
                let ty = self.type_expr(inner.next().expect("grammar: param type"));
                let default = inner.next().map(|p| self.expr(p));
                Item::Param(Param { doc: None, name, ty, default, span })
            }
            Rule::let_item => {
                let name = self.ident(inner.next().expect("grammar: let name"));
                let mut next = inner.next().expect("grammar: let value");
                let ty = if next.as_rule() == Rule::type_expr {
                    let ty = self.type_expr(next);
                    next = inner.next().expect("grammar: let value");
                    Some(ty)
                } else {
                    None
                };
                let value = self.expr(next);
                Item::Let(Let { doc: None, name, ty, value, span })
            }
            Rule::fn_item => {
                let name = self.ident(inner.next().expect("grammar: fn name"));
                let mut params = Vec::new();
                let mut ret = None;
                let mut body = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::fn_params => {
                            for fp in p.into_inner() {
                                let span = span_of(&fp);
                                let mut fi = fp.into_inner();
                                let name = self.ident(fi.next().expect("grammar: fn param name"));
                                let ty = self.type_expr(fi.next().expect("grammar: fn param type"));
                                params.push(FnParam { name, ty, span });
                            }
                        }
                        Rule::type_expr => ret = Some(self.type_expr(p)),
                        Rule::block => body = Some(self.block(p)),
                        _ => {}
                    }
                }
                let body = body.expect("grammar: fn body");
                Item::Fn(FnItem { doc: None, name, params, ret, body, span })
            }
            Rule::tool_item => {
                let path = self.path(inner.next().expect("grammar: tool path"));
                let mut params = Vec::new();
                let mut outputs = Vec::new();
                let mut fields = Vec::new();
                let mut params_end = None;
                let mut outputs_end = None;
                let mut has_outputs = false;
                for p in inner {
                    match p.as_rule() {
                        Rule::tool_params => {
                            params_end = Some(span_of(&p).end as usize);
                            params = p.into_inner().map(|tp| self.tool_param(tp)).collect();
                        }
                        Rule::tool_outputs => {
                            has_outputs = true;
                            outputs_end = Some(span_of(&p).end as usize);
                            for op in p.into_inner() {
                                let span = span_of(&op);
                                let mut oi = op.into_inner();
                                let name = self.ident(oi.next().expect("grammar: output name"));
                                let ty = self.type_expr(oi.next().expect("grammar: output type"));
                                let doc = doc_before(self.text, span.start as usize);
                                outputs.push(ToolOutput { doc, name, ty, span });
                            }
                        }
                        Rule::field_block => fields = self.fields(p),
                        _ => {}
                    }
                }
                let start = path.span.end as usize;
                let params_span = self.paren_span(start, params_end.unwrap_or(start));
                // `-> ()` has no outputs pair; look for the arrow's parenthesis.
                let after = params_span.end as usize;
                let arrow = self.text[after..].trim_start().starts_with("->");
                let outputs_span = (has_outputs || arrow).then(|| self.paren_span(after, outputs_end.unwrap_or(after)));
                Item::Tool(Tool { doc: None, path, params, outputs, fields, params_span, outputs_span, span })
            }
            Rule::node_item => {
                let name = self.ident(inner.next().expect("grammar: node name"));
                let mut binders = Vec::new();
                let mut tool = None;
                let mut args = Vec::new();
                let mut props = Vec::new();
                let mut args_span: Option<Span> = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::binders => {
                            for b in p.into_inner() {
                                let span = span_of(&b);
                                let mut bi = b.into_inner();
                                let name = self.ident(bi.next().expect("grammar: binder name"));
                                bi.next();
                                let values = self.expr(bi.next().expect("grammar: binder values"));
                                binders.push(Binder { name, values, span });
                            }
                        }
                        Rule::path => tool = Some(self.path(p)),
                        Rule::named_args => {
                            args_span = Some(span_of(&p));
                            args = p.into_inner().map(|a| self.field(a)).collect();
                        }
                        Rule::field_block => props = self.fields(p),
                        _ => {}
                    }
                }
                let tool = tool.expect("grammar: node tool");
                let args_span = self
                    .paren_span(tool.span.end as usize, args_span.map_or(tool.span.end as usize, |a| a.end as usize));
                Item::Node(Node { doc: None, name, binders, tool, args, props, args_span, span })
            }
            Rule::report_item => {
                let name = self.ident(inner.next().expect("grammar: report name"));
                let entries = self.report_entries(inner.next().expect("grammar: report block"));
                Item::Report(Report { doc: None, name, entries, span })
            }
            other => unreachable!("grammar: unexpected item rule {other:?}"),
        }
    }

    /// The span from the `(` after `open_from` to the `)` that closes it,
    /// found after `inner_end` by skipping commas, whitespace and comments.
    fn paren_span(&self, open_from: usize, inner_end: usize) -> Span {
        let open = self.text[open_from..].find('(').map_or(open_from, |o| open_from + o);
        let bytes = self.text.as_bytes();
        let mut i = inner_end.max(open + 1);
        while i < bytes.len() {
            match bytes[i] {
                b')' => return Span::new(open, i + 1),
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        Span::new(open, bytes.len())
    }

    fn tool_param(&self, pair: Pair<Rule>) -> ToolParam {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("grammar: param name"));
        let ty = self.type_expr(inner.next().expect("grammar: param type"));
        let mut default = None;
        let mut conditions = Vec::new();
        for p in inner {
            match p.as_rule() {
                Rule::expr => default = Some(self.expr(p)),
                Rule::where_clause | Rule::cap_clause => {
                    let kind =
                        if p.as_rule() == Rule::where_clause { ConditionKind::Where } else { ConditionKind::Cap };
                    let span = span_of(&p);
                    let mut ci = p.into_inner();
                    ci.next();
                    let expr = self.expr(ci.next().expect("grammar: condition"));
                    conditions.push(Condition { kind, expr, span });
                }
                _ => {}
            }
        }
        let doc = doc_before(self.text, span.start as usize);
        ToolParam { doc, name, ty, default, conditions, span }
    }

    fn report_entries(&self, block: Pair<Rule>) -> Vec<ReportEntry> {
        block.into_inner().map(|p| self.report_entry(p)).collect()
    }

    fn report_entry(&self, pair: Pair<Rule>) -> ReportEntry {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::field => ReportEntry::Field(self.field(pair)),
            Rule::section_entry => {
                let mut inner = pair.into_inner();
                inner.next();
                let heading = self.string(inner.next().expect("grammar: section heading"));
                let entries = self.report_entries(inner.next().expect("grammar: section block"));
                ReportEntry::Section { heading, entries, span }
            }
            Rule::text_entry => {
                let mut inner = pair.into_inner();
                inner.next();
                ReportEntry::Text { text: self.string(inner.next().expect("grammar: text")), span }
            }
            Rule::figure_entry | Rule::table_entry => {
                let is_figure = pair.as_rule() == Rule::figure_entry;
                let mut inner = pair.into_inner();
                inner.next();
                let target = self.node_ref(inner.next().expect("grammar: node ref"));
                let fields = inner.next().map(|p| self.fields(p)).unwrap_or_default();
                if is_figure {
                    ReportEntry::Figure { target, fields, span }
                } else {
                    ReportEntry::Table { target, fields, span }
                }
            }
            other => unreachable!("grammar: unexpected report entry {other:?}"),
        }
    }

    fn node_ref(&self, pair: Pair<Rule>) -> NodeRef {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let node = self.ident(inner.next().expect("grammar: node ref name"));
        let mut index = None;
        let mut output = None;
        for p in inner {
            match p.as_rule() {
                Rule::expr => index = Some(self.expr(p)),
                Rule::ident => output = Some(self.ident(p)),
                _ => {}
            }
        }
        NodeRef { node, index, output, span }
    }

    fn fields(&self, block: Pair<Rule>) -> Vec<Field> {
        block.into_inner().map(|p| self.field(p)).collect()
    }

    fn field(&self, pair: Pair<Rule>) -> Field {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("grammar: field name"));
        let value = self.expr(inner.next().expect("grammar: field value"));
        Field { name, value, span }
    }

    fn type_expr(&self, pair: Pair<Rule>) -> TypeExpr {
        let span = span_of(&pair);
        let mut atoms: Vec<TypeExpr> = pair.into_inner().map(|a| self.type_atom(a)).collect();
        if atoms.len() == 1 {
            atoms.pop().expect("one atom")
        } else {
            TypeExpr { kind: TypeExprKind::Union(atoms), span }
        }
    }

    fn type_atom(&self, pair: Pair<Rule>) -> TypeExpr {
        let span = span_of(&pair);
        let inner = pair.into_inner().next().expect("grammar: type atom");
        match inner.as_rule() {
            Rule::quantity_type => {
                let unit = self.unit_expr(inner.into_inner().next().expect("grammar: unit"), true);
                TypeExpr { kind: TypeExprKind::Quantity(unit), span }
            }
            _ => {
                let mut gi = inner.into_inner();
                let name = self.ident(gi.next().expect("grammar: type name"));
                let args = gi.map(|a| self.type_expr(a)).collect();
                TypeExpr { kind: TypeExprKind::Named { name, args }, span }
            }
        }
    }

    fn unit_expr(&self, pair: Pair<Rule>, bracketed: bool) -> UnitExpr {
        let span = span_of(&pair);
        let mut factors = Vec::new();
        let mut sign = 1i32;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::unit_op => sign = if p.as_str() == "/" { -1 } else { 1 },
                Rule::unit_factor => {
                    let mut fi = p.into_inner();
                    let name = fi.next().expect("grammar: unit name");
                    let power = match fi.next() {
                        Some(pw) => pw.as_str().parse::<i32>().unwrap_or_else(|_| {
                            self.error(span_of(&pw), format!("the unit power `{}` is too large", pw.as_str()));
                            1
                        }),
                        None => 1,
                    };
                    factors.push((name.as_str().to_string(), power.saturating_mul(sign)));
                }
                _ => {}
            }
        }
        UnitExpr { factors, bracketed, span }
    }

    fn number(&self, pair: Pair<Rule>) -> NumberLit {
        let text = pair.as_str().to_string();
        let clean: String = text.chars().filter(|c| *c != '_').collect();
        let is_int = !clean.contains(['.', 'e', 'E']);
        let int = if is_int { clean.parse::<i64>().ok() } else { None };
        let value = clean.parse::<f64>().unwrap_or(f64::INFINITY);
        if is_int && int.is_none() {
            self.error(span_of(&pair), format!("the integer `{text}` does not fit in 64 bits"));
        }
        NumberLit { text, int, value }
    }

    fn string(&self, pair: Pair<Rule>) -> StringLit {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::triple_string => {
                let raw = pair.into_inner().next().map_or("", |p| p.as_str());
                StringLit { parts: vec![StringPart::Text(dedent(raw))], triple: true, span }
            }
            _ => {
                let mut parts: Vec<StringPart> = Vec::new();
                let push_text = |parts: &mut Vec<StringPart>, t: &str| match parts.last_mut() {
                    Some(StringPart::Text(prev)) => prev.push_str(t),
                    _ => parts.push(StringPart::Text(t.to_string())),
                };
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::string_text => push_text(&mut parts, p.as_str()),
                        Rule::brace_open => push_text(&mut parts, "{"),
                        Rule::brace_close => push_text(&mut parts, "}"),
                        Rule::escape => {
                            let c = match &p.as_str()[1..] {
                                "n" => "\n",
                                "t" => "\t",
                                "r" => "\r",
                                "0" => "\0",
                                other => other,
                            };
                            push_text(&mut parts, c);
                        }
                        Rule::interp => {
                            let mut ii = p.into_inner();
                            let expr = self.expr(ii.next().expect("grammar: interpolation"));
                            let spec = ii.next().map(|s| s.as_str().trim().to_string());
                            parts.push(StringPart::Interp { expr, spec });
                        }
                        _ => {}
                    }
                }
                StringLit { parts, triple: false, span }
            }
        }
    }

    fn block(&self, pair: Pair<Rule>) -> Block {
        let span = span_of(&pair);
        let mut lets = Vec::new();
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::let_stmt => {
                    let span = span_of(&p);
                    let mut li = p.into_inner();
                    li.next();
                    let name = self.ident(li.next().expect("grammar: let name"));
                    let value = self.expr(li.next().expect("grammar: let value"));
                    lets.push(LetStmt { name, value, span });
                }
                Rule::expr => value = Some(self.expr(p)),
                _ => {}
            }
        }
        Block { lets, value: Box::new(value.expect("grammar: block value")), span }
    }

    fn expr(&self, pair: Pair<Rule>) -> Expr {
        self.pratt(pair.into_inner())
    }

    fn pratt(&self, pairs: Pairs<Rule>) -> Expr {
        PRATT
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, rhs| {
                let span = span_of(&op).to(rhs.span);
                let op = if op.as_rule() == Rule::op_neg { UnaryOp::Neg } else { UnaryOp::Not };
                Expr { kind: ExprKind::Unary { op, operand: Box::new(rhs) }, span }
            })
            .map_postfix(|lhs, op| {
                let span = lhs.span.to(span_of(&op));
                let kind = match op.as_rule() {
                    Rule::splat => ExprKind::Splat { base: Box::new(lhs) },
                    Rule::index => {
                        let index = self.expr(op.into_inner().next().expect("grammar: index"));
                        ExprKind::Index { base: Box::new(lhs), index: Box::new(index) }
                    }
                    _ => {
                        let member = self.ident(op.into_inner().next().expect("grammar: member"));
                        ExprKind::Member { base: Box::new(lhs), member }
                    }
                };
                Expr { kind, span }
            })
            .map_infix(|lhs, op, rhs| {
                let span = lhs.span.to(rhs.span);
                let compare = match op.as_rule() {
                    Rule::op_eq => Some(CompareOp::Eq),
                    Rule::op_ne => Some(CompareOp::Ne),
                    Rule::op_lt => Some(CompareOp::Lt),
                    Rule::op_le => Some(CompareOp::Le),
                    Rule::op_gt => Some(CompareOp::Gt),
                    Rule::op_ge => Some(CompareOp::Ge),
                    _ => None,
                };
                if let Some(cmp) = compare {
                    return match lhs.kind {
                        ExprKind::Compare { first, mut rest } => {
                            rest.push((cmp, rhs));
                            Expr { kind: ExprKind::Compare { first, rest }, span }
                        }
                        _ => Expr { kind: ExprKind::Compare { first: Box::new(lhs), rest: vec![(cmp, rhs)] }, span },
                    };
                }
                let kind = match op.as_rule() {
                    Rule::op_range => ExprKind::Range { lo: Box::new(lhs), hi: Box::new(rhs), inclusive: false },
                    Rule::op_range_incl => ExprKind::Range { lo: Box::new(lhs), hi: Box::new(rhs), inclusive: true },
                    rule => {
                        let op = match rule {
                            Rule::op_or => BinaryOp::Or,
                            Rule::op_and => BinaryOp::And,
                            Rule::op_add => BinaryOp::Add,
                            Rule::op_sub => BinaryOp::Sub,
                            Rule::op_mul => BinaryOp::Mul,
                            Rule::op_div => BinaryOp::Div,
                            Rule::op_rem => BinaryOp::Rem,
                            _ => BinaryOp::Pow,
                        };
                        ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }
                    }
                };
                Expr { kind, span }
            })
            .parse(pairs)
    }

    fn primary(&self, pair: Pair<Rule>) -> Expr {
        let span = span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::number => ExprKind::Number(self.number(pair)),
            Rule::quantity => {
                let mut inner = pair.into_inner();
                let number = self.number(inner.next().expect("grammar: quantity number"));
                let unit_pair = inner.next().expect("grammar: quantity unit");
                let unit = match unit_pair.as_rule() {
                    Rule::bracket_unit => {
                        let ue = unit_pair.into_inner().next().expect("grammar: bracket unit");
                        self.unit_expr(ue, true)
                    }
                    _ => UnitExpr {
                        factors: vec![(unit_pair.as_str().to_string(), 1)],
                        bracketed: false,
                        span: span_of(&unit_pair),
                    },
                };
                ExprKind::Quantity { number, unit }
            }
            Rule::plain_string | Rule::triple_string => ExprKind::Str(self.string(pair)),
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            Rule::ident => ExprKind::Name(self.ident(pair)),
            Rule::paren => ExprKind::Paren(Box::new(self.expr(pair.into_inner().next().expect("grammar: paren")))),
            Rule::list => ExprKind::List(pair.into_inner().map(|e| self.expr(e)).collect()),
            Rule::record => ExprKind::Record(pair.into_inner().map(|f| self.field(f)).collect()),
            Rule::if_expr => return self.if_expr(pair),
            Rule::call => {
                let mut inner = pair.into_inner();
                let callee_pair = inner.next().expect("grammar: callee");
                let callee = self.path(callee_pair.into_inner().next().expect("grammar: callee path"));
                let args = inner
                    .map(|a| {
                        let mut ai = a.into_inner();
                        let first = ai.next().expect("grammar: call arg");
                        if first.as_rule() == Rule::ident {
                            let value = self.expr(ai.next().expect("grammar: named call arg"));
                            CallArg { name: Some(self.ident(first)), value }
                        } else {
                            CallArg { name: None, value: self.expr(first) }
                        }
                    })
                    .collect();
                ExprKind::Call { callee, args }
            }
            other => unreachable!("grammar: unexpected primary {other:?}"),
        };
        Expr { kind, span }
    }

    fn if_expr(&self, pair: Pair<Rule>) -> Expr {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        inner.next();
        let cond = self.expr(inner.next().expect("grammar: if condition"));
        let then = self.block(inner.next().expect("grammar: if block"));
        let mut otherwise = None;
        if inner.next().is_some() {
            let branch = inner.next().expect("grammar: else branch");
            otherwise = Some(Box::new(match branch.as_rule() {
                Rule::if_expr => Else::If(self.if_expr(branch)),
                _ => Else::Block(self.block(branch)),
            }));
        }
        Expr { kind: ExprKind::If { cond: Box::new(cond), then, otherwise }, span }
    }
}

/// Strips the common indentation of a triple-quoted string's lines and one
/// leading and trailing blank line.
pub fn dedent(raw: &str) -> String {
    let mut lines: Vec<&str> = raw.split('\n').collect();
    if lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines.remove(0);
    }
    if lines.len() > 1 && lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    lines.iter().map(|l| if l.len() >= indent { &l[indent..] } else { l.trim_start() }).collect::<Vec<_>>().join("\n")
}

/// Moves every span of `item` right by `by` bytes.
pub fn shift_item(item: &mut Item, by: u32) {
    if by == 0 {
        return;
    }
    crate::visit::visit_spans_mut(item, &mut |s: &mut Span| *s = s.shifted(by));
}
