//! The lab notebook: markdown entries with attachments (store objects, by
//! hash), the runs and nodes they refer to, an author and a time. Each
//! entry names the hash of the entry before it (a hash chain) and is signed
//! with ed25519; the public key is recorded with it. The entries live in
//! the store's database; a signed head file (`.phx/notebook_head.json`)
//! records the last entry, so removing entries from the end is caught too.
//!
//! `verify` finds every kind of tampering: an edited entry (its hash no
//! longer matches), a removed, inserted or reordered entry (the chain or the
//! numbering breaks), a swapped attachment (its bytes hash to something
//! else), and a signature by another key (it does not verify, or the key is
//! not one the notebook trusts).

pub mod entry;
pub mod keys;
mod thumbnail;

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use phx_store::{NotebookRow, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use entry::{Attachment, Body, GENESIS, Reference};
pub use thumbnail::thumbnail_png;

/// What can go wrong with the notebook.
#[derive(Debug, thiserror::Error)]
pub enum NotebookError {
    #[error("the signing key `{path}` cannot be used: {message}")]
    Key { path: PathBuf, message: String },
    #[error("`{0}` is neither a run, an artifact nor a file")]
    UnknownAttachment(String),
    #[error("`{prefix}` is the start of {count} artifacts")]
    AmbiguousAttachment { prefix: String, count: usize },
    #[error("no notebook entry {0}")]
    NoEntry(u64),
    #[error("the entry is empty: give a --message, a --file or an --attach")]
    Empty,
    #[error(transparent)]
    Store(#[from] phx_store::StoreError),
}

impl NotebookError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            NotebookError::Key { .. } => "phx::notebook-key",
            NotebookError::UnknownAttachment(_) | NotebookError::AmbiguousAttachment { .. } => "phx::notebook-attach",
            NotebookError::NoEntry(_) | NotebookError::Empty => "phx::notebook-entry",
            NotebookError::Store(_) => "phx::store",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            NotebookError::Key { .. } => {
                "give another key with `--key FILE` (64 hex digits, mode 600), or remove the file to create a new one"
                    .into()
            }
            NotebookError::UnknownAttachment(_) => {
                "attach a run id (`phx runs`), an artifact hash or prefix (`phx show RUN`), or a file path".into()
            }
            NotebookError::AmbiguousAttachment { .. } => "give more digits of the hash".into(),
            NotebookError::NoEntry(_) => "`phx notebook list` shows the entries".into(),
            NotebookError::Empty => "`phx notebook add --title T --message \"what you did\"`".into(),
            NotebookError::Store(e) => e.hint().into(),
        }
    }
}

/// An entry to add.
#[derive(Clone, Debug, Default)]
pub struct NewEntry {
    pub title: String,
    pub markdown: String,
    pub author: String,
    /// Run ids, artifact hashes (or prefixes) and file paths.
    pub attach: Vec<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The current time, UTC, RFC 3339 with milliseconds.
fn now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

fn kind_of_file(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png") => "Image",
        Some("svg") => "Svg",
        Some("pdf") => "Pdf",
        Some("csv") => "Series",
        Some("md" | "txt") => "Text",
        _ => "File",
    }
}

/// The attachments and references that `--attach X` stands for, and the
/// objects they keep alive.
fn resolve(store: &Store, x: &str) -> Result<(Vec<Attachment>, Vec<Reference>), NotebookError> {
    if let Some(run) = store.db.run(x)? {
        let mut attachments = Vec::new();
        let pdf = store.run_dir(&run.id).join("report.pdf");
        if pdf.is_file() {
            let (sha, size) = store.objects.put_file(&pdf)?;
            attachments.push(Attachment {
                sha256: sha,
                name: "report.pdf".into(),
                kind: "Pdf".into(),
                size,
                thumbnail: None,
            });
        }
        return Ok((attachments, vec![Reference { run_id: run.id, node: None }]));
    }
    let looks_like_hash = x.len() >= 6 && x.chars().all(|c| c.is_ascii_hexdigit());
    if looks_like_hash {
        let hits = store.db.artifacts_by_prefix(&x.to_ascii_lowercase())?;
        match hits.as_slice() {
            [a] => {
                let producers = store.db.producers(&a.sha256)?;
                let name = producers
                    .first()
                    .map(|(e, out)| format!("{}.{out}", e.vertex))
                    .unwrap_or_else(|| a.sha256[..12].to_string());
                let refs = producers
                    .first()
                    .map(|(e, _)| vec![Reference { run_id: e.run_id.clone(), node: Some(e.vertex.clone()) }])
                    .unwrap_or_default();
                let attachment = Attachment {
                    sha256: a.sha256.clone(),
                    name,
                    kind: a.kind.clone(),
                    size: a.size as u64,
                    thumbnail: None,
                };
                return Ok((vec![attachment], refs));
            }
            [] => {}
            many => return Err(NotebookError::AmbiguousAttachment { prefix: x.into(), count: many.len() }),
        }
    }
    let path = Path::new(x);
    if path.is_file() {
        let (sha, size) = store.objects.put_file(path)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| x.into());
        return Ok((
            vec![Attachment { sha256: sha, name, kind: kind_of_file(path).into(), size, thumbnail: None }],
            vec![],
        ));
    }
    Err(NotebookError::UnknownAttachment(x.into()))
}

/// The signed record of the last entry, kept beside the database.
#[derive(Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
    public_key: String,
    signature: String,
}

fn head_path(store: &Store) -> PathBuf {
    store.root.join("notebook_head.json")
}

fn trusted_path(store: &Store) -> PathBuf {
    store.root.join("notebook_keys")
}

/// The public keys this notebook trusts (hex), one per line of
/// `.phx/notebook_keys`; a key is added when it signs its first entry here.
pub fn trusted_keys(store: &Store) -> Vec<String> {
    std::fs::read_to_string(trusted_path(store))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NotebookError> {
    phx_store::write_atomic(path, bytes)
        .map_err(|e| phx_store::StoreError::Io { action: "write", path: path.to_path_buf(), source: e }.into())
}

fn trust(store: &Store, public_key: &str) -> Result<(), NotebookError> {
    let mut keys = trusted_keys(store);
    if keys.iter().any(|k| k == public_key) {
        return Ok(());
    }
    keys.push(public_key.to_string());
    let text = format!("# ed25519 public keys whose notebook entries this store trusts\n{}\n", keys.join("\n"));
    write_atomic(&trusted_path(store), text.as_bytes())
}

fn head_message(seq: u64, hash: &str) -> String {
    format!("phx-notebook-head:{seq}:{hash}")
}

/// Adds an entry, signed with `key`, at the end of the chain.
pub fn add(store: &Store, key: &SigningKey, new: NewEntry) -> Result<Body, NotebookError> {
    let mut attachments: Vec<Attachment> = Vec::new();
    let mut refs: Vec<Reference> = Vec::new();
    for x in &new.attach {
        let (a, r) = resolve(store, x)?;
        for mut att in a {
            if att.kind == "Image" {
                att.thumbnail = thumbnail::of(store, &att.sha256);
            }
            if !attachments.iter().any(|x| x.sha256 == att.sha256) {
                attachments.push(att);
            }
        }
        for r in r {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
    }
    if new.markdown.trim().is_empty() && attachments.is_empty() && refs.is_empty() {
        return Err(NotebookError::Empty);
    }
    let public_key = hex::encode(key.verifying_key().as_bytes());
    let objects: Vec<String> =
        attachments.iter().flat_map(|a| std::iter::once(a.sha256.clone()).chain(a.thumbnail.clone())).collect();
    loop {
        let last = store.db.last_notebook_entry()?;
        let (seq, prev) = match &last {
            Some(r) => (r.seq as u64 + 1, r.hash.clone()),
            None => (1, GENESIS.to_string()),
        };
        let body = Body {
            seq,
            title: new.title.clone(),
            markdown: new.markdown.clone(),
            author: new.author.clone(),
            time: now(),
            attachments: attachments.clone(),
            refs: refs.clone(),
            prev,
            public_key: public_key.clone(),
        };
        let json = body.canonical();
        let hash = sha256_hex(json.as_bytes());
        let signature = hex::encode(key.sign(json.as_bytes()).to_bytes());
        let row = NotebookRow { seq: seq as i64, body_json: json, hash: hash.clone(), signature };
        if store.db.append_notebook_entry(&row, &objects)? {
            trust(store, &public_key)?;
            let head_sig = hex::encode(key.sign(head_message(seq, &hash).as_bytes()).to_bytes());
            let head = Head { seq, hash, public_key: public_key.clone(), signature: head_sig };
            let bytes = serde_json::to_vec_pretty(&head).unwrap_or_default();
            write_atomic(&head_path(store), &bytes)?;
            return Ok(body);
        }
    }
}

/// Every entry, parsed (entries whose body does not parse are skipped;
/// `verify` reports them).
pub fn entries(store: &Store) -> Result<Vec<(NotebookRow, Body)>, NotebookError> {
    Ok(store
        .db
        .notebook_entries()?
        .into_iter()
        .filter_map(|r| serde_json::from_str::<Body>(&r.body_json).ok().map(|b| (r, b)))
        .collect())
}

/// One entry by number.
pub fn entry(store: &Store, seq: u64) -> Result<(NotebookRow, Body), NotebookError> {
    entries(store)?.into_iter().find(|(r, _)| r.seq as u64 == seq).ok_or(NotebookError::NoEntry(seq))
}

/// One thing `verify` found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    /// The entry it concerns.
    pub entry: u64,
    /// `edited`, `missing`, `reordered`, `signature`, `untrusted-key`,
    /// `attachment`, `head`, `unreadable`.
    pub kind: &'static str,
    pub message: String,
}

/// What `verify` checked and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verification {
    pub entries: usize,
    pub attachments: usize,
    pub problems: Vec<Problem>,
}

fn verify_signature(public_key: &str, signature: &str, message: &[u8]) -> Result<(), String> {
    let key: [u8; 32] = keys::unhex(public_key)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("its public key `{public_key}` is not 32 bytes of hex"))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|e| format!("its public key is not an ed25519 key: {e}"))?;
    let sig: [u8; 64] = keys::unhex(signature)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "its signature is not 64 bytes of hex".to_string())?;
    key.verify_strict(message, &Signature::from_bytes(&sig)).map_err(|_| "its signature does not verify".to_string())
}

/// Checks the whole notebook. `extra_trusted` are public keys (hex) to
/// trust besides the store's own list.
pub fn verify(store: &Store, extra_trusted: &[String]) -> Result<Verification, NotebookError> {
    let rows = store.db.notebook_entries()?;
    let mut trusted = trusted_keys(store);
    trusted.extend(extra_trusted.iter().map(|k| k.to_ascii_lowercase()));
    let mut v = Verification { entries: rows.len(), ..Verification::default() };
    let mut problem =
        |entry: u64, kind: &'static str, message: String| v.problems.push(Problem { entry, kind, message });
    let mut prev_hash = GENESIS.to_string();
    let mut attachments = 0;
    for (i, row) in rows.iter().enumerate() {
        let expected = i as u64 + 1;
        let seq = row.seq as u64;
        if seq != expected {
            problem(
                expected,
                "missing",
                format!("entry {expected} is missing: the entry after {} is numbered {seq}", expected - 1),
            );
        }
        let actual = sha256_hex(row.body_json.as_bytes());
        if actual != row.hash {
            problem(
                seq,
                "edited",
                format!(
                    "entry {seq} was edited: its text hashes to {}, but it was recorded as {}",
                    &actual[..16],
                    &row.hash[..16.min(row.hash.len())]
                ),
            );
        }
        let body = match serde_json::from_str::<Body>(&row.body_json) {
            Ok(b) => b,
            Err(e) => {
                problem(seq, "unreadable", format!("entry {seq} is not a notebook entry: {e}"));
                prev_hash = actual;
                continue;
            }
        };
        if body.seq != seq {
            problem(seq, "reordered", format!("entry {seq} was written as entry {}: entries were reordered", body.seq));
        }
        if body.prev != prev_hash {
            problem(
                seq,
                "reordered",
                format!(
                    "entry {seq} does not follow the entry before it (it names {}, the chain has {}): an entry was removed, inserted or moved",
                    &body.prev[..16.min(body.prev.len())],
                    &prev_hash[..16]
                ),
            );
        }
        if let Err(why) = verify_signature(&body.public_key, &row.signature, row.body_json.as_bytes()) {
            problem(
                seq,
                "signature",
                format!(
                    "entry {seq}: {why} with the key it names ({}…)",
                    &body.public_key[..16.min(body.public_key.len())]
                ),
            );
        } else if !trusted.contains(&body.public_key.to_ascii_lowercase()) {
            problem(
                seq,
                "untrusted-key",
                format!(
                    "entry {seq} is signed by key {}…, which this notebook does not trust (signed by another key)",
                    &body.public_key[..16.min(body.public_key.len())]
                ),
            );
        }
        for a in &body.attachments {
            attachments += 1;
            for (what, sha) in
                std::iter::once(("attachment", &a.sha256)).chain(a.thumbnail.iter().map(|t| ("thumbnail", t)))
            {
                let path = store.objects.path(sha);
                match phx_store::hash_file(&path) {
                    Ok((h, _)) if h == *sha => {}
                    Ok((h, _)) => problem(
                        seq,
                        "attachment",
                        format!(
                            "entry {seq}'s {what} `{}`: its bytes hash to {}…, not {}… (the file was swapped)",
                            a.name,
                            &h[..16],
                            &sha[..16]
                        ),
                    ),
                    Err(_) => problem(
                        seq,
                        "attachment",
                        format!("entry {seq}'s {what} `{}` ({}…) is missing from the store", a.name, &sha[..16]),
                    ),
                }
            }
        }
        prev_hash = actual;
    }
    // The head: the last entry as it was signed when written.
    match std::fs::read(head_path(store)) {
        Ok(bytes) => match serde_json::from_slice::<Head>(&bytes) {
            Ok(head) => {
                let last = rows.last().map(|r| (r.seq as u64, sha256_hex(r.body_json.as_bytes())));
                if let Err(why) =
                    verify_signature(&head.public_key, &head.signature, head_message(head.seq, &head.hash).as_bytes())
                {
                    problem(head.seq, "head", format!("the notebook's head record: {why}"));
                } else if last.as_ref().map(|(s, _)| *s) < Some(head.seq) {
                    let have = last.as_ref().map_or(0, |(s, _)| *s);
                    problem(
                        head.seq,
                        "missing",
                        format!(
                            "entries {}..={} were removed: the notebook's signed head records {} entries",
                            have + 1,
                            head.seq,
                            head.seq
                        ),
                    );
                } else if let Some((s, h)) = last.filter(|(s, _)| *s == head.seq)
                    && h != head.hash
                {
                    problem(s, "edited", format!("entry {s} is not the entry the signed head records"));
                }
            }
            Err(e) => problem(0, "head", format!("the notebook's head record is unreadable: {e}")),
        },
        Err(_) if rows.is_empty() => {}
        Err(_) => problem(0, "head", "the notebook's head record (.phx/notebook_head.json) is missing".into()),
    }
    v.attachments = attachments;
    Ok(v)
}
