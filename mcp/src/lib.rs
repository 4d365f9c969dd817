//! phx-mcp: `phx mcp`, a Model Context Protocol server over newline-
//! delimited JSON-RPC 2.0 (`serve` on any reader and writer, `serve_stdio`
//! on the process's own). Two consolidated tools, `experiment_orchestrator`
//! and `distributed_collaboration`, routed by `method`, and the same
//! methods under their own names. Every method calls the application layer
//! (`phx-app`) in this process and nothing below it; schemas are generated
//! from the types in `api`.
//!
//! The transport: a reader thread parses lines and hands requests to the
//! dispatcher and answers (to our sampling requests) to whoever waits for
//! them; each `tools/call` runs on a thread of its own, so a client can
//! cancel it (`notifications/cancelled`) and see its progress
//! (`notifications/progress` for its `progressToken`) while it runs. A
//! line that is no valid message gets a JSON-RPC error (-32700 not UTF-8
//! or JSON, -32600 not a request, -32601 no such method, -32602 wrong
//! params of a method that exists) and the server reads on.

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
const INVALID_PARAMS: i64 = -32602;

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
    /// The constraints the client's sampling takes (`capabilities.experimental
    /// ["phx/constrainedSampling"].modes`: "gbnf", "json_schema").
    sampling_modes: Mutex<Vec<String>>,
}

impl Peer {
    fn new(output: Box<dyn Write + Send>) -> Peer {
        Peer {
            output: Mutex::new(output),
            next_id: AtomicI64::new(0),
            waiting: Mutex::new(Some(HashMap::new())),
            can_sample: AtomicBool::new(false),
            sampling_modes: Mutex::new(Vec::new()),
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

    /// The constraint the client's sampling takes, by what it announced.
    pub fn sampling_constraint(&self) -> phx_app::authoring::Constrain {
        use phx_app::authoring::Constrain;
        let modes = self.sampling_modes.lock().map(|m| m.clone()).unwrap_or_default();
        if modes.iter().any(|m| m == "gbnf") {
            Constrain::Gbnf
        } else if modes.iter().any(|m| m == "json_schema") {
            Constrain::JsonSchema
        } else {
            Constrain::None
        }
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

/// Classifies one line of input: nothing (a blank line), a message (a
/// request, a notification or an answer to one of our requests), or the
/// error that answers it. Requests follow MCP's JSON-RPC: `"jsonrpc":
/// "2.0"`, `method` a string, and `id`, when there is one, a string or an
/// integer (never null).
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
    // serde_json refuses nesting deeper than 128 levels (its recursion
    // limit), so no line can overflow the stack.
    let msg: Json = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(Err(error(&Json::Null, PARSE_ERROR, format!("not JSON: {e}")))),
    };
    let Json::Object(m) = &msg else {
        let what = if msg.is_array() { "a batch (this server takes one message per line)" } else { "not an object" };
        return Some(Err(error(&Json::Null, INVALID_REQUEST, format!("the message is {what}"))));
    };
    let id = match m.get("id") {
        None => None,
        Some(id @ Json::String(_)) => Some(id),
        Some(id @ Json::Number(n)) if n.is_i64() || n.is_u64() => Some(id),
        Some(_) => {
            return Some(Err(error(&Json::Null, INVALID_REQUEST, "`id` must be a string or an integer")));
        }
    };
    let shown = id.cloned().unwrap_or(Json::Null);
    if m.get("jsonrpc").and_then(Json::as_str) != Some("2.0") {
        return Some(Err(error(&shown, INVALID_REQUEST, "`jsonrpc` must be \"2.0\"")));
    }
    let is_answer = id.is_some() && (m.contains_key("result") || m.contains_key("error"));
    match m.get("method") {
        Some(Json::String(_)) => {}
        Some(_) => return Some(Err(error(&shown, INVALID_REQUEST, "`method` must be a string"))),
        None if is_answer => {}
        None => return Some(Err(error(&shown, INVALID_REQUEST, "a request needs `method` (a string)"))),
    }
    Some(Ok(msg))
}

/// The methods this server answers.
const METHODS: [&str; 5] = ["initialize", "ping", "logging/setLevel", "tools/list", "tools/call"];

/// The levels of `logging/setLevel` (RFC 5424's, as MCP names them).
const LOG_LEVELS: [&str; 8] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/// Serves on stdin and stdout until the client closes stdin.
pub fn serve_stdio(
    dir: std::path::PathBuf,
    grants: phx_app::trust::Grants,
    sampling: Option<phx_app::authoring::Constrain>,
) -> u8 {
    serve_with(std::io::BufReader::new(std::io::stdin()), Box::new(std::io::stdout()), dir, grants, sampling)
}

/// Serves the experiment that `dir` belongs to, reading messages (one per
/// line) from `input` and writing messages to `output`, until the input
/// ends (the client has gone: calls in flight are cancelled and waited
/// for) or the output fails.
pub fn serve(
    input: impl BufRead + Send + 'static,
    output: Box<dyn Write + Send>,
    dir: std::path::PathBuf,
    grants: phx_app::trust::Grants,
) -> u8 {
    serve_with(input, output, dir, grants, None)
}

/// [`serve`], with the constraint the client's model takes in sampling
/// requests (`None`: what the client announces, else none).
pub fn serve_with(
    input: impl BufRead + Send + 'static,
    output: Box<dyn Write + Send>,
    dir: std::path::PathBuf,
    grants: phx_app::trust::Grants,
    sampling: Option<phx_app::authoring::Constrain>,
) -> u8 {
    let peer = Arc::new(Peer::new(output));
    let server = Arc::new(methods::Server::new(dir, grants).with_sampling(sampling));
    let (tx, rx) = mpsc::channel::<Incoming>();
    let reader = {
        let peer = peer.clone();
        std::thread::spawn(move || {
            let mut input = input;
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
        })
    };
    // Calls in flight, by request id: a number of their own (a client
    // reusing an id must not make one call forget the other's entry) and
    // their cancellation.
    let in_flight: Arc<Mutex<HashMap<String, (u64, Cancellation)>>> = Arc::default();
    let mut calls: u64 = 0;
    let mut threads = Vec::new();
    // Whether the output failed; else the loop ends with the input.
    let mut output_failed = false;
    while let Ok(incoming) = rx.recv() {
        let msg = match incoming {
            Incoming::Invalid(e) => {
                if peer.send(&e).is_err() {
                    output_failed = true;
                    break;
                }
                continue;
            }
            Incoming::Message(m) => m,
        };
        let method = msg["method"].as_str().unwrap_or("").to_string();
        let params = match msg.get("params") {
            None => Some(json!({})),
            Some(p @ Json::Object(_)) => Some(p.clone()),
            Some(_) => None,
        };
        let Some(id) = msg.get("id").cloned() else {
            // A notification: only cancellation needs an action.
            if method == "notifications/cancelled"
                && let Some(params) = &params
                && let Some((_, c)) = in_flight.lock().ok().and_then(|f| f.get(&key_of(&params["requestId"])).cloned())
            {
                c.cancel();
            }
            continue;
        };
        let reply = if !METHODS.contains(&method.as_str()) {
            error(&id, METHOD_NOT_FOUND, format!("phx mcp has no method `{method}`"))
        } else if let Some(params) = params {
            match method.as_str() {
                "initialize" => match params.get("protocolVersion") {
                    Some(asked) if !asked.is_string() => {
                        error(&id, INVALID_PARAMS, "`protocolVersion` must be a string")
                    }
                    asked => {
                        let asked = asked.and_then(Json::as_str).unwrap_or(PROTOCOL_VERSIONS[0]);
                        let version = if PROTOCOL_VERSIONS.contains(&asked) { asked } else { PROTOCOL_VERSIONS[0] };
                        let sampling = params.pointer("/capabilities/sampling").is_some_and(|s| !s.is_null());
                        peer.can_sample.store(sampling, Ordering::SeqCst);
                        let modes: Vec<String> = params
                            .pointer("/capabilities/experimental/phx~1constrainedSampling/modes")
                            .and_then(Json::as_array)
                            .map(|m| m.iter().filter_map(Json::as_str).map(str::to_string).collect())
                            .unwrap_or_default();
                        if let Ok(mut m) = peer.sampling_modes.lock() {
                            *m = modes;
                        }
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
                },
                "ping" => response(&id, json!({})),
                "logging/setLevel" => match params.get("level").and_then(Json::as_str) {
                    Some(level) if LOG_LEVELS.contains(&level) => response(&id, json!({})),
                    _ => error(&id, INVALID_PARAMS, format!("`level` must be one of: {}", LOG_LEVELS.join(", "))),
                },
                "tools/list" => response(&id, json!({"tools": tools::list()})),
                "tools/call" => match call_of(&params) {
                    Err(message) => error(&id, INVALID_PARAMS, message),
                    Ok((name, args, progress_token)) => {
                        let cancel = Cancellation::new();
                        let key = key_of(&id);
                        calls += 1;
                        let call = calls;
                        if let Ok(mut f) = in_flight.lock() {
                            f.insert(key.clone(), (call, cancel.clone()));
                        }
                        let (peer, server, in_flight) = (peer.clone(), server.clone(), in_flight.clone());
                        threads.push(std::thread::spawn(move || {
                            let ctx = methods::CallContext { peer: &peer, progress_token, cancel: cancel.clone() };
                            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                server.call(&name, args, &ctx)
                            }))
                            .unwrap_or_else(|_| {
                                tools::failure(&api::Failure {
                                    method: name.clone(),
                                    ok: false,
                                    error: format!("`{name}` failed inside phx (a bug); the server is still up"),
                                    code: "phx::internal".into(),
                                    help: None,
                                })
                            });
                            if let Ok(mut f) = in_flight.lock()
                                && f.get(&key).is_some_and(|(n, _)| *n == call)
                            {
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
                },
                _ => error(&id, METHOD_NOT_FOUND, format!("phx mcp has no method `{method}`")),
            }
        } else {
            error(&id, INVALID_PARAMS, format!("the `params` of `{method}` must be an object"))
        };
        if peer.send(&reply).is_err() {
            output_failed = true;
            break;
        }
    }
    // The client has gone: what it started stops, and is recorded so.
    if let Ok(f) = in_flight.lock() {
        for (_, c) in f.values() {
            c.cancel();
        }
    }
    for t in threads {
        let _ = t.join();
    }
    // The reader has ended with the input, so no thread outlives the
    // connection; after a failed output it may still wait for input that
    // never comes, and is left to end with the process.
    if !output_failed {
        let _ = reader.join();
    }
    0
}

/// The tool, arguments and progress token of a `tools/call`, or what is
/// wrong with its params (a JSON-RPC error, not a tool result: the call
/// names no tool that could answer).
fn call_of(params: &Json) -> Result<(String, Json, Option<Json>), String> {
    let name = match params.get("name") {
        Some(Json::String(n)) if tools::exists(n) => n.clone(),
        Some(Json::String(n)) => return Err(format!("no tool `{n}` (`tools/list` names them)")),
        Some(_) => return Err("`name` must be a string, the tool's name".into()),
        None => return Err("`tools/call` needs `name`, the tool's name".into()),
    };
    let args = match params.get("arguments") {
        None => json!({}),
        Some(a @ Json::Object(_)) => a.clone(),
        Some(_) => return Err(format!("the `arguments` of `{name}` must be an object")),
    };
    let progress_token = match params.get("_meta") {
        None => None,
        Some(Json::Object(meta)) => match meta.get("progressToken") {
            None => None,
            Some(t @ Json::String(_)) => Some(t.clone()),
            Some(t @ Json::Number(n)) if n.is_i64() || n.is_u64() => Some(t.clone()),
            Some(_) => return Err("`_meta.progressToken` must be a string or an integer".into()),
        },
        Some(_) => return Err("`_meta` must be an object".into()),
    };
    Ok((name, args, progress_token))
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
        assert_eq!(code(b"\r\n"), None);
        // MCP's ids: a string or an integer, never null, a float or a bool.
        for id in ["null", "1.5", "true", "[1]"] {
            let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}");
            assert_eq!(code(line.as_bytes()), Some(INVALID_REQUEST), "{id}");
        }
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\",\"id\":-3,\"method\":\"ping\"}"), Some(0));
        // The envelope: `jsonrpc` is "2.0", `method` a string.
        assert_eq!(code(b"{\"id\":1,\"method\":\"ping\"}"), Some(INVALID_REQUEST));
        assert_eq!(code(b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}"), Some(INVALID_REQUEST));
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}"), Some(INVALID_REQUEST));
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7,\"result\":{}}"), Some(INVALID_REQUEST));
        assert_eq!(code(b"{\"jsonrpc\":\"2.0\",\"result\":{}}"), Some(INVALID_REQUEST));
        // A nesting past serde_json's recursion limit is a parse error, not a stack overflow.
        assert_eq!(code("[".repeat(100_000).as_bytes()), Some(PARSE_ERROR));
        // An error names the request's id when it has a valid one.
        let e = read_message(b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":[]}").unwrap().unwrap_err();
        assert_eq!(e["id"], "a");
    }

    #[test]
    fn tools_call_params_are_checked_before_any_tool_runs() {
        let wrong = |p: Json| call_of(&p).err().unwrap_or_default();
        assert!(wrong(json!({})).contains("needs `name`"));
        assert!(wrong(json!({"name": 3})).contains("must be a string"));
        assert!(wrong(json!({"name": "fly"})).contains("no tool `fly`"));
        assert!(wrong(json!({"name": "run_dag", "arguments": [1]})).contains("must be an object"));
        assert!(wrong(json!({"name": "run_dag", "arguments": null})).contains("must be an object"));
        assert!(wrong(json!({"name": "run_dag", "_meta": 1})).contains("`_meta`"));
        assert!(wrong(json!({"name": "run_dag", "_meta": {"progressToken": 0.5}})).contains("progressToken"));
        let (name, args, token) = call_of(&json!({"name": "run_dag", "_meta": {"progressToken": "t"}})).unwrap();
        assert_eq!((name.as_str(), args, token), ("run_dag", json!({}), Some(json!("t"))));
    }
}
