//! `phx serve`: a web viewer of runs (the DAG with live node states,
//! provenance, artifacts, reports, notebook entries, comments) reached only
//! through share links: signed, unguessable, expiring, revocable tokens
//! that grant read or write access to one run, one session (every run of a
//! program) or one bundle.

pub mod links;
pub mod pages;
pub mod server;
pub mod token;

pub use server::{App, router, serve};
