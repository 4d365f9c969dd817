//! `phx lsp`: the language server, on the compiler's incremental database.
//!
//! `server` speaks the protocol (only it knows LSP's shapes); `ide` answers
//! questions about a file in byte offsets; `walk` lists every name of a file
//! with what it is; `line_index` maps offsets to positions in UTF-16 or
//! UTF-8.

pub mod ide;
pub mod line_index;
pub mod server;
pub mod walk;

/// Runs the server on stdin and stdout until the client says `exit`.
pub fn run_stdio() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (connection, io_threads) = lsp_server::Connection::stdio();
    server::serve(&connection)?;
    drop(connection);
    io_threads.join()?;
    Ok(())
}
