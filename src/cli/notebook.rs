//! `phx notebook add|list|show|verify|export`: the signed, hash-chained lab
//! notebook of an experiment folder.

use std::path::{Path, PathBuf};

use phx_app::notebook::EntryRequest;
use phx_app::trust::Grants;
use serde_json::json;

use super::common::{self, DirArg, FormatArg, TextOrJson};
use super::exit;

#[derive(clap::Subcommand)]
pub enum NotebookCommand {
    /// Add a signed entry.
    Add {
        #[arg(long)]
        title: String,
        /// The entry's text, markdown.
        #[arg(long, short, conflicts_with = "file")]
        message: Option<String>,
        /// Read the entry's markdown from a file.
        #[arg(long)]
        file: Option<String>,
        /// A run id, an artifact hash (or prefix), or a file (repeatable).
        #[arg(long)]
        attach: Vec<String>,
        /// The signing key (default: created on first use in ~/.config/phx).
        #[arg(long)]
        key: Option<String>,
        /// Default: $PHX_AUTHOR, git's user.name, or $USER.
        #[arg(long)]
        author: Option<String>,
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        format: FormatArg,
    },
    /// The entries, oldest first.
    List {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        format: FormatArg,
    },
    /// One entry in full.
    Show {
        seq: u64,
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Check the chain, every signature and every attachment's bytes; exit 1
    /// on any tampering, saying which entry and what.
    Verify {
        /// Also trust this public key (hex; repeatable).
        #[arg(long)]
        trust: Vec<String>,
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Write the notebook as a PDF.
    Export {
        #[arg(long)]
        pdf: String,
        #[command(flatten)]
        dir: DirArg,
    },
}

fn short(s: &str) -> &str {
    &s[..12.min(s.len())]
}

pub fn run(c: NotebookCommand) -> u8 {
    let (NotebookCommand::Add { dir, .. }
    | NotebookCommand::List { dir, .. }
    | NotebookCommand::Show { dir, .. }
    | NotebookCommand::Verify { dir, .. }
    | NotebookCommand::Export { dir, .. }) = &c;
    let exp = match dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    match c {
        NotebookCommand::Add { title, message, file, attach, key, author, format: FormatArg { format }, .. } => {
            let markdown = match (message, file) {
                (Some(m), _) => m,
                (None, Some(f)) => match std::fs::read_to_string(&f) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!(
                            "error: cannot read `{f}`: {e}\n  help: give the notes as a markdown file, or use --message"
                        );
                        return exit::USAGE;
                    }
                },
                (None, None) => String::new(),
            };
            // A file named on the command line is where the user stands.
            let attach = attach
                .into_iter()
                .map(|a| match std::path::absolute(&a) {
                    Ok(p) if Path::new(&a).is_relative() && p.exists() => p.display().to_string(),
                    _ => a,
                })
                .collect();
            let req = EntryRequest { title, markdown, attach, run_id: None, author, key: key.map(PathBuf::from) };
            match phx_app::notebook::add(&exp, req, &Grants::all()) {
                Ok(added) => {
                    if format == TextOrJson::Json {
                        common::print_json(&json!({"entry": added.entry}));
                    } else {
                        let e = &added.entry;
                        common::out(&format!(
                            "entry {}: {} ({} attachments), signed by {}…\n",
                            e["seq"],
                            e["title"].as_str().unwrap_or(""),
                            e["attachments"].as_array().map_or(0, Vec::len),
                            short(e["public_key"].as_str().unwrap_or(""))
                        ));
                    }
                    exit::OK
                }
                Err(e) => common::fail(&e),
            }
        }
        NotebookCommand::List { format: FormatArg { format }, .. } => {
            let entries = match phx_app::notebook::list(&exp) {
                Ok(e) => e,
                Err(e) => return common::fail(&e),
            };
            if format == TextOrJson::Json {
                common::print_json(&json!({"entries": entries}));
            } else if entries.is_empty() {
                common::out("the notebook is empty: `phx notebook add --title T --message M` writes the first entry\n");
            } else {
                let mut text = String::new();
                for b in &entries {
                    text.push_str(&format!(
                        "{:>4}  {}  {:<16} {}{}  {}\n",
                        b.seq,
                        b.time.get(..16).unwrap_or(&b.time),
                        b.author,
                        b.title,
                        if b.attachments == 0 { String::new() } else { format!(" [{} attached]", b.attachments) },
                        short(&b.hash)
                    ));
                }
                common::out(&text);
            }
            exit::OK
        }
        NotebookCommand::Show { seq, format: FormatArg { format }, .. } => {
            let d = match phx_app::notebook::show(&exp, seq) {
                Ok(d) => d,
                Err(e) => return common::fail(&e),
            };
            if format == TextOrJson::Json {
                common::print_value(&d);
                return exit::OK;
            }
            let e = &d.entry;
            let text_of = |k: &str| e[k].as_str().unwrap_or("").to_string();
            let mut t = format!(
                "{}. {}\n{} · {}\n\n{}\n",
                e["seq"],
                text_of("title"),
                text_of("author"),
                text_of("time"),
                text_of("markdown").trim_end()
            );
            for a in &d.attachment_paths {
                t.push_str(&format!("\nattached {} ({}, {} bytes)\n  {}\n", a.name, a.kind, a.size, a.path));
                if let Some(th) = &a.thumbnail {
                    t.push_str(&format!("  thumbnail {th}\n"));
                }
            }
            for r in e["refs"].as_array().into_iter().flatten() {
                t.push_str(&format!(
                    "\nrefers to run {}{}",
                    r["run_id"].as_str().unwrap_or(""),
                    r["node"].as_str().map(|n| format!(", node {n}")).unwrap_or_default()
                ));
            }
            t.push_str(&format!(
                "\n\nhash      {}\nprevious  {}\nkey       {}\nsignature {}\n",
                d.hash,
                text_of("prev"),
                text_of("public_key"),
                d.signature
            ));
            common::out(&t);
            exit::OK
        }
        NotebookCommand::Verify { trust, format: FormatArg { format }, .. } => {
            let v = match phx_app::notebook::verify(&exp, &trust) {
                Ok(v) => v,
                Err(e) => return common::fail(&e),
            };
            if format == TextOrJson::Json {
                common::print_value(&v);
            } else if v.ok {
                common::out(&format!(
                    "notebook verified: {} entries, {} attachments; the chain, every signature and every attachment check out\n",
                    v.entries, v.attachments
                ));
            } else {
                for p in &v.problems {
                    eprintln!("error[phx::notebook-tampered]: {}", p.message);
                }
                eprintln!(
                    "notebook NOT verified: {} problem(s) in {} entries\n  help: `phx notebook show N` prints an entry with its hash, key and signature",
                    v.problems.len(),
                    v.entries
                );
            }
            if v.ok { exit::OK } else { exit::INVALID }
        }
        NotebookCommand::Export { pdf, .. } => match phx_app::notebook::export_pdf(&exp, Path::new(&pdf)) {
            Ok(x) => {
                common::out(&format!("wrote {pdf}: {} entries ({})\n", x.entries, x.status));
                exit::OK
            }
            Err(e) => common::fail(&e),
        },
    }
}
