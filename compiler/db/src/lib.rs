//! The incremental compiler: a salsa database whose inputs are file texts
//! and whose queries parse, resolve, check and lower, item by item.
//!
//! Identity is by name: an item is an interned `(file, kind, name, ordinal)`,
//! and its syntax tree has spans relative to its chunk, so moving an item
//! (an edit above it) leaves it equal and nothing downstream re-runs.
//! Diagnostics get absolute spans only in the last, cheap step.

mod database;
mod env;
pub use env::DbEnv;
mod queries;
pub mod schema_doc;

pub use database::{Database, FileLoader, FsLoader, MapLoader};
pub use queries::{
    CheckedFile, FileDag, IndexEntry, ItemId, SourceFile, Workspace, check_node_query, chunks, dag_of,
    file_diagnostics, import_paths, item_index, parse_chunk, stdlib, stdlib_diagnostics,
};
