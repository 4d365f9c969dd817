//! `phx gen` against an OpenAI-compatible endpoint that the test serves on
//! 127.0.0.1: the model answers a broken program first, so the repair loop
//! runs, and the second request must carry the compiler's diagnostic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

const GOOD: &str = "node density = quantum.orbital(n = 2, l = 1, m = 0, grid = 24) {\n  emit = [series]\n}\n";

fn serve(answers: Vec<String>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push(format!("{}{}", request_line, String::from_utf8_lossy(&body)));
            let content = answers.get(i).cloned().unwrap_or_else(|| answers.last().unwrap().clone());
            let reply =
                serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}]}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn gen_repairs_the_models_program_with_the_diagnostics() {
    let broken = format!("```phx\n{}```", GOOD.replace("grid = 24", "grid = 24, colour = 3"));
    let (url, seen) = serve(vec![broken, format!("Fixed:\n```phx\n{GOOD}```")]);
    let dir = std::env::temp_dir().join(format!("phx-gen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["gen", "the 2p density", "-o", "gen.phx"])
        .current_dir(&dir)
        .env("PHX_LLM_BASE_URL", &url)
        .env("PHX_LLM_MODEL", "test-model")
        .env("PHX_LLM_API_KEY", "sk-test")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("gen.phx")).unwrap(), GOOD);
    assert!(err.contains("attempt 1: 1 error(s)") && err.contains("attempt 2: the program checks"), "{err}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].starts_with("POST /v1/chat/completions"), "{}", requests[0]);
    assert!(requests[0].contains("\"model\":\"test-model\"") && requests[0].contains("the 2p density"));
    assert!(requests[1].contains("phx::unknown-arg"), "the repair request carries the diagnostic: {}", requests[1]);
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
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("phx::no-model") && err.contains("PHX_LLM_BASE_URL") && err.contains("[llm]"), "{err}");
}
