//! `phx mcp`: a Model Context Protocol server on stdio (newline-delimited
//! JSON-RPC). Two consolidated tools, `experiment_orchestrator` and
//! `distributed_collaboration`, routed by `method`, and the same methods
//! under their own names for older clients. Results carry
//! `structuredContent` (checked against each tool's `outputSchema` by the
//! tests) and a text summary; bad arguments are a result with
//! `isError: true` that says what to change, never a crash.

mod methods;
mod tools;

use std::io::{BufRead, Write};

use serde_json::{Value as Json, json};

/// The protocol versions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2024-11-05"];

/// The connection: lines in, lines out, and requests the server sends the
/// client (sampling) with their answers.
pub struct Peer<R: BufRead, W: Write> {
    input: R,
    output: W,
    next_id: i64,
    /// Messages that arrived while waiting for an answer to our request.
    pending: std::collections::VecDeque<Json>,
    /// Whether the client said it can sample (`capabilities.sampling`).
    pub can_sample: bool,
}

impl<R: BufRead, W: Write> Peer<R, W> {
    fn send(&mut self, msg: &Json) -> std::io::Result<()> {
        let mut line = serde_json::to_string(msg)?;
        line.push('\n');
        self.output.write_all(line.as_bytes())?;
        self.output.flush()
    }

    /// The next line of input, or `None` when the client has gone.
    fn line(&mut self) -> Option<String> {
        loop {
            let mut line = String::new();
            match self.input.read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) if line.trim().is_empty() => continue,
                Ok(_) => return Some(line),
            }
        }
    }

    /// The next message to handle: one kept while waiting for an answer,
    /// else the next line; a line that is not JSON is answered with -32700.
    fn read(&mut self) -> Option<Json> {
        if let Some(m) = self.pending.pop_front() {
            return Some(m);
        }
        loop {
            let line = self.line()?;
            match serde_json::from_str::<Json>(line.trim()) {
                Ok(v) => return Some(v),
                Err(e) => {
                    let _ = self.send(&error(&Json::Null, -32700, format!("not JSON: {e}")));
                }
            }
        }
    }

    /// Sends a request to the client and waits for its answer; messages
    /// that come in meanwhile are kept for later.
    pub fn request(&mut self, method: &str, params: Json) -> Result<Json, String> {
        self.next_id += 1;
        let id = format!("phx-{}", self.next_id);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .map_err(|e| e.to_string())?;
        loop {
            let line = self.line().ok_or("the client went away")?;
            let Ok(msg) = serde_json::from_str::<Json>(line.trim()) else { continue };
            if msg.get("id").and_then(Json::as_str) == Some(id.as_str()) && msg.get("method").is_none() {
                if let Some(err) = msg.get("error") {
                    return Err(format!(
                        "the client refused `{method}`: {}",
                        err["message"].as_str().unwrap_or("no reason")
                    ));
                }
                return Ok(msg.get("result").cloned().unwrap_or(Json::Null));
            }
            self.pending.push_back(msg);
        }
    }
}

fn response(id: &Json, result: Json) -> Json {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Json, code: i64, message: impl Into<String>) -> Json {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

/// Serves on stdin and stdout until the client closes stdin.
pub fn serve_stdio(dir: std::path::PathBuf) -> u8 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut peer =
        Peer { input: stdin.lock(), output: stdout.lock(), next_id: 0, pending: Default::default(), can_sample: false };
    let mut server = methods::Server::new(dir);
    while let Some(msg) = peer.read() {
        let id = msg.get("id").cloned();
        let method = msg.get("method").and_then(Json::as_str).map(str::to_string);
        let (Some(id), Some(method)) = (id, method) else {
            // A notification (no id) or a stray response: nothing to answer.
            continue;
        };
        let params = msg.get("params").cloned().unwrap_or(json!({}));
        let reply = match method.as_str() {
            "initialize" => {
                let asked = params["protocolVersion"].as_str().unwrap_or(PROTOCOL_VERSIONS[0]);
                let version = if PROTOCOL_VERSIONS.contains(&asked) { asked } else { PROTOCOL_VERSIONS[0] };
                peer.can_sample = params.pointer("/capabilities/sampling").is_some_and(|s| !s.is_null());
                response(
                    &id,
                    json!({
                        "protocolVersion": version,
                        "capabilities": {"tools": {"listChanged": false}},
                        "serverInfo": {"name": "phx", "title": "phx: physics pipelines", "version": env!("CARGO_PKG_VERSION")},
                        "instructions": "Write, check, run and report computational-physics experiments in the phx language. Start with experiment_orchestrator method=define_dag (source, spec or natural_language), then run_dag and publish_report.",
                    }),
                )
            }
            "ping" => response(&id, json!({})),
            "tools/list" => response(&id, json!({"tools": tools::list()})),
            "tools/call" => {
                let name = params["name"].as_str().unwrap_or("").to_string();
                let args = params.get("arguments").cloned().unwrap_or(json!({}));
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.call(&name, &args, &mut peer)))
                        .unwrap_or_else(|_| {
                            tools::failure(format!("`{name}` failed inside phx; the server is still up"))
                        });
                response(&id, result)
            }
            other => error(&id, -32601, format!("phx mcp has no method `{other}`")),
        };
        if peer.send(&reply).is_err() {
            return 3;
        }
    }
    0
}
