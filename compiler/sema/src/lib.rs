//! Names, types, units and checks of the phx language: everything between
//! the syntax tree and the DAG. The crate does no I/O and knows nothing of
//! the database: each check takes one item and an [`Env`] that answers
//! questions about the rest of the program.

pub mod check;
pub mod enums;
pub mod env;
pub mod eval;
pub mod fnir;
pub mod report;
pub mod schema;
pub mod types;
pub mod value;

pub use check::{CheckOptions, CheckedNode, Instance, InstanceSet, NodeProps, SweepSpace};
pub use env::{EmptyEnv, Env, Global, NodeSig};
pub use report::{ReportBlock, ReportSpec};
pub use schema::ToolSchema;
pub use types::Ty;
pub use value::Value;
