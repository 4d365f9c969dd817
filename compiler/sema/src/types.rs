//! The types of the language (spec section 3).

use phx_diagnostics::{Code, Diagnostic, did_you_mean};
use phx_syntax::ast::{TypeExpr, TypeExprKind};
use phx_units::Dim;

/// The enumerations that properties use; a bare identifier is read as the
/// variant that the expected enumeration asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnumKind {
    Emit,
    Device,
    Policy,
    Backend,
}

impl EnumKind {
    /// The variants, in the spec's order.
    pub fn variants(self) -> &'static [&'static str] {
        match self {
            EnumKind::Emit => &["static", "series", "animation"],
            EnumKind::Device => &["gpu", "cpu"],
            EnumKind::Policy => &["local_first", "remote_first", "auto"],
            EnumKind::Backend => &["local", "slurm", "k8s"],
        }
    }

    /// The type's name as written.
    pub fn name(self) -> &'static str {
        match self {
            EnumKind::Emit => "Emit",
            EnumKind::Device => "Device",
            EnumKind::Policy => "Policy",
            EnumKind::Backend => "Backend",
        }
    }
}

/// A type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Int,
    Float,
    Bool,
    String,
    Path,
    /// A quantity of one dimension, or of any (`None`, written `Quantity`).
    Quantity(Option<Dim>),
    List(Box<Ty>),
    Record,
    Field1D,
    Field2D,
    Field3D,
    /// A field whose dimension is known only at run time.
    Field,
    Series,
    Image,
    Animation,
    File,
    Fn,
    Enum(EnumKind),
    Union(Vec<Ty>),
    /// Unknown, after an error: fits everything, so errors do not cascade.
    Any,
}

impl Ty {
    /// Whether values of this type exist only at run time (tool outputs).
    pub fn is_data(&self) -> bool {
        matches!(
            self,
            Ty::Field1D | Ty::Field2D | Ty::Field3D | Ty::Field | Ty::Series | Ty::Image | Ty::Animation | Ty::File
        )
    }

    /// The element type of a list (or `Any`).
    pub fn element(&self) -> Ty {
        match self {
            Ty::List(t) => (**t).clone(),
            _ => Ty::Any,
        }
    }

    /// The enumeration this type (or its element type) asks for.
    pub fn enum_kind(&self) -> Option<EnumKind> {
        match self {
            Ty::Enum(k) => Some(*k),
            Ty::List(t) => t.enum_kind(),
            _ => None,
        }
    }
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Int => f.write_str("Int"),
            Ty::Float => f.write_str("Float"),
            Ty::Bool => f.write_str("Bool"),
            Ty::String => f.write_str("String"),
            Ty::Path => f.write_str("Path"),
            Ty::Quantity(None) => f.write_str("Quantity"),
            Ty::Quantity(Some(d)) => match d.kind_name() {
                Some(n) => f.write_str(n),
                None => write!(f, "Quantity[{}]", d.si_units()),
            },
            Ty::List(t) => write!(f, "List[{t}]"),
            Ty::Record => f.write_str("Record"),
            Ty::Field1D => f.write_str("Field1D"),
            Ty::Field2D => f.write_str("Field2D"),
            Ty::Field3D => f.write_str("Field3D"),
            Ty::Field => f.write_str("Field"),
            Ty::Series => f.write_str("Series"),
            Ty::Image => f.write_str("Image"),
            Ty::Animation => f.write_str("Animation"),
            Ty::File => f.write_str("File"),
            Ty::Fn => f.write_str("Fn"),
            Ty::Enum(k) => f.write_str(k.name()),
            Ty::Union(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            Ty::Any => f.write_str("_"),
        }
    }
}

const SIMPLE: &[(&str, Ty)] = &[
    ("Int", Ty::Int),
    ("Float", Ty::Float),
    ("Bool", Ty::Bool),
    ("String", Ty::String),
    ("Path", Ty::Path),
    ("Record", Ty::Record),
    ("Field1D", Ty::Field1D),
    ("Field2D", Ty::Field2D),
    ("Field3D", Ty::Field3D),
    ("Field", Ty::Field),
    ("Series", Ty::Series),
    ("Image", Ty::Image),
    ("Animation", Ty::Animation),
    ("File", Ty::File),
    ("Fn", Ty::Fn),
    ("Quantity", Ty::Quantity(None)),
    ("Emit", Ty::Enum(EnumKind::Emit)),
    ("Device", Ty::Enum(EnumKind::Device)),
    ("Policy", Ty::Enum(EnumKind::Policy)),
    ("Backend", Ty::Enum(EnumKind::Backend)),
];

/// Every type name a program may write.
pub fn type_names() -> impl Iterator<Item = &'static str> {
    SIMPLE.iter().map(|(n, _)| *n).chain(phx_units::KINDS.iter().map(|(n, _)| *n)).chain(["List"])
}

/// Resolves a written type; unknown names and units become diagnostics.
pub fn resolve_type(te: &TypeExpr, diags: &mut Vec<Diagnostic>) -> Ty {
    match &te.kind {
        TypeExprKind::Union(parts) => Ty::Union(parts.iter().map(|p| resolve_type(p, diags)).collect()),
        TypeExprKind::Quantity(unit) => match phx_units::resolve(&unit.factors) {
            Ok(r) => Ty::Quantity(Some(r.dim)),
            Err(e) => {
                diags.push(unknown_unit(&e, unit.span));
                Ty::Any
            }
        },
        TypeExprKind::Named { name, args } => {
            let n = name.name.as_str();
            if n == "List" {
                return match args.as_slice() {
                    [one] => Ty::List(Box::new(resolve_type(one, diags))),
                    _ => {
                        diags.push(
                            Diagnostic::new(Code::TypeMismatch, te.span, "`List` takes one element type")
                                .with_help("write `List[Float]`"),
                        );
                        Ty::Any
                    }
                };
            }
            if !args.is_empty() {
                diags.push(Diagnostic::new(Code::TypeMismatch, te.span, format!("`{n}` takes no type arguments")));
            }
            if let Some((_, t)) = SIMPLE.iter().find(|(s, _)| *s == n) {
                return t.clone();
            }
            if let Some(d) = phx_units::kind_dim(n) {
                return Ty::Quantity(Some(d));
            }
            diags.push(
                Diagnostic::new(Code::UnknownName, name.span, format!("unknown type `{n}`"))
                    .with_help_opt(did_you_mean(n, type_names())),
            );
            Ty::Any
        }
    }
}

/// The diagnostic for a unit that the unit table does not know.
pub fn unknown_unit(e: &phx_units::UnknownUnit, span: phx_syntax::Span) -> Diagnostic {
    if let Some(p) = e.power_out_of_range {
        return Diagnostic::new(
            Code::Constraint,
            span,
            format!("`{}^{p}` takes a dimension's exponent past ±{}", e.name, phx_units::Dim::MAX_EXPONENT),
        )
        .with_help("a unit's powers stay within ±127 in every base dimension".to_string());
    }
    let help = match &e.suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => "`phx schema --format md` lists the known units".to_string(),
    };
    Diagnostic::new(Code::UnknownName, span, format!("unknown unit `{}`", e.name)).with_help(help)
}
