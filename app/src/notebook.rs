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

/// Signs and appends an entry.
pub fn add(exp: &Experiment, req: EntryRequest) -> AppResult<AddedEntry> {
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
    // Relative file names are the experiment folder's, whoever calls.
    let attach = attach
        .into_iter()
        .map(|a| {
            let p = std::path::Path::new(&a);
            if p.is_relative() && exp.dir.join(p).is_file() { exp.dir.join(p).display().to_string() } else { a }
        })
        .collect();
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
