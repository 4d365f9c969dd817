//! `phx schema [TOOL] [--format json|md|llm]`

use phx_db::schema_doc;

use super::common;
use super::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SchemaFormat {
    #[default]
    Md,
    Json,
    Llm,
}

#[derive(clap::Args)]
pub struct Args {
    /// One tool (e.g. `quantum.orbital`); all tools when left out.
    tool: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: SchemaFormat,
}

pub fn run(a: Args) -> u8 {
    let only = match &a.tool {
        Some(name) => match phx_db::stdlib().get(name) {
            Some(t) => Some(t.as_ref()),
            None => {
                let names: Vec<&str> = phx_db::stdlib().keys().map(String::as_str).collect();
                let help = phx_diagnostics::did_you_mean(name, names)
                    .unwrap_or_else(|| "`phx schema` lists every tool".into());
                eprintln!("error[phx::unknown-tool]: unknown tool `{name}`\n  help: {help}");
                return exit::INVALID;
            }
        },
        None => None,
    };
    match a.format {
        SchemaFormat::Json => common::print_json(&schema_doc::json_doc(only)),
        SchemaFormat::Md => common::out(&schema_doc::markdown(only)),
        SchemaFormat::Llm => match only {
            Some(t) => {
                common::out(&format!("{}\n", serde_json::to_string(&schema_doc::tool_json(t)).unwrap_or_default()))
            }
            None => common::out(&schema_doc::llm()),
        },
    }
    exit::OK
}
