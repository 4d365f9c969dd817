//! Adding to the signed, hash-chained lab notebook.

use std::path::PathBuf;

use phx_notebook::NewEntry;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;

/// A new entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct EntryRequest {
    pub title: String,
    /// The entry's text, markdown.
    #[serde(default)]
    pub markdown: String,
    /// Run ids, artifact hashes (or prefixes) or files of the experiment folder.
    #[serde(default)]
    pub attach: Vec<String>,
    /// A run the entry is about: it is referred to, and its report (if it
    /// has one) is attached.
    pub run_id: Option<String>,
    /// Default: $PHX_AUTHOR, git's user.name, or $USER.
    pub author: Option<String>,
    /// The signing key (default: created on first use in ~/.config/phx).
    #[serde(skip)]
    pub key: Option<PathBuf>,
}

/// A signed entry as written.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AddedEntry {
    /// The entry: seq, title, markdown, author, time, attachments, refs,
    /// previous hash, public key.
    pub entry: Json,
}

/// Who writes an entry when nobody says.
pub fn default_author() -> String {
    if let Some(a) = std::env::var("PHX_AUTHOR").ok().filter(|a| !a.trim().is_empty()) {
        return a;
    }
    if let Ok(o) = std::process::Command::new("git").args(["config", "user.name"]).output()
        && o.status.success()
    {
        let name = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if !name.is_empty() {
            return name;
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

/// Signs and appends an entry. A file attached must be one `grants` may
/// read (inside the experiment folder, symbolic links followed, unless a
/// folder is granted).
pub fn add(exp: &Experiment, req: EntryRequest, grants: &crate::trust::Grants) -> AppResult<AddedEntry> {
    if req.title.trim().is_empty() {
        return Err(AppError::usage("the entry needs a title").with_help("--title \"what this entry is about\""));
    }
    let key_path = crate::share::key_path(exp, req.key.as_deref())?;
    let signing = phx_notebook::keys::load(&key_path, true)?;
    let mut attach = req.attach.clone();
    if let Some(run) = &req.run_id {
        let run = exp.run(run)?;
        if !attach.contains(&run.id) {
            attach.push(run.id.clone());
        }
        let dir = exp.store.run_dir(&run.id);
        if let Some(pdf) = ["published.pdf", "report.pdf"].iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
            attach.push(pdf.display().to_string());
        }
    }
    // Relative file names are the experiment folder's, whoever calls; a
    // file must be one the caller may read. (Run ids and hashes name no
    // file.)
    let mut files = Vec::new();
    for a in attach {
        let p = std::path::Path::new(&a);
        let full = if p.is_relative() { exp.dir.join(p) } else { p.to_path_buf() };
        if full.exists() {
            grants.readable(exp, &full)?;
            files.push(full.display().to_string());
        } else {
            files.push(a);
        }
    }
    let attach = files;
    let new = NewEntry {
        title: req.title.clone(),
        markdown: req.markdown.clone(),
        author: req.author.clone().unwrap_or_else(default_author),
        attach,
    };
    let body = phx_notebook::add(&exp.store, &signing, new)?;
    let entry = serde_json::to_value(&body).map_err(|e| AppError::environment("phx::internal", e.to_string()))?;
    Ok(AddedEntry { entry })
}

/// An entry as listed.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct EntryListing {
    pub seq: u64,
    pub title: String,
    pub author: String,
    pub time: String,
    pub attachments: usize,
    pub hash: String,
}

/// Every entry, oldest first.
pub fn list(exp: &Experiment) -> AppResult<Vec<EntryListing>> {
    Ok(phx_notebook::entries(&exp.store)?
        .into_iter()
        .map(|(r, b)| EntryListing {
            seq: b.seq,
            title: b.title,
            author: b.author,
            time: b.time,
            attachments: b.attachments.len(),
            hash: r.hash,
        })
        .collect())
}

/// An attachment with the files that hold it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentPath {
    pub name: String,
    pub kind: String,
    pub sha256: String,
    pub size: u64,
    pub path: String,
    pub thumbnail: Option<String>,
}

/// One entry in full, with its hash and signature.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct EntryDetail {
    pub entry: Json,
    pub hash: String,
    pub signature: String,
    pub attachment_paths: Vec<AttachmentPath>,
}

/// Entry `seq`.
pub fn show(exp: &Experiment, seq: u64) -> AppResult<EntryDetail> {
    let (row, body) = phx_notebook::entry(&exp.store, seq)?;
    let path_of = |sha: &str| exp.store.objects.path(sha).display().to_string();
    let attachment_paths = body
        .attachments
        .iter()
        .map(|a| AttachmentPath {
            name: a.name.clone(),
            kind: a.kind.clone(),
            sha256: a.sha256.clone(),
            size: a.size,
            path: path_of(&a.sha256),
            thumbnail: a.thumbnail.as_deref().map(path_of),
        })
        .collect();
    let entry = serde_json::to_value(&body).map_err(|e| AppError::environment("phx::internal", e.to_string()))?;
    Ok(EntryDetail { entry, hash: row.hash, signature: row.signature, attachment_paths })
}

/// A problem the check found.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    pub message: String,
}

/// `phx notebook verify`: the chain, every signature, every attachment.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NotebookCheck {
    pub ok: bool,
    pub entries: usize,
    pub attachments: usize,
    pub problems: Vec<Problem>,
}

/// Checks the notebook; `trust` adds keys for this check.
pub fn verify(exp: &Experiment, trust: &[String]) -> AppResult<NotebookCheck> {
    let v = phx_notebook::verify(&exp.store, trust)?;
    Ok(NotebookCheck {
        ok: v.problems.is_empty(),
        entries: v.entries,
        attachments: v.attachments,
        problems: v.problems.into_iter().map(|p| Problem { message: p.message }).collect(),
    })
}

/// A written notebook PDF.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ExportedNotebook {
    pub path: String,
    pub entries: usize,
    /// `verified`, or why not.
    pub status: String,
}

/// The notebook as a PDF at `pdf`.
pub fn export_pdf(exp: &Experiment, pdf: &std::path::Path) -> AppResult<ExportedNotebook> {
    let store = &exp.store;
    let entries = phx_notebook::entries(store)?;
    let status = match phx_notebook::verify(store, &[]) {
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
                .map(|a| phx_report::notebook::PrintedAttachment {
                    name: a.name.clone(),
                    kind: a.kind.clone(),
                    sha256: a.sha256.clone(),
                    size: a.size,
                    thumbnail: a.thumbnail.as_ref().and_then(|t| std::fs::read(store.objects.path(t)).ok()),
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
    let bytes = phx_report::notebook::notebook_pdf(&title, &status, &pages)?;
    phx_store::write_atomic(pdf, &bytes)
        .map_err(|e| AppError::environment("phx::io", format!("cannot write `{}`: {e}", pdf.display())))?;
    Ok(ExportedNotebook { path: pdf.display().to_string(), entries: pages.len(), status })
}

/// The entries that refer to run `run_id`, oldest first.
pub fn entries_about(exp: &Experiment, run_id: &str) -> AppResult<Vec<phx_notebook::Body>> {
    Ok(phx_notebook::entries(&exp.store)?
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| b.refs.iter().any(|r| r.run_id == run_id))
        .collect())
}
