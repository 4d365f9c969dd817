//! One notebook entry: the body that is hashed and signed.

use serde::{Deserialize, Serialize};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry says and holds. Its canonical JSON (fields in this order,
/// no spaces) is what the hash and the signature cover.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// 1, 2, 3, ... with no gaps.
    pub seq: u64,
    pub title: String,
    pub markdown: String,
    pub author: String,
    /// UTC, RFC 3339.
    pub time: String,
    pub attachments: Vec<Attachment>,
    /// The runs and nodes the entry refers to.
    pub refs: Vec<Reference>,
    /// The hash of the entry before (GENESIS for the first).
    pub prev: String,
    /// The ed25519 public key that signs it (hex).
    pub public_key: String,
}

/// An attachment: an object of the store, by hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub sha256: String,
    /// `slice.image`, `report.pdf`, a file's name.
    pub name: String,
    pub kind: String,
    pub size: u64,
    /// A small PNG of an image attachment.
    pub thumbnail: Option<String>,
}

/// A run, or a node of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub run_id: String,
    pub node: Option<String>,
}

impl Body {
    /// The exact bytes that are hashed and signed.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("a notebook body always serialises")
    }
}
