//! `phx results [RUN] [-o DIR]`: a run's outputs by name, in a folder
//! (`phx run` fills the experiment's `results/` itself).

use std::path::Path;

use super::common::{self, DirArg, FormatArg, TextOrJson};

#[derive(clap::Args)]
pub struct Args {
    /// The run (`phx runs` lists them; default: the latest).
    run: Option<String>,
    /// The folder to place them in (default: the experiment's `results/`).
    #[arg(short, long)]
    output: Option<String>,
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    format: FormatArg,
}

/// `phx results [RUN] [-o DIR]`.
pub fn run(a: Args) -> u8 {
    let exp = match a.dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    let listing = match phx_app::results::results(&exp, a.run.as_deref(), a.output.as_deref().map(Path::new)) {
        Ok(l) => l,
        Err(e) => return common::fail(&e),
    };
    if a.format.format == TextOrJson::Json {
        common::print_value(&listing);
        return super::exit::OK;
    }
    let mut text = format!("run {}: {} files in {}\n", listing.run_id, listing.files.len(), listing.dir);
    for f in &listing.files {
        text.push_str(&format!("  {}\n", f.path));
    }
    for m in &listing.missing {
        text.push_str(&format!("  {} {}: no results\n", m.vertex, m.status));
    }
    common::out(&text);
    super::exit::OK
}
