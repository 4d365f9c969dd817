//! Compile-time values: what `let`, `param`, arguments and sweep lists
//! evaluate to.

use std::fmt;

use phx_units::{Dim, format_f64};

use crate::types::{EnumKind, Ty};

/// A reference to a `fn` item: its name, arity and the hash of its compiled
/// body (the part of a static key that stands for the function).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FnRef {
    pub name: String,
    pub arity: usize,
    pub hash: String,
}

/// Which instances of a node an output reference takes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Instances {
    /// The node is not a sweep.
    Single,
    /// `NAME[i]`.
    One(usize),
    /// `NAME[*]`: every instance, as a list.
    All(usize),
}

/// `node.output` (or `node[i].output`, `node[*].output`): data that exists
/// only when the node has run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OutputRef {
    pub node: String,
    pub instances: Instances,
    pub output: String,
    pub ty: Ty,
}

impl OutputRef {
    /// The vertex ids this reference depends on.
    pub fn vertex_ids(&self) -> Vec<String> {
        match &self.instances {
            Instances::Single => vec![self.node.clone()],
            Instances::One(i) => vec![format!("{}[{i}]", self.node)],
            Instances::All(n) => (0..*n).map(|i| format!("{}[{i}]", self.node)).collect(),
        }
    }

    /// The reference as written: `a.b`, `a[2].b`, `a[*].b`.
    pub fn text(&self) -> String {
        match &self.instances {
            Instances::Single => format!("{}.{}", self.node, self.output),
            Instances::One(i) => format!("{}[{i}].{}", self.node, self.output),
            Instances::All(_) => format!("{}[*].{}", self.node, self.output),
        }
    }
}

/// A value known at compile time, or a reference to run-time data.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// A quantity: its value in SI, its dimension, and how it was written
    /// (value and unit), so it can be shown and converted back exactly.
    Quantity {
        si: f64,
        dim: Dim,
        written: Option<(f64, String)>,
    },
    List(Vec<Value>),
    Record(Vec<(String, Value)>),
    Enum(EnumKind, String),
    Fn(FnRef),
    Output(OutputRef),
    /// A node named in `after` (or in a figure).
    Node(String),
    /// A value that could not be computed; an error was reported already.
    Error,
}

impl Value {
    /// The type of the value.
    pub fn ty(&self) -> Ty {
        match self {
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Bool(_) => Ty::Bool,
            Value::Str(_) => Ty::String,
            Value::Quantity { dim, .. } => Ty::Quantity(Some(*dim)),
            Value::List(items) => Ty::List(Box::new(items.first().map_or(Ty::Any, Value::ty))),
            Value::Record(_) => Ty::Record,
            Value::Enum(k, _) => Ty::Enum(*k),
            Value::Fn(_) => Ty::Fn,
            Value::Output(o) => match o.instances {
                Instances::All(_) => Ty::List(Box::new(o.ty.clone())),
                _ => o.ty.clone(),
            },
            Value::Node(_) => Ty::Any,
            Value::Error => Ty::Any,
        }
    }

    /// The value as an `f64`, for plain numbers and dimensionless quantities.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Quantity { si, dim, .. } if dim.is_none() => Some(*si),
            _ => None,
        }
    }

    /// The value as an `i64`, for integers.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Whether this value, or anything inside it, is an error.
    pub fn has_error(&self) -> bool {
        match self {
            Value::Error => true,
            Value::List(items) => items.iter().any(Value::has_error),
            Value::Record(fields) => fields.iter().any(|(_, v)| v.has_error()),
            _ => false,
        }
    }

    /// Whether the value is known at compile time (holds no output reference).
    pub fn is_static(&self) -> bool {
        match self {
            Value::Output(_) | Value::Error => false,
            Value::List(items) => items.iter().all(Value::is_static),
            Value::Record(fields) => fields.iter().all(|(_, v)| v.is_static()),
            _ => true,
        }
    }

    /// Every output reference inside the value.
    pub fn output_refs(&self, out: &mut Vec<OutputRef>) {
        match self {
            Value::Output(o) => out.push(o.clone()),
            Value::List(items) => items.iter().for_each(|v| v.output_refs(out)),
            Value::Record(fields) => fields.iter().for_each(|(_, v)| v.output_refs(out)),
            _ => {}
        }
    }

    /// The value as the canonical JSON that static keys hash: object keys
    /// sorted, no whitespace, floats in their shortest round-trip form,
    /// quantities in SI with their dimension, functions by body hash.
    pub fn canonical_json(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    fn write_canonical(&self, out: &mut String) {
        match self {
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&json_float(*f)),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Str(s) => out.push_str(&json_string(s)),
            Value::Quantity { si, dim, .. } => {
                out.push_str("{\"dim\":");
                out.push_str(&json_string(&dim.si_units()));
                out.push_str(",\"si\":");
                out.push_str(&json_float(*si));
                out.push('}');
            }
            Value::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_canonical(out);
                }
                out.push(']');
            }
            Value::Record(fields) => {
                let mut sorted: Vec<&(String, Value)> = fields.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_string(k));
                    out.push(':');
                    v.write_canonical(out);
                }
                out.push('}');
            }
            Value::Enum(_, v) => {
                out.push_str("{\"variant\":");
                out.push_str(&json_string(v));
                out.push('}');
            }
            Value::Fn(f) => {
                out.push_str("{\"fn\":");
                out.push_str(&json_string(&f.hash));
                out.push('}');
            }
            Value::Output(o) => {
                out.push_str("{\"ref\":");
                out.push_str(&json_string(&o.text()));
                out.push('}');
            }
            Value::Node(n) => {
                out.push_str("{\"node\":");
                out.push_str(&json_string(n));
                out.push('}');
            }
            Value::Error => out.push_str("null"),
        }
    }
}

/// A float as JSON: shortest round-trip digits, always with a `.` or an
/// exponent so it never reads back as an integer.
pub fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return json_string(&format_f64(f));
    }
    let s = format!("{f:?}");
    if s.contains(['.', 'e', 'E']) { s } else { format!("{s}.0") }
}

/// A string as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as a person writes it: `3`, not `3.0`, for whole values.
pub fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format_f64(v) }
}

impl fmt::Display for Value {
    /// The value as a person reads it: `24 bohr`, `[1, 2]`, `psi_2pz`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{}", format_f64(*x)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "{}", json_string(s)),
            Value::Quantity { si, dim, written } => match written {
                Some((v, unit)) => write!(f, "{} {unit}", number_text(*v)),
                None if dim.is_none() => write!(f, "{}", format_f64(*si)),
                None => write!(f, "{} [{}]", format_f64(*si), dim.si_units()),
            },
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Record(fields) => {
                f.write_str("{ ")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_str(" }")
            }
            Value::Enum(_, v) => f.write_str(v),
            Value::Fn(r) => f.write_str(&r.name),
            Value::Output(o) => f.write_str(&o.text()),
            Value::Node(n) => f.write_str(n),
            Value::Error => f.write_str("<error>"),
        }
    }
}
