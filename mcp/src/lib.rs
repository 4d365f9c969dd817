//! `phx mcp`: a Model Context Protocol server on stdio (newline-delimited
//! JSON-RPC). Two consolidated tools, `experiment_orchestrator` and
//! `distributed_collaboration`, routed by `method`, and the same methods
//! under their own names. Every method calls the application layer in
//! this process; schemas are generated from the types in `api`.
//!
//! The transport: a reader thread parses lines and hands requests to the
//! dispatcher and answers (to our sampling requests) to whoever waits for
//! them; each `tools/call` runs on a thread of its own, so a client can
//! cancel it (`notifications/cancelled`) and see its progress
//! (`notifications/progress` for its `progressToken`) while it runs.

mod api;
mod methods;
mod tools;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use phx_app::run::Cancellation;
use phx_app::{AppError, AppResult};
use serde_json::{Value as Json, json};

/// The protocol versions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2024-11-05"];

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;

/// The connection's sending side, shared by every call: messages out, and
/// requests to the client (sampling) waiting for their answers.
pub struct Peer {
    output: Mutex<Box<dyn Write + Send>>,
    next_id: AtomicI64,
    /// Our requests waiting for the client's answer, by id; `None` once
    /// the client has gone (then no request waits any more).
    waiting: Mutex<Option<HashMap<String, mpsc::Sender<Json>>>>,
    /// Whether the client said it can sample (`capabilities.sampling`).
    can_sample: AtomicBool,
}

impl Peer {
    fn new(output: Box<dyn Write + Send>) -> Peer {
        Peer {
            output: Mutex::new(output),
            next_id: AtomicI64::new(0),
            waiting: Mutex::new(Some(HashMap::new())),
            can_sample: AtomicBool::new(false),
        }
    }

    /// Sends one message (a line).
    fn send(&self, msg: &Json) -> std::io::Result<()> {
        let mut line = serde_json::to_string(msg)?;
        line.push('\n');
        let mut out = self.output.lock().map_err(|_| std::io::Error::other("the output lock is poisoned"))?;
        out.write_all(line.as_bytes())?;
        out.flush()
    }

    /// Sends a notification; a client that went away is not an error here.
    pub fn notify(&self, method: &str, params: Json) {
        let _ = self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Whether the client can sample.
    pub fn can_sample(&self) -> bool {
        self.can_sample.load(Ordering::SeqCst)
    }

    /// Sends a request to the client and waits for its answer, until the
    /// client answers, goes away, or the call is cancelled.
    pub fn request(&self, method: &str, params: Json, cancel: &Cancellation) -> AppResult<Json> {
        let id = format!("phx-{}", self.next_id.fetch_add(1, Ordering::SeqCst) + 1);
        let gone =
            || AppError::environment("phx::mcp-client", "the client went away").with_help("reconnect and call again");
        let (tx, rx) = mpsc::channel();
        match self.waiting.lock().ok().as_deref_mut() {
            Some(Some(w)) => {
                w.insert(id.clone(), tx);
            }
            _ => return Err(gone()),
        }
        let forget = || {
            if let Ok(mut w) = self.waiting.lock()
                && let Some(w) = w.as_mut()
            {
                w.remove(&id);
            }
        };
        if self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).is_err() {
            forget();
            return Err(gone());
        }
        let msg = loop {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(msg) => break msg,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(gone()),
                Err(mpsc::RecvTimeoutError::Timeout) if cancel.is_cancelled() => {
                    forget();
                    return Err(AppError::invalid("phx::cancelled", format!("`{method}` was cancelled")));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        };
        if let Some(err) = msg.get("error") {
            return Err(AppError::environment(
                "phx::mcp-client",
                format!("the client refused `{method}`: {}", err["message"].as_str().unwrap_or("no reason")),
            ));
        }
        Ok(msg.get("result").cloned().unwrap_or(Json::Null))
    }

    /// Hands an answer to the request waiting for it.
    fn deliver(&self, msg: Json) {
        let id = match &msg["id"] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(tx) = self.waiting.lock().ok().and_then(|mut w| w.as_mut().and_then(|w| w.remove(&id))) {
            let _ = tx.send(msg);
        }
    }

    /// The client went away: every waiting request fails, and so does
    /// every later one.
    fn hang_up(&self) {
        if let Ok(mut w) = self.waiting.lock() {
            *w = None;
        }
    }
}

fn response(id: &Json, result: Json) -> Json {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Json, code: i64, message: impl Into<String>) -> Json {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

/// What the reader thread passes on.
enum Incoming {
    /// A request or notification to handle.
    Message(Json),
    /// A line that is not a valid message: the error to answer.
    Invalid(Json),
}

/// Classifies one line of input.
fn read_message(line: &[u8]) -> Option<Result<Json, Json>> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return None;
    }
    let text = match std::str::from_utf8(trimmed) {
        Ok(t) => t,
        Err(e) => {
            return Some(Err(error(&Json::Null, PARSE_ERROR, format!("not UTF-8 at byte {}", e.valid_up_to()))));
        }
    };
    let msg: Json = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(Err(error(&Json::Null, PARSE_ERROR, format!("not JSON: {e}")))),
    };
    let Json::Object(m) = &msg else {
        let what = if msg.is_array() { "a batch (this server takes one message per line)" } else { "not an object" };
        return Some(Err(error(&Json::Null, INVALID_REQUEST, format!("the message is {what}"))));
    };
    let id = m.get("id").cloned().unwrap_or(Json::Null);
    if !matches!(id, Json::Null | Json::String(_) | Json::Number(_)) {
        return Some(Err(error(&Json::Null, INVALID_REQUEST, "`id` is a string or a number")));
    }
    let has_method = m.get("method").is_some_and(Json::is_string);
    let is_answer = m.contains_key("result") || m.contains_key("error");
    if !(has_method || is_answer && m.contains_key("id")) {
        return Some(Err(error(&id, INVALID_REQUEST, "a request needs `method` (a string)")));
    }
    Some(Ok(msg))
}

/// Serves on stdin and stdout until the client closes stdin.
pub fn serve_stdio(dir: std::path::PathBuf, grants: phx_app::trust::Grants) -> u8 {
    let peer = Arc::new(Peer::new(Box::new(std::io::stdout())));
    let server = Arc::new(methods::Server::new(dir, grants));
    let (tx, rx) = mpsc::channel::<Incoming>();
    {
        let peer = peer.clone();
        std::thread::spawn(move || {
            let mut input = std::io::stdin().lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                match input.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let passed = match read_message(&line) {
                    None => Ok(()),
                    Some(Err(e)) => tx.send(Incoming::Invalid(e)),
                    Some(Ok(msg)) if msg.get("method").is_none() => {
                        peer.deliver(msg);
                        Ok(())
                    }
                    Some(Ok(msg)) => tx.send(Incoming::Message(msg)),
                };
                if passed.is_err() {
                    break;
                }
            }
            peer.hang_up();
        });
    }
    // Calls in flight, by request id: their cancellation and thread.
    let in_flight: Arc<Mutex<HashMap<String, Cancellation>>> = Arc::default();
    let mut threads = Vec::new();
    while let Ok(incoming) = rx.recv() {
        let msg = match incoming {
            Incoming::Invalid(e) => {
                if peer.send(&e).is_err() {
                    break;
                }
                continue;
            }
            Incoming::Message(m) => m,
        };
        let method = msg["method"].as_str().unwrap_or("").to_string();
        let params = msg.get("params").cloned().unwrap_or(json!({}));
        let Some(id) = msg.get("id").cloned().filter(|i| !i.is_null()) else {
            // A notification: only cancellation needs an action.
            if method == "notifications/cancelled"
                && let Some(c) = in_flight.lock().ok().and_then(|f| f.get(&key_of(&params["requestId"])).cloned())
            {
                c.cancel();
            }
            continue;
        };
        let reply = match method.as_str() {
            "initialize" => {
                let asked = params["protocolVersion"].as_str().unwrap_or(PROTOCOL_VERSIONS[0]);
                let version = if PROTOCOL_VERSIONS.contains(&asked) { asked } else { PROTOCOL_VERSIONS[0] };
                let sampling = params.pointer("/capabilities/sampling").is_some_and(|s| !s.is_null());
                peer.can_sample.store(sampling, Ordering::SeqCst);
                response(
                    &id,
                    json!({
                        "protocolVersion": version,
                        "capabilities": {"tools": {"listChanged": false}, "logging": {}},
                        "serverInfo": {"name": "phx", "title": "phx: physics pipelines", "version": env!("CARGO_PKG_VERSION")},
                        "instructions": server.instructions(),
                    }),
                )
            }
            "ping" => response(&id, json!({})),
            "logging/setLevel" => response(&id, json!({})),
            "tools/list" => response(&id, json!({"tools": tools::list()})),
            "tools/call" => {
                let cancel = Cancellation::new();
                let key = key_of(&id);
                if let Ok(mut f) = in_flight.lock() {
                    f.insert(key.clone(), cancel.clone());
                }
                let (peer, server, in_flight) = (peer.clone(), server.clone(), in_flight.clone());
                threads.push(std::thread::spawn(move || {
                    let name = params["name"].as_str().unwrap_or("").to_string();
                    let args = params.get("arguments").cloned().unwrap_or(json!({}));
                    let ctx = methods::CallContext {
                        peer: &peer,
                        progress_token: params.pointer("/_meta/progressToken").cloned(),
                        cancel: cancel.clone(),
                    };
                    let result =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.call(&name, args, &ctx)))
                            .unwrap_or_else(|_| {
                                tools::failure(&api::Failure {
                                    method: name.clone(),
                                    ok: false,
                                    error: format!("`{name}` failed inside phx (a bug); the server is still up"),
                                    code: "phx::internal".into(),
                                    help: None,
                                })
                            });
                    if let Ok(mut f) = in_flight.lock() {
                        f.remove(&key);
                    }
                    // A cancelled request gets no answer (MCP cancellation).
                    if !cancel.is_cancelled() {
                        let _ = peer.send(&response(&id, result));
                    }
                }));
                threads.retain(|t| !t.is_finished());
                continue;
            }
            other => error(&id, METHOD_NOT_FOUND, format!("phx mcp has no method `{other}`")),
        };
        if peer.send(&reply).is_err() {
            break;
        }
    }
    // The client has gone: what it started stops, and is recorded so.
    if let Ok(f) = in_flight.lock() {
        for c in f.values() {
            c.cancel();
        }
    }
    for t in threads {
        let _ = t.join();
    }
    0
}

/// A request id as a map key (a string id and a number id differ).
fn key_of(id: &Json) -> String {
    id.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_messages_get_the_error_they_deserve() {
        let code = |line: &[u8]| match read_message(line) {
            Some(Err(e)) => e["error"]["code"].as_i64(),
            Some(Ok(_)) => Some(0),
            None => None,
        };
        assert_eq!(code(b"{not json"), Some(PARSE_ERROR));
        assert_eq!(code(b"{\"a\": \"\xff\"}"), Some(PARSE_ERROR));
        assert_eq!(code(b"42"), Some(INVALID_REQUEST));
        assert_eq!(code(b"null"), Some(INVALID_REQUEST));
        assert_eq!(code(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]"), Some(INVALID_REQUEST));
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\",\"id\":1}"), Some(INVALID_REQUEST));
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}"), Some(INVALID_REQUEST));
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"), Some(0));
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\",\"id\":\"phx-1\",\"result\":{}}"), Some(0));
        assert_eq!(code(b"   \n"), None);
    }
}
