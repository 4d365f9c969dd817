//! Tool schemas: what a `tool` declaration (stdlib or user) says a tool
//! takes, gives, can emit and where it can run.

use phx_diagnostics::{Code, Diagnostic, did_you_mean};
use phx_syntax::Span;
use phx_syntax::ast::{ConditionKind, Expr, ExprKind, StringPart, Tool};

use crate::env::Env;
use crate::eval::{Eval, Misfit, coerce};
use crate::types::{EnumKind, Ty, resolve_type};
use crate::value::Value;

/// One parameter of a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSchema {
    pub name: String,
    pub doc: Option<String>,
    pub ty: Ty,
    /// The evaluated default; `None` means the argument is required.
    pub default: Option<Value>,
    /// The default as written.
    pub default_text: Option<String>,
    pub conditions: Vec<ConditionSchema>,
    pub span: Span,
}

/// A `where` or `cap` condition of a parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionSchema {
    pub kind: ConditionKind,
    pub expr: Expr,
    /// The condition as written (canonical formatting).
    pub text: String,
}

/// One output of a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSchema {
    pub name: String,
    pub doc: Option<String>,
    pub ty: Ty,
}

/// A tool's schema.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSchema {
    pub name: String,
    pub doc: Option<String>,
    pub params: Vec<ParamSchema>,
    pub outputs: Vec<OutputSchema>,
    pub emits: Vec<String>,
    pub devices: Vec<String>,
    pub version: String,
    /// The command template of a command-backed tool.
    pub run: Option<String>,
    pub image: Option<String>,
    /// Whether the tool is implemented inside phx (the stdlib).
    pub builtin: bool,
    /// Where it is declared: a file path and the span of its name.
    pub file: String,
    pub span: Span,
}

impl ToolSchema {
    /// A parameter by name.
    pub fn param(&self, name: &str) -> Option<&ParamSchema> {
        self.params.iter().find(|p| p.name == name)
    }

    /// An output by name.
    pub fn output(&self, name: &str) -> Option<&OutputSchema> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// The signature as one line: `quantum.orbital(n: Int, ..., grid: Int = 64) -> (density: Field3D, ...)`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| match &p.default_text {
                Some(d) => format!("{}: {} = {d}", p.name, p.ty),
                None => format!("{}: {}", p.name, p.ty),
            })
            .collect();
        let outs: Vec<String> = self.outputs.iter().map(|o| format!("{}: {}", o.name, o.ty)).collect();
        format!("{}({}) -> ({})", self.name, params.join(", "), outs.join(", "))
    }
}

const TOOL_FIELDS: [&str; 7] = ["emits", "device", "version", "run", "image", "timeout", "resources"];

fn enum_list(e: &Expr, kind: EnumKind, diags: &mut Vec<Diagnostic>) -> Vec<String> {
    let ExprKind::List(items) = &e.kind else {
        diags.push(Diagnostic::new(Code::TypeMismatch, e.span, format!("expected a list of {}", kind.name())));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match &item.kind {
            ExprKind::Name(id) if kind.variants().contains(&id.name.as_str()) => out.push(id.name.clone()),
            ExprKind::Name(id) => diags.push(
                Diagnostic::new(
                    Code::UnknownName,
                    id.span,
                    format!(
                        "`{}` is not a valid {}; expected one of: {}",
                        id.name,
                        kind.name(),
                        kind.variants().join(", ")
                    ),
                )
                .with_help_opt(did_you_mean(&id.name, kind.variants().iter().copied())),
            ),
            _ => diags.push(Diagnostic::new(Code::TypeMismatch, item.span, format!("expected a {}", kind.name()))),
        }
    }
    out
}

/// Builds a schema from a `tool` declaration. `builtin` marks the stdlib.
pub fn build_schema(tool: &Tool, builtin: bool, file: &str, env: &dyn Env) -> (ToolSchema, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut params: Vec<ParamSchema> = Vec::new();
    for p in &tool.params {
        if params.iter().any(|q| q.name == p.name.name) {
            diags.push(Diagnostic::new(
                Code::DuplicateName,
                p.name.span,
                format!("the parameter `{}` is declared twice", p.name.name),
            ));
            continue;
        }
        let ty = resolve_type(&p.ty, &mut diags);
        let default = p.default.as_ref().map(|d| {
            let mut ev = Eval::new(env);
            let v = ev.eval(d, Some(&ty));
            diags.extend(ev.diags);
            match coerce(v, &ty) {
                Ok(v) => v,
                Err(Misfit::Type(m)) => {
                    diags.push(Diagnostic::new(
                        Code::TypeMismatch,
                        d.span,
                        format!("the default of `{}`: {m}", p.name.name),
                    ));
                    Value::Error
                }
                Err(Misfit::Unit(m)) => {
                    diags.push(Diagnostic::new(
                        Code::UnitMismatch,
                        d.span,
                        format!("the default of `{}`: {m}", p.name.name),
                    ));
                    Value::Error
                }
            }
        });
        let conditions = p
            .conditions
            .iter()
            .map(|c| ConditionSchema { kind: c.kind, expr: c.expr.clone(), text: phx_fmt::expr_to_string(&c.expr) })
            .collect();
        params.push(ParamSchema {
            name: p.name.name.clone(),
            doc: p.doc.clone(),
            ty,
            default,
            default_text: p.default.as_ref().map(phx_fmt::expr_to_string),
            conditions,
            span: p.name.span,
        });
    }
    let mut outputs: Vec<OutputSchema> = Vec::new();
    for o in &tool.outputs {
        if outputs.iter().any(|q| q.name == o.name.name) {
            diags.push(Diagnostic::new(
                Code::DuplicateName,
                o.name.span,
                format!("the output `{}` is declared twice", o.name.name),
            ));
            continue;
        }
        let ty = resolve_type(&o.ty, &mut diags);
        outputs.push(OutputSchema { name: o.name.name.clone(), doc: o.doc.clone(), ty });
    }
    let mut schema = ToolSchema {
        name: tool.path.text(),
        doc: tool.doc.clone(),
        params,
        outputs,
        emits: Vec::new(),
        devices: vec!["cpu".to_string()],
        version: "0".to_string(),
        run: None,
        image: None,
        builtin,
        file: file.to_string(),
        span: tool.path.span,
    };
    for f in &tool.fields {
        match f.name.name.as_str() {
            "emits" => schema.emits = enum_list(&f.value, EnumKind::Emit, &mut diags),
            "device" => schema.devices = enum_list(&f.value, EnumKind::Device, &mut diags),
            "version" | "image" => match &f.value.kind {
                ExprKind::Str(s) if s.as_plain().is_some() => {
                    let text = s.as_plain().unwrap_or_default();
                    if f.name.name == "version" {
                        schema.version = text;
                    } else {
                        schema.image = Some(text);
                    }
                }
                _ => diags.push(Diagnostic::new(
                    Code::TypeMismatch,
                    f.value.span,
                    format!("`{}` must be a plain string", f.name.name),
                )),
            },
            "run" => match &f.value.kind {
                ExprKind::Str(s) => {
                    check_template(s, &schema, &mut diags);
                    schema.run = Some(template_text(s));
                }
                _ => diags.push(Diagnostic::new(
                    Code::TypeMismatch,
                    f.value.span,
                    "`run` must be a string template".to_string(),
                )),
            },
            "timeout" | "resources" => {}
            other => diags.push(
                Diagnostic::new(Code::UnknownArg, f.name.span, format!("a tool has no field `{other}`"))
                    .with_help_opt(did_you_mean(other, TOOL_FIELDS)),
            ),
        }
    }
    if !builtin && schema.run.is_none() {
        diags.push(
            Diagnostic::new(
                Code::MissingArg,
                tool.path.span,
                format!("the tool `{}` has no `run` command", schema.name),
            )
            .with_help(
                "add `run = \"command {param} --out {output}\"`; only the standard library's tools are built in",
            ),
        );
    }
    (schema, diags)
}

/// The `run` template as text, placeholders restored (`{name}`,
/// `{name:unit}`), literal braces doubled.
pub fn template_text(s: &phx_syntax::ast::StringLit) -> String {
    let mut out = String::new();
    for part in &s.parts {
        match part {
            StringPart::Text(t) if s.triple => out.push_str(t),
            StringPart::Text(t) => out.push_str(&t.replace('{', "{{").replace('}', "}}")),
            StringPart::Interp { expr, spec } => {
                out.push('{');
                out.push_str(&phx_fmt::expr_to_string(expr));
                if let Some(spec) = spec {
                    out.push(':');
                    out.push_str(spec);
                }
                out.push('}');
            }
        }
    }
    out
}

fn check_template(s: &phx_syntax::ast::StringLit, schema: &ToolSchema, diags: &mut Vec<Diagnostic>) {
    for part in &s.parts {
        let StringPart::Interp { expr, spec } = part else { continue };
        let ExprKind::Name(id) = &expr.kind else {
            diags.push(Diagnostic::new(
                Code::Syntax,
                expr.span,
                "a `run` placeholder names one parameter or output: `{name}` or `{name:unit}`".to_string(),
            ));
            continue;
        };
        let param = schema.param(&id.name);
        let output = schema.output(&id.name);
        if param.is_none() && output.is_none() {
            let names: Vec<&str> = schema
                .params
                .iter()
                .map(|p| p.name.as_str())
                .chain(schema.outputs.iter().map(|o| o.name.as_str()))
                .collect();
            diags.push(
                Diagnostic::new(
                    Code::UnknownName,
                    id.span,
                    format!("the placeholder `{{{}}}` names no parameter or output of `{}`", id.name, schema.name),
                )
                .with_help_opt(did_you_mean(&id.name, names)),
            );
            continue;
        }
        if spec.as_deref().map(str::trim) == Some("raw") {
            // The one way to put shell syntax in from a value: said, and
            // flagged.
            diags.push(
                Diagnostic::new(
                    Code::RawPlaceholder,
                    expr.span,
                    format!(
                        "`{{{}:raw}}` puts `{}` into the command unquoted: shell syntax in its value runs",
                        id.name, id.name
                    ),
                )
                .with_help(format!("write `{{{}}}` to pass the value as one word", id.name)),
            );
            continue;
        }
        if let Some(unit) = spec {
            let Some(p) = param else {
                diags.push(Diagnostic::new(
                    Code::TypeMismatch,
                    id.span,
                    format!("`{{{}:{unit}}}`: an output is a path and takes no unit", id.name),
                ));
                continue;
            };
            match (phx_units::resolve_text(unit), &p.ty) {
                (Ok(r), Ty::Quantity(Some(d))) if r.dim != *d => diags.push(Diagnostic::new(
                    Code::UnitMismatch,
                    expr.span,
                    format!("`{{{}:{unit}}}` writes `{}` ({d}) in `{unit}`, which is {}", id.name, id.name, r.dim),
                )),
                (Ok(_), Ty::Quantity(_)) => {}
                (Ok(_), other) => diags.push(Diagnostic::new(
                    Code::TypeMismatch,
                    expr.span,
                    format!("`{}` is {other}, not a quantity, so `:{unit}` does not apply", id.name),
                )),
                (Err(e), _) => diags.push(crate::types::unknown_unit(&e, expr.span)),
            }
        }
    }
}
