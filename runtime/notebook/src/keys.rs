//! The signing key: an ed25519 key pair, created on first use in the
//! user's config folder with owner-only permissions, or read from a file
//! given with `--key`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use crate::NotebookError;

/// `$XDG_CONFIG_HOME/phx`, else `$HOME/.config/phx`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("phx"));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config").join("phx"))
}

/// The default key file.
pub fn default_key_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("notebook_ed25519"))
}

/// Decodes lowercase or uppercase hex (surrounding white space ignored).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.trim()).ok()
}

fn random_seed() -> Result<[u8; 32], NotebookError> {
    let mut seed = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom")
        .map_err(|e| NotebookError::Key { path: "/dev/urandom".into(), message: e.to_string() })?;
    std::io::Read::read_exact(&mut f, &mut seed)
        .map_err(|e| NotebookError::Key { path: "/dev/urandom".into(), message: e.to_string() })?;
    Ok(seed)
}

/// Reads the key at `path`; when `create` and there is none, makes one
/// (the file readable by its owner only, its folder too).
pub fn load(path: &Path, create: bool) -> Result<SigningKey, NotebookError> {
    let key_err = |message: String| NotebookError::Key { path: path.to_path_buf(), message };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o077).unwrap_or(0);
            if mode != 0 {
                return Err(key_err(format!(
                    "it is readable by others (mode {:o}); a signing key must be private",
                    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
                )));
            }
            let bytes = unhex(&text).ok_or_else(|| key_err("it is not a hex-encoded ed25519 key".into()))?;
            let seed: [u8; 32] =
                bytes.try_into().map_err(|_| key_err("an ed25519 secret key is 32 bytes (64 hex digits)".into()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| key_err(format!("cannot create its folder: {e}")))?;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            }
            let key = SigningKey::from_bytes(&random_seed()?);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| key_err(format!("cannot create it: {e}")))?;
            f.write_all(format!("{}\n", hex::encode(key.to_bytes())).as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| key_err(format!("cannot write it: {e}")))?;
            let public = path.with_extension("pub");
            let _ = std::fs::write(&public, format!("{}\n", hex::encode(key.verifying_key().as_bytes())));
            Ok(key)
        }
        Err(e) => Err(key_err(e.to_string())),
    }
}
