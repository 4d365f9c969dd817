//! The incremental compiler: a salsa database whose inputs are files cut
//! into parsed chunks (the driver in `database` scans and parses only what
//! an edit touched), and whose queries resolve, check and lower, item by
//! item.
//!
//! Identity is by name: an item is an interned `(file, kind, name, ordinal)`,
//! and its syntax tree has spans relative to its chunk, so moving an item
//! (an edit above it) leaves it equal and nothing downstream re-runs.
//! Diagnostics get absolute spans only in the last, cheap step, outside
//! salsa. Durability keeps typing flat: see `ARCHITECTURE.md`.

mod database;
mod env;
pub use env::DbEnv;
pub mod dag_schema;
pub mod fixes;
pub mod gbnf;
pub mod prompt;
mod queries;
pub mod schema_doc;

pub use database::{Database, FileLoader, FsLoader, MapLoader};
pub use queries::{
    CheckedFile, ChunkInput, ChunkParse, FileDag, IndexEntry, ItemId, ItemKey, Layout, LayoutEntry, SourceFile,
    Workspace, check_node_query, dag_of, file_diagnostics, import_paths, layout, scope, stdlib, stdlib_diagnostics,
};
