//! `phx`: the command-line interface of the phx compiler and runtime.

mod cli;

/// The compiler allocates many small values; mimalloc is much faster at
/// that than the system allocator. It is built without transparent huge
/// pages (the `no_thp` feature): with them, every touched 2 MiB of its
/// arena counted whole, and a 10,000-job dry run peaked 40% higher.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_purge_delay` (its position in `mi_option_e`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Gives freed memory back to the system at once rather than after a
/// second: phx's peaks come from short-lived structures (the parse, the
/// sweep's expansion) that would otherwise stay counted in its peak memory.
fn tune_allocator() {
    // SAFETY: reading and setting an option has no preconditions. The
    // default is checked first, so another mimalloc whose options are
    // numbered differently is left as it is.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 1000 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

use std::process::ExitCode;

fn main() -> ExitCode {
    tune_allocator();
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
