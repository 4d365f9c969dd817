//! Run cache keys (language spec, section 5) and the explanation of a miss.
//!
//! A key hashes its components: the cache format, the vertex's static key,
//! the tool's name and version, every argument (canonical JSON, with input
//! references replaced by the SHA-256 of the artifacts they resolve to), the
//! code version of the tool's implementation, and the device kind. The
//! components are stored with each entry, so a later miss can name exactly
//! what changed, as Sprocket's call cache does.

use std::collections::{BTreeMap, HashMap};

use phx_dag::Vertex;
use phx_sema::value::{Instances, Value, json_string};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

/// Bumped when the meaning of a key changes; old entries then miss.
pub const CACHE_FORMAT: u32 = 1;

/// One argument as the key sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgComponent {
    /// Canonical JSON, input references resolved to artifact hashes.
    pub canonical: String,
    /// How a person reads it (`64`, `24 bohr`, `density.density`).
    pub display: String,
}

/// Everything a run cache key is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct Components {
    pub static_key: String,
    pub tool: String,
    pub tool_version: String,
    pub code_version: String,
    pub device: String,
    /// What the node emits (`static`, `series`, `animation`), sorted: the
    /// emits decide which pictures and tables it makes, so a node asked
    /// for a picture never reuses the outputs of one that was not.
    pub emits: Vec<String>,
    pub args: BTreeMap<String, ArgComponent>,
    /// Input artifacts by argument: `(reference, sha256)`.
    pub inputs: BTreeMap<String, Vec<(String, String)>>,
}

/// The artifact hashes of the outputs of finished vertices, by vertex id
/// and output name. A run of a million instances holds a million entries,
/// so each hash is kept as its 32 bytes, not as 64 characters of text.
#[derive(Debug, Default)]
pub struct OutputHashes {
    digests: HashMap<Box<str>, Vec<[u8; 32]>>,
    /// Entries with a hash that is not lowercase SHA-256 hex (none that
    /// phx's store makes), kept as they came.
    text: HashMap<Box<str>, Vec<String>>,
}

impl OutputHashes {
    /// No outputs yet.
    pub fn new() -> OutputHashes {
        OutputHashes::default()
    }

    fn key(id: &str, output: &str) -> Box<str> {
        format!("{id}\u{0}{output}").into_boxed_str()
    }

    /// Adds `sha` to the hashes of output `output` of vertex `id` (a list
    /// output has one per item, in order).
    pub fn push(&mut self, id: &str, output: &str, sha: &str) {
        let key = OutputHashes::key(id, output);
        if let Some(list) = self.text.get_mut(&key) {
            list.push(sha.to_string());
            return;
        }
        let mut digest = [0u8; 32];
        let lowercase_hex = sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if lowercase_hex && hex::decode_to_slice(sha, &mut digest).is_ok() {
            self.digests.entry(key).or_default().push(digest);
        } else {
            let mut list: Vec<String> = self.digests.remove(&key).unwrap_or_default().iter().map(hex::encode).collect();
            list.push(sha.to_string());
            self.text.insert(key, list);
        }
    }

    /// The hashes of output `output` of vertex `id`, as hex, if it finished.
    pub fn get(&self, id: &str, output: &str) -> Option<Vec<String>> {
        let key = OutputHashes::key(id, output);
        match self.text.get(&key) {
            Some(list) => Some(list.clone()),
            None => self.digests.get(&key).map(|list| list.iter().map(hex::encode).collect()),
        }
    }
}

fn resolved(v: &Value, outputs: &OutputHashes, inputs: &mut Vec<(String, String)>) -> String {
    match v {
        Value::Output(r) => {
            let ids = r.vertex_ids();
            let mut hashes = Vec::new();
            for id in &ids {
                for h in outputs.get(id, &r.output).unwrap_or_default() {
                    inputs.push((format!("{id}.{}", r.output), h.clone()));
                    hashes.push(json_string(&h));
                }
            }
            match r.instances {
                Instances::All(_) => format!("[{}]", hashes.join(",")),
                _ if hashes.len() == 1 => hashes.remove(0),
                _ => format!("[{}]", hashes.join(",")),
            }
        }
        Value::List(items) if !v.is_static() => {
            let parts: Vec<String> = items.iter().map(|x| resolved(x, outputs, inputs)).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.canonical_json(),
    }
}

impl Components {
    /// The components of a vertex about to run.
    pub fn of(vertex: &Vertex, outputs: &OutputHashes, code_version: &str, device: &str) -> Components {
        let mut args = BTreeMap::new();
        let mut inputs = BTreeMap::new();
        for (name, v) in vertex.args.iter() {
            let mut ins = Vec::new();
            let canonical = resolved(v, outputs, &mut ins);
            if !ins.is_empty() {
                inputs.insert(name.clone(), ins);
            }
            args.insert(name.clone(), ArgComponent { canonical, display: v.to_string() });
        }
        Components {
            static_key: vertex.static_key.clone(),
            tool: vertex.tool.clone(),
            tool_version: vertex.tool_version.clone(),
            code_version: code_version.to_string(),
            device: device.to_string(),
            emits: {
                let mut e: Vec<String> = vertex.props.emit.iter().map(|e| e.as_str().to_string()).collect();
                e.sort();
                e.dedup();
                e
            },
            args,
            inputs,
        }
    }

    /// The components as JSON (stored with the cache entry).
    pub fn to_json(&self) -> Json {
        json!({
            "format": CACHE_FORMAT,
            "static_key": self.static_key,
            "tool": self.tool,
            "tool_version": self.tool_version,
            "code_version": self.code_version,
            "device": self.device,
            "emits": self.emits,
            "args": self.args.iter().map(|(k, a)| (k.clone(), json!({"canonical": a.canonical, "display": a.display}))).collect::<serde_json::Map<_, _>>(),
            "inputs": self.inputs.iter().map(|(k, v)| (k.clone(), json!(v.iter().map(|(r, h)| json!({"ref": r, "sha256": h})).collect::<Vec<_>>()))).collect::<serde_json::Map<_, _>>(),
        })
    }

    /// The run cache key: SHA-256 over the canonical components (display
    /// texts left out: only meaning counts).
    pub fn key(&self) -> String {
        let mut doc = String::new();
        doc.push_str(&format!("{{\"format\":{CACHE_FORMAT},\"static_key\":{},\"tool\":{},\"tool_version\":{},\"code_version\":{},\"device\":{},\"args\":{{", json_string(&self.static_key), json_string(&self.tool), json_string(&self.tool_version), json_string(&self.code_version), json_string(&self.device)));
        for (i, (k, a)) in self.args.iter().enumerate() {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str(&json_string(k));
            doc.push(':');
            doc.push_str(&a.canonical);
        }
        doc.push('}');
        // Only where a node emits, so the keys of nodes that emit nothing
        // are what they were before emits were part of the key.
        if !self.emits.is_empty() {
            let emits: Vec<String> = self.emits.iter().map(|e| json_string(e)).collect();
            doc.push_str(&format!(",\"emits\":[{}]", emits.join(",")));
        }
        doc.push('}');
        let digest = Sha256::digest(doc.as_bytes());
        hex::encode(digest)
    }
}

/// Why a key missed, compared with the newest entry of the same vertex:
/// one line per changed component. Empty when the stored components equal
/// these (then the miss was a forced re-run or a lost object).
pub fn explain(previous: Option<&Json>, now: &Components) -> Vec<String> {
    let Some(prev) = previous else {
        return vec!["it has never run before".to_string()];
    };
    let mut out = Vec::new();
    let s = |j: &Json, k: &str| j.get(k).and_then(Json::as_str).unwrap_or("").to_string();
    if prev.get("format").and_then(Json::as_u64) != Some(u64::from(CACHE_FORMAT)) {
        out.push("the cache format of phx changed".to_string());
    }
    if s(prev, "tool") != now.tool {
        out.push(format!("the tool changed from {} to {}", s(prev, "tool"), now.tool));
    } else if s(prev, "tool_version") != now.tool_version {
        out.push(format!("tool {} version changed from {} to {}", now.tool, s(prev, "tool_version"), now.tool_version));
    }
    if s(prev, "code_version") != now.code_version {
        out.push(format!(
            "the implementation of {} changed (code version {} -> {})",
            now.tool,
            short(&s(prev, "code_version")),
            short(&now.code_version)
        ));
    }
    let empty = serde_json::Map::new();
    let prev_args = prev.get("args").and_then(Json::as_object).unwrap_or(&empty);
    let prev_inputs = prev.get("inputs").and_then(Json::as_object).unwrap_or(&empty);
    for (name, a) in &now.args {
        match prev_args.get(name) {
            None => out.push(format!("argument {name} is new (now {})", a.display)),
            Some(p) => {
                let pc = p.get("canonical").and_then(Json::as_str).unwrap_or("");
                if pc != a.canonical {
                    let pd = p.get("display").and_then(Json::as_str).unwrap_or("");
                    if now.inputs.contains_key(name) || prev_inputs.contains_key(name) {
                        out.push(format!("input {} changed", a.display));
                    } else if pd != a.display {
                        out.push(format!("argument {name} changed from {pd} to {}", a.display));
                    } else {
                        out.push(format!("argument {name} changed ({pd}, at full precision)"));
                    }
                }
            }
        }
    }
    for name in prev_args.keys() {
        if !now.args.contains_key(name) {
            out.push(format!("argument {name} was removed"));
        }
    }
    let prev_emits: Option<Vec<String>> = prev
        .get("emits")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect());
    if prev_emits.is_none() && !now.emits.is_empty() {
        out.push("its cache entry was made before emits were part of the cache key".to_string());
    } else if let Some(prev_emits) = prev_emits.filter(|p| *p != now.emits) {
        let list = |e: &[String]| if e.is_empty() { "nothing".to_string() } else { e.join(", ") };
        out.push(format!("the emits changed from {} to {}", list(&prev_emits), list(&now.emits)));
    }
    if s(prev, "device") != now.device {
        out.push(format!("device changed from {} to {}", s(prev, "device"), now.device));
    }
    if out.is_empty() && s(prev, "static_key") != now.static_key {
        out.push("the node's definition changed".to_string());
    }
    out
}

/// A code version or hash, short: the part after `tool@` (code versions
/// are `tool@hash`), cut to 12 characters.
fn short(h: &str) -> String {
    let h = h.rsplit_once('@').map_or(h, |(_, hash)| hash);
    h.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vertex(grid: i64) -> Vertex {
        let mut v = Vertex::lone("density", "lab.orbit", vec![("grid", Value::Int(grid))]);
        v.props.device = vec![phx_sema::enums::Device::Cpu];
        v.static_key = format!("static-{grid}");
        v.info_mut().run = Some("echo".into());
        v.info_mut().param_types = vec![("grid".into(), "Int".into())].into();
        v
    }

    #[test]
    fn output_hashes_come_back_as_they_went_in_and_in_order() {
        let a = "ab".repeat(32);
        let b = "01".repeat(32);
        let mut h = OutputHashes::new();
        h.push("t[3]", "files", &a);
        h.push("t[3]", "files", &b);
        h.push("t[30]", "out", &b);
        assert_eq!(h.get("t[3]", "files"), Some(vec![a.clone(), b.clone()]));
        assert_eq!(h.get("t[30]", "out"), Some(vec![b.clone()]));
        assert_eq!(h.get("t[3]", "out"), None);
        assert_eq!(h.get("t[30]", "files"), None);
        // Not phx's kind of hash: kept as it came, after those before it.
        h.push("t[3]", "files", "ABC");
        h.push("t[3]", "files", &a);
        assert_eq!(h.get("t[3]", "files"), Some(vec![a.clone(), b, "ABC".into(), a]));
    }

    #[test]
    fn keys_follow_components() {
        let a = Components::of(&vertex(48), &OutputHashes::new(), "c1", "cpu");
        let b = Components::of(&vertex(48), &OutputHashes::new(), "c1", "cpu");
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), Components::of(&vertex(64), &OutputHashes::new(), "c1", "cpu").key());
        assert_ne!(a.key(), Components::of(&vertex(48), &OutputHashes::new(), "c2", "cpu").key());
        assert_ne!(a.key(), Components::of(&vertex(48), &OutputHashes::new(), "c1", "gpu").key());
    }

    #[test]
    fn a_node_asked_for_pictures_does_not_reuse_one_that_was_not() {
        // The finding: `data.load_csv(...) { emit = [static] }` reused the
        // outputs of the same call with `emit = [series]`: no picture.
        let plain = Components::of(&vertex(48), &OutputHashes::new(), "c1", "cpu");
        let mut v = vertex(48);
        v.props.emit = vec![phx_sema::enums::Emit::Static];
        let pictured = Components::of(&v, &OutputHashes::new(), "c1", "cpu");
        assert_ne!(plain.key(), pictured.key());
        v.props.emit = vec![phx_sema::enums::Emit::Series, phx_sema::enums::Emit::Static];
        let both = Components::of(&v, &OutputHashes::new(), "c1", "cpu");
        assert_ne!(both.key(), pictured.key());
        assert_eq!(explain(Some(&pictured.to_json()), &both), vec!["the emits changed from static to series, static"]);
        assert_eq!(explain(Some(&plain.to_json()), &pictured), vec!["the emits changed from nothing to static"]);
        // A node that emits nothing keeps the key it had before emits
        // counted (its cache entries stay valid).
        assert_eq!(plain.key(), "020b03ac304007b7095958fc03f85716730513020c52a464417e1f90b09fbb71");
    }

    #[test]
    fn misses_explain_themselves() {
        let before = Components::of(&vertex(48), &OutputHashes::new(), "c1", "gpu").to_json();
        let now = Components::of(&vertex(64), &OutputHashes::new(), "c1", "cpu");
        let why = explain(Some(&before), &now);
        assert_eq!(why, vec!["argument grid changed from 48 to 64", "device changed from gpu to cpu"]);
        assert_eq!(explain(None, &now), vec!["it has never run before"]);
    }
}
