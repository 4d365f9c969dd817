//! `phx gen "description"`: a program written by a model behind an
//! OpenAI-compatible endpoint, checked by the compiler and sent back with
//! its diagnostics for up to three repairs (the same loop as the MCP
//! server's sampling path).
//!
//! The endpoint comes from the environment (`PHX_LLM_BASE_URL`, else
//! `OPENAI_BASE_URL`; `PHX_LLM_API_KEY`, else `OPENAI_API_KEY`;
//! `PHX_LLM_MODEL`) or from an `[llm]` table in `phx.toml` (`base_url`,
//! `model`, `api_key_env` naming the variable that holds the key).

use std::path::Path;

use serde_json::{Value as Json, json};

use super::common;
use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// What the experiment should do, in words.
    description: String,
    /// Write the program here (default: print it).
    #[arg(short, long)]
    output: Option<String>,
    /// How many times the model may repair its program.
    #[arg(long, default_value_t = 3)]
    repairs: usize,
}

struct Endpoint {
    base_url: String,
    model: String,
    api_key: Option<String>,
}

/// `key = "value"` lines of the `[llm]` table of `phx.toml`.
fn toml_llm(dir: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(dir.join("phx.toml")) else { return Vec::new() };
    let mut in_llm = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            in_llm = line == "[llm]";
            continue;
        }
        if in_llm && let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
        }
    }
    out
}

fn endpoint() -> Option<Endpoint> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let toml = toml_llm(&std::env::current_dir().ok()?);
    let from_toml = |k: &str| toml.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let base_url = env("PHX_LLM_BASE_URL").or_else(|| env("OPENAI_BASE_URL")).or_else(|| from_toml("base_url"))?;
    let model = env("PHX_LLM_MODEL").or_else(|| from_toml("model")).unwrap_or_else(|| "gpt-4o-mini".into());
    let api_key = env("PHX_LLM_API_KEY")
        .or_else(|| env("OPENAI_API_KEY"))
        .or_else(|| from_toml("api_key_env").and_then(|var| env(&var)));
    Some(Endpoint { base_url: base_url.trim_end_matches('/').to_string(), model, api_key })
}

fn complete(ep: &Endpoint, messages: &[Json]) -> Result<String, String> {
    let url = format!("{}/chat/completions", ep.base_url);
    let body = json!({"model": ep.model, "messages": messages, "temperature": 0.2}).to_string();
    let mut req = ureq::post(&url).set("Content-Type", "application/json").timeout(std::time::Duration::from_secs(300));
    if let Some(k) = &ep.api_key {
        req = req.set("Authorization", &format!("Bearer {k}"));
    }
    let text = match req.send_string(&body) {
        Ok(resp) => resp.into_string().map_err(|e| format!("cannot read the answer of {url}: {e}"))?,
        Err(ureq::Error::Status(code, resp)) => {
            let detail = resp.into_string().unwrap_or_default();
            return Err(format!("{url} answered HTTP {code}: {}", detail.chars().take(300).collect::<String>()));
        }
        Err(e) => return Err(format!("cannot reach {url}: {e}")),
    };
    let v: Json = serde_json::from_str(&text).map_err(|e| format!("{url} did not answer JSON: {e}"))?;
    v.pointer("/choices/0/message/content")
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("{url} answered without choices[0].message.content"))
}

/// `phx gen`.
pub fn run(a: Args) -> u8 {
    let Some(ep) = endpoint() else {
        eprintln!(
            "error[phx::no-model]: no model endpoint is configured, so phx cannot write a program from words\n  help: set PHX_LLM_BASE_URL (an OpenAI-compatible API, e.g. https://api.openai.com/v1), PHX_LLM_API_KEY and PHX_LLM_MODEL, or add to phx.toml:\n        [llm]\n        base_url = \"http://127.0.0.1:8080/v1\"\n        model = \"...\"\n        api_key_env = \"MY_KEY_VARIABLE\"\n  or use `phx mcp` from an MCP client, whose own model writes the program"
        );
        return exit::ENVIRONMENT;
    };
    let system = crate::authoring::system_prompt();
    // Checked as a file of the current folder, so its imports resolve there.
    let path = std::env::current_dir().unwrap_or_default().join("generated.phx");
    let mut messages = vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": crate::authoring::prompt_material(&a.description)}),
    ];
    let mut program = String::new();
    let mut errors = Vec::new();
    for attempt in 0..=a.repairs {
        let reply = match complete(&ep, &messages) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error[phx::model]: {e}\n  help: check the endpoint, the model name and the key");
                return exit::ENVIRONMENT;
            }
        };
        program = crate::authoring::program_from_reply(&reply);
        errors = crate::authoring::error_lines(&crate::authoring::check_source(&path, &program));
        eprintln!(
            "phx gen: attempt {}: {}",
            attempt + 1,
            if errors.is_empty() { "the program checks".to_string() } else { format!("{} error(s)", errors.len()) }
        );
        if errors.is_empty() || attempt == a.repairs {
            break;
        }
        messages.push(json!({"role": "assistant", "content": reply}));
        messages.push(json!({"role": "user", "content": crate::authoring::repair_request(&errors)}));
    }
    match &a.output {
        Some(path) => {
            if let Err(e) = common::write_atomic(path, program.as_bytes()) {
                eprintln!("error: cannot write `{path}`: {e}");
                return exit::ENVIRONMENT;
            }
            eprintln!("phx gen: wrote {path}");
        }
        None => common::out(&program),
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    if errors.is_empty() { exit::OK } else { exit::INVALID }
}
