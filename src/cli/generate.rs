//! `phx gen "description"`: a program written by a model behind an
//! OpenAI-compatible endpoint (the same loop as the MCP server's sampling
//! path, `phx_app::authoring::write_program`): the tools the request needs
//! and an example of them in a short prompt, the answer held to a GBNF
//! grammar (llama.cpp) or a JSON Schema (other servers) of the language,
//! the compiler's own fixes, then up to three repairs by the model with the
//! errors left.
//!
//! The endpoint comes from the environment (`PHX_LLM_BASE_URL`, else
//! `OPENAI_BASE_URL`; `PHX_LLM_API_KEY`, else `OPENAI_API_KEY`;
//! `PHX_LLM_MODEL`, `PHX_LLM_CONSTRAIN`, `PHX_LLM_MAX_TOKENS`,
//! `PHX_LLM_TIMEOUT`) or from an `[llm]` table in `phx.toml` (`base_url`,
//! `model`, `api_key_env` naming the variable that holds the key,
//! `constrain`, `max_tokens`, `timeout_s`).

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use phx_app::authoring::{self, Constrain, Endpoint, GenEvent, GenOptions};

use super::common::{self, TextOrJson};
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
    /// How the answer is held to the language (default: what the endpoint
    /// supports; `[llm] constrain` in phx.toml).
    #[arg(long, value_enum)]
    constrain: Option<Constrain>,
    /// Do not apply the compiler's own fixes (the model gets every error).
    #[arg(long)]
    no_fix: bool,
    /// `json`: the program with every attempt, its errors and fixes.
    #[arg(long, value_enum, default_value_t)]
    format: TextOrJson,
}

/// `phx gen`.
pub fn run(a: Args) -> u8 {
    let here = std::env::current_dir().unwrap_or_default();
    let mut endpoint = match Endpoint::configured(&phx_app::experiment::discover(&here)) {
        Ok(e) => e,
        Err(e) => return common::fail(&e),
    };
    // The answer's progress on one line of a terminal while it streams;
    // one line per answer in a log.
    let terminal = std::io::stderr().is_terminal();
    endpoint.on_progress = Some(Arc::new(move |p: &authoring::Progress| {
        let mut err = std::io::stderr().lock();
        let secs = p.elapsed.as_secs_f64();
        if p.done {
            let clear = if terminal { "\r\x1b[K" } else { "" };
            let _ = writeln!(err, "{clear}phx gen: answered: {} tokens in {secs:.1} s", p.tokens);
        } else if terminal && p.tokens % 4 == 1 {
            let _ = write!(err, "\r\x1b[Kphx gen: {} tokens, {secs:.1} s", p.tokens);
        }
        let _ = err.flush();
    }));
    let options = GenOptions {
        max_repairs: a.repairs,
        constrain: a.constrain.or(endpoint.constrain),
        compiler_fixes: !a.no_fix,
        max_tokens: endpoint.max_tokens,
    };
    // Checked as a file of the current folder, so its imports resolve there.
    let path = here.join("generated.phx");
    let on_event = |e: &GenEvent<'_>| match e {
        GenEvent::Plan { constrain, tools } => {
            let how = match constrain {
                Constrain::Gbnf => "held to a GBNF grammar",
                Constrain::JsonSchema => "held to a JSON Schema",
                Constrain::None => "unconstrained",
            };
            eprintln!("phx gen: {how}; tools: {}", tools.join(", "));
        }
        GenEvent::Fixed { attempt, fixes } => {
            eprintln!("phx gen: attempt {attempt}: the compiler fixed {}", fixes.join("; "));
        }
        GenEvent::Attempt { attempt, errors } => eprintln!(
            "phx gen: attempt {attempt}: {}",
            if *errors == 0 { "the program checks".to_string() } else { format!("{errors} error(s)") }
        ),
    };
    let authored = match authoring::write_program(&mut endpoint, &a.description, &path, &options, &on_event) {
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
        None if a.format == TextOrJson::Text => common::out(&authored.program),
        None => {}
    }
    if a.format == TextOrJson::Json {
        common::print_value(&authored);
    }
    if authored.errors.is_empty() {
        return exit::OK;
    }
    for e in &authored.errors {
        eprintln!("error: {e}");
    }
    eprintln!(
        "error[phx::model-answer]: the model's program still has {} error(s) after {} repair(s)\n  help: try again (another answer may do better), allow more repairs (--repairs), hold the model to the language (--constrain gbnf for llama.cpp, json_schema for other servers), or use a larger model",
        authored.errors.len(),
        authored.repairs
    );
    exit::INVALID
}
