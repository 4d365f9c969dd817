//! `phx explain-code CODE`: the page of a diagnostic code, as the book's
//! Diagnostics chapter has it (like `rustc --explain`).

use phx_diagnostics::explain;

use super::common;
use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The code: `phx::unit-mismatch` or `unit-mismatch`.
    #[arg(required_unless_present = "list")]
    code: Option<String>,
    /// List every code instead.
    #[arg(long)]
    list: bool,
}

pub fn run(a: Args) -> u8 {
    if a.list {
        let codes: Vec<&str> = explain::PAGES.iter().map(|p| p.code).collect();
        common::out(&format!("{}\n", codes.join("\n")));
        return exit::OK;
    }
    let code = a.code.unwrap_or_default();
    match explain::page(&code) {
        Some(page) => {
            common::out(&explain::terminal_text(page));
            exit::OK
        }
        None => {
            let near = explain::nearest(&code, 3).iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
            eprintln!(
                "error[phx::usage]: no diagnostic code `{code}`\n  help: the nearest codes are {near}; `phx explain-code --list` lists them all"
            );
            exit::USAGE
        }
    }
}
