//! `phx schema [TOOL | FILE | FOLDER] [--format md|json|llm|gbnf|json-schema] [--for WORDS] [--stats]`

use phx_app::authoring::{Constrain, Endpoint, Plan};
use phx_db::{dag_schema, gbnf, schema_doc};

use super::common;
use super::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SchemaFormat {
    #[default]
    Md,
    Json,
    Llm,
    /// The language as a GBNF grammar (llama.cpp's `grammar`).
    Gbnf,
    /// The JSON form of a program as a JSON Schema (`response_format`).
    JsonSchema,
}

#[derive(clap::Args)]
pub struct Args {
    /// One tool (e.g. `quantum.orbital`); or, for gbnf and json-schema, a
    /// program or a folder whose own tools join the standard library's.
    tool: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: SchemaFormat,
    /// What `phx gen` sends for this request: the prompt (llm), or the
    /// grammar or schema of the tools it needs (gbnf, json-schema).
    #[arg(long = "for", value_name = "WORDS")]
    request: Option<String>,
    /// With --format llm: the prompt's size on stderr, in the configured
    /// server's own tokens where it counts them (llama.cpp).
    #[arg(long)]
    stats: bool,
}

pub fn run(a: Args) -> u8 {
    let structured = matches!(a.format, SchemaFormat::Gbnf | SchemaFormat::JsonSchema);
    if let Some(words) = &a.request {
        let mode = match a.format {
            SchemaFormat::Gbnf => Constrain::Gbnf,
            SchemaFormat::JsonSchema => Constrain::JsonSchema,
            _ => Constrain::None,
        };
        let plan = Plan::new(words, mode);
        match a.format {
            SchemaFormat::Gbnf => common::out(plan.grammar.as_deref().unwrap_or_default()),
            SchemaFormat::JsonSchema => common::print_json(&plan.json_schema.unwrap_or_default()),
            _ => {
                common::out(&format!("{}\n", plan.system));
                if a.stats {
                    stats(&plan.system, words, &plan.tools);
                }
            }
        }
        return exit::OK;
    }
    let (only, tools) = match &a.tool {
        Some(name) if structured || name.ends_with(".phx") || std::path::Path::new(name).is_dir() => {
            match phx_app::authoring::tools_of(std::path::Path::new(name)) {
                Ok(t) => (None, Some(t)),
                Err(e) => return common::fail(&e),
            }
        }
        Some(name) => match phx_db::stdlib().get(name) {
            Some(t) => (Some(t.as_ref()), None),
            None => {
                let names: Vec<&str> = phx_db::stdlib().keys().map(String::as_str).collect();
                let help = phx_diagnostics::did_you_mean(name, names)
                    .unwrap_or_else(|| "`phx schema` lists every tool".into());
                eprintln!("error[phx::unknown-tool]: unknown tool `{name}`\n  help: {help}");
                return exit::INVALID;
            }
        },
        None => (None, None),
    };
    let tools = tools.unwrap_or_else(gbnf::stdlib_tools);
    match a.format {
        SchemaFormat::Json => common::print_json(&schema_doc::json_doc(only)),
        SchemaFormat::Md => common::out(&schema_doc::markdown(only)),
        SchemaFormat::Llm => match only {
            Some(t) => {
                common::out(&format!("{}\n", serde_json::to_string(&schema_doc::tool_json(t)).unwrap_or_default()))
            }
            None => {
                let text = schema_doc::llm();
                common::out(&text);
                if a.stats {
                    stats(&text, "", &[]);
                }
            }
        },
        SchemaFormat::Gbnf => common::out(&gbnf::full(&tools)),
        SchemaFormat::JsonSchema => common::print_json(&dag_schema::schema(&tools, gbnf::Profile::Full)),
    }
    exit::OK
}

/// The prompt's size on stderr: characters, and tokens as the configured
/// server counts them (else an estimate).
fn stats(system: &str, request: &str, tools: &[String]) {
    let here = std::env::current_dir().unwrap_or_default();
    let counted =
        Endpoint::configured(&phx_app::experiment::discover(&here)).ok().and_then(|e| e.prompt_tokens(system, request));
    let chars = system.chars().count() + request.chars().count();
    let tokens = match counted {
        Some(n) => format!("{n} tokens (the server's own count, chat template included)"),
        // About three characters a token for this kind of text.
        None => format!("about {} tokens (estimated: no server that counts tokens is configured)", chars / 3),
    };
    eprintln!("prompt: {chars} characters, {tokens}");
    if !tools.is_empty() {
        eprintln!("tools listed in full: {}", tools.join(", "));
    }
}
