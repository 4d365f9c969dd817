//! The transport under hostile input: whatever a line holds (bytes that
//! are not UTF-8 or JSON, messages that are no request, requests with
//! wrong ids, methods or params), the server answers with a JSON-RPC error
//! where a request deserves one, writes only JSON-RPC 2.0 messages, never
//! panics, and answers the next request. The same property is fuzzed by
//! `fuzz/fuzz_targets/mcp_transport.rs`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use phx_app::trust::Grants;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// The request that ends every exchange: its answer must be there.
const LAST: &str = r#"{"jsonrpc":"2.0","id":"last","method":"ping"}"#;

/// A fresh experiment folder for the test running on this thread (under
/// the target folder), made on first use.
fn folder() -> PathBuf {
    let test = std::thread::current().name().unwrap_or("main").replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("mcp-transport-{}-{test}", std::process::id()));
    if !dir.join("phx.toml").is_file() {
        let _ = std::fs::remove_dir_all(&dir);
        phx_app::setup::init(&dir).expect("an experiment folder");
    }
    dir
}

/// Removes this test's folder when the test ends.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(folder());
    }
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

/// Every line the server wrote, each checked to be a JSON-RPC 2.0 message.
fn messages(bytes: &[u8]) -> Vec<Json> {
    let text = std::str::from_utf8(bytes).expect("the output is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "the output ends with a whole line");
    text.lines()
        .map(|line| {
            let m: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(m.is_object() && m["jsonrpc"] == "2.0", "not a JSON-RPC 2.0 message: {line}");
            let kinds = ["result", "error", "method"].iter().filter(|k| m.get(**k).is_some()).count();
            assert_eq!(kinds, 1, "a message is one of a result, an error or a request: {line}");
            if let Some(e) = m.get("error") {
                assert!(e["code"].is_i64() && e["message"].is_string(), "an error object: {line}");
            }
            m
        })
        .collect()
}

/// Serves `input` to its end, then returns what was written.
fn exchange(input: Vec<u8>) -> Vec<Json> {
    let out = Output::default();
    let code = phx_mcp::serve(std::io::Cursor::new(input), Box::new(out.clone()), folder(), Grants::default());
    assert_eq!(code, 0);
    let bytes = out.0.lock().unwrap().clone();
    messages(&bytes)
}

fn is_last(m: &Json) -> bool {
    m["id"] == "last" && m["result"] == json!({})
}

/// `lines` then the last request, in one connection that then ends: the
/// last request is answered whatever came before.
fn then_last(lines: &[&[u8]]) -> Vec<Json> {
    let mut input = Vec::new();
    for l in lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    input.extend_from_slice(LAST.as_bytes());
    input.push(b'\n');
    let out = exchange(input);
    assert!(out.iter().any(is_last), "the last request was lost after {:?}: {out:?}", shown(lines));
    out
}

fn shown(lines: &[&[u8]]) -> Vec<String> {
    lines.iter().map(|l| String::from_utf8_lossy(&l[..l.len().min(200)]).into_owned()).collect()
}

/// A hostile line and the error code it deserves (`None`: no answer at all,
/// as for a notification or an answer to nothing; `Some(0)`: a result).
fn corpus() -> Vec<(Vec<u8>, Option<i64>)> {
    let deep_array = "[".repeat(100_000);
    let deep_object = "{\"a\":".repeat(100_000);
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":{}1{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let big_string =
        format!(r#"{{"jsonrpc":"2.0","id":2,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(5 << 20));
    let big_garbage = "\u{1}garbage ".repeat((5 << 20) / 9);
    let mut cases: Vec<(Vec<u8>, Option<i64>)> = vec![
        (b"\xff\xfe not utf-8".to_vec(), Some(PARSE_ERROR)),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\xc3\"}".to_vec(), Some(PARSE_ERROR)),
        (b"\r".to_vec(), None),
        (b"\r\r\r".to_vec(), None),
        (b"".to_vec(), None),
        (b"\0".to_vec(), Some(PARSE_ERROR)),
        (b"\0\0\0\0{}".to_vec(), Some(PARSE_ERROR)),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\0\"}".to_vec(), Some(PARSE_ERROR)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"ping\u0000"}"#.to_vec(), Some(METHOD_NOT_FOUND)),
        (b"{not json".to_vec(), Some(PARSE_ERROR)),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"".to_vec(), Some(PARSE_ERROR)),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} trailing".to_vec(), Some(PARSE_ERROR)),
        (b"42".to_vec(), Some(INVALID_REQUEST)),
        (b"null".to_vec(), Some(INVALID_REQUEST)),
        (b"true".to_vec(), Some(INVALID_REQUEST)),
        (b"\"ping\"".to_vec(), Some(INVALID_REQUEST)),
        (b"[]".to_vec(), Some(INVALID_REQUEST)),
        (br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#.to_vec(), Some(INVALID_REQUEST)),
        (deep_array.into_bytes(), Some(PARSE_ERROR)),
        (deep_object.into_bytes(), Some(PARSE_ERROR)),
        (deep_params.into_bytes(), Some(PARSE_ERROR)),
        (big_string.into_bytes(), Some(0)),
        (big_garbage.into_bytes(), Some(PARSE_ERROR)),
        (b"{}".to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":1}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":1,"params":{}}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"id":1,"method":"ping"}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":1e400,"method":"ping"}"#.to_vec(), Some(PARSE_ERROR)),
        (br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":[],"method":"ping"}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":-7,"method":"ping"}"#.to_vec(), Some(0)),
        (br#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}"#.to_vec(), Some(0)),
        (br#"{"jsonrpc":"2.0","id":"","method":"ping"}"#.to_vec(), Some(0)),
        (br#"{"jsonrpc":"2.0","id":1,"method":42}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":1,"method":null}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":1,"method":["ping"]}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":1,"method":42,"result":{}}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","method":42}"#.to_vec(), Some(INVALID_REQUEST)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":null}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":7}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":[1]}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":5}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1.0"}}"#.to_vec(), Some(0)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"loud"}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"logging/setLevel"}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}"#.to_vec(), Some(0)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"fly"}"#.to_vec(), Some(METHOD_NOT_FOUND)),
        (br#"{"jsonrpc":"2.0","id":1,"method":""}"#.to_vec(), Some(METHOD_NOT_FOUND)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"fly","params":5}"#.to_vec(), Some(METHOD_NOT_FOUND)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"notifications/cancelled"}"#.to_vec(), Some(METHOD_NOT_FOUND)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fly"}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"validate_dag","arguments":[]}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"validate_dag","arguments":"x"}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"validate_dag","_meta":{"progressToken":{}}}}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"validate_dag"}"#.to_vec(), Some(INVALID_PARAMS)),
        (br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":12345}}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{"x":[]}}}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":5}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","method":"notifications/cancelled"}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","method":"no/such/notification","params":[1,2]}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"fly"}}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","id":"phx-99","result":{}}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","id":"phx-1","error":{"code":1,"message":"no"}}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","id":7,"result":null}"#.to_vec(), None),
        (br#"{"jsonrpc":"2.0","id":"last","result":{}}"#.to_vec(), None),
    ];
    for c in 0u8..32 {
        if !matches!(c, b'\n' | b'\r' | b'\t' | 0x0b | 0x0c) {
            cases.push((vec![c], Some(PARSE_ERROR)));
        }
    }
    cases
}

/// Every hostile line, in a connection of its own: the answer it deserves,
/// and the next request answered.
#[test]
fn every_hostile_line_gets_its_error_and_the_next_request_is_answered() {
    let _cleanup = Cleanup;
    for (line, expected) in corpus() {
        let out = then_last(&[&line]);
        let answers: Vec<&Json> = out.iter().filter(|m| !is_last(m)).collect();
        let what = shown(&[&line]);
        match expected {
            None => assert!(answers.is_empty(), "{what:?} deserves no answer: {answers:?}"),
            Some(0) => {
                assert_eq!(answers.len(), 1, "{what:?}: {answers:?}");
                assert!(answers[0].get("result").is_some(), "{what:?} deserves a result: {answers:?}");
            }
            Some(code) => {
                assert_eq!(answers.len(), 1, "{what:?}: {answers:?}");
                assert_eq!(answers[0]["error"]["code"], code, "{what:?}: {answers:?}");
            }
        }
        // An error names the request's id when it had a valid one, else null.
        if let (Some(a), Ok(Json::Object(m))) = (answers.first(), serde_json::from_slice::<Json>(&line)) {
            let id = m.get("id").filter(|i| i.is_string() || i.is_i64() || i.is_u64());
            assert_eq!(&a["id"], id.unwrap_or(&Json::Null), "{what:?}: {a}");
        }
    }
}

/// All of them in one connection, in order, then the last request.
#[test]
fn a_connection_outlives_every_hostile_line() {
    let _cleanup = Cleanup;
    let corpus = corpus();
    let lines: Vec<&[u8]> = corpus.iter().map(|(l, _)| l.as_slice()).collect();
    let out = then_last(&lines);
    let expected = corpus.iter().filter(|(_, e)| e.is_some()).count();
    assert_eq!(out.len(), expected + 1, "one answer per request that deserves one, and the last");
    assert!(is_last(out.last().unwrap()));
}

/// A client of `serve` over pipes, for what happens while the connection
/// stays open.
struct Client {
    to: Option<std::io::PipeWriter>,
    from: BufReader<std::io::PipeReader>,
    server: Option<std::thread::JoinHandle<u8>>,
}

impl Client {
    fn start() -> Client {
        let (input, to) = std::io::pipe().unwrap();
        let (from, output) = std::io::pipe().unwrap();
        let dir = folder();
        let server =
            std::thread::spawn(move || phx_mcp::serve(BufReader::new(input), Box::new(output), dir, Grants::default()));
        Client { to: Some(to), from: BufReader::new(from), server: Some(server) }
    }

    fn send(&mut self, line: &[u8]) {
        let to = self.to.as_mut().unwrap();
        to.write_all(line).unwrap();
        to.write_all(b"\n").unwrap();
    }

    /// Reads messages until one with `id`; returns it and those before it.
    fn until(&mut self, id: &Json) -> (Json, Vec<Json>) {
        let mut before = Vec::new();
        loop {
            let mut line = String::new();
            assert!(self.from.read_line(&mut line).unwrap() > 0, "the server stopped before answering {id}");
            let m = messages(line.as_bytes()).remove(0);
            if &m["id"] == id && m.get("method").is_none() {
                return (m, before);
            }
            before.push(m);
        }
    }

    /// Reads messages until the server's own request `method`.
    fn until_request(&mut self, method: &str) -> (Json, Vec<Json>) {
        let mut before = Vec::new();
        loop {
            let mut line = String::new();
            assert!(self.from.read_line(&mut line).unwrap() > 0, "the server stopped before asking {method}");
            let m = messages(line.as_bytes()).remove(0);
            if m["method"] == method && m.get("id").is_some() {
                return (m, before);
            }
            before.push(m);
        }
    }

    /// Closes the input; the server returns 0 and writes nothing more
    /// than what `rest` gets.
    fn close(mut self) -> Vec<Json> {
        drop(self.to.take());
        let mut rest = Vec::new();
        let mut line = String::new();
        while self.from.read_line(&mut line).unwrap() > 0 {
            rest.extend(messages(line.as_bytes()));
            line.clear();
        }
        assert_eq!(self.server.take().unwrap().join().unwrap(), 0);
        rest
    }
}

/// In one open connection: each hostile line's answer comes before the
/// answer to the ping that follows it, and tool calls with wrong
/// arguments get tool results that say so (not protocol errors).
#[test]
fn an_open_connection_answers_in_order_and_tool_errors_are_results() {
    let _cleanup = Cleanup;
    let mut c = Client::start();
    c.send(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#);
    let (init, _) = c.until(&json!(0));
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    for (i, (line, expected)) in corpus().into_iter().enumerate() {
        c.send(&line);
        let ping = json!(format!("ping-{i}"));
        c.send(format!(r#"{{"jsonrpc":"2.0","id":{ping},"method":"ping"}}"#).as_bytes());
        let (answer, before) = c.until(&ping);
        assert_eq!(answer["result"], json!({}));
        assert_eq!(before.len(), usize::from(expected.is_some()), "{:?}: {before:?}", shown(&[&line]));
        if let Some(code) = expected.filter(|c| *c != 0) {
            assert_eq!(before[0]["error"]["code"], code, "{:?}", shown(&[&line]));
        }
    }
    // Arguments a tool does not take: a tool result with isError, naming them.
    for (id, name, args, words) in [
        (100, "validate_dag", json!({"nope": 1}), "takes no argument `nope`"),
        (101, "experiment_orchestrator", json!({"method": "fly"}), "no method `fly`"),
        (102, "experiment_orchestrator", json!({}), "needs `method`"),
        (103, "artifact_versioning", json!({"artifact": 5}), "artifact"),
        (104, "validate_dag", json!({"source": "node x = nope.tool()\n"}), ""),
    ] {
        let call =
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}});
        c.send(call.to_string().as_bytes());
        let (answer, _) = c.until(&json!(id));
        let result = &answer["result"];
        if id == 104 {
            // A program with errors is a result that reports them.
            assert_eq!(result["structuredContent"]["ok"], false, "{answer}");
            continue;
        }
        assert_eq!(result["isError"], true, "{answer}");
        assert!(result["structuredContent"]["error"].as_str().unwrap().contains(words), "{answer}");
    }
    // A cancellation of a call that has finished, or was never made, changes nothing.
    c.send(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":100}}"#);
    c.send(LAST.as_bytes());
    let (last, before) = c.until(&json!("last"));
    assert!(is_last(&last) && before.is_empty(), "{last} {before:?}");
    assert!(c.close().is_empty());
}

/// The server's own requests (sampling, for `define_dag` from words): an
/// answer reaches the call that waits for it, an answer to nothing is
/// dropped, a cancelled call stops waiting and gets no answer, and a client
/// that goes away ends the calls still waiting.
#[test]
fn sampling_answers_cancellation_and_hang_up() {
    let _cleanup = Cleanup;
    let mut c = Client::start();
    c.send(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"0"}}}"#);
    c.until(&json!(0));
    let ask = |id: i64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "define_dag", "arguments": {"natural_language": "hydrogen 1s"}}})
        .to_string()
    };
    // The client's model refuses: the call's result says so.
    c.send(ask(1).as_bytes());
    let (sampling, _) = c.until_request("sampling/createMessage");
    c.send(br#"{"jsonrpc":"2.0","id":"phx-999","result":{}}"#);
    let refusal = json!({"jsonrpc": "2.0", "id": sampling["id"], "error": {"code": -1, "message": "no model"}});
    c.send(refusal.to_string().as_bytes());
    let (answer, _) = c.until(&json!(1));
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(answer["result"]["structuredContent"]["error"].as_str().unwrap().contains("no model"), "{answer}");
    // Cancelled while it waits for the model: no answer, and the
    // connection goes on.
    c.send(ask(2).as_bytes());
    let (sampling, _) = c.until_request("sampling/createMessage");
    c.send(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#);
    // The cancellation reaches the call's task asynchronously; under load a
    // refusal sent at once could be routed to the call before it stops.
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Were the call still going, this refusal would end it with a result.
    let refusal = json!({"jsonrpc": "2.0", "id": sampling["id"], "error": {"code": -1, "message": "no model"}});
    c.send(refusal.to_string().as_bytes());
    std::thread::sleep(std::time::Duration::from_millis(300));
    c.send(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    let (pong, before) = c.until(&json!(3));
    assert_eq!(pong["result"], json!({}));
    assert!(before.iter().all(|m| m["id"] != 2), "{before:?}");
    // Waiting when the client goes: the call ends, the server returns.
    c.send(ask(4).as_bytes());
    c.until_request("sampling/createMessage");
    let rest = c.close();
    assert!(rest.iter().all(|m| m["id"] != 2), "a cancelled call got an answer: {rest:?}");
}

/// Sampling for a program from words: the request carries the short
/// prompt of the tools the words need and, for a client that announces it
/// takes one (`capabilities.experimental["phx/constrainedSampling"]`), the
/// GBNF grammar in its `metadata`; a client that announces nothing gets
/// no constraint.
#[test]
fn sampling_carries_the_grammar_a_client_takes() {
    let _cleanup = Cleanup;
    let program = "node density = quantum.orbital(n = 1, l = 0, m = 0, grid = 24) {\n  emit = [static]\n}\n";
    for (caps, grammar) in [
        (json!({"sampling": {}, "experimental": {"phx/constrainedSampling": {"modes": ["gbnf"]}}}), true),
        (json!({"sampling": {}}), false),
    ] {
        let mut c = Client::start();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": caps, "clientInfo": {"name": "t", "version": "0"}}});
        c.send(init.to_string().as_bytes());
        c.until(&json!(0));
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "define_dag", "arguments": {"natural_language": "the hydrogen 1s orbital density"}}});
        c.send(call.to_string().as_bytes());
        let (sampling, _) = c.until_request("sampling/createMessage");
        let params = &sampling["params"];
        let system = params["systemPrompt"].as_str().unwrap();
        assert!(system.contains("quantum.orbital(n: Int") && system.len() < 5000, "{system}");
        assert!(params["maxTokens"].as_u64().is_some_and(|n| n > 0));
        let g = params.pointer("/metadata/grammar").and_then(Json::as_str);
        assert_eq!(g.is_some(), grammar, "{params}");
        if let Some(g) = g {
            assert!(g.contains("root ::=") && g.contains("quantum.orbital(\""), "{g}");
        }
        let reply = json!({"jsonrpc": "2.0", "id": sampling["id"], "result": {"role": "assistant",
            "content": {"type": "text", "text": program}, "model": "m", "stopReason": "endTurn"}});
        c.send(reply.to_string().as_bytes());
        let (answer, _) = c.until(&json!(1));
        assert_eq!(answer["result"]["structuredContent"]["ok"], true, "{answer}");
        assert!(c.close().is_empty());
    }
}

/// A JSON value of any shape, nested a little.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        ".{0,12}".prop_map(Json::from),
        prop::sample::select(vec!["2.0", "ping", "tools/call", "initialize", "validate_dag", "last"])
            .prop_map(Json::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::from),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,8}",
                    prop::sample::select(vec!["jsonrpc", "id", "method", "params", "name", "arguments", "result"])
                        .prop_map(String::from),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// A message that looks like a request, a notification or an answer, with
/// any of its fields wrong. Tool calls name tools that do no work with
/// arbitrary arguments (a validation, a lookup) or none that exists.
fn request_like() -> impl Strategy<Value = Json> {
    let jsonrpc = prop_oneof![4 => Just(Some(json!("2.0"))), 1 => Just(None), 1 => any_json().prop_map(Some)];
    let id = prop_oneof![
        2 => Just(None),
        3 => any::<i64>().prop_map(|i| Some(json!(i))),
        3 => ".{0,6}".prop_map(|s| Some(json!(s))),
        1 => any_json().prop_map(Some),
    ];
    let method = prop_oneof![
        6 => prop::sample::select(vec![
            "initialize",
            "ping",
            "logging/setLevel",
            "tools/list",
            "tools/call",
            "notifications/cancelled",
            "notifications/initialized",
            "resources/list",
        ])
        .prop_map(|m| Some(json!(m))),
        1 => Just(None),
        1 => any_json().prop_map(Some),
    ];
    let tool = prop_oneof![
        4 => prop::sample::select(vec![
            "validate_dag",
            "artifact_versioning",
            "experiment_orchestrator",
            "distributed_collaboration",
            "fly",
            "",
        ])
        .prop_map(|t| Some(json!(t))),
        1 => Just(None),
        1 => any_json().prop_map(Some),
    ];
    let arguments = prop_oneof![
        2 => Just(None),
        3 => prop::collection::btree_map(
            prop::sample::select(vec!["method", "source", "dag_id", "path", "artifact", "run_id", "x"]),
            any_json(),
            0..4
        )
        .prop_map(|m| Some(Json::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))),
        1 => any_json().prop_map(Some),
    ];
    let params = prop_oneof![
        2 => Just(None),
        4 => (tool, arguments, any_json()).prop_map(|(tool, arguments, other)| {
            let mut p = serde_json::Map::new();
            if let Some(t) = tool {
                p.insert("name".into(), t);
            }
            if let Some(a) = arguments {
                p.insert("arguments".into(), a);
            }
            p.insert("requestId".into(), other.clone());
            p.insert("level".into(), other.clone());
            p.insert("protocolVersion".into(), other);
            Some(Json::Object(p))
        }),
        1 => any_json().prop_map(Some),
    ];
    let answer = prop_oneof![4 => Just(None), 1 => any_json().prop_map(Some)];
    (jsonrpc, id, method, params, answer).prop_map(|(jsonrpc, id, method, params, answer)| {
        let mut m = serde_json::Map::new();
        for (k, v) in [("jsonrpc", jsonrpc), ("id", id), ("method", method), ("params", params), ("result", answer)] {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        }
        Json::Object(m)
    })
}

/// Random bytes, with the characters that matter to JSON and lines
/// more likely than the others.
fn any_line() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => any::<u8>(),
        2 => prop::sample::select(b"{}[]\":,\\\r\0 ".to_vec()),
    ];
    prop::collection::vec(byte, 0..64)
}

/// Runs a property over a bounded number of generated cases (a failure
/// is shrunk and shown), then removes the test's folder.
fn check<S: Strategy>(strategy: S, property: impl Fn(S::Value)) {
    let _cleanup = Cleanup;
    let config = ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, |v| {
        property(v);
        Ok(())
    }) {
        panic!("{e}");
    }
}

/// Random bytes, random newlines included: the last request is answered.
#[test]
fn random_bytes_never_lose_the_next_request() {
    check(prop::collection::vec(any_line(), 0..6), |lines| {
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        then_last(&refs);
    });
}

/// Random JSON values, one per line: the last request is answered.
#[test]
fn random_json_never_loses_the_next_request() {
    check(prop::collection::vec(any_json(), 0..6), |values| {
        let lines: Vec<Vec<u8>> = values.iter().map(|v| v.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        then_last(&refs);
    });
}

/// Random near-requests: each with a valid id gets a result or an error
/// (tool calls may be cancelled by the end of the input, and then get
/// none), and the last request is answered.
#[test]
fn random_requests_get_an_answer_each() {
    check(prop::collection::vec(request_like(), 1..6), |requests| {
        let lines: Vec<Vec<u8>> = requests.iter().map(|v| v.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let out = then_last(&refs);
        for (r, line) in requests.iter().zip(&lines) {
            let id_ok = r.get("id").is_some_and(|i| i.is_string() || i.is_i64() || i.is_u64());
            let is_call = r["method"] == "tools/call" && r["jsonrpc"] == "2.0";
            let is_answer = r.get("method").is_none() && r.get("result").is_some();
            if id_ok && !is_call && !is_answer {
                assert!(
                    out.iter().any(|m| m["id"] == r["id"] && m.get("method").is_none()),
                    "no answer to {}: {out:?}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    });
}
