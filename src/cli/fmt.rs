//! `phx fmt FILE... [--check]`

use super::common;
use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The files to format in place.
    #[arg(required = true)]
    files: Vec<String>,
    /// Change nothing; exit 1 when a file would change.
    #[arg(long)]
    check: bool,
}

pub fn run(a: Args) -> u8 {
    let mut code = exit::OK;
    for path in &a.files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: cannot read `{path}`: {e}");
                return exit::USAGE;
            }
        };
        let (text, bad_utf8) = phx_syntax::decode(&bytes);
        if let Some(err) = bad_utf8 {
            let d = phx_diagnostics::Diagnostic::from(err);
            common::print_diagnostics(&[d], path, &text);
            code = exit::INVALID;
            continue;
        }
        match phx_fmt::format_source(&text) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                if a.check {
                    common::out(&format!("{path}: would be reformatted\n"));
                    code = exit::INVALID;
                } else if let Err(e) = common::write_atomic(path, formatted.as_bytes()) {
                    eprintln!("error: cannot write `{path}`: {e}");
                    return exit::ENVIRONMENT;
                } else {
                    common::out(&format!("{path}: formatted\n"));
                }
            }
            Err(errors) => {
                let diags: Vec<phx_diagnostics::Diagnostic> = errors.into_iter().map(Into::into).collect();
                common::print_diagnostics(&diags, path, &text);
                eprintln!("{path}: not formatted: it has syntax errors");
                code = exit::INVALID;
            }
        }
    }
    code
}
