//! Experiment bundles: one file with a run's program, the JSON form of its
//! DAG, every artifact, the report, the provenance records and the notebook
//! entries that refer to the run, under a manifest of SHA-256 hashes signed
//! with ed25519.
//!
//! The file: the line `PHXBUNDLE 1`, the manifest's length in bytes on a
//! line, the manifest (JSON), the signature over the manifest (hex) on a
//! line, then every payload's bytes in the manifest's order. Import checks
//! the signature, that the key is trusted, and every payload's hash before
//! it writes anything; a refusal leaves the store as it was.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use phx_store::{ExecutionRow, OutputRow, RunRow, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &str = "PHXBUNDLE 1";

/// What can go wrong with a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("no run `{0}` in this store")]
    NoRun(String),
    #[error("`{0}` is not a phx bundle: {1}")]
    NotABundle(String, String),
    #[error("the bundle's signature does not verify: it was changed after it was signed")]
    BadSignature,
    #[error("the bundle is signed by key {0}…, which this store does not trust")]
    Untrusted(String),
    #[error("payload {index} ({what}) is corrupt: its bytes hash to {actual}…, the manifest says {expected}…")]
    Corrupt { index: usize, what: String, actual: String, expected: String },
    #[error("the bundle ends early: payload {0} is cut short")]
    Truncated(usize),
    #[error("run {0} is already in this store")]
    Exists(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] phx_store::StoreError),
}

impl BundleError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::BadSignature | BundleError::Untrusted(_) => "phx::bundle-signature",
            BundleError::Corrupt { .. } | BundleError::Truncated(_) | BundleError::NotABundle(..) => {
                "phx::bundle-corrupt"
            }
            BundleError::Exists(_) | BundleError::NoRun(_) => "phx::bundle-run",
            BundleError::Io(_) | BundleError::Store(_) => "phx::bundle-io",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            BundleError::Untrusted(_) => {
                "if you know the sender, pass `--trust KEY` with their public key (hex)".into()
            }
            BundleError::BadSignature | BundleError::Corrupt { .. } | BundleError::Truncated(_) => {
                "ask for the bundle again; nothing of it was added to the store".into()
            }
            BundleError::Exists(_) => "the run is here already; nothing was added".into(),
            BundleError::NoRun(_) => "`phx runs` lists the runs".into(),
            BundleError::NotABundle(..) => "`phx bundle export RUN -o FILE` writes bundles".into(),
            BundleError::Io(_) => "check the path and the disk".into(),
            BundleError::Store(e) => e.hint().into(),
        }
    }
}

/// One payload.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Payload {
    /// `object`, `source`, `dag`, `report`, `report_json`.
    pub role: String,
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

/// The signed manifest: the run and its provenance records as the store
/// keeps them, and every payload's hash.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub run: RunRow,
    /// Every execution of the run with its outputs (the ids are the
    /// exporting store's; import gives new ones).
    pub executions: Vec<(ExecutionRow, Vec<OutputRow>)>,
    /// `(child, parent)` artifact hashes.
    pub lineage: Vec<(String, String)>,
    /// Notebook entries that refer to the run: `(body_json, hash, signature)`.
    pub notebook: Vec<(String, String, String)>,
    pub payloads: Vec<Payload>,
    pub public_key: String,
}

/// The number of digits of `n` written in decimal.
fn line_len(n: usize) -> usize {
    n.to_string().len()
}

fn io(e: impl std::fmt::Display) -> BundleError {
    BundleError::Io(e.to_string())
}

/// Writes the bundle of run `run_id` to `out`, signed with `key`.
/// `extras` are `(role, name, bytes)` payloads besides the artifacts (the
/// program, the DAG JSON, the report).
pub fn export(
    store: &Store,
    run_id: &str,
    key: &SigningKey,
    extras: Vec<(String, String, Vec<u8>)>,
    out: &Path,
) -> Result<Manifest, BundleError> {
    let run = store.db.run(run_id)?.ok_or_else(|| BundleError::NoRun(run_id.into()))?;
    let mut executions = Vec::new();
    let mut objects: Vec<(String, String)> = Vec::new();
    let mut lineage = Vec::new();
    for e in store.db.executions(&run.id)? {
        let outs = store.db.outputs(e.id)?;
        for o in &outs {
            if !objects.iter().any(|(s, _)| *s == o.sha256) {
                objects.push((o.sha256.clone(), format!("{}.{}", e.vertex, o.name)));
            }
            let (parents, _) = store.db.lineage_of(&o.sha256)?;
            for p in parents {
                lineage.push((o.sha256.clone(), p));
            }
        }
        executions.push((e, outs));
    }
    lineage.sort();
    lineage.dedup();
    let notebook = store
        .db
        .notebook_entries()?
        .into_iter()
        .filter(|r| r.body_json.contains(&format!("\"run_id\":\"{}\"", run.id)))
        .map(|r| (r.body_json, r.hash, r.signature))
        .collect();
    let mut payloads = Vec::new();
    for (sha, name) in &objects {
        let size = std::fs::metadata(store.objects.path(sha)).map_err(io)?.len();
        payloads.push(Payload { role: "object".into(), name: name.clone(), sha256: sha.clone(), size });
    }
    for (role, name, bytes) in &extras {
        payloads.push(Payload {
            role: role.clone(),
            name: name.clone(),
            sha256: hex::encode(Sha256::digest(bytes)),
            size: bytes.len() as u64,
        });
    }
    let manifest = Manifest {
        format: 1,
        run,
        executions,
        lineage,
        notebook,
        payloads,
        public_key: hex::encode(key.verifying_key().as_bytes()),
    };
    let json = serde_json::to_vec(&manifest).map_err(io)?;
    let signature = hex::encode(key.sign(&json).to_bytes());
    let tmp = out.with_extension("phxbundle.tmp");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        write!(f, "{MAGIC}\n{}\n", json.len()).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        write!(f, "\n{signature}\n").map_err(io)?;
        for (sha, _) in &objects {
            let mut src = std::fs::File::open(store.objects.path(sha)).map_err(io)?;
            std::io::copy(&mut src, &mut f).map_err(io)?;
        }
        for (_, _, bytes) in &extras {
            f.write_all(bytes).map_err(io)?;
        }
        f.flush().map_err(io)?;
        f.get_ref().sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, out).map_err(io)?;
    Ok(manifest)
}

/// What `import` added.
#[derive(Clone, Debug)]
pub struct Imported {
    pub manifest: Manifest,
    /// The extra payloads (program, DAG, report) by role, name and bytes.
    pub extras: Vec<(String, String, Vec<u8>)>,
}

/// A bundle whose manifest has been read and whose signature verifies;
/// the reader stands at the first payload.
struct Opened {
    manifest: Manifest,
    reader: BufReader<std::fs::File>,
    /// Bytes before the first payload.
    header: u64,
    file_len: u64,
    shown: String,
}

/// Reads a bundle's header and checks the signature over its manifest.
fn open_signed(path: &Path) -> Result<Opened, BundleError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(BundleError::NotABundle(shown, "it is not a regular file".into()));
    }
    let file_len = meta.len();
    let mut r = BufReader::new(file);
    let mut line = String::new();
    // A bounded first line: a binary file without newlines is not read whole.
    (&mut r)
        .take(64)
        .read_line(&mut line)
        .map_err(|_| BundleError::NotABundle(shown.clone(), "it is not text at the start".into()))?;
    if line.trim_end() != MAGIC {
        return Err(BundleError::NotABundle(shown, "it does not start with `PHXBUNDLE 1`".into()));
    }
    line.clear();
    (&mut r).take(32).read_line(&mut line).map_err(io)?;
    let len: usize =
        line.trim().parse().map_err(|_| BundleError::NotABundle(shown.clone(), "no manifest length".into()))?;
    if len > 256 << 20 || len as u64 > file_len {
        return Err(BundleError::NotABundle(shown, "the manifest claims more bytes than the file holds".into()));
    }
    let mut json = vec![0u8; len];
    r.read_exact(&mut json).map_err(|_| BundleError::NotABundle(shown.clone(), "the manifest is cut short".into()))?;
    line.clear();
    (&mut r).take(8).read_line(&mut line).map_err(io)?;
    line.clear();
    (&mut r).take(256).read_line(&mut line).map_err(io)?;
    let signature = line.trim().to_string();
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| BundleError::NotABundle(shown.clone(), format!("its manifest is not readable: {e}")))?;
    // The signature covers the manifest, which covers every payload's hash.
    let key_bytes: [u8; 32] = phx_notebook::keys::unhex(&manifest.public_key)
        .and_then(|b| b.try_into().ok())
        .ok_or(BundleError::BadSignature)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| BundleError::BadSignature)?;
    let sig: [u8; 64] =
        phx_notebook::keys::unhex(&signature).and_then(|b| b.try_into().ok()).ok_or(BundleError::BadSignature)?;
    key.verify_strict(&json, &Signature::from_bytes(&sig)).map_err(|_| BundleError::BadSignature)?;
    let header = (MAGIC.len() + 1 + line_len(len) + 1 + len + 1 + signature.len() + 1) as u64;
    Ok(Opened { manifest, reader: r, header, file_len, shown })
}

impl Opened {
    /// The payloads must fill the rest of the file exactly: a manifest that
    /// claims more bytes than the file has is refused before any allocation.
    fn check_length(&self) -> Result<(), BundleError> {
        let claimed: u64 = self.manifest.payloads.iter().map(|p| p.size).fold(0u64, u64::saturating_add);
        if self.header.saturating_add(claimed) != self.file_len {
            return Err(BundleError::NotABundle(
                self.shown.clone(),
                format!(
                    "its manifest lists {claimed} bytes of payloads, but the file holds {}",
                    self.file_len.saturating_sub(self.header)
                ),
            ));
        }
        Ok(())
    }
}

/// Payload `i` (from 0) hashed to `actual`: an error unless that is what
/// the manifest says.
fn check_payload(i: usize, p: &Payload, actual: &str) -> Result<(), BundleError> {
    if actual == p.sha256 {
        return Ok(());
    }
    Err(BundleError::Corrupt {
        index: i + 1,
        what: format!("{} {}", p.role, p.name),
        actual: actual.chars().take(16).collect(),
        expected: p.sha256.chars().take(16).collect(),
    })
}

/// Checks that the file at `path` is a whole, signed bundle: its signature
/// verifies (by whichever key signed it) and every payload hashes to what
/// the manifest says. Streams the payloads; keeps nothing in memory.
pub fn verify(path: &Path) -> Result<Manifest, BundleError> {
    let mut opened = open_signed(path)?;
    opened.check_length()?;
    let mut buf = vec![0u8; 1 << 16];
    for (i, p) in opened.manifest.payloads.iter().enumerate() {
        let mut hasher = Sha256::new();
        let mut left = p.size;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            opened.reader.read_exact(&mut buf[..want]).map_err(|_| BundleError::Truncated(i + 1))?;
            hasher.update(&buf[..want]);
            left -= want as u64;
        }
        let actual = hex::encode(hasher.finalize());
        check_payload(i, p, &actual)?;
    }
    Ok(opened.manifest)
}

/// Reads and verifies a bundle, then adds it to `store`. `trusted` are the
/// public keys (hex) the store accepts.
pub fn import(store: &Store, path: &Path, trusted: &[String]) -> Result<Imported, BundleError> {
    let opened = open_signed(path)?;
    if !trusted.iter().any(|k| k.eq_ignore_ascii_case(&opened.manifest.public_key)) {
        return Err(BundleError::Untrusted(opened.manifest.public_key.chars().take(16).collect()));
    }
    if store.db.run(&opened.manifest.run.id)?.is_some() {
        return Err(BundleError::Exists(opened.manifest.run.id.clone()));
    }
    opened.check_length()?;
    // Folders are named after vertices and files after outputs (results/):
    // a record that could name a path elsewhere is refused, signed or not.
    for (e, outs) in &opened.manifest.executions {
        let bad_output =
            outs.iter().find(|o| o.name.is_empty() || o.name.contains(['/', '\\', '\0']) || o.name.starts_with('.'));
        if !phx_store::is_vertex_id(&e.vertex) || bad_output.is_some() {
            let what = bad_output.map_or(e.vertex.clone(), |o| format!("{}.{}", e.vertex, o.name));
            return Err(BundleError::NotABundle(
                opened.shown.clone(),
                format!("it records `{what}`, which is not a vertex or output name"),
            ));
        }
    }
    let Opened { manifest, reader: mut r, shown, .. } = opened;
    // Every payload is read and hashed before anything is written.
    let mut bodies = Vec::with_capacity(manifest.payloads.len());
    for (i, p) in manifest.payloads.iter().enumerate() {
        let mut bytes = vec![0u8; p.size as usize];
        r.read_exact(&mut bytes).map_err(|_| BundleError::Truncated(i + 1))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        check_payload(i, p, &actual)?;
        bodies.push(bytes);
    }
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).map_err(io)?;
    if !rest.is_empty() {
        return Err(BundleError::NotABundle(shown, format!("{} bytes follow the last payload", rest.len())));
    }
    // Verified: add the objects, then the records in one transaction.
    let mut extras = Vec::new();
    for (p, bytes) in manifest.payloads.iter().zip(bodies) {
        if p.role == "object" {
            store.objects.put_bytes(&bytes)?;
        } else {
            extras.push((p.role.clone(), p.name.clone(), bytes));
        }
    }
    let execs: Vec<(ExecutionRow, Vec<OutputRow>, Vec<i64>)> = manifest
        .executions
        .iter()
        .map(|(e, outs)| {
            let sizes = outs
                .iter()
                .map(|o| manifest.payloads.iter().find(|p| p.sha256 == o.sha256).map_or(0, |p| p.size as i64))
                .collect();
            (e.clone(), outs.clone(), sizes)
        })
        .collect();
    store.db.import_run(&manifest.run, &execs, &manifest.lineage)?;
    Ok(Imported { manifest, extras })
}
