//! `phx graph FILE [--format dot|mermaid|json|svg|png] [-o FILE]`

use super::common::{self, CompileOpts};
use super::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GraphFormat {
    #[default]
    Dot,
    Mermaid,
    Json,
    Svg,
    Png,
}

#[derive(clap::Args)]
pub struct Args {
    /// The file whose DAG to draw.
    file: String,
    #[arg(long, value_enum, default_value_t)]
    format: GraphFormat,
    /// Write here instead of stdout.
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    #[command(flatten)]
    opts: CompileOpts,
}

pub fn run(a: Args) -> u8 {
    let loaded = match common::load(&a.file, &a.opts) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let checked = loaded.db.check(loaded.file);
    let text = loaded.file.text(&loaded.db);
    let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    if !errors.is_empty() {
        // Draw what there is, but say the program is wrong.
        common::print_diagnostics(&errors, &loaded.path, text);
    }
    let dag = &checked.dag;
    let bytes: Vec<u8> = match a.format {
        GraphFormat::Dot => phx_dag::to_dot(dag).into_bytes(),
        GraphFormat::Mermaid => phx_dag::to_mermaid(dag).into_bytes(),
        GraphFormat::Json => {
            let mut s = serde_json::to_string_pretty(&phx_dag::dag_to_json(dag)).unwrap_or_default();
            s.push('\n');
            s.into_bytes()
        }
        GraphFormat::Svg => phx_graph_draw::to_svg(dag).into_bytes(),
        GraphFormat::Png => {
            if a.output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                eprintln!("error: PNG is binary; write it to a file with `-o graph.png`");
                return exit::USAGE;
            }
            match phx_graph_draw::to_png(dag) {
                Ok(bytes) => bytes,
                Err(e) => {
                    eprintln!("error: {e}\n  help: use `--format svg`, or check a smaller part of the program");
                    return exit::INVALID;
                }
            }
        }
    };
    if let Err(code) = common::write_output(a.output.as_deref(), &bytes) {
        return code;
    }
    common::release_at_exit(checked);
    common::release_at_exit(loaded);
    if errors.is_empty() { exit::OK } else { exit::INVALID }
}
