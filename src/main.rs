//! `phx`: the command-line interface of the phx compiler and runtime.

mod authoring;
mod cli;
mod mcp;

/// The compiler allocates many small values; mimalloc is much faster at
/// that than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A file-size limit (ulimit -f) must surface as a write error with a
    // message, not kill phx halfway through a write.
    // SAFETY: setting a signal's disposition to "ignore" at start-up.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // Deeply nested programs recurse deeply in the parser and evaluator;
    // a large stack keeps them from overflowing (the parser also refuses
    // nesting past a fixed depth).
    let handle = std::thread::Builder::new().stack_size(256 * 1024 * 1024).name("phx".into()).spawn(cli::main);
    match handle.map(|h| h.join()) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(_)) => {
            eprintln!("phx: internal error (a bug): please report it with the input that caused it");
            ExitCode::from(101)
        }
        Err(e) => {
            eprintln!("phx: cannot start: {e}");
            ExitCode::from(3)
        }
    }
}
