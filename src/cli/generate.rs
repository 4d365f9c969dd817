//! `phx gen "description"`: a program written by a model behind an
//! OpenAI-compatible endpoint, checked by the compiler and sent back with
//! its diagnostics for up to three repairs (the same loop as the MCP
//! server's sampling path).
//!
//! The endpoint comes from the environment (`PHX_LLM_BASE_URL`, else
//! `OPENAI_BASE_URL`; `PHX_LLM_API_KEY`, else `OPENAI_API_KEY`;
//! `PHX_LLM_MODEL`) or from an `[llm]` table in `phx.toml` (`base_url`,
//! `model`, `api_key_env` naming the variable that holds the key).

use phx_app::authoring::{self, Endpoint};

use super::common;
use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// What the experiment should do, in words.
    description: String,
    /// Write the program here (default: print it).
    #[arg(short, long)]
    output: Option<String>,
    /// How many times the model may repair its program.
    #[arg(long, default_value_t = 3)]
    repairs: usize,
}

/// `phx gen`.
pub fn run(a: Args) -> u8 {
    let here = std::env::current_dir().unwrap_or_default();
    let mut endpoint = match Endpoint::configured(&phx_app::experiment::discover(&here)) {
        Ok(e) => e,
        Err(e) => return common::fail(&e),
    };
    // Checked as a file of the current folder, so its imports resolve there.
    let path = here.join("generated.phx");
    let on_attempt = |n: usize, errors: usize| {
        eprintln!(
            "phx gen: attempt {n}: {}",
            if errors == 0 { "the program checks".to_string() } else { format!("{errors} error(s)") }
        );
    };
    let authored = match authoring::write_program(&mut endpoint, &a.description, &path, a.repairs, &on_attempt) {
        Ok(x) => x,
        Err(e) => return common::fail(&e),
    };
    match &a.output {
        Some(path) => {
            if let Err(e) = common::write_atomic(path, authored.program.as_bytes()) {
                eprintln!("error: cannot write `{path}`: {e}");
                return exit::ENVIRONMENT;
            }
            eprintln!("phx gen: wrote {path}");
        }
        None => common::out(&authored.program),
    }
    for e in &authored.errors {
        eprintln!("error: {e}");
    }
    if authored.errors.is_empty() { exit::OK } else { exit::INVALID }
}
