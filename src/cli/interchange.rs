//! `phx import DAG.json` and `phx export --json FILE`.

use super::common;
use super::exit;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The JSON form of a program (`-` for stdin).
    file: String,
    /// Write the `.phx` text here instead of stdout.
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Print the JSON form (the only form there is; kept for the spec's
    /// spelling `phx export --json FILE`).
    #[arg(long)]
    json: bool,
    /// The `.phx` file.
    file: String,
    /// Write the JSON here instead of stdout.
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
}

pub fn import(a: ImportArgs) -> u8 {
    let text = if a.file == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            eprintln!("error: cannot read stdin: {e}");
            return exit::USAGE;
        }
        s
    } else {
        match std::fs::read_to_string(&a.file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", a.file);
                return exit::USAGE;
            }
        }
    };
    match phx_interchange::import(&text) {
        Ok(program) => match common::write_output(a.output.as_deref(), program.as_bytes()) {
            Ok(()) => exit::OK,
            Err(code) => code,
        },
        Err(e) => {
            eprintln!("error[phx::syntax]: {e}\n  help: see the JSON form in the language spec, section 8");
            exit::INVALID
        }
    }
}

pub fn export(a: ExportArgs) -> u8 {
    let _ = a.json;
    let text = match std::fs::read(&a.file) {
        Ok(b) => phx_syntax::decode(&b).0,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", a.file);
            return exit::USAGE;
        }
    };
    match phx_interchange::export(&text) {
        Ok(json) => {
            let mut s = serde_json::to_string_pretty(&json).unwrap_or_default();
            s.push('\n');
            match common::write_output(a.output.as_deref(), s.as_bytes()) {
                Ok(()) => exit::OK,
                Err(code) => code,
            }
        }
        Err(errors) => {
            let diags: Vec<phx_diagnostics::Diagnostic> = errors.into_iter().map(Into::into).collect();
            common::print_diagnostics(&diags, &a.file, &text);
            exit::INVALID
        }
    }
}
