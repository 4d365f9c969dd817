//! `phx gen` against OpenAI-compatible endpoints that the test serves on
//! 127.0.0.1 (scripted doubles: what each request gets is decided here):
//! the repair loop with the compiler's diagnostics, the constraint chosen
//! by what the server is (a GBNF grammar for llama.cpp, a JSON Schema
//! elsewhere), streamed answers, the compiler's own fixes, and every way an
//! endpoint fails ending in a clear error with a code and a hint, never a
//! hang. The real model is tests/llm_local.rs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GOOD: &str = "node density = quantum.orbital(n = 2, l = 1, m = 0, grid = 24) {\n  emit = [series]\n}\n";

/// What the double answers to one request.
enum Reply {
    Json(u16, String),
    /// Server-sent events, one `data:` line each.
    Stream(Vec<String>),
    /// Accepts and never answers.
    Hang,
}

type Script = Box<dyn Fn(&str, &str, usize) -> Reply + Send + Sync>;

/// Serves `script(method, path, n)` (n counts chat requests) and keeps
/// every request (line and body).
fn serve(script: Script) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let script = Arc::new(script);
    std::thread::spawn(move || {
        let mut chats = 0usize;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Some((line, body)) = read_request(&stream) else { continue };
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
            let n = if path.ends_with("/chat/completions") {
                chats += 1;
                log.lock().unwrap().push(format!("{line}\n{body}"));
                chats
            } else {
                0
            };
            let reply = script(&method, &path, n);
            std::thread::spawn(move || answer(stream, reply));
        }
    });
    (url, seen)
}

fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((line.trim().to_string(), String::from_utf8_lossy(&body).into_owned()))
}

fn answer(mut stream: TcpStream, reply: Reply) {
    match reply {
        Reply::Json(code, body) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Reply::Stream(events) => {
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
            for e in events {
                if e == "__hang__" {
                    std::thread::sleep(Duration::from_secs(120));
                }
                let _ = write!(stream, "data: {e}\n\n");
                let _ = stream.flush();
            }
            let _ = write!(stream, "data: [DONE]\n\n");
        }
        Reply::Hang => std::thread::sleep(Duration::from_secs(120)),
    }
}

fn chat(content: &str) -> Reply {
    Reply::Json(200, serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}).to_string())
}

/// The answer in pieces, as a streaming server sends it.
fn streamed(content: &str, finish: &str) -> Reply {
    let mut events: Vec<String> = content
        .as_bytes()
        .chunks(7)
        .map(|c| serde_json::json!({"choices": [{"delta": {"content": String::from_utf8_lossy(c)}}]}).to_string())
        .collect();
    events.push(serde_json::json!({"choices": [{"delta": {}, "finish_reason": finish}]}).to_string());
    Reply::Stream(events)
}

fn not_found() -> Reply {
    Reply::Json(404, "{\"error\": \"not found\"}".into())
}

/// A folder removed when the test is done with it.
struct Folder(std::path::PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Folder {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

fn phx_gen(url: &str, args: &[&str], env: &[(&str, &str)]) -> (Output, String, Folder) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "phx-gen-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_phx"));
    cmd.arg("gen")
        .args(args)
        .current_dir(&dir)
        .env("PHX_LLM_BASE_URL", url)
        .env("PHX_LLM_MODEL", "test-model")
        .env("PHX_LLM_API_KEY", "sk-test")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("PHX_LLM_CONSTRAIN")
        .env_remove("PHX_LLM_TIMEOUT")
        .env_remove("PHX_LLM_MAX_TOKENS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err, Folder(dir))
}

#[test]
fn gen_repairs_the_models_program_with_the_diagnostics() {
    // A value of the wrong type: the compiler cannot fix that itself.
    let broken = format!("```phx\n{}```", GOOD.replace("grid = 24", "grid = \"big\""));
    let answers = [broken, format!("Fixed:\n```phx\n{GOOD}```")];
    let (url, seen) =
        serve(Box::new(
            move |_, path, n| {
                if path.ends_with("/chat/completions") { chat(&answers[(n - 1).min(1)]) } else { not_found() }
            },
        ));
    let (out, err, dir) = phx_gen(&url, &["the 2p density", "-o", "gen.phx"], &[("PHX_LLM_CONSTRAIN", "none")]);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("gen.phx")).unwrap(), GOOD);
    assert!(err.contains("attempt 1: 1 error(s)") && err.contains("attempt 2: the program checks"), "{err}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].starts_with("POST /v1/chat/completions"), "{}", requests[0]);
    let first: serde_json::Value = serde_json::from_str(requests[0].split_once('\n').unwrap().1).unwrap();
    assert_eq!(first["model"], "test-model");
    assert!(first["max_tokens"].as_u64().is_some_and(|n| n > 0) && first["stream"] == true, "{first}");
    assert!(first.get("grammar").is_none() && first.get("response_format").is_none());
    // The prompt lists the tools the request needs in full, and is short.
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("quantum.orbital(n: Int") && system.len() < 5000, "{system}");
    assert_eq!(first["messages"][1]["content"], "the 2p density");
    // The repair request carries the code, the line and the help.
    assert!(requests[1].contains("phx::type-mismatch") && requests[1].contains("line 1"), "{}", requests[1]);
}

#[test]
fn gen_holds_llama_cpp_to_a_grammar_and_shows_the_stream() {
    let (url, seen) = serve(Box::new(|_, path, _| {
        if path == "/props" {
            Reply::Json(200, "{\"default_generation_settings\": {}, \"total_slots\": 1}".into())
        } else if path.ends_with("/chat/completions") {
            streamed(GOOD, "stop")
        } else {
            not_found()
        }
    }));
    let (out, err, _) = phx_gen(&url, &["the 2p density"], &[]);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), GOOD);
    assert!(err.contains("held to a GBNF grammar") && err.contains("answered:") && err.contains("tokens in"), "{err}");
    let requests = seen.lock().unwrap().clone();
    let body: serde_json::Value = serde_json::from_str(requests[0].split_once('\n').unwrap().1).unwrap();
    let grammar = body["grammar"].as_str().expect("a grammar");
    assert!(grammar.contains("root ::=") && grammar.contains("quantum.orbital(\""), "{grammar}");
}

#[test]
fn gen_gives_other_servers_a_json_schema_and_imports_the_answer() {
    let json = serde_json::json!({"nodes": [{"id": "density", "tool": "quantum.orbital", "args": {"n": 2, "l": 1, "m": 0, "grid": 24}, "emit": ["series"]}]}).to_string();
    let (url, seen) =
        serve(Box::new(
            move |_, path, _| {
                if path.ends_with("/chat/completions") { streamed(&json, "stop") } else { not_found() }
            },
        ));
    let (out, err, _) = phx_gen(&url, &["the 2p density"], &[]);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), GOOD);
    let requests = seen.lock().unwrap().clone();
    let body: serde_json::Value = serde_json::from_str(requests[0].split_once('\n').unwrap().1).unwrap();
    assert_eq!(body["response_format"]["type"], "json_schema");
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert!(schema["properties"]["nodes"]["items"]["anyOf"].as_array().is_some_and(|a| !a.is_empty()), "{schema}");
}

#[test]
fn the_compiler_fixes_what_it_can_before_asking_again() {
    let typo = "node density = quantum.orbital(n = 2, l = 1, m = 0, grid = 24) {\n  emit = [series]\n}\n\nnode slice = plot.heatmap(field = densty.density, plane = \"xq\", colour = 3)\n";
    let (url, seen) =
        serve(Box::new(move |_, path, _| if path.ends_with("/chat/completions") { chat(typo) } else { not_found() }));
    let (out, err, _) =
        phx_gen(&url, &["the 2p density and an xz slice", "--format", "json"], &[("PHX_LLM_CONSTRAIN", "none")]);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1, "one answer was enough");
    assert!(err.contains("the compiler fixed"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fixed = v["attempts"][0]["fixed"].as_array().unwrap();
    let fixed: Vec<&str> = fixed.iter().filter_map(|f| f.as_str()).collect();
    for code in ["phx::unknown-name", "phx::constraint", "phx::unknown-arg", "phx::missing-emit"] {
        assert!(fixed.iter().any(|f| f.contains(code)), "{code} not fixed: {fixed:?}");
    }
    assert!(v["program"].as_str().unwrap().contains("field = density.density"), "{v}");
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
    // Without the fixes, the model hears of every error.
    let (url, seen) =
        serve(Box::new(move |_, path, _| if path.ends_with("/chat/completions") { chat(typo) } else { not_found() }));
    let (out, _, _) = phx_gen(&url, &["x", "--no-fix", "--repairs", "1"], &[("PHX_LLM_CONSTRAIN", "none")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(seen.lock().unwrap()[1].contains("phx::unknown-name"));
}

/// Runs `phx gen` against a script and checks it ends, in time, with
/// `code` and a hint holding `hint`.
fn fails_clearly(script: Script, env: &[(&str, &str)], exit: i32, code: &str, hint: &str) {
    let (url, _) = serve(script);
    let start = Instant::now();
    let (out, err, _) = phx_gen(&url, &["the 2p density"], env);
    assert!(start.elapsed() < Duration::from_secs(60), "took {:?}", start.elapsed());
    assert_eq!(out.status.code(), Some(exit), "{err}");
    assert!(err.contains(&format!("[{code}]")), "no {code}: {err}");
    assert!(err.contains("help:") && err.contains(hint), "no hint `{hint}`: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn every_failure_of_the_endpoint_is_a_clear_error() {
    let none = [("PHX_LLM_CONSTRAIN", "none")];
    // An answer that is not a chat completion.
    fails_clearly(
        Box::new(|_, _, _| Reply::Json(200, "<html>hello</html>".into())),
        &none,
        3,
        "phx::model-answer",
        "OpenAI-compatible",
    );
    // Garbage text, every time: the program never checks.
    fails_clearly(
        Box::new(
            |_, path, _| if path.ends_with("/chat/completions") { chat("I like turtles. }}}") } else { not_found() },
        ),
        &none,
        1,
        "phx::model-answer",
        "--constrain",
    );
    // An answer that never ends: every one stops at the token limit.
    fails_clearly(
        Box::new(|_, path, _| {
            if path.ends_with("/chat/completions") {
                streamed("```phx\nnode density = quantum.orbital(n = 2, l", "length")
            } else {
                not_found()
            }
        }),
        &none,
        3,
        "phx::model-answer",
        "PHX_LLM_MAX_TOKENS",
    );
    // A server that never answers.
    fails_clearly(
        Box::new(|_, _, _| Reply::Hang),
        &[("PHX_LLM_CONSTRAIN", "none"), ("PHX_LLM_TIMEOUT", "2")],
        3,
        "phx::model-timeout",
        "PHX_LLM_TIMEOUT",
    );
    // A stream that stalls after its headers.
    fails_clearly(
        Box::new(|_, _, _| {
            Reply::Stream(vec!["{\"choices\": [{\"delta\": {\"content\": \"node\"}}]}".into(); 1]).then_hang()
        }),
        &[("PHX_LLM_CONSTRAIN", "none"), ("PHX_LLM_TIMEOUT", "2")],
        3,
        "phx::model-timeout",
        "PHX_LLM_TIMEOUT",
    );
    // A prompt over the model's context (llama.cpp's answer).
    fails_clearly(
        Box::new(|_, _, _| {
            Reply::Json(400, "{\"error\": {\"code\": 400, \"message\": \"the request exceeds the available context size, try increasing it\", \"type\": \"exceed_context_size_error\", \"n_prompt_tokens\": 4105, \"n_ctx\": 2048}}".into())
        }),
        &none,
        3,
        "phx::model-context",
        "--ctx-size",
    );
    // HTTP errors.
    fails_clearly(
        Box::new(|_, _, _| Reply::Json(500, "{\"error\": \"boom\"}".into())),
        &none,
        3,
        "phx::model",
        "try again later",
    );
    fails_clearly(
        Box::new(|_, _, _| Reply::Json(401, "{\"error\": \"bad key\"}".into())),
        &none,
        3,
        "phx::model",
        "PHX_LLM_API_KEY",
    );
    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let (out, err, _) = phx_gen(&url, &["x"], &none);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        err.contains("[phx::model]") && err.contains("cannot reach") && err.contains("is the server running"),
        "{err}"
    );
}

trait ThenHang {
    fn then_hang(self) -> Reply;
}

impl ThenHang for Reply {
    /// The stream's events, then silence: the connection stays open.
    fn then_hang(self) -> Reply {
        match self {
            Reply::Stream(mut events) => {
                events.push("__hang__".into());
                Reply::Stream(events)
            }
            other => other,
        }
    }
}

#[test]
fn gen_says_clearly_when_no_model_is_configured() {
    let dir = std::env::temp_dir().join(format!("phx-gen-none-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["gen", "anything"])
        .current_dir(&dir)
        .env_remove("PHX_LLM_BASE_URL")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("phx::no-model") && err.contains("PHX_LLM_BASE_URL") && err.contains("[llm]"), "{err}");
}

#[test]
fn schema_writes_the_grammars_and_the_prompt() {
    let phx = env!("CARGO_BIN_EXE_phx");
    let run = |args: &[&str]| {
        let o =
            Command::new(phx).args(args).env_remove("PHX_LLM_BASE_URL").env_remove("OPENAI_BASE_URL").output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (g, _) = run(&["schema", "--format", "gbnf"]);
    assert!(g.contains("root ::=") && g.contains("\"quantum.orbital(\"") && !g.contains("lab.oscillator"), "{g}");
    // A program's own tools join the standard library's.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/command_pipeline.phx");
    let (g, _) = run(&["schema", "--format", "gbnf", example]);
    assert!(g.contains("\"lab.oscillator(\""), "{g}");
    let (j, _) = run(&["schema", "--format", "json-schema", example]);
    let j: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert!(j.to_string().contains("\"lab.oscillator\"") && j["properties"]["nodes"].is_object());
    // What `phx gen` sends for a request, and its size.
    let request = "the hydrogen 1s orbital on a 64 grid and an xz slice";
    let (p, stats) = run(&["schema", "--format", "llm", "--for", request, "--stats"]);
    assert!(p.contains("plot.heatmap(field:") && p.contains("Example:"), "{p}");
    assert!(stats.contains("prompt:") && stats.contains("tokens"), "{stats}");
    let (g, _) = run(&["schema", "--format", "gbnf", "--for", request]);
    assert!(g.contains("plot.heatmap(\"") && !g.contains("data.fft("), "{g}");
}
