//! `phx fmt`: one canonical layout for `.phx` files.
//!
//! The formatter prints the syntax tree, and weaves the comments (which the
//! tree does not hold) back in by position: a comment is written before the
//! first line-level element that starts after it, or at the end of the line
//! of the element it trails. No comment is ever dropped; a comment inside an
//! expression moves to the next line boundary. Formatting is idempotent.

mod expr;

pub use expr::{expr_to_string, plain_string_lit, string_lit, type_to_string};

use phx_syntax::ast::*;
use phx_syntax::scan::Comment;
use phx_syntax::{Span, SyntaxError, parse_file};

/// Lines longer than this are broken (argument and parameter lists).
pub const MAX_WIDTH: usize = 100;

/// Formats a whole file. A file with syntax errors is left alone: the errors
/// come back instead.
pub fn format_source(text: &str) -> Result<String, Vec<SyntaxError>> {
    let parsed = parse_file(text);
    if !parsed.errors.is_empty() {
        return Err(parsed.errors);
    }
    let mut p = Printer { src: text, out: String::new(), indent: 0, comments: parsed.comments, next: 0 };
    let mut prev: Option<&Item> = None;
    for item in &parsed.items {
        if let Some(prev) = prev {
            let same_group = prev.kind() == item.kind()
                && matches!(item.kind(), ItemKind::Param | ItemKind::Let | ItemKind::Import)
                && !has_blank_line(&text[prev.span().end as usize..item.span().start as usize]);
            p.out.push('\n');
            if !same_group {
                p.out.push('\n');
            }
        }
        p.flush_comments_before(item.span().start, prev.is_some());
        p.item(item);
        p.trailing_comment(item.span().end);
        prev = Some(item);
    }
    if prev.is_some() {
        p.out.push('\n');
    }
    let has_rest = p.next < p.comments.len();
    if has_rest && prev.is_some() {
        p.out.push('\n');
    }
    p.flush_comments_before(u32::MAX, prev.is_some());
    let mut out = p.out.trim_end().to_string();
    out.push('\n');
    if out.trim().is_empty() {
        return Ok(String::new());
    }
    Ok(out)
}

fn has_blank_line(between: &str) -> bool {
    between.split('\n').skip(1).collect::<Vec<_>>().iter().rev().skip(1).any(|l| l.trim().is_empty())
}

struct Printer<'s> {
    src: &'s str,
    out: String,
    indent: usize,
    comments: Vec<Comment>,
    next: usize,
}

impl Printer<'_> {
    fn pad(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
    }

    fn newline(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
        self.pad();
    }

    /// Writes every comment that starts before `pos`, each on its own line.
    /// Assumes the output is at the start of a (padded) line.
    fn flush_comments_before(&mut self, pos: u32, _after_item: bool) {
        while self.next < self.comments.len() && self.comments[self.next].span.start < pos {
            let c = self.comments[self.next].clone();
            self.next += 1;
            let text = self.src[c.span.range()].trim_end();
            // Keep one blank line above a comment that had one.
            let before = &self.src[..c.span.start as usize];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let prev_line_blank =
                before[..line_start.saturating_sub(1)].rsplit('\n').next().is_some_and(|l| l.trim().is_empty())
                    && line_start > 0;
            let at_line_start = self.out.is_empty() || self.out.trim_end_matches(' ').ends_with('\n');
            if prev_line_blank
                && !self.out.trim_end().is_empty()
                && !self.out.trim_end_matches([' ']).ends_with("\n\n")
                && at_line_start
            {
                let trimmed_len = self.out.trim_end_matches(' ').len();
                self.out.truncate(trimmed_len);
                if !self.out.ends_with("{\n") {
                    self.out.push('\n');
                }
                self.pad();
            }
            self.out.push_str(text);
            self.newline();
        }
    }

    /// Appends a comment that starts on the same source line after `end`.
    fn trailing_comment(&mut self, end: u32) {
        if self.next >= self.comments.len() {
            return;
        }
        let c = &self.comments[self.next];
        if c.span.start < end || c.doc {
            return;
        }
        let between = &self.src[end as usize..c.span.start as usize];
        if !between.contains('\n') {
            let text = self.src[c.span.range()].trim_end().to_string();
            self.next += 1;
            self.out.push_str("  ");
            self.out.push_str(&text);
        }
    }

    fn has_comment_in(&self, span: Span) -> bool {
        self.comments[self.next..].iter().any(|c| c.span.start >= span.start && c.span.start < span.end)
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(i) => {
                self.out.push_str(&format!("import {} as {}", string_lit(&i.path, 0), i.alias.name));
            }
            Item::Experiment(e) => {
                self.out.push_str(&format!("experiment {} ", e.name.name));
                self.field_block(&e.fields, e.span.end);
            }
            Item::Param(p) => {
                self.out.push_str(&format!("param {}: {}", p.name.name, type_to_string(&p.ty)));
                if let Some(d) = &p.default {
                    self.out.push_str(" = ");
                    self.expr(d);
                }
            }
            Item::Let(l) => {
                self.out.push_str(&format!("let {}", l.name.name));
                if let Some(t) = &l.ty {
                    self.out.push_str(&format!(": {}", type_to_string(t)));
                }
                self.out.push_str(" = ");
                self.expr(&l.value);
            }
            Item::Fn(f) => {
                let params: Vec<String> =
                    f.params.iter().map(|p| format!("{}: {}", p.name.name, type_to_string(&p.ty))).collect();
                self.out.push_str(&format!("fn {}({})", f.name.name, params.join(", ")));
                if let Some(r) = &f.ret {
                    self.out.push_str(&format!(" -> {}", type_to_string(r)));
                }
                self.out.push(' ');
                self.block(&f.body);
            }
            Item::Tool(t) => self.tool(t),
            Item::Node(n) => self.node(n),
            Item::Report(r) => {
                self.out.push_str(&format!("report {} ", r.name.name));
                self.report_block(&r.entries, r.span.end);
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        let text = expr::expr_to_string_at(e, self.indent);
        self.out.push_str(&text);
    }

    fn block(&mut self, b: &Block) {
        self.out.push('{');
        self.indent += 1;
        for l in &b.lets {
            self.newline();
            self.flush_comments_before(l.span.start, false);
            self.out.push_str(&format!("let {} = ", l.name.name));
            self.expr(&l.value);
            self.trailing_comment(l.span.end);
        }
        self.newline();
        self.flush_comments_before(b.value.span.start, false);
        self.expr(&b.value);
        self.trailing_comment(b.value.span.end);
        self.newline();
        self.flush_comments_before(b.span.end.saturating_sub(1), false);
        self.indent -= 1;
        self.close_brace();
    }

    fn close_brace(&mut self) {
        self.close_with('}');
    }

    /// `{ name = value ... }` with the `=` signs aligned; `end` is the
    /// source offset just past the closing brace.
    fn field_block(&mut self, fields: &[Field], end: u32) {
        if fields.is_empty() && !self.has_comment_in(Span { start: 0, end }) {
            self.out.push_str("{}");
            return;
        }
        let width = fields.iter().map(|f| f.name.name.len()).max().unwrap_or(0);
        self.out.push('{');
        self.indent += 1;
        for f in fields {
            self.newline();
            self.flush_comments_before(f.span.start, false);
            self.out.push_str(&format!("{:width$} = ", f.name.name));
            self.expr(&f.value);
            self.trailing_comment(f.span.end);
        }
        self.newline();
        self.flush_comments_before(end.saturating_sub(1), false);
        self.indent -= 1;
        self.close_brace();
    }

    fn tool(&mut self, t: &Tool) {
        let params: Vec<String> = t.params.iter().map(tool_param).collect();
        let outputs: Vec<String> =
            t.outputs.iter().map(|o| format!("{}: {}", o.name.name, type_to_string(&o.ty))).collect();
        let mut one_line = format!("tool {}({})", t.path.text(), params.join(", "));
        if !t.outputs.is_empty() {
            one_line.push_str(&format!(" -> ({})", outputs.join(", ")));
        }
        let docs = t.params.iter().any(|p| p.doc.is_some()) || t.outputs.iter().any(|o| o.doc.is_some());
        let commented = self.has_comment_in(t.params_span) || t.outputs_span.is_some_and(|s| self.has_comment_in(s));
        if one_line.len() <= MAX_WIDTH && !docs && !commented {
            self.out.push_str(&one_line);
        } else {
            self.out.push_str(&format!("tool {}(", t.path.text()));
            self.indent += 1;
            for p in &t.params {
                self.newline();
                self.flush_comments_before(p.span.start, false);
                self.out.push_str(&tool_param(p));
                self.out.push(',');
                self.trailing_comment(p.span.end);
            }
            self.newline();
            self.flush_comments_before(t.params_span.end.saturating_sub(1), false);
            self.indent -= 1;
            self.close_with(')');
            if let (false, Some(outs_span)) = (t.outputs.is_empty(), t.outputs_span) {
                let out_docs = t.outputs.iter().any(|o| o.doc.is_some());
                let inline = format!(" -> ({})", outputs.join(", "));
                if !out_docs && !self.has_comment_in(outs_span) && inline.len() < MAX_WIDTH {
                    self.out.push_str(&inline);
                } else {
                    self.out.push_str(" -> (");
                    self.indent += 1;
                    for o in &t.outputs {
                        self.newline();
                        self.flush_comments_before(o.span.start, false);
                        self.out.push_str(&format!("{}: {},", o.name.name, type_to_string(&o.ty)));
                        self.trailing_comment(o.span.end);
                    }
                    self.newline();
                    self.flush_comments_before(outs_span.end.saturating_sub(1), false);
                    self.indent -= 1;
                    self.close_with(')');
                }
            }
        }
        if !t.fields.is_empty() {
            self.out.push(' ');
            self.field_block(&t.fields, t.span.end);
        }
    }

    /// Ends a multi-line list: the closing bracket on a line of its own.
    fn close_with(&mut self, bracket: char) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.pad();
        self.out.push(bracket);
    }

    fn node(&mut self, n: &Node) {
        self.out.push_str(&format!("node {}", n.name.name));
        if !n.binders.is_empty() {
            let bs: Vec<String> =
                n.binders.iter().map(|b| format!("{} in {}", b.name.name, expr_to_string(&b.values))).collect();
            self.out.push_str(&format!("[{}]", bs.join(", ")));
        }
        self.out.push_str(&format!(" = {}(", n.tool.text()));
        let args: Vec<String> = n
            .args
            .iter()
            .map(|a| format!("{} = {}", a.name.name, expr::expr_to_string_at(&a.value, self.indent + 1)))
            .collect();
        let line_len =
            self.out.rsplit('\n').next().map_or(0, str::len) + args.iter().map(|a| a.len() + 2).sum::<usize>() + 3;
        let multiline =
            line_len > MAX_WIDTH || self.has_comment_in(n.args_span) || args.iter().any(|a| a.contains('\n'));
        if multiline && !n.args.is_empty() {
            self.indent += 1;
            for (a, text) in n.args.iter().zip(&args) {
                self.newline();
                self.flush_comments_before(a.span.start, false);
                self.out.push_str(text);
                self.out.push(',');
                self.trailing_comment(a.span.end);
            }
            self.newline();
            self.flush_comments_before(n.args_span.end.saturating_sub(1), false);
            self.indent -= 1;
            self.close_with(')');
        } else {
            self.out.push_str(&args.join(", "));
            self.out.push(')');
        }
        let props_span = Span { start: n.args_span.end, end: n.span.end };
        if !n.props.is_empty() || self.has_comment_in(props_span) && self.src[props_span.range()].contains('{') {
            self.out.push(' ');
            self.field_block(&n.props, n.span.end);
        }
    }

    fn report_block(&mut self, entries: &[ReportEntry], end: u32) {
        self.out.push('{');
        self.indent += 1;
        let width = entries
            .iter()
            .filter_map(|e| match e {
                ReportEntry::Field(f) => Some(f.name.name.len()),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let kw_width = entries
            .iter()
            .filter_map(|e| match e {
                ReportEntry::Text { .. } => Some(4),
                ReportEntry::Figure { .. } => Some(6),
                ReportEntry::Table { .. } => Some(5),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        for e in entries {
            self.newline();
            self.flush_comments_before(e.span().start, false);
            match e {
                ReportEntry::Field(f) => {
                    self.out.push_str(&format!("{:width$} = ", f.name.name));
                    self.expr(&f.value);
                }
                ReportEntry::Section { heading, entries, span } => {
                    self.out.push_str(&format!("section {} ", string_lit(heading, self.indent)));
                    self.report_block(entries, span.end);
                }
                ReportEntry::Text { text, .. } => {
                    self.out.push_str(&format!("{:kw_width$} {}", "text", string_lit(text, self.indent)));
                }
                ReportEntry::Figure { target, fields, span } | ReportEntry::Table { target, fields, span } => {
                    let kw = if matches!(e, ReportEntry::Figure { .. }) { "figure" } else { "table" };
                    self.out.push_str(&format!("{kw:kw_width$} {}", node_ref(target)));
                    if !fields.is_empty() {
                        let inline: Vec<String> =
                            fields.iter().map(|f| format!("{} = {}", f.name.name, expr_to_string(&f.value))).collect();
                        let candidate = format!(" {{ {} }}", inline.join(", "));
                        if candidate.len() + self.out.rsplit('\n').next().map_or(0, str::len) <= MAX_WIDTH
                            && !self.has_comment_in(*span)
                            && !candidate.contains('\n')
                        {
                            self.out.push_str(&candidate);
                        } else {
                            self.out.push(' ');
                            self.field_block(fields, span.end);
                        }
                    }
                }
            }
            self.trailing_comment(e.span().end);
        }
        self.newline();
        self.flush_comments_before(end.saturating_sub(1), false);
        self.indent -= 1;
        self.close_brace();
    }
}

fn tool_param(p: &ToolParam) -> String {
    let mut s = format!("{}: {}", p.name.name, type_to_string(&p.ty));
    if let Some(d) = &p.default {
        s.push_str(" = ");
        s.push_str(&expr_to_string(d));
    }
    for c in &p.conditions {
        s.push_str(match c.kind {
            ConditionKind::Where => " where ",
            ConditionKind::Cap => " cap ",
        });
        s.push_str(&expr_to_string(&c.expr));
    }
    s
}

fn node_ref(r: &NodeRef) -> String {
    let mut s = r.node.name.clone();
    if let Some(i) = &r.index {
        s.push_str(&format!("[{}]", expr_to_string(i)));
    }
    if let Some(o) = &r.output {
        s.push('.');
        s.push_str(&o.name);
    }
    s
}

#[cfg(test)]
mod tests;
