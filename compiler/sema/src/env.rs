//! What the checker needs to know about the rest of the program. The salsa
//! database implements it with memoised queries, so each lookup becomes a
//! tracked dependency and an edit re-checks only what it touches.

use std::sync::Arc;

use crate::fnir::FnIr;
use crate::schema::ToolSchema;
use crate::types::Ty;
use crate::value::{FnRef, Value};

/// A node as other items see it: its tool's outputs and its sweep size.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeSig {
    pub name: String,
    pub tool: String,
    /// The number of instances when the node is a sweep.
    pub sweep: Option<usize>,
    pub outputs: Vec<(String, Ty)>,
    /// The node's declared `emit` list.
    pub emits: Vec<String>,
}

/// What a top-level name stands for.
#[derive(Clone, Debug, PartialEq)]
pub enum Global {
    /// A `param` or `let`, evaluated (`Value::Error` if that failed).
    Value(Value),
    Fn(FnRef),
    Node(Arc<NodeSig>),
    /// An `import ... as NAME`.
    Module,
}

/// The program around the expression being checked.
pub trait Env {
    /// A top-level name of this file.
    fn global(&self, name: &str) -> Option<Global>;
    /// `module.name` for an imported file.
    fn member(&self, module: &str, name: &str) -> Option<Global>;
    /// Every top-level name, for did-you-mean.
    fn names(&self) -> Vec<String>;
    /// The names an imported module offers.
    fn module_names(&self, module: &str) -> Vec<String>;
    /// The lowered IR of a `fn` (`f` or `module.f`).
    fn fn_ir(&self, name: &str) -> Option<Arc<FnIr>>;
    /// A tool's schema by dotted name (stdlib, this file, or `module.ns.tool`).
    fn tool(&self, path: &str) -> Option<Arc<ToolSchema>>;
    /// Every tool name, for did-you-mean.
    fn tool_names(&self) -> Vec<String>;
}

/// An environment with nothing in it: for stdlib defaults and conditions.
pub struct EmptyEnv;

impl Env for EmptyEnv {
    fn global(&self, _: &str) -> Option<Global> {
        None
    }
    fn member(&self, _: &str, _: &str) -> Option<Global> {
        None
    }
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
    fn module_names(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn fn_ir(&self, _: &str) -> Option<Arc<FnIr>> {
        None
    }
    fn tool(&self, _: &str) -> Option<Arc<ToolSchema>> {
        None
    }
    fn tool_names(&self) -> Vec<String> {
        Vec::new()
    }
}
