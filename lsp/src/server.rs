//! The protocol: messages in, messages out, over the compiler database.
//! Only this module (and `lib.rs`) knows LSP types.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_server::{Message, Notification, Request, RequestId, Response};
use phx_db::{Database, FileLoader, SourceFile};
use phx_diagnostics::{Diagnostic, Severity};
use phx_syntax::Span;
use phx_syntax::ast::ItemKind;
use serde_json::{Value as Json, json};

use crate::ide::{Analysis, CompletionKind, TOKEN_TYPES};
use crate::line_index::{Encoding, LineIndex};

/// One open document.
struct Document {
    path: String,
    text: String,
    version: i64,
    index: LineIndex,
}

/// The server's state.
pub struct Server {
    db: Database,
    docs: HashMap<String, Document>,
    enc: Encoding,
}

/// Reads open buffers first, then the disk.
struct Loader<'a> {
    docs: &'a HashMap<String, Document>,
}

impl FileLoader for Loader<'_> {
    fn load(&self, path: &str) -> Result<Vec<u8>, String> {
        if let Some(d) = self.docs.values().find(|d| d.path == path) {
            return Ok(d.text.clone().into_bytes());
        }
        std::fs::read(path).map_err(|e| e.to_string())
    }
}

/// `file:///a%20b/c.phx` to `/a b/c.phx`; other schemes stay as they are.
pub fn uri_to_path(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("file://") else { return uri.to_string() };
    let mut out = Vec::new();
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&rest[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A path as a `file://` URI.
pub fn path_to_uri(path: &str) -> String {
    if path.contains("://") {
        return path.to_string();
    }
    let abs = if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| PathBuf::from(path))
    };
    let mut s = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The embedded stdlib source of `<stdlib>/NAME.phx`, written once to a
/// cache folder so an editor can open it.
fn stdlib_file(path: &str) -> Option<(String, String)> {
    let file = phx_stdlib_schemas::FILES.iter().find(|f| f.path == path)?;
    let dir = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("phx")
        .join("stdlib");
    let name = path.trim_start_matches("<stdlib>/");
    let target = dir.join(name);
    if std::fs::read_to_string(&target).ok().as_deref() != Some(file.text) {
        let _ = std::fs::create_dir_all(&dir);
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        if std::fs::write(&tmp, file.text).is_ok() {
            let _ = std::fs::rename(&tmp, &target);
        }
    }
    Some((target.to_string_lossy().into_owned(), file.text.to_string()))
}

fn param_str<'a>(params: &'a Json, pointer: &str) -> Option<&'a str> {
    params.pointer(pointer).and_then(Json::as_str)
}

fn completion_kind(k: CompletionKind) -> u32 {
    // LSP CompletionItemKind numbers.
    match k {
        CompletionKind::Tool => 3,
        CompletionKind::Namespace => 9,
        CompletionKind::Argument => 5,
        CompletionKind::Output => 10,
        CompletionKind::Property => 10,
        CompletionKind::EnumValue => 20,
        CompletionKind::Unit => 11,
        CompletionKind::Variable => 6,
        CompletionKind::Function => 3,
        CompletionKind::Node => 7,
        CompletionKind::Module => 9,
        CompletionKind::Keyword => 14,
    }
}

fn symbol_kind(k: ItemKind) -> u32 {
    // LSP SymbolKind numbers.
    match k {
        ItemKind::Import => 2,
        ItemKind::Experiment => 2,
        ItemKind::Param => 14,
        ItemKind::Let => 13,
        ItemKind::Fn => 12,
        ItemKind::Tool => 12,
        ItemKind::Node => 5,
        ItemKind::Report => 2,
    }
}

impl Server {
    /// A server that counts positions in `enc`.
    pub fn new(enc: Encoding) -> Server {
        Server { db: Database::new(), docs: HashMap::new(), enc }
    }

    fn range(&self, doc: &Document, span: Span) -> Json {
        let (sl, sc) = doc.index.position(&doc.text, span.start as usize, self.enc);
        let (el, ec) = doc.index.position(&doc.text, span.end as usize, self.enc);
        json!({"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}})
    }

    fn range_in(&self, text: &str, span: Span) -> Json {
        let idx = LineIndex::new(text);
        let (sl, sc) = idx.position(text, span.start as usize, self.enc);
        let (el, ec) = idx.position(text, span.end as usize, self.enc);
        json!({"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}})
    }

    fn offset(&self, doc: &Document, pos: &Json) -> usize {
        let line = pos["line"].as_u64().unwrap_or(0) as u32;
        let character = pos["character"].as_u64().unwrap_or(0) as u32;
        doc.index.offset(&doc.text, line, character, self.enc)
    }

    fn file_of(&self, uri: &str) -> Option<SourceFile> {
        self.docs.get(uri).and_then(|d| self.db.file(&d.path))
    }

    fn sync(&mut self, uri: &str) {
        let Some(doc) = self.docs.get(uri) else { return };
        let (path, text) = (doc.path.clone(), doc.text.clone());
        let file = self.db.set_file(&path, text);
        // Imports not loaded yet come from open buffers first (every open
        // buffer is set in the database when it opens or changes).
        self.db.load_imports_of(file, &Loader { docs: &self.docs });
    }

    fn diagnostics_json(&self, uri: &str) -> Vec<Json> {
        let (Some(doc), Some(file)) = (self.docs.get(uri), self.file_of(uri)) else { return Vec::new() };
        self.db.diagnostics(file).iter().map(|d| self.diagnostic_json(doc, uri, d)).collect()
    }

    fn diagnostic_json(&self, doc: &Document, uri: &str, d: &Diagnostic) -> Json {
        let mut message = d.message.clone();
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        let related: Vec<Json> = d
            .related
            .iter()
            .map(|r| json!({"location": {"uri": uri, "range": self.range(doc, r.span)}, "message": r.message}))
            .collect();
        json!({
            "range": self.range(doc, d.span),
            "severity": if d.severity == Severity::Error { 1 } else { 2 },
            "code": d.code.as_str(),
            "source": "phx",
            "message": message,
            "relatedInformation": related,
        })
    }

    fn publish(&self, uri: &str) -> Message {
        let version = self.docs.get(uri).map(|d| d.version);
        Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".into(),
            json!({"uri": uri, "version": version, "diagnostics": self.diagnostics_json(uri)}),
        ))
    }

    /// Handles a notification; returns what to send.
    pub fn notification(&mut self, n: Notification) -> Vec<Message> {
        let p = &n.params;
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let Some(uri) = param_str(p, "/textDocument/uri") else { return Vec::new() };
                let text = param_str(p, "/textDocument/text").unwrap_or("").to_string();
                let doc = Document {
                    path: uri_to_path(uri),
                    index: LineIndex::new(&text),
                    text,
                    version: p.pointer("/textDocument/version").and_then(Json::as_i64).unwrap_or(0),
                };
                self.docs.insert(uri.to_string(), doc);
                self.sync(uri);
                self.publish_all()
            }
            "textDocument/didChange" => {
                let Some(uri) = param_str(p, "/textDocument/uri").map(str::to_string) else { return Vec::new() };
                let enc = self.enc;
                let Some(doc) = self.docs.get_mut(&uri) else { return Vec::new() };
                // Each change goes to the database as an edit, so only the
                // chunks it touches are scanned and parsed again.
                for change in p["contentChanges"].as_array().into_iter().flatten() {
                    let new = change["text"].as_str().unwrap_or("");
                    match change.get("range") {
                        Some(r) if !r.is_null() => {
                            let at = |pos: &Json| {
                                doc.index.offset(
                                    &doc.text,
                                    pos["line"].as_u64().unwrap_or(0) as u32,
                                    pos["character"].as_u64().unwrap_or(0) as u32,
                                    enc,
                                )
                            };
                            let (start, end) = (at(&r["start"]), at(&r["end"]));
                            let (start, end) = (start.min(end), end.max(start));
                            doc.text.replace_range(start..end, new);
                            doc.index.edit(start, end, new);
                            self.db.edit_file(&doc.path, start, end, new);
                        }
                        _ => {
                            doc.text = new.to_string();
                            doc.index = LineIndex::new(&doc.text);
                            self.db.set_file(&doc.path, doc.text.clone());
                        }
                    }
                }
                doc.version = p.pointer("/textDocument/version").and_then(Json::as_i64).unwrap_or(doc.version + 1);
                if let Some(file) = self.db.file(&doc.path) {
                    self.db.load_imports_of(file, &Loader { docs: &self.docs });
                }
                self.publish_all()
            }
            "textDocument/didClose" => {
                if let Some(uri) = param_str(p, "/textDocument/uri") {
                    self.docs.remove(uri);
                    return vec![Message::Notification(Notification::new(
                        "textDocument/publishDiagnostics".into(),
                        json!({"uri": uri, "diagnostics": []}),
                    ))];
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn publish_all(&self) -> Vec<Message> {
        let mut uris: Vec<&String> = self.docs.keys().collect();
        uris.sort();
        uris.into_iter().map(|u| self.publish(u)).collect()
    }

    /// Handles a request.
    pub fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(&req)));
        match result {
            Ok(Ok(v)) => Response::new_ok(id, v),
            Ok(Err((code, msg))) => Response::new_err(id, code, msg),
            Err(_) => Response::new_err(id, -32603, format!("phx lsp: `{}` failed internally", req.method)),
        }
    }

    fn doc_and_file(&self, p: &Json) -> Result<(&Document, SourceFile, String), (i32, String)> {
        let uri = param_str(p, "/textDocument/uri").ok_or((-32602, "no textDocument.uri".to_string()))?;
        let doc = self.docs.get(uri).ok_or((-32602, format!("`{uri}` is not open")))?;
        let file = self.db.file(&doc.path).ok_or((-32602, format!("`{uri}` is not loaded")))?;
        Ok((doc, file, uri.to_string()))
    }

    fn location(&self, path: &str, span: Span) -> Json {
        if path.starts_with("<stdlib>/")
            && let Some((real, text)) = stdlib_file(path)
        {
            return json!({"uri": path_to_uri(&real), "range": self.range_in(&text, span)});
        }
        if let Some((uri, doc)) = self.docs.iter().find(|(_, d)| d.path == path) {
            return json!({"uri": uri, "range": self.range(doc, span)});
        }
        let text = self.db.file(path).map(|f| f.text(&self.db).clone()).unwrap_or_default();
        json!({"uri": path_to_uri(path), "range": self.range_in(&text, span)})
    }

    fn dispatch(&mut self, req: &Request) -> Result<Json, (i32, String)> {
        let p = &req.params;
        match req.method.as_str() {
            "textDocument/hover" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let off = self.offset(doc, &p["position"]);
                Ok(match Analysis::new(&self.db, file).hover(off) {
                    Some((md, span)) => {
                        json!({"contents": {"kind": "markdown", "value": md}, "range": self.range(doc, span)})
                    }
                    None => Json::Null,
                })
            }
            "textDocument/completion" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let off = self.offset(doc, &p["position"]);
                let items: Vec<Json> = Analysis::new(&self.db, file)
                    .completions(off)
                    .into_iter()
                    .map(|c| {
                        let mut item = json!({"label": c.label, "kind": completion_kind(c.kind)});
                        if let Some(d) = c.detail {
                            item["detail"] = json!(d);
                        }
                        if let Some(d) = c.documentation {
                            item["documentation"] = json!({"kind": "markdown", "value": d});
                        }
                        if let Some(t) = c.insert_text {
                            item["insertText"] = json!(t);
                        }
                        item
                    })
                    .collect();
                Ok(json!({"isIncomplete": false, "items": items}))
            }
            "textDocument/definition" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let off = self.offset(doc, &p["position"]);
                Ok(match Analysis::new(&self.db, file).definition(off) {
                    Some(t) => self.location(&t.path, t.span),
                    None => Json::Null,
                })
            }
            "textDocument/references" => {
                let (doc, file, uri) = self.doc_and_file(p)?;
                let off = self.offset(doc, &p["position"]);
                let include = p.pointer("/context/includeDeclaration").and_then(Json::as_bool).unwrap_or(true);
                let a = Analysis::new(&self.db, file);
                let Some(name) = a.symbol_at(off) else { return Ok(json!([])) };
                let mut out: Vec<Json> = a
                    .references_to(&name, include)
                    .into_iter()
                    .map(|s| json!({"uri": uri, "range": self.range(doc, s)}))
                    .collect();
                for (other_uri, other) in &self.docs {
                    if *other_uri == uri {
                        continue;
                    }
                    if let Some(f) = self.db.file(&other.path) {
                        for s in Analysis::new(&self.db, f).module_references(&doc.path, &name) {
                            out.push(json!({"uri": other_uri, "range": self.range(other, s)}));
                        }
                    }
                }
                Ok(Json::Array(out))
            }
            "textDocument/prepareRename" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let off = self.offset(doc, &p["position"]);
                let a = Analysis::new(&self.db, file);
                match (a.symbol_at(off), a.at(off)) {
                    (Some(name), Some(o)) => Ok(json!({"range": self.range(doc, o.span), "placeholder": name})),
                    _ => Ok(Json::Null),
                }
            }
            "textDocument/rename" => {
                let new_name = param_str(p, "/newName").unwrap_or("").to_string();
                let valid = new_name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                    && new_name.chars().all(|c| c.is_alphanumeric() || c == '_');
                if !valid {
                    return Err((-32602, format!("`{new_name}` is not a name: use letters, digits and `_`")));
                }
                let (doc, file, uri) = self.doc_and_file(p)?;
                let off = self.offset(doc, &p["position"]);
                let a = Analysis::new(&self.db, file);
                let Some(name) = a.symbol_at(off) else {
                    return Err((-32602, "nothing to rename here: put the cursor on a node, param, let or fn".into()));
                };
                if !a.references_to(&new_name, true).is_empty()
                    || phx_db::layout(&self.db, file).entries.iter().any(|e| e.name == new_name)
                {
                    return Err((-32602, format!("`{new_name}` is already a name in this file")));
                }
                let mut changes = serde_json::Map::new();
                let edits: Vec<Json> = a
                    .references_to(&name, true)
                    .into_iter()
                    .map(|s| json!({"range": self.range(doc, s), "newText": new_name}))
                    .collect();
                changes.insert(uri.clone(), Json::Array(edits));
                for (other_uri, other) in &self.docs {
                    if *other_uri == uri {
                        continue;
                    }
                    if let Some(f) = self.db.file(&other.path) {
                        let edits: Vec<Json> = Analysis::new(&self.db, f)
                            .module_references(&doc.path, &name)
                            .into_iter()
                            .map(|s| json!({"range": self.range(other, s), "newText": new_name}))
                            .collect();
                        if !edits.is_empty() {
                            changes.insert(other_uri.clone(), Json::Array(edits));
                        }
                    }
                }
                Ok(json!({"changes": changes}))
            }
            "textDocument/documentSymbol" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let symbols: Vec<Json> = Analysis::new(&self.db, file)
                    .symbols()
                    .into_iter()
                    .map(|s| {
                        let mut v = json!({"name": s.name, "kind": symbol_kind(s.kind), "range": self.range(doc, s.span), "selectionRange": self.range(doc, s.selection)});
                        if let Some(d) = s.detail {
                            v["detail"] = json!(d);
                        }
                        v
                    })
                    .collect();
                Ok(Json::Array(symbols))
            }
            "textDocument/signatureHelp" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let off = self.offset(doc, &p["position"]);
                Ok(match Analysis::new(&self.db, file).signature_help(off) {
                    Some(s) => {
                        let params: Vec<Json> = s
                            .parameters
                            .iter()
                            .map(|(label, doc)| match doc {
                                Some(d) => json!({"label": label, "documentation": d}),
                                None => json!({"label": label}),
                            })
                            .collect();
                        json!({"signatures": [{"label": s.label, "documentation": s.documentation, "parameters": params}], "activeSignature": 0, "activeParameter": s.active})
                    }
                    None => Json::Null,
                })
            }
            "textDocument/inlayHint" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let (start, end) = match p.get("range") {
                    Some(r) if r.is_object() => (self.offset(doc, &r["start"]), self.offset(doc, &r["end"])),
                    _ => (0, doc.text.len()),
                };
                let hints: Vec<Json> = Analysis::new(&self.db, file)
                    .inlay_hints(start.min(end), end.max(start))
                    .into_iter()
                    .map(|(off, label)| {
                        let (line, character) = doc.index.position(&doc.text, off, self.enc);
                        json!({"position": {"line": line, "character": character}, "label": label, "paddingLeft": false})
                    })
                    .collect();
                Ok(Json::Array(hints))
            }
            "textDocument/foldingRange" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let ranges: Vec<Json> = Analysis::new(&self.db, file)
                    .folding()
                    .into_iter()
                    .filter_map(|s| {
                        let (a, _) = doc.index.position(&doc.text, s.start as usize, self.enc);
                        let (b, _) = doc.index.position(&doc.text, s.end as usize, self.enc);
                        (b > a).then(|| json!({"startLine": a, "endLine": b}))
                    })
                    .collect();
                Ok(Json::Array(ranges))
            }
            "textDocument/semanticTokens/full" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let tokens = Analysis::new(&self.db, file).semantic_tokens();
                Ok(json!({"data": self.encode_tokens(doc, &tokens)}))
            }
            "textDocument/semanticTokens/range" => {
                let (doc, file, _) = self.doc_and_file(p)?;
                let (start, end) = (self.offset(doc, &p["range"]["start"]), self.offset(doc, &p["range"]["end"]));
                let tokens = Analysis::new(&self.db, file).semantic_tokens_in(start.min(end), end.max(start));
                Ok(json!({"data": self.encode_tokens(doc, &tokens)}))
            }
            "textDocument/formatting" => {
                let (doc, _, _) = self.doc_and_file(p)?;
                match phx_fmt::format_source(&doc.text) {
                    Ok(formatted) if formatted != doc.text => {
                        let end = doc.index.position(&doc.text, doc.text.len(), self.enc);
                        Ok(
                            json!([{"range": {"start": {"line": 0, "character": 0}, "end": {"line": end.0, "character": end.1}}, "newText": formatted}]),
                        )
                    }
                    // Unchanged, or a syntax error: nothing to do (never reformat a broken file).
                    _ => Ok(json!([])),
                }
            }
            "textDocument/diagnostic" => {
                let (_, _, uri) = self.doc_and_file(p)?;
                Ok(json!({"kind": "full", "items": self.diagnostics_json(&uri)}))
            }
            "textDocument/codeAction" => {
                let (doc, file, uri) = self.doc_and_file(p)?;
                let start = self.offset(doc, &p["range"]["start"]);
                let end = self.offset(doc, &p["range"]["end"]);
                Ok(Json::Array(self.code_actions(doc, file, &uri, start, end)))
            }
            "phx/graph" => {
                let (_, file, _) = self.doc_and_file(p)?;
                let checked = self.db.check(file);
                Ok(
                    json!({"json": phx_dag::dag_to_json(&checked.dag), "mermaid": phx_dag::to_mermaid(&checked.dag), "errors": checked.has_errors()}),
                )
            }
            other => Err((-32601, format!("phx lsp does not handle `{other}`"))),
        }
    }

    /// The compiler's fixes of the diagnostics in the range
    /// (`phx_db::fixes`, which `phx gen` applies too), at most three for each.
    fn code_actions(&self, doc: &Document, file: SourceFile, uri: &str, start: usize, end: usize) -> Vec<Json> {
        let diagnostics = self.db.diagnostics(file);
        let mut out = Vec::new();
        let mut per: HashMap<(u32, u32), usize> = HashMap::new();
        for f in phx_db::fixes::fixes(&self.db, file) {
            if !((f.at.start as usize) <= end && start <= f.at.end as usize) {
                continue;
            }
            let count = per.entry((f.at.start, f.at.end)).or_default();
            *count += 1;
            if *count > 3 {
                continue;
            }
            let diag: Vec<Json> = diagnostics
                .iter()
                .filter(|d| d.span == f.at && d.code == f.code)
                .map(|d| self.diagnostic_json(doc, uri, d))
                .collect();
            let edits: Vec<Json> =
                f.edits.iter().map(|e| json!({"range": self.range(doc, e.span), "newText": e.text})).collect();
            out.push(json!({"title": f.title, "kind": "quickfix", "diagnostics": diag, "isPreferred": f.preferred, "edit": {"changes": {uri: edits}}}));
        }
        out
    }

    /// Semantic tokens in the protocol's relative encoding (each token's
    /// line and start relative to the previous token's).
    fn encode_tokens(&self, doc: &Document, tokens: &[(usize, usize, u32)]) -> Vec<u32> {
        let mut data = Vec::with_capacity(tokens.len() * 5);
        let (mut prev_line, mut prev_char) = (0u32, 0u32);
        for &(start, len, ty) in tokens {
            let (line, ch) = doc.index.position(&doc.text, start, self.enc);
            let (_, end_ch) = doc.index.position(&doc.text, start + len, self.enc);
            let delta_line = line - prev_line;
            let delta_start = if delta_line == 0 { ch - prev_char } else { ch };
            data.extend([delta_line, delta_start, end_ch.saturating_sub(ch), ty, 0]);
            (prev_line, prev_char) = (line, ch);
        }
        data
    }
}

/// The server's capabilities.
pub fn capabilities(enc: Encoding) -> Json {
    json!({
        "positionEncoding": if enc == Encoding::Utf8 { "utf-8" } else { "utf-16" },
        "textDocumentSync": {"openClose": true, "change": 2},
        "hoverProvider": true,
        "completionProvider": {"triggerCharacters": [".", "(", ",", " ", "="]},
        "definitionProvider": true,
        "referencesProvider": true,
        "renameProvider": {"prepareProvider": true},
        "documentSymbolProvider": true,
        "signatureHelpProvider": {"triggerCharacters": ["(", ","]},
        "inlayHintProvider": true,
        "foldingRangeProvider": true,
        "documentFormattingProvider": true,
        "codeActionProvider": {"codeActionKinds": ["quickfix"]},
        "diagnosticProvider": {"interFileDependencies": true, "workspaceDiagnostics": false},
        "semanticTokensProvider": {"legend": {"tokenTypes": TOKEN_TYPES, "tokenModifiers": []}, "full": true, "range": true},
    })
}

/// The position encoding to use: UTF-8 when the client offers it.
pub fn negotiate(init: &Json) -> Encoding {
    let offered = init.pointer("/capabilities/general/positionEncodings").and_then(Json::as_array);
    if offered.is_some_and(|list| list.iter().any(|e| e == "utf-8")) { Encoding::Utf8 } else { Encoding::Utf16 }
}

/// Serves over a connection until `shutdown` and `exit`.
pub fn serve(connection: &lsp_server::Connection) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (id, init): (RequestId, Json) = connection.initialize_start()?;
    let enc = negotiate(&init);
    connection.initialize_finish(
        id,
        json!({"capabilities": capabilities(enc), "serverInfo": {"name": "phx", "version": env!("CARGO_PKG_VERSION")}}),
    )?;
    let mut server = Server::new(enc);
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection.handle_shutdown(&req)? {
                    return Ok(());
                }
                connection.sender.send(Message::Response(server.request(req)))?;
            }
            Message::Notification(n) => {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.notification(n)))
                    .unwrap_or_default();
                for m in out {
                    connection.sender.send(m)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}
