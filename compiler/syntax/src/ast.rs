//! The syntax tree. Every node carries its [`Span`]; the tree is plain data
//! (no interior references), so that it can be compared for equality by the
//! incremental database and shared behind an `Arc`.

use crate::Span;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A dotted name such as `quantum.orbital` (a tool) or `other.f` (an
/// imported item).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DottedPath {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl DottedPath {
    /// The path as text, segments joined with `.`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(&seg.name);
        }
        out
    }
}

/// One top-level item of a file.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Import(Import),
    Experiment(Experiment),
    Param(Param),
    Let(Let),
    Fn(FnItem),
    Tool(Tool),
    Node(Node),
    Report(Report),
}

/// What kind of item an [`Item`] is; part of an item's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    Import,
    Experiment,
    Param,
    Let,
    Fn,
    Tool,
    Node,
    Report,
}

impl ItemKind {
    /// The keyword that introduces this kind of item.
    pub fn keyword(self) -> &'static str {
        match self {
            ItemKind::Import => "import",
            ItemKind::Experiment => "experiment",
            ItemKind::Param => "param",
            ItemKind::Let => "let",
            ItemKind::Fn => "fn",
            ItemKind::Tool => "tool",
            ItemKind::Node => "node",
            ItemKind::Report => "report",
        }
    }
}

impl Item {
    /// The kind of this item.
    pub fn kind(&self) -> ItemKind {
        match self {
            Item::Import(_) => ItemKind::Import,
            Item::Experiment(_) => ItemKind::Experiment,
            Item::Param(_) => ItemKind::Param,
            Item::Let(_) => ItemKind::Let,
            Item::Fn(_) => ItemKind::Fn,
            Item::Tool(_) => ItemKind::Tool,
            Item::Node(_) => ItemKind::Node,
            Item::Report(_) => ItemKind::Report,
        }
    }

    /// The item's declared name (for a tool, its dotted path; for an import,
    /// its alias).
    pub fn name(&self) -> String {
        match self {
            Item::Import(i) => i.alias.name.clone(),
            Item::Experiment(i) => i.name.name.clone(),
            Item::Param(i) => i.name.name.clone(),
            Item::Let(i) => i.name.name.clone(),
            Item::Fn(i) => i.name.name.clone(),
            Item::Tool(i) => i.path.text(),
            Item::Node(i) => i.name.name.clone(),
            Item::Report(i) => i.name.name.clone(),
        }
    }

    /// The span of the item's name.
    pub fn name_span(&self) -> Span {
        match self {
            Item::Import(i) => i.alias.span,
            Item::Experiment(i) => i.name.span,
            Item::Param(i) => i.name.span,
            Item::Let(i) => i.name.span,
            Item::Fn(i) => i.name.span,
            Item::Tool(i) => i.path.span,
            Item::Node(i) => i.name.span,
            Item::Report(i) => i.name.span,
        }
    }

    /// The whole item, from its keyword to its end (doc comments excluded).
    pub fn span(&self) -> Span {
        match self {
            Item::Import(i) => i.span,
            Item::Experiment(i) => i.span,
            Item::Param(i) => i.span,
            Item::Let(i) => i.span,
            Item::Fn(i) => i.span,
            Item::Tool(i) => i.span,
            Item::Node(i) => i.span,
            Item::Report(i) => i.span,
        }
    }

    /// The doc comment attached to the item (`///` lines), if any.
    pub fn doc(&self) -> Option<&str> {
        let doc = match self {
            Item::Import(i) => &i.doc,
            Item::Experiment(i) => &i.doc,
            Item::Param(i) => &i.doc,
            Item::Let(i) => &i.doc,
            Item::Fn(i) => &i.doc,
            Item::Tool(i) => &i.doc,
            Item::Node(i) => &i.doc,
            Item::Report(i) => &i.doc,
        };
        doc.as_deref()
    }

    pub(crate) fn set_doc(&mut self, doc: Option<String>) {
        let slot = match self {
            Item::Import(i) => &mut i.doc,
            Item::Experiment(i) => &mut i.doc,
            Item::Param(i) => &mut i.doc,
            Item::Let(i) => &mut i.doc,
            Item::Fn(i) => &mut i.doc,
            Item::Tool(i) => &mut i.doc,
            Item::Node(i) => &mut i.doc,
            Item::Report(i) => &mut i.doc,
        };
        *slot = doc;
    }
}

/// `import "path" as name`
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub doc: Option<String>,
    pub path: StringLit,
    pub alias: Ident,
    pub span: Span,
}

/// `experiment NAME { fields }`
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    pub doc: Option<String>,
    pub name: Ident,
    pub fields: Vec<Field>,
    pub span: Span,
}

/// `param NAME: TYPE = DEFAULT`
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub doc: Option<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `let NAME = EXPR` (an optional `: TYPE` annotation is accepted).
#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    pub doc: Option<String>,
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub span: Span,
}

/// `fn NAME(a: Float, ...) -> Float { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct FnItem {
    pub doc: Option<String>,
    pub name: Ident,
    pub params: Vec<FnParam>,
    pub ret: Option<TypeExpr>,
    pub body: Block,
    pub span: Span,
}

/// One parameter of a `fn`.
#[derive(Clone, Debug, PartialEq)]
pub struct FnParam {
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `{ let a = ...; expr }`: the body of a `fn` or of an `if` branch.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub lets: Vec<LetStmt>,
    pub value: Box<Expr>,
    pub span: Span,
}

/// `let NAME = EXPR` inside a block.
#[derive(Clone, Debug, PartialEq)]
pub struct LetStmt {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `tool ns.name(params) -> (outputs) { fields }`
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    pub doc: Option<String>,
    pub path: DottedPath,
    pub params: Vec<ToolParam>,
    pub outputs: Vec<ToolOutput>,
    pub fields: Vec<Field>,
    /// The parameter list, `(` to `)`.
    pub params_span: Span,
    /// The output list, `(` to `)`, when there is one.
    pub outputs_span: Option<Span>,
    pub span: Span,
}

/// `name: TYPE [= DEFAULT] [where COND] [cap COND]`
#[derive(Clone, Debug, PartialEq)]
pub struct ToolParam {
    /// The `///` lines above the parameter.
    pub doc: Option<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub conditions: Vec<Condition>,
    pub span: Span,
}

/// A `where` or `cap` condition on a tool parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub kind: ConditionKind,
    pub expr: Expr,
    pub span: Span,
}

/// Whether a condition is a hard constraint or a lift-able cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    Where,
    Cap,
}

/// One declared output of a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    /// The `///` lines above the output.
    pub doc: Option<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `node NAME[binders] = ns.tool(args) { properties }`
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub doc: Option<String>,
    pub name: Ident,
    pub binders: Vec<Binder>,
    pub tool: DottedPath,
    pub args: Vec<Field>,
    pub props: Vec<Field>,
    /// The span of the parenthesised argument list, `(` to `)`.
    pub args_span: Span,
    pub span: Span,
}

/// `v in EXPR` in a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Binder {
    pub name: Ident,
    pub values: Expr,
    pub span: Span,
}

/// `report NAME { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub doc: Option<String>,
    pub name: Ident,
    pub entries: Vec<ReportEntry>,
    pub span: Span,
}

/// One entry of a report block.
#[derive(Clone, Debug, PartialEq)]
pub enum ReportEntry {
    Field(Field),
    Section { heading: StringLit, entries: Vec<ReportEntry>, span: Span },
    Text { text: StringLit, span: Span },
    Figure { target: NodeRef, fields: Vec<Field>, span: Span },
    Table { target: NodeRef, fields: Vec<Field>, span: Span },
}

impl ReportEntry {
    /// The span of the whole entry.
    pub fn span(&self) -> Span {
        match self {
            ReportEntry::Field(f) => f.span,
            ReportEntry::Section { span, .. }
            | ReportEntry::Text { span, .. }
            | ReportEntry::Figure { span, .. }
            | ReportEntry::Table { span, .. } => *span,
        }
    }
}

/// `node`, `node[i]`, `node.output` or `node[i].output` in a report.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRef {
    pub node: Ident,
    pub index: Option<Expr>,
    pub output: Option<Ident>,
    pub span: Span,
}

/// `name = value`: a field of a block, an argument of a node, a record entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// A type as written.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub span: Span,
}

/// The shapes a written type can take.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeExprKind {
    /// `Int`, `List[Float]`, `Field3D`.
    Named { name: Ident, args: Vec<TypeExpr> },
    /// `Quantity[m/s^2]`.
    Quantity(UnitExpr),
    /// `Field2D | Field3D`.
    Union(Vec<TypeExpr>),
}

/// A unit as written: `bohr`, `[m/s^2]`. Kept as factors with powers; the
/// units crate gives them meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnitExpr {
    /// `(name, power)` in order; a division is a negative power.
    pub factors: Vec<(String, i32)>,
    /// Whether it was written in brackets.
    pub bracketed: bool,
    pub span: Span,
}

impl UnitExpr {
    /// The canonical text of the unit, `m/s^2` style, without brackets.
    pub fn text(&self) -> String {
        let mut num = Vec::new();
        let mut den = Vec::new();
        for (name, pow) in &self.factors {
            if name == "1" {
                continue;
            }
            if *pow >= 0 {
                num.push(if *pow == 1 { name.clone() } else { format!("{name}^{pow}") });
            } else {
                den.push(if *pow == -1 { name.clone() } else { format!("{name}^{}", -pow) });
            }
        }
        let mut out = if num.is_empty() { "1".to_string() } else { num.join("*") };
        for d in den {
            out.push('/');
            out.push_str(&d);
        }
        out
    }

    /// The unit as written in source: bracketed when it needs to be.
    pub fn source_text(&self) -> String {
        let text = self.text();
        if self.bracketed || self.factors.len() != 1 || self.factors[0].1 != 1 { format!("[{text}]") } else { text }
    }
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// A literal number as written, with its parsed value.
#[derive(Clone, Debug, PartialEq)]
pub struct NumberLit {
    /// The digits as written (`1e-10`, `96`, `1_000`).
    pub text: String,
    /// `Some` when the literal is an integer that fits in `i64`.
    pub int: Option<i64>,
    pub value: f64,
}

/// The shapes of an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(NumberLit),
    Quantity {
        number: NumberLit,
        unit: UnitExpr,
    },
    Str(StringLit),
    Bool(bool),
    Name(Ident),
    /// `a.b`: output `b` of node `a`, or member `b` of `a`.
    Member {
        base: Box<Expr>,
        member: Ident,
    },
    /// `a[i]`.
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `a[*]`.
    Splat {
        base: Box<Expr>,
    },
    /// `f(x, y)` or `linspace(a, b, n)`.
    Call {
        callee: DottedPath,
        args: Vec<CallArg>,
    },
    List(Vec<Expr>),
    Record(Vec<Field>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `a < b <= c`: a chain of comparisons, true when every link holds.
    Compare {
        first: Box<Expr>,
        rest: Vec<(CompareOp, Expr)>,
    },
    /// `a..b` or `a..=b`.
    Range {
        lo: Box<Expr>,
        hi: Box<Expr>,
        inclusive: bool,
    },
    If {
        cond: Box<Expr>,
        then: Block,
        otherwise: Option<Box<Else>>,
    },
    Paren(Box<Expr>),
}

/// The `else` branch of an `if`: another `if` or a block.
#[derive(Clone, Debug, PartialEq)]
pub enum Else {
    If(Expr),
    Block(Block),
}

/// One argument of a call, optionally named.
#[derive(Clone, Debug, PartialEq)]
pub struct CallArg {
    pub name: Option<Ident>,
    pub value: Expr,
}

/// `-x`, `!x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

/// The arithmetic and logical binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

/// The comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Pow => "^",
        }
    }

    /// Binding strength; higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
            BinaryOp::Pow => 8,
        }
    }
}

impl CompareOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// Precedence of comparisons, between `&&` and ranges.
pub const COMPARE_PRECEDENCE: u8 = 3;
/// Precedence of `..` and `..=`.
pub const RANGE_PRECEDENCE: u8 = 4;
/// Precedence of unary `-` and `!` (binds looser than `^`).
pub const UNARY_PRECEDENCE: u8 = 7;

/// A string literal: plain (with interpolation) or triple-quoted.
#[derive(Clone, Debug, PartialEq)]
pub struct StringLit {
    pub parts: Vec<StringPart>,
    pub triple: bool,
    pub span: Span,
}

impl StringLit {
    /// The literal text when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StringPart::Text(t) => out.push_str(t),
                StringPart::Interp { .. } => return None,
            }
        }
        Some(out)
    }
}

/// A piece of a string: literal text (escapes resolved) or `{expr[:spec]}`.
#[derive(Clone, Debug, PartialEq)]
pub enum StringPart {
    Text(String),
    Interp { expr: Expr, spec: Option<String> },
}
