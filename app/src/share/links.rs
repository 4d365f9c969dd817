//! Share links as records: create (the token is shown once, only its id
//! and grant are stored), list, revoke, and authorise a request.

use std::time::{SystemTime, UNIX_EPOCH};

use phx_store::{ShareRow, Store};

use super::token::{self, Grant, Refusal};

/// Unix seconds now.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Parses `72h`, `30m`, `7d`, `90s` into seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("`{text}` is not a duration: write 72h, 30m, 7d or 90s"))?;
    let factor = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` has no unit s, m, h or d: write 72h")),
    };
    let secs = n
        .checked_mul(factor)
        .filter(|s| *s > 0 && *s <= 366 * 86_400)
        .ok_or_else(|| format!("`{text}` is out of range: a link lives from one second to a year"))?;
    Ok(secs)
}

/// Why a link cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Store(#[from] phx_store::StoreError),
    #[error("cannot use the share secret: {0}")]
    Secret(#[from] std::io::Error),
}

/// A new link: its record and its token (shown once).
pub struct NewLink {
    pub row: ShareRow,
    pub token: String,
}

/// Makes a link to `kind` `resource` with `access`, for `ttl_s` seconds.
pub fn create(
    store: &Store,
    kind: &str,
    resource: &str,
    access: &str,
    ttl_s: i64,
    to: Vec<String>,
) -> Result<NewLink, LinkError> {
    if !matches!(access, "read" | "write") {
        return Err(LinkError::Usage(format!("`--access {access}` is read or write")));
    }
    match kind {
        "run" => {
            if store.db.run(resource)?.is_none() {
                return Err(LinkError::Usage(format!("no run `{resource}` in this store (`phx runs` lists them)")));
            }
        }
        "session" => {
            if !store.db.runs()?.iter().any(|r| r.file == resource) {
                return Err(LinkError::Usage(format!(
                    "no run of `{resource}` in this store: a session is every run of one program (as `phx runs` names it)"
                )));
            }
        }
        "bundle" => {
            if !std::path::Path::new(resource).is_file() {
                return Err(LinkError::Usage(format!("no bundle file `{resource}`")));
            }
        }
        other => return Err(LinkError::Usage(format!("cannot share a `{other}`: share a run, a session or a bundle"))),
    }
    let secret = token::secret(&store.root)?;
    let id = hex::encode(token::random::<16>()?);
    let grant = Grant {
        id: id.clone(),
        kind: kind.into(),
        resource: resource.into(),
        access: access.into(),
        expires: now_unix() + ttl_s,
        to: to.clone(),
    };
    let row = ShareRow {
        id,
        resource_kind: kind.into(),
        resource_id: resource.into(),
        access: access.into(),
        expires_at: grant.expires,
        participants: to,
        created_at: phx_runtime::clock::now_rfc3339(),
        revoked_at: None,
    };
    store.db.insert_share(&row)?;
    Ok(NewLink { token: token::sign(&secret, &grant), row })
}

/// Checks a token against the store: genuine, recorded, not revoked, not
/// expired, and the record says the same as the token.
pub fn authorize(store: &Store, secret: &[u8], token: &str) -> Result<ShareRow, Refusal> {
    let grant = token::open(secret, token)?;
    let row = store.db.share(&grant.id).ok().flatten().ok_or(Refusal::Invalid)?;
    if row.resource_kind != grant.kind
        || row.resource_id != grant.resource
        || row.access != grant.access
        || row.expires_at != grant.expires
    {
        return Err(Refusal::Invalid);
    }
    if row.revoked_at.is_some() {
        return Err(Refusal::Revoked);
    }
    if now_unix() >= row.expires_at {
        return Err(Refusal::Expired);
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("72h"), Ok(72 * 3600));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("2s"), Ok(2));
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("10y").is_err());
        assert!(parse_duration("999999999999d").is_err());
    }
}
