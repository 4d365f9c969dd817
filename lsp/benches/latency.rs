//! Editor latency: the time from a one-character edit to its published
//! diagnostics, and a completion request's time, on programs of 1k, 5k and
//! 20k lines (the shape of `bench/gen.py lines N`). Goals at 5k lines:
//! under 20 ms and under 10 ms at the median, flat as the file grows.
//!
//! `edit_to_diagnostics` types in one item, as people do; the database
//! keeps that item's chunk at low durability, so the cost stays flat.
//! `edit_to_diagnostics_moving` alternates between two items, so every
//! edit is the first in its item and every query is verified again: the
//! worst case, linear in the file.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value as Json, json};

/// About `lines` lines: explicit nodes in chains of ten, four lines each.
fn program(lines: usize) -> String {
    let mut s = String::from("experiment bench {\n  title = \"generated\"\n}\n\nparam extent: Length = 20 bohr\n\n");
    for i in 0..(lines / 4).max(1) {
        let node = match i % 10 {
            0 => {
                format!("node n{i} = quantum.orbital(n = 2, l = 1, m = 0, grid = {}, extent = extent) {{", 32 + i % 64)
            }
            1 => format!("node n{i} = plot.heatmap(field = n{}.density, plane = \"xz\") {{", i - 1),
            _ => format!("node n{i} = plot.contact_sheet(images = [n{}.image], columns = {}) {{", i - 1, 1 + i % 4),
        };
        s.push_str(&node);
        s.push_str("\n  emit = [static]\n}\n\n");
    }
    s
}

struct Client {
    conn: Connection,
    next: i32,
    version: i64,
}

impl Client {
    fn request(&mut self, method: &str, params: Json) -> Json {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.conn.sender.send(Message::Request(Request { id: id.clone(), method: method.into(), params })).unwrap();
        loop {
            if let Message::Response(r) = self.conn.receiver.recv().unwrap()
                && r.id == id
            {
                return r.response_result.unwrap_or(Json::Null);
            }
        }
    }

    fn notify(&self, method: &str, params: Json) {
        self.conn.sender.send(Message::Notification(Notification::new(method.into(), params))).unwrap();
    }

    /// Waits for the diagnostics of the latest version.
    fn wait_diagnostics(&self) {
        loop {
            if let Message::Notification(n) = self.conn.receiver.recv().unwrap()
                && n.method == "textDocument/publishDiagnostics"
                && n.params["version"].as_i64() == Some(self.version)
            {
                return;
            }
        }
    }
}

const URI: &str = "file:///bench/latency.phx";

fn start(text: &str) -> Client {
    let (server, client) = Connection::memory();
    std::thread::spawn(move || phx_lsp::server::serve(&server));
    let mut c = Client { conn: client, next: 0, version: 1 };
    c.request("initialize", json!({"capabilities": {}}));
    c.notify("initialized", json!({}));
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "phx", "version": 1, "text": text}}),
    );
    c.wait_diagnostics();
    c
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("lsp");
    group.sample_size(30);
    for lines in [1_000usize, 5_000, 20_000] {
        let text = program(lines);
        // The middle node's `grid = NN` argument: type a digit, then delete it.
        let target = text
            .lines()
            .position(|l| l.contains("grid = ") && l.contains(&format!("n{}", (lines / 8) / 10 * 10)))
            .unwrap_or(6);
        let line_text = text.lines().nth(target).unwrap().to_string();
        let col = line_text.find("grid = ").unwrap() + "grid = ".len();
        let mut client = start(&text);
        let mut typed = false;
        group.bench_function(BenchmarkId::new("edit_to_diagnostics", lines), |b| {
            b.iter(|| {
                client.version += 1;
                let (range, insert) = if typed {
                    (json!({"start": {"line": target, "character": col}, "end": {"line": target, "character": col + 1}}), "")
                } else {
                    (json!({"start": {"line": target, "character": col}, "end": {"line": target, "character": col}}), "1")
                };
                typed = !typed;
                client.notify(
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": URI, "version": client.version}, "contentChanges": [{"range": range, "text": insert}]}),
                );
                client.wait_diagnostics();
            })
        });
        if typed {
            client.version += 1;
            let range =
                json!({"start": {"line": target, "character": col}, "end": {"line": target, "character": col + 1}});
            client.notify(
                "textDocument/didChange",
                json!({"textDocument": {"uri": URI, "version": client.version}, "contentChanges": [{"range": range, "text": ""}]}),
            );
            client.wait_diagnostics();
        }
        // The first keystroke in another item: alternate between the middle
        // node and one near the top, so that no edit follows one in the same
        // item (the slow case: every query is verified again).
        let other = text.lines().position(|l| l.contains("grid = ") && l.contains("node n10 ")).unwrap_or(6);
        let other_col = text.lines().nth(other).unwrap().find("grid = ").unwrap() + "grid = ".len();
        let mut round = 0usize;
        group.bench_function(BenchmarkId::new("edit_to_diagnostics_moving", lines), |b| {
            b.iter(|| {
                client.version += 1;
                // Type in one node, then delete in the other: each text stays valid.
                let (line, col) = if round.is_multiple_of(2) { (target, col) } else { (other, other_col) };
                let (range, insert) = if round % 4 < 2 {
                    (json!({"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}), "1")
                } else {
                    (json!({"start": {"line": line, "character": col}, "end": {"line": line, "character": col + 1}}), "")
                };
                round += 1;
                client.notify(
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": URI, "version": client.version}, "contentChanges": [{"range": range, "text": insert}]}),
                );
                client.wait_diagnostics();
            })
        });
        // Completion of the arguments inside the middle node's call.
        let pos = json!({"line": target, "character": col - "grid = ".len()});
        group.bench_function(BenchmarkId::new("completion", lines), |b| {
            b.iter(|| {
                let r =
                    client.request("textDocument/completion", json!({"textDocument": {"uri": URI}, "position": pos}));
                assert!(r["items"].as_array().is_some_and(|i| !i.is_empty()));
            })
        });
        // Hover on the middle node's `extent` argument (a param's value).
        let extent = line_text.find("extent = extent").map(|c| c + "extent = ".len() + 2).unwrap_or(col);
        let hover_pos = json!({"line": target, "character": extent});
        group.bench_function(BenchmarkId::new("hover", lines), |b| {
            b.iter(|| {
                let r =
                    client.request("textDocument/hover", json!({"textDocument": {"uri": URI}, "position": hover_pos}));
                assert!(r["contents"].is_object(), "{r}");
            })
        });
        // The semantic tokens of a screen (60 lines) around the middle node.
        let screen = json!({"start": {"line": target.saturating_sub(30), "character": 0}, "end": {"line": target + 30, "character": 0}});
        group.bench_function(BenchmarkId::new("semantic_tokens_range", lines), |b| {
            b.iter(|| {
                let r = client.request(
                    "textDocument/semanticTokens/range",
                    json!({"textDocument": {"uri": URI}, "range": screen}),
                );
                assert!(r["data"].as_array().is_some_and(|d| !d.is_empty()));
            })
        });
        // The whole file's semantic tokens (what an editor asks after edits).
        group.bench_function(BenchmarkId::new("semantic_tokens_full", lines), |b| {
            b.iter(|| {
                let r = client.request("textDocument/semanticTokens/full", json!({"textDocument": {"uri": URI}}));
                assert!(r["data"].as_array().is_some_and(|d| !d.is_empty()));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, latency);
criterion_main!(benches);
