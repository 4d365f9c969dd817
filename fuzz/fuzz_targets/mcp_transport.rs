//! Arbitrary bytes as lines of the MCP transport (`phx_mcp::serve`, the
//! server of `phx mcp`), then one valid request. Nothing may panic (a tool
//! call's panic too aborts here), every line written must be a JSON-RPC 2.0
//! message, and the last request must be answered: no garbage before it
//! loses a later request. The server works in a fresh experiment folder
//! with no grants, as `phx mcp` does by default.
#![no_main]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_json::{Value as Json, json};

/// The request that follows the fuzzer's bytes.
const LAST: &[u8] = br#"{"jsonrpc":"2.0","id":"last","method":"ping"}"#;

/// A fresh experiment folder for this fuzzing process (under fuzz/target,
/// so none is left in the temporary folder).
fn folder() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("mcp-experiment-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        phx_app::setup::init(&dir).expect("an experiment folder");
        dir
    })
    .clone()
}

/// What the server writes, kept in memory.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = data.to_vec();
    input.push(b'\n');
    input.extend_from_slice(LAST);
    input.push(b'\n');
    let out = Output::default();
    let code =
        phx_mcp::serve(std::io::Cursor::new(input), Box::new(out.clone()), folder(), phx_app::trust::Grants::default());
    assert_eq!(code, 0);
    let bytes = out.0.lock().unwrap().clone();
    let text = std::str::from_utf8(&bytes).expect("the output is UTF-8");
    assert!(text.ends_with('\n'), "the output ends with a whole line");
    let mut answered = false;
    for line in text.lines() {
        let m: Json = serde_json::from_str(line).expect("every line written is JSON");
        assert!(m.is_object() && m["jsonrpc"] == "2.0", "not a JSON-RPC 2.0 message: {line}");
        let kinds = ["result", "error", "method"].iter().filter(|k| m.get(**k).is_some()).count();
        assert_eq!(kinds, 1, "a result, an error or a request: {line}");
        if let Some(e) = m.get("error") {
            assert!(e["code"].is_i64() && e["message"].is_string(), "an error object: {line}");
        }
        answered |= m["id"] == "last" && m["result"] == json!({});
    }
    assert!(answered, "the last request was lost: {text}");
});
