//! `phx report RUN`: a run's report again (`phx run` writes it first when
//! the program has a `report` block).

use std::path::Path;

use super::common::{self, DirArg};

#[derive(clap::Args)]
pub struct Args {
    /// The run (`phx runs` lists them).
    run: String,
    /// Where to write the PDF (default: the run's folder, `report.pdf`).
    #[arg(short, long)]
    output: Option<String>,
    #[command(flatten)]
    dir: DirArg,
    /// Also write the generated typst source beside the PDF (`.typ`).
    #[arg(long)]
    keep_source: bool,
}

/// `phx report RUN [-o FILE.pdf]`.
pub fn run(a: Args) -> u8 {
    let exp = match a.dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    match phx_app::report::report(&exp, &a.run, a.output.as_deref().map(Path::new), a.keep_source) {
        Ok(w) => {
            common::out(&format!("wrote {} ({} KB)\n", w.report, w.bytes.div_ceil(1024)));
            super::exit::OK
        }
        Err(e) => common::fail(&e),
    }
}
