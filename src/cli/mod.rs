//! The commands. Each module is one command; `common` loads files and
//! prints diagnostics.

mod artifact;
mod bundle;
mod check;
mod cluster;
mod common;
mod explain_code;
mod fmt;
mod generate;
mod graph;
mod interchange;
mod json_stream;
mod notebook;
mod progress;
mod report;
mod results;
mod run;
mod schema;
mod setup;
mod share;
mod store;
mod watchdog;
mod worker;

use clap::{Parser, Subcommand};

/// Exit codes of the CLI spec.
pub mod exit {
    pub const OK: u8 = 0;
    /// The input was checked and is wrong, or a run failed.
    pub const INVALID: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const ENVIRONMENT: u8 = 3;
}

#[derive(Parser)]
#[command(
    name = "phx",
    version,
    about = "Declarative pipelines for computational physics: check, format, graph and run `.phx` experiments."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check files; print diagnostics.
    Check(check::Args),
    /// Format files in place (`--check`: exit 1 when a file would change).
    Fmt(fmt::Args),
    /// Print the DAG after sweep expansion (dot, mermaid, json, svg, png).
    Graph(graph::Args),
    /// The tool schemas and a language summary, for people and LLMs.
    Schema(schema::Args),
    /// Run an experiment (cached nodes are not run again).
    Run(run::Args),
    /// Why a node would run again: each component of its cache key.
    Explain(run::ExplainArgs),
    /// The page of a diagnostic code: a failing example, the fix and why.
    ExplainCode(explain_code::Args),
    /// Past runs, newest first.
    Runs(run::RunsArgs),
    /// One run's nodes, devices, durations and artifacts.
    Show(run::ShowArgs),
    /// The PDF report of a run (written by `phx run` too when the file has a `report`).
    Report(report::Args),
    /// A run's outputs by name in a folder (default: the latest run, into `results/`).
    Results(results::Args),
    /// Artifact history, one artifact, its lineage, hash verification.
    #[command(subcommand)]
    Artifact(artifact::ArtifactCommand),
    /// A run as one signed file, and back.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// The signed, hash-chained lab notebook.
    #[command(subcommand)]
    Notebook(notebook::NotebookCommand),
    /// Write a program from a description, with a model behind an OpenAI-compatible endpoint.
    Gen(generate::Args),
    /// The language server, on stdin and stdout (for editors).
    Lsp,
    /// The MCP server on stdin and stdout (for LLM clients).
    Mcp {
        /// The experiment folder it works in (or a folder inside it): the
        /// same store as `phx runs --dir`.
        #[command(flatten)]
        dir: common::DirArg,
        /// Let clients run programs that run commands (command-backed
        /// tools, `shell.run`): anything you could type in a shell.
        #[arg(long)]
        allow_commands: bool,
        /// Let clients send work to the clusters of phx.toml (`job_submit`,
        /// cluster backends): commands run there as you.
        #[arg(long)]
        allow_cluster: bool,
        /// Let clients read files in this folder besides the experiment
        /// folder (repeatable).
        #[arg(long, value_name = "DIR")]
        allow_path: Vec<std::path::PathBuf>,
        /// The constraint the client's model takes when phx asks it to
        /// write a program (sent as the sampling request's `metadata`);
        /// default: what the client announces, else none.
        #[arg(long, value_enum)]
        sampling_constrain: Option<phx_app::authoring::Constrain>,
    },
    /// A new experiment folder with `phx.toml` and an example.
    Init(setup::InitArgs),
    /// What this machine offers: devices, backends, store health.
    Doctor(setup::DoctorArgs),
    /// Check or clean the object store.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Turn the JSON form of a DAG into `.phx` text.
    Import(interchange::ImportArgs),
    /// Turn a `.phx` file into the JSON form of its DAG.
    Export(interchange::ExportArgs),
    /// Expiring, signed links to a run, a session or a bundle.
    #[command(subcommand)]
    Share(share::ShareCommand),
    /// The web viewer that share links open (binds 127.0.0.1 by default).
    Serve(share::ServeArgs),
    /// Remove what runs left on a cluster (`--k8s`: phx's Jobs and pods).
    Clean(cluster::CleanArgs),
    /// Run one node from a node spec file (what a cluster job runs).
    #[command(hide = true)]
    Worker(worker::Args),
    /// Ends what a run's commands started if the run's phx is killed (a run starts it).
    #[command(hide = true)]
    Watchdog(watchdog::Args),
}

/// Parses the command line and runs the command; returns the exit code.
pub fn main() -> u8 {
    phx_app::processes::enable_watchdog();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Check(a) => check::run(a),
        Command::Fmt(a) => fmt::run(a),
        Command::Graph(a) => graph::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Run(a) => run::run(a),
        Command::Explain(a) => run::explain(a),
        Command::ExplainCode(a) => explain_code::run(a),
        Command::Runs(a) => run::runs(a),
        Command::Show(a) => run::show(a),
        Command::Report(a) => report::run(a),
        Command::Results(a) => results::run(a),
        Command::Store(c) => store::run(c),
        Command::Init(a) => setup::init(a),
        Command::Doctor(a) => setup::doctor(a),
        Command::Artifact(c) => artifact::run(c),
        Command::Notebook(c) => notebook::run(c),
        Command::Bundle(c) => bundle::run(c),
        Command::Gen(a) => generate::run(a),
        Command::Worker(a) => worker::run(a),
        Command::Watchdog(a) => watchdog::run(a),
        Command::Share(c) => share::run(c),
        Command::Clean(a) => cluster::clean(a),
        Command::Serve(a) => share::serve(a),
        Command::Mcp { dir, allow_commands, allow_cluster, allow_path, sampling_constrain } => phx_mcp::serve_stdio(
            dir.dir,
            phx_app::trust::Grants { commands: allow_commands, cluster: allow_cluster, paths: allow_path },
            sampling_constrain,
        ),
        Command::Lsp => match phx_lsp::run_stdio() {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: the language server stopped: {e}");
                exit::ENVIRONMENT
            }
        },
        Command::Import(a) => interchange::import(a),
        Command::Export(a) => interchange::export(a),
    }
}
