//! Thousands of random edits (insertions and deletions anywhere, valid
//! UTF-8 or not at char boundaries) with requests between them: the server
//! never fails a request internally, and after the last edit its diagnostics
//! are exactly those of a fresh check of the final text.

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value as Json, json};

/// A small deterministic generator (no dependency, reproducible).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SNIPPETS: &[&str] = &[
    "node",
    " ",
    "\n",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "=",
    ",",
    ".",
    "\"",
    "//",
    "quantum.orbital(",
    "n = 2",
    "grid",
    "24 bohr",
    "ψ",
    "𝜓",
    "param x: Int = 3\n",
    "density.",
    "emit = [static]",
    "report r { section \"s\" { figure a } }",
];

fn position(text: &str, offset: usize) -> Json {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let col: usize = before.rsplit('\n').next().unwrap_or("").encode_utf16().count();
    json!({"line": line, "character": col})
}

fn char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[test]
fn random_edits_never_crash_and_leave_no_stale_diagnostics() {
    let (server, client) = Connection::memory();
    let handle = std::thread::spawn(move || phx_lsp::server::serve(&server).map_err(|e| e.to_string()));
    let send = |m: Message| client.sender.send(m).expect("server is up");
    let mut next_id = 1;
    let mut request = |method: &str, params: Json| -> Json {
        let id = RequestId::from(next_id);
        next_id += 1;
        send(Message::Request(Request { id: id.clone(), method: method.into(), params }));
        loop {
            match client.receiver.recv().expect("a reply") {
                Message::Response(r) if r.id == id => match r.response_result {
                    Ok(v) => return v,
                    Err(e) => {
                        assert_ne!(e.code, -32603, "{method} failed internally: {}", e.message);
                        return Json::Null;
                    }
                },
                _ => {}
            }
        }
    };
    request("initialize", json!({"capabilities": {}}));
    send(Message::Notification(Notification::new("initialized".into(), json!({}))));
    let uri = "file:///stress/test.phx";
    let mut text = include_str!("../../examples/hydrogen_2p.phx").to_string();
    send(Message::Notification(Notification::new(
        "textDocument/didOpen".into(),
        json!({"textDocument": {"uri": uri, "languageId": "phx", "version": 1, "text": text}}),
    )));
    let mut rng = Lcg(20261129);
    // Bursts of typing (consecutive edits at one place, as people type,
    // which the database treats specially) between jumps anywhere.
    let mut typing_at: Option<usize> = None;
    for version in 2..3002 {
        let (start, end, insert) = match typing_at {
            Some(at) if rng.below(12) != 0 => {
                let at = char_boundary(&text, at.min(text.len()));
                if rng.below(4) == 0 && at > 0 {
                    (char_boundary(&text, at - 1), at, "")
                } else {
                    (at, at, ["a", "1", " ", ".", "x", "_", "2"][rng.below(7)])
                }
            }
            _ => {
                let a = char_boundary(&text, rng.below(text.len() + 1));
                let (start, end) = if rng.below(3) == 0 {
                    let b = char_boundary(&text, a + rng.below(12));
                    (a, b.max(a))
                } else {
                    (a, a)
                };
                let insert = if start == end || rng.below(2) == 0 { SNIPPETS[rng.below(SNIPPETS.len())] } else { "" };
                (start, end, insert)
            }
        };
        typing_at = if rng.below(3) == 0 { None } else { Some(start + insert.len()) };
        let range = json!({"start": position(&text, start), "end": position(&text, end)});
        text.replace_range(start..end, insert);
        send(Message::Notification(Notification::new(
            "textDocument/didChange".into(),
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"range": range, "text": insert}]}),
        )));
        if version % 250 == 0 {
            check_against_a_fresh_database(&mut request, uri, &text);
        }
        if version % 10 == 0 {
            let at = char_boundary(&text, rng.below(text.len() + 1));
            let pos = position(&text, at);
            let doc = json!({"uri": uri});
            request("textDocument/hover", json!({"textDocument": doc, "position": pos}));
            request("textDocument/completion", json!({"textDocument": doc, "position": pos}));
            request("textDocument/definition", json!({"textDocument": doc, "position": pos}));
            if version % 50 == 0 {
                request("textDocument/semanticTokens/full", json!({"textDocument": doc}));
                let other = position(&text, char_boundary(&text, rng.below(text.len() + 1)));
                request(
                    "textDocument/semanticTokens/range",
                    json!({"textDocument": doc, "range": {"start": pos, "end": other}}),
                );
                request("textDocument/inlayHint", json!({"textDocument": doc, "range": {"start": pos, "end": other}}));
                request("textDocument/documentSymbol", json!({"textDocument": doc}));
                request(
                    "textDocument/formatting",
                    json!({"textDocument": doc, "options": {"tabSize": 2, "insertSpaces": true}}),
                );
                request(
                    "textDocument/inlayHint",
                    json!({"textDocument": doc, "range": {"start": {"line": 0, "character": 0}, "end": position(&text, text.len())}}),
                );
                request(
                    "textDocument/codeAction",
                    json!({"textDocument": doc, "range": {"start": pos, "end": pos}, "context": {"diagnostics": []}}),
                );
            }
        }
    }
    check_against_a_fresh_database(&mut request, uri, &text);
    request("shutdown", Json::Null);
    send(Message::Notification(Notification::new("exit".into(), Json::Null)));
    drop(client);
    handle.join().expect("the server thread ends").expect("the server ends cleanly");
}

/// The server's own view of the text must be ours, and its diagnostics
/// those of a fresh database.
fn check_against_a_fresh_database(request: &mut impl FnMut(&str, Json) -> Json, uri: &str, text: &str) {
    let pulled = request("textDocument/diagnostic", json!({"textDocument": {"uri": uri}}));
    let mut db = phx_db::Database::new();
    let file = db.set_file("/stress/test.phx", text.to_string());
    let fresh: Vec<String> =
        db.check(file).diagnostics.iter().map(|d| format!("{}@{}", d.code.as_str(), d.span.start)).collect();
    let idx = phx_lsp::line_index::LineIndex::new(text);
    let got: Vec<String> = pulled["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let off = idx.offset(
                text,
                d["range"]["start"]["line"].as_u64().unwrap() as u32,
                d["range"]["start"]["character"].as_u64().unwrap() as u32,
                phx_lsp::line_index::Encoding::Utf16,
            );
            format!("{}@{off}", d["code"].as_str().unwrap())
        })
        .collect();
    assert_eq!(got, fresh, "text:\n{text}");
}
