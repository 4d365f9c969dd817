//! Share links (to a run, a session or a bundle) and signed bundles.

pub mod links;
pub mod token;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;

/// Where `phx serve` is reached by default, for printed links.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8470";

/// What a link grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// View and download.
    #[default]
    Read,
    /// Also comments and notebook entries.
    Write,
}

impl Access {
    /// The name share records use.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

impl Access {
    /// The access a record names.
    pub fn parse(name: &str) -> Option<Access> {
        [Access::Read, Access::Write].into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What kind of thing a link opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Run,
    Session,
    Bundle,
}

impl LinkKind {
    /// The name share records use.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Run => "run",
            LinkKind::Session => "session",
            LinkKind::Bundle => "bundle",
        }
    }

    /// The kind a record names.
    pub fn parse(name: &str) -> Option<LinkKind> {
        [LinkKind::Run, LinkKind::Session, LinkKind::Bundle].into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Whether a link still works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Active,
    Expired,
    Revoked,
}

impl std::fmt::Display for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            LinkState::Active => "active",
            LinkState::Expired => "expired",
            LinkState::Revoked => "revoked",
        })
    }
}

/// What a link opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ShareTarget {
    /// A run id.
    Run(String),
    /// A program as `phx runs` names it: every run of it, also later ones.
    Session(String),
    /// A bundle file.
    Bundle(String),
}

/// A new link.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct LinkRequest {
    pub target: ShareTarget,
    pub access: Access,
    /// How long the link works: 30m, 72h, 7d.
    pub expires: String,
    /// Who it is for; shown as the author of what they add.
    pub to: Vec<String>,
    /// Where `phx serve` is reached, for the printed link.
    pub base_url: String,
}

/// A link as made: its URL holds the token (shown once).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Link {
    pub id: String,
    pub url: String,
    pub token: String,
    pub kind: LinkKind,
    pub resource: String,
    pub access: Access,
    /// Unix seconds.
    pub expires_at: i64,
    pub to: Vec<String>,
}

/// Makes a signed, expiring, revocable link.
pub fn create_link(exp: &Experiment, req: &LinkRequest) -> AppResult<Link> {
    let (kind, resource) = match &req.target {
        // A link to no run is a mistake in the request (exit 2), as links
        // have always been.
        ShareTarget::Run(r) => (
            LinkKind::Run,
            exp.run(r)
                .map_err(|e| if e.code == "phx::no-run" { AppError { kind: crate::ErrorKind::Usage, ..e } } else { e })?
                .id,
        ),
        ShareTarget::Session(s) => (LinkKind::Session, s.clone()),
        ShareTarget::Bundle(b) => {
            // Only a whole, signed bundle is shared: a link never serves
            // any other file (`--bundle /etc/hostname` is refused).
            let abs = Path::new(b).canonicalize().map_err(|e| {
                AppError::usage(format!("cannot share `{b}`: {e}"))
                    .with_help("give the path of a bundle (`phx bundle export RUN -o FILE`)")
            })?;
            phx_bundle::verify(&abs)?;
            (LinkKind::Bundle, abs.display().to_string())
        }
    };
    let ttl = links::parse_duration(&req.expires)
        .map_err(|e| AppError::usage(format!("expires: {e}")).with_help("write 30m, 72h or 7d"))?;
    let link = links::create(&exp.store, kind.as_str(), &resource, req.access.as_str(), ttl, req.to.clone())?;
    Ok(Link {
        id: link.row.id,
        url: format!("{}/s/{}", req.base_url.trim_end_matches('/'), link.token),
        token: link.token,
        kind,
        resource,
        access: req.access,
        expires_at: link.row.expires_at,
        to: link.row.participants,
    })
}

/// A written bundle.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ExportedBundle {
    pub run_id: String,
    /// The bundle file.
    pub path: String,
    pub payloads: usize,
    pub notebook_entries: usize,
    /// The signer's public key, hex.
    pub public_key: String,
}

/// The signing key of notebook entries and bundles: the given file, else
/// `[notebook] key` of phx.toml, else the key in ~/.config/phx (made on
/// first use).
pub fn key_path(exp: &Experiment, key: Option<&Path>) -> AppResult<PathBuf> {
    if let Some(k) = key {
        return Ok(k.to_path_buf());
    }
    if let Some(k) = crate::config::notebook_key(&exp.dir)? {
        return Ok(k);
    }
    phx_notebook::keys::default_key_path().ok_or_else(|| {
        AppError::environment("phx::notebook-key", "no HOME or XDG_CONFIG_HOME to keep a signing key in")
            .with_help("give one with --key FILE, or `[notebook] key` in phx.toml")
    })
}

/// Writes run `run` as a signed bundle at `output`: its program, DAG,
/// artifacts, report, provenance and notebook entries.
pub fn export_bundle(exp: &Experiment, run: &str, output: &Path, key: Option<&Path>) -> AppResult<ExportedBundle> {
    let signing = phx_notebook::keys::load(&key_path(exp, key)?, true)?;
    let mut extras = Vec::new();
    if let Ok(r) = exp.run(run) {
        let program = exp.dir.join(&r.file);
        if let Ok(text) = std::fs::read_to_string(&program) {
            if let Ok(dag) = phx_interchange::export(&text) {
                extras.push(("dag".to_string(), "dag.json".to_string(), dag.to_string().into_bytes()));
            }
            extras.push(("source".to_string(), r.file.clone(), text.into_bytes()));
        }
        for name in ["report.pdf", "report.json"] {
            if let Ok(bytes) = std::fs::read(exp.store.run_dir(&r.id).join(name)) {
                extras.push(("report".to_string(), name.to_string(), bytes));
            }
        }
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| AppError::environment("phx::io", format!("cannot create {}: {e}", parent.display())))?;
    }
    let m = phx_bundle::export(&exp.store, run, &signing, extras, output)?;
    Ok(ExportedBundle {
        run_id: m.run.id.clone(),
        path: output.display().to_string(),
        payloads: m.payloads.len(),
        notebook_entries: m.notebook.len(),
        public_key: m.public_key.clone(),
    })
}

/// A link as listed: what it grants, to whom, until when, and its state.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct LinkListing {
    pub id: String,
    pub kind: LinkKind,
    pub resource: String,
    pub access: Access,
    pub expires_at: i64,
    pub to: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub state: LinkState,
}

/// Every link of the experiment.
pub fn list_links(exp: &Experiment) -> AppResult<Vec<LinkListing>> {
    let now = links::now_unix();
    let mut out = Vec::new();
    for r in exp.store.db.shares()? {
        let state = if r.revoked_at.is_some() {
            LinkState::Revoked
        } else if now >= r.expires_at {
            LinkState::Expired
        } else {
            LinkState::Active
        };
        let unknown = |what: &str, v: &str| {
            AppError::environment("phx::store", format!("the share record `{}` has an unknown {what} `{v}`", r.id))
        };
        out.push(LinkListing {
            kind: LinkKind::parse(&r.resource_kind).ok_or_else(|| unknown("kind", &r.resource_kind))?,
            access: Access::parse(&r.access).ok_or_else(|| unknown("access", &r.access))?,
            id: r.id,
            resource: r.resource_id,
            expires_at: r.expires_at,
            to: r.participants,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            state,
        });
    }
    Ok(out)
}

/// Revokes the link `id`: it stops working at once.
pub fn revoke_link(exp: &Experiment, id: &str) -> AppResult<()> {
    if exp.store.db.revoke_share(id, &phx_runtime::clock::now_rfc3339())? {
        Ok(())
    } else {
        Err(AppError::invalid("phx::no-share", format!("no share link `{id}`"))
            .with_help("`phx share list` shows them"))
    }
}

/// A bundle taken into the store.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ImportedBundle {
    pub run_id: String,
    pub executions: usize,
    pub payloads: usize,
    /// Files that could not be written beside the run (its report, its
    /// program), each with why.
    pub warnings: Vec<String>,
}

/// Verifies a bundle (signature, key, every hash) and adds it to the
/// store; its report and program go to the run's folder. Keys trusted:
/// the notebook's, the signer of this experiment's key, and `trust`.
pub fn import_bundle(exp: &Experiment, file: &Path, trust: &[String]) -> AppResult<ImportedBundle> {
    let store = &exp.store;
    let mut trusted = phx_notebook::trusted_keys(store);
    trusted.extend(trust.iter().cloned());
    if let Some(own) = key_path(exp, None).ok().and_then(|p| phx_notebook::keys::load(&p, false).ok()) {
        trusted.push(hex::encode(own.verifying_key().as_bytes()));
    }
    let imported = phx_bundle::import(store, file, &trusted)?;
    let run_dir = store.run_dir(&imported.manifest.run.id);
    let mut warnings = Vec::new();
    for (role, name, bytes) in &imported.extras {
        let leaf = Path::new(name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = if role == "report" { run_dir.join(&leaf) } else { run_dir.join("bundle").join(&leaf) };
        if let Err(e) = crate::report::write(&target, bytes) {
            warnings.push(format!("cannot write {}: {}", target.display(), e.message));
        }
    }
    if !imported.manifest.notebook.is_empty() {
        let entries = serde_json::to_vec_pretty(&imported.manifest.notebook).unwrap_or_default();
        if let Err(e) = crate::report::write(&run_dir.join("bundle").join("notebook.json"), &entries) {
            warnings.push(e.message);
        }
    }
    Ok(ImportedBundle {
        run_id: imported.manifest.run.id.clone(),
        executions: imported.manifest.executions.len(),
        payloads: imported.manifest.payloads.len(),
        warnings,
    })
}

/// The comments on run `run_id`, oldest first.
pub fn comments(exp: &Experiment, run_id: &str) -> AppResult<Vec<phx_store::CommentRow>> {
    Ok(exp.store.db.comments("run", run_id)?)
}

/// Adds a comment to run `run_id` through the share link `share_id`.
pub fn add_comment(exp: &Experiment, share_id: &str, run_id: &str, author: &str, body: &str) -> AppResult<()> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > 8000 {
        return Err(AppError::usage("a comment has 1 to 8000 characters"));
    }
    exp.store.db.add_comment(share_id, "run", run_id, author, body, &phx_runtime::clock::now_rfc3339())?;
    Ok(())
}

/// A run shared with people: a link to it, or (`bundle`) to a signed
/// bundle of it made for them.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ShareRunRequest {
    pub run_id: String,
    pub participants: Vec<String>,
    pub access: Access,
    /// 72h when none is given.
    pub expires: Option<String>,
    /// A signed bundle of the run instead of the run in the store.
    pub bundle: bool,
}

/// A shared run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SharedRun {
    pub run_id: String,
    pub link: Link,
    /// The bundle made for the participants.
    pub bundle: Option<String>,
}

/// Shares a run: its bundle goes to the store's `bundles/` folder.
pub fn share_run(exp: &Experiment, req: &ShareRunRequest) -> AppResult<SharedRun> {
    let run = exp.run(&req.run_id)?;
    let (target, bundle) = if req.bundle {
        let path = exp.store.root.join("bundles").join(format!("{}.phxb", run.id));
        let made = export_bundle(exp, &run.id, &path, None)?;
        (ShareTarget::Bundle(made.path.clone()), Some(made.path))
    } else {
        (ShareTarget::Run(run.id.clone()), None)
    };
    let link = create_link(
        exp,
        &LinkRequest {
            target,
            access: req.access,
            expires: req.expires.clone().unwrap_or_else(|| "72h".into()),
            to: req.participants.clone(),
            base_url: DEFAULT_BASE_URL.into(),
        },
    )?;
    Ok(SharedRun { run_id: run.id, link, bundle })
}

/// A shared bundle's SHA-256 and size, as its page shows them; an error
/// when the file is no longer a whole, signed bundle (it was replaced after
/// the link was made).
pub fn bundle_digest(path: &Path) -> AppResult<(String, u64)> {
    phx_bundle::verify(path)?;
    Ok(phx_store::hash_file(path)?)
}
