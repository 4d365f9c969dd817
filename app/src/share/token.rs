//! Share tokens: `phx1.<payload>.<mac>`, the payload (link id, resource,
//! access, expiry, participants) as base64url JSON and the mac an
//! HMAC-SHA256 over `phx1.<payload>` with the store's secret. The link id is
//! 128 random bits, so a token cannot be guessed; the mac makes it
//! unforgeable; the store's record (by link id) makes it revocable.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token grants.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Grant {
    /// The link's id (32 hex digits), the key of its record.
    pub id: String,
    /// `run`, `bundle` or `session`.
    pub kind: String,
    pub resource: String,
    /// `read` or `write`.
    pub access: String,
    /// Unix seconds.
    pub expires: i64,
    #[serde(default)]
    pub to: Vec<String>,
}

const PREFIX: &str = "phx1";

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a phx token, or its mac does not match (forged or tampered).
    Invalid,
    Expired,
    Revoked,
    /// The token is genuine but grants something else.
    WrongResource,
}

impl Refusal {
    /// Words for the person holding the link.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Invalid => "this is not a valid phx share link",
            Refusal::Expired => "this share link has expired; ask for a new one",
            Refusal::Revoked => "this share link was revoked",
            Refusal::WrongResource => "this share link does not grant that",
        }
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs a grant into a token.
pub fn sign(secret: &[u8], grant: &Grant) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(grant).unwrap_or_default());
    let signed = format!("{PREFIX}.{payload}");
    let mac = URL_SAFE_NO_PAD.encode(hmac_sha256(secret, signed.as_bytes()));
    format!("{signed}.{mac}")
}

/// The grant a token carries, if its mac is right (expiry and revocation
/// are checked against the store by the caller).
pub fn open(secret: &[u8], token: &str) -> Result<Grant, Refusal> {
    if token.len() > 4096 {
        return Err(Refusal::Invalid);
    }
    let mut parts = token.split('.');
    let (Some(prefix), Some(payload), Some(mac), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Invalid);
    };
    if prefix != PREFIX {
        return Err(Refusal::Invalid);
    }
    let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| Refusal::Invalid)?;
    let want = hmac_sha256(secret, format!("{PREFIX}.{payload}").as_bytes());
    if !same(&mac, &want) {
        return Err(Refusal::Invalid);
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Refusal::Invalid)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Invalid)
}

/// Random bytes from the kernel.
pub fn random<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut buf = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// The store's share secret (`.phx/share.key`, 32 random bytes, mode 600),
/// made on first use.
pub fn secret(store_root: &Path) -> std::io::Result<Vec<u8>> {
    let path = store_root.join("share.key");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 32 => return Ok(bytes),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "`{}` is not a share secret (32 bytes); move it away to make a new one (every link made with it stops working)",
                path.display()
            )));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let key = random::<32>()?;
    let tmp = store_root.join(format!(".share.key.tmp-{}", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()?;
    }
    // Two processes making it at once: the first rename wins, both read it.
    if std::fs::hard_link(&tmp, &path).is_err() && !path.exists() {
        let _ = std::fs::remove_file(&tmp);
        return Err(std::io::Error::other("cannot create the share secret"));
    }
    let _ = std::fs::remove_file(&tmp);
    std::fs::read(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            id: "00112233445566778899aabbccddeeff".into(),
            kind: "run".into(),
            resource: "20261129T030440-d5eac0".into(),
            access: "read".into(),
            expires: 4_000_000_000,
            to: vec!["Ada".into()],
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn tokens_open_only_with_their_secret_and_untouched() {
        let t = sign(b"secret-one-secret-one-secret-one", &grant());
        assert_eq!(open(b"secret-one-secret-one-secret-one", &t), Ok(grant()));
        assert_eq!(open(b"another-secret-another-secret-xx", &t), Err(Refusal::Invalid));
        // Tampering: a payload that grants write, with the old mac.
        let mut g = grant();
        g.access = "write".into();
        let forged = sign(b"x", &g);
        let (_, tail) = t.rsplit_once('.').unwrap();
        let (head, _) = forged.rsplit_once('.').unwrap();
        assert_eq!(open(b"secret-one-secret-one-secret-one", &format!("{head}.{tail}")), Err(Refusal::Invalid));
        for bad in ["", "phx1", "phx1..", "phx2.a.b", "phx1.a.b.c", &"a".repeat(5000)] {
            assert_eq!(open(b"k", bad), Err(Refusal::Invalid), "{bad}");
        }
    }
}
