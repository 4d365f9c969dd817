//! `phx notebook add|list|show|verify|export`: the signed, hash-chained lab
//! notebook of an experiment folder.

use std::path::PathBuf;

use phx_app::notebook::EntryRequest;
use phx_notebook::NotebookError;
use serde_json::json;

use super::common::{self, DirArg, TextOrJson};
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
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// The entries, oldest first.
    List {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// One entry in full.
    Show {
        seq: u64,
        #[command(flatten)]
        dir: DirArg,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// Check the chain, every signature and every attachment's bytes; exit 1
    /// on any tampering, saying which entry and what.
    Verify {
        /// Also trust this public key (hex; repeatable).
        #[arg(long)]
        trust: Vec<String>,
        #[command(flatten)]
        dir: DirArg,
        #[arg(long, value_enum, default_value_t)]
        format: TextOrJson,
    },
    /// Write the notebook as a PDF.
    Export {
        #[arg(long)]
        pdf: String,
        #[command(flatten)]
        dir: DirArg,
    },
}

fn fail(e: &NotebookError) -> u8 {
    eprintln!("error[{}]: {e}\n  help: {}", e.code(), e.hint());
    match e {
        NotebookError::Store(_) => exit::ENVIRONMENT,
        _ => exit::INVALID,
    }
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
    let store = exp.store.clone();
    match c {
        NotebookCommand::Add { title, message, file, attach, key, author, format, .. } => {
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
            let req = EntryRequest { title, markdown, attach, run_id: None, author, key: key.map(PathBuf::from) };
            match phx_app::notebook::add(&exp, req) {
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
        NotebookCommand::List { format, .. } => {
            let entries = match phx_notebook::entries(&store) {
                Ok(e) => e,
                Err(e) => return fail(&e),
            };
            if format == TextOrJson::Json {
                let list: Vec<_> = entries
                    .iter()
                    .map(|(r, b)| json!({"seq": b.seq, "title": b.title, "author": b.author, "time": b.time, "attachments": b.attachments.len(), "hash": r.hash}))
                    .collect();
                common::print_json(&json!({"entries": list}));
            } else if entries.is_empty() {
                common::out("the notebook is empty: `phx notebook add --title T --message M` writes the first entry\n");
            } else {
                let mut text = String::new();
                for (r, b) in &entries {
                    text.push_str(&format!(
                        "{:>4}  {}  {:<16} {}{}  {}\n",
                        b.seq,
                        b.time.get(..16).unwrap_or(&b.time),
                        b.author,
                        b.title,
                        if b.attachments.is_empty() {
                            String::new()
                        } else {
                            format!(" [{} attached]", b.attachments.len())
                        },
                        short(&r.hash)
                    ));
                }
                common::out(&text);
            }
            exit::OK
        }
        NotebookCommand::Show { seq, format, .. } => {
            let (row, body) = match phx_notebook::entry(&store, seq) {
                Ok(x) => x,
                Err(e) => return fail(&e),
            };
            let path_of = |sha: &str| store.objects.path(sha).display().to_string();
            if format == TextOrJson::Json {
                let attachments: Vec<_> = body
                    .attachments
                    .iter()
                    .map(|a| json!({"name": a.name, "kind": a.kind, "sha256": a.sha256, "size": a.size, "path": path_of(&a.sha256), "thumbnail": a.thumbnail.as_deref().map(path_of)}))
                    .collect();
                common::print_json(
                    &json!({"entry": body, "hash": row.hash, "signature": row.signature, "attachment_paths": attachments}),
                );
            } else {
                let mut t = format!(
                    "{}. {}\n{} · {}\n\n{}\n",
                    body.seq,
                    body.title,
                    body.author,
                    body.time,
                    body.markdown.trim_end()
                );
                for a in &body.attachments {
                    t.push_str(&format!(
                        "\nattached {} ({}, {} bytes)\n  {}\n",
                        a.name,
                        a.kind,
                        a.size,
                        path_of(&a.sha256)
                    ));
                    if let Some(th) = &a.thumbnail {
                        t.push_str(&format!("  thumbnail {}\n", path_of(th)));
                    }
                }
                for r in &body.refs {
                    t.push_str(&format!(
                        "\nrefers to run {}{}",
                        r.run_id,
                        r.node.as_deref().map(|n| format!(", node {n}")).unwrap_or_default()
                    ));
                }
                t.push_str(&format!(
                    "\n\nhash      {}\nprevious  {}\nkey       {}\nsignature {}\n",
                    row.hash, body.prev, body.public_key, row.signature
                ));
                common::out(&t);
            }
            exit::OK
        }
        NotebookCommand::Verify { trust, format, .. } => {
            let v = match phx_notebook::verify(&store, &trust) {
                Ok(v) => v,
                Err(e) => return fail(&e),
            };
            if format == TextOrJson::Json {
                common::print_json(
                    &json!({"ok": v.problems.is_empty(), "entries": v.entries, "attachments": v.attachments, "problems": v.problems}),
                );
            } else if v.problems.is_empty() {
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
            if v.problems.is_empty() { exit::OK } else { exit::INVALID }
        }
        NotebookCommand::Export { pdf, .. } => {
            let entries = match phx_notebook::entries(&store) {
                Ok(e) => e,
                Err(e) => return fail(&e),
            };
            let status = match phx_notebook::verify(&store, &[]) {
                Ok(v) if v.problems.is_empty() => "verified".to_string(),
                Ok(v) => format!("NOT verified: {} problems (see `phx notebook verify`)", v.problems.len()),
                Err(e) => format!("not verified: {e}"),
            };
            let pages: Vec<phx_report::notebook::NotebookPage> = entries
                .iter()
                .map(|(r, b)| phx_report::notebook::NotebookPage {
                    seq: b.seq,
                    title: b.title.clone(),
                    author: b.author.clone(),
                    time: b.time.clone(),
                    markdown: b.markdown.clone(),
                    hash: r.hash.clone(),
                    prev: b.prev.clone(),
                    public_key: b.public_key.clone(),
                    attachments: b
                        .attachments
                        .iter()
                        .map(|a| {
                            let thumb = a.thumbnail.as_ref().and_then(|t| std::fs::read(store.objects.path(t)).ok());
                            phx_report::notebook::PrintedAttachment {
                                name: a.name.clone(),
                                kind: a.kind.clone(),
                                sha256: a.sha256.clone(),
                                size: a.size,
                                thumbnail: thumb,
                            }
                        })
                        .collect(),
                    refs: b
                        .refs
                        .iter()
                        .map(|x| match &x.node {
                            Some(n) => format!("{} / {n}", x.run_id),
                            None => x.run_id.clone(),
                        })
                        .collect(),
                })
                .collect();
            let folder = exp.dir.file_name().map(|n| n.to_string_lossy().into_owned());
            let title = format!("Lab notebook{}", folder.map(|f| format!(": {f}")).unwrap_or_default());
            match phx_report::notebook::notebook_pdf(&title, &status, &pages) {
                Ok(bytes) => {
                    if let Err(e) = common::write_atomic(&pdf, &bytes) {
                        eprintln!("error: cannot write `{pdf}`: {e}");
                        return exit::ENVIRONMENT;
                    }
                    common::out(&format!("wrote {pdf}: {} entries ({status})\n", pages.len()));
                    exit::OK
                }
                Err(e) => common::fail(&e.into()),
            }
        }
    }
}
