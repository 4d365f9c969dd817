//! `phx serve`: a web viewer of runs (the DAG with live node states,
//! provenance, artifacts, reports, notebook entries, comments) reached only
//! through share links: signed, unguessable, expiring, revocable tokens
//! that grant read or write access to one run, one session (every run of a
//! program) or one bundle. A front end: the links themselves (`token`,
//! `links`) and every read and write go through `phx_app`.

pub mod conn;
pub mod files;
pub mod pages;
pub mod server;

pub use server::{App, Limits, router, serve, serve_with};
