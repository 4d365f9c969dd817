//! An OpenAI-compatible chat endpoint (`POST {base}/chat/completions`) as
//! a [`Model`]: hosted APIs, llama.cpp's server, Ollama, vLLM. Answers
//! stream, so a front end can show progress; every request has a token
//! limit and a deadline; a failure is an [`AppError`] with a code and a
//! hint: `phx::model` (unreachable, an HTTP error), `phx::model-timeout`
//! (no answer in time), `phx::model-context` (the prompt does not fit the
//! model's context) and `phx::model-answer` (an answer that is not one).

use std::io::{BufRead, BufReader, Read as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::{Answer, Ask, Constrain, Model};
use crate::error::{AppError, AppResult};

/// How far an answer has come, while it streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Pieces of text received (about one token each).
    pub tokens: usize,
    pub elapsed: Duration,
    /// The answer is complete.
    pub done: bool,
}

/// What hears an answer's progress.
pub type OnProgress = Arc<dyn Fn(&Progress) + Send + Sync>;

/// An OpenAI-compatible chat endpoint.
#[derive(Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    /// The constraint to use; `None`: what the endpoint supports.
    pub constrain: Option<Constrain>,
    /// The most tokens of one answer.
    pub max_tokens: u32,
    /// The deadline of one answer, all of it.
    pub timeout: Duration,
    /// Hears each piece of a streamed answer.
    pub on_progress: Option<OnProgress>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .field("constrain", &self.constrain)
            .field("max_tokens", &self.max_tokens)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The default limit of one answer: a program of a dozen nodes fits.
pub const MAX_TOKENS: u32 = 1024;
/// The default deadline of one answer.
pub const TIMEOUT: Duration = Duration::from_secs(180);

const CONFIG_HELP: &str = "set PHX_LLM_BASE_URL (an OpenAI-compatible API, e.g. https://api.openai.com/v1), PHX_LLM_API_KEY and PHX_LLM_MODEL, or add to phx.toml:\n        [llm]\n        base_url = \"http://127.0.0.1:8080/v1\"\n        model = \"...\"\n        api_key_env = \"MY_KEY_VARIABLE\"\n  or use `phx mcp` from an MCP client, whose own model writes the program";

impl Endpoint {
    /// The endpoint of the environment (`PHX_LLM_BASE_URL`, else
    /// `OPENAI_BASE_URL`; `PHX_LLM_API_KEY`, else `OPENAI_API_KEY`;
    /// `PHX_LLM_MODEL`, `PHX_LLM_CONSTRAIN`, `PHX_LLM_MAX_TOKENS`,
    /// `PHX_LLM_TIMEOUT` in seconds), else of `[llm]` in `dir/phx.toml`.
    pub fn configured(dir: &Path) -> AppResult<Endpoint> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let toml = crate::config::AppConfig::load(dir)?.llm.unwrap_or_default();
        let base_url =
            env("PHX_LLM_BASE_URL").or_else(|| env("OPENAI_BASE_URL")).or(toml.base_url).ok_or_else(|| {
                AppError::environment(
                    "phx::no-model",
                    "no model endpoint is configured, so phx cannot write a program from words",
                )
                .with_help(CONFIG_HELP)
            })?;
        let model = env("PHX_LLM_MODEL").or(toml.model).unwrap_or_else(|| "gpt-4o-mini".into());
        let api_key = env("PHX_LLM_API_KEY")
            .or_else(|| env("OPENAI_API_KEY"))
            .or_else(|| toml.api_key_env.as_deref().and_then(env));
        let constrain = match env("PHX_LLM_CONSTRAIN").or(toml.constrain) {
            Some(c) => Constrain::parse(&c)?,
            None => None,
        };
        let number = |name: &str, v: Option<String>| -> AppResult<Option<u64>> {
            v.map(|t| {
                t.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    AppError::usage(format!("{name} = `{t}` is not a positive whole number"))
                        .with_help("write e.g. PHX_LLM_MAX_TOKENS=1024, PHX_LLM_TIMEOUT=180")
                })
            })
            .transpose()
        };
        let max_tokens = number("PHX_LLM_MAX_TOKENS", env("PHX_LLM_MAX_TOKENS"))?
            .or(toml.max_tokens.map(u64::from))
            .map_or(MAX_TOKENS, |n| n.min(u64::from(u32::MAX)) as u32);
        let timeout =
            number("PHX_LLM_TIMEOUT", env("PHX_LLM_TIMEOUT"))?.or(toml.timeout_s).map_or(TIMEOUT, Duration::from_secs);
        Ok(Endpoint {
            base_url: base_url.trim_end_matches('/').to_string(),
            model,
            api_key,
            constrain,
            max_tokens,
            timeout,
            on_progress: None,
        })
    }

    /// The server's root (the base URL without its `/v1`).
    fn root(&self) -> &str {
        self.base_url.strip_suffix("/v1").unwrap_or(&self.base_url)
    }

    fn get(&self, url: &str, timeout: Duration) -> Option<Json> {
        let mut req = ureq::get(url).timeout(timeout);
        if let Some(k) = &self.api_key {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        serde_json::from_str(&req.call().ok()?.into_string().ok()?).ok()
    }

    /// What the endpoint supports: llama.cpp's server (its `/props`) takes a
    /// GBNF grammar; other servers (OpenAI, vLLM, Ollama) a JSON Schema.
    pub fn probe(&self) -> Constrain {
        let props = self.get(&format!("{}/props", self.root()), Duration::from_secs(3));
        if props.is_some_and(|p| p.get("default_generation_settings").is_some()) {
            Constrain::Gbnf
        } else {
            Constrain::JsonSchema
        }
    }

    /// How many tokens `text` is for the server's own tokenizer (llama.cpp's
    /// `/tokenize`); `None` where the server does not say.
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        let url = format!("{}/tokenize", self.root());
        let resp = ureq::post(&url)
            .set("Content-Type", "application/json")
            .timeout(Duration::from_secs(10))
            .send_string(&json!({"content": text}).to_string())
            .ok()?;
        let v: Json = serde_json::from_str(&resp.into_string().ok()?).ok()?;
        v.get("tokens").and_then(Json::as_array).map(Vec::len)
    }

    /// How many tokens the prompt of a system text and one user message is
    /// for the server (llama.cpp's `/apply-template` and `/tokenize`: the
    /// chat template's own tokens included); `None` where it does not say.
    pub fn prompt_tokens(&self, system: &str, user: &str) -> Option<usize> {
        let messages = json!({"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]});
        let templated = ureq::post(&format!("{}/apply-template", self.root()))
            .set("Content-Type", "application/json")
            .timeout(Duration::from_secs(10))
            .send_string(&messages.to_string())
            .ok()
            .and_then(|r| r.into_string().ok())
            .and_then(|t| serde_json::from_str::<Json>(&t).ok())
            .and_then(|v| v.get("prompt").and_then(Json::as_str).map(str::to_string));
        match templated {
            Some(p) => self.count_tokens(&p),
            None => Some(self.count_tokens(system)? + self.count_tokens(user)?),
        }
    }

    /// The request body of `ask`.
    pub fn body(&self, ask: &Ask<'_>, stream: bool) -> Json {
        let mut all = vec![json!({"role": "system", "content": ask.system})];
        all.extend(ask.messages.iter().map(|m| json!({"role": m.role, "content": m.content})));
        let mut body = json!({
            "model": self.model,
            "messages": all,
            "temperature": 0.2,
            "max_tokens": ask.max_tokens.min(self.max_tokens.max(1)),
            "stream": stream,
        });
        if let Some(g) = ask.grammar {
            body["grammar"] = json!(g);
        }
        if let Some(s) = ask.json_schema {
            body["response_format"] =
                json!({"type": "json_schema", "json_schema": {"name": "phx_program", "strict": false, "schema": s}});
        }
        body
    }
}

fn model_error(code: &str, message: String, help: &str) -> AppError {
    AppError::environment(code, message).with_help(help)
}

/// Whether an I/O error is a deadline passing.
fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
}

impl Endpoint {
    fn timeout_error(&self, url: &str, what: &str) -> AppError {
        model_error(
            "phx::model-timeout",
            format!("{url} {what} within {} s", self.timeout.as_secs()),
            "check that the server is running and not busy; a slow model needs more time (PHX_LLM_TIMEOUT or [llm] timeout_s in seconds) or a shorter answer (PHX_LLM_MAX_TOKENS or [llm] max_tokens)",
        )
    }

    /// The error of an HTTP status, with what to do about it.
    fn status_error(&self, url: &str, code: u16, detail: &str) -> AppError {
        let lower = detail.to_ascii_lowercase();
        if lower.contains("exceed_context_size")
            || lower.contains("context_length_exceeded")
            || lower.contains("maximum context length")
            || lower.contains("context size")
            || lower.contains("context window")
        {
            let v: Json = serde_json::from_str(detail).unwrap_or(Json::Null);
            let n = |k: &str| v.pointer(&format!("/error/{k}")).and_then(Json::as_u64);
            let sizes = match (n("n_prompt_tokens"), n("n_ctx")) {
                (Some(p), Some(c)) => format!(" ({p} tokens of prompt, a context of {c})"),
                _ => String::new(),
            };
            return model_error(
                "phx::model-context",
                format!("the request does not fit the model's context{sizes}"),
                &format!(
                    "give the model a larger context: llama.cpp's server `--ctx-size 4096` (or n_ctx), Ollama `num_ctx`; or ask for shorter answers (PHX_LLM_MAX_TOKENS or [llm] max_tokens, now {}). phx's prompt is about 1,000 tokens (`phx schema --format llm --for \"...\" --stats` counts it)",
                    self.max_tokens
                ),
            );
        }
        let short: String = detail.chars().take(300).collect();
        let help = match code {
            401 | 403 => "check the key (PHX_LLM_API_KEY, or the variable [llm] api_key_env names)",
            404 => "check the base URL (it usually ends in /v1) and the model name (PHX_LLM_MODEL)",
            400 | 422
                if lower.contains("grammar") || lower.contains("response_format") || lower.contains("json_schema") =>
            {
                "this server does not take phx's constraint: set [llm] constrain = \"none\" (or PHX_LLM_CONSTRAIN=none), or \"json_schema\" / \"gbnf\", whichever it supports"
            }
            429 => "the service limits requests: wait, then try again",
            500..=599 => "the service failed: try again later, or check the server's log",
            _ => "check the endpoint, the model name and the key",
        };
        model_error("phx::model", format!("{url} answered HTTP {code}: {short}"), help)
    }

    fn report(&self, tokens: usize, start: Instant, done: bool) {
        if let Some(f) = &self.on_progress {
            f(&Progress { tokens, elapsed: start.elapsed(), done });
        }
    }
}

impl Model for Endpoint {
    fn constraint(&mut self) -> Constrain {
        match self.constrain {
            Some(c) => c,
            None => {
                let c = self.probe();
                self.constrain = Some(c);
                c
            }
        }
    }

    fn complete(&mut self, ask: &Ask<'_>) -> AppResult<Answer> {
        let url = format!("{}/chat/completions", self.base_url);
        let body = self.body(ask, true).to_string();
        let start = Instant::now();
        let mut req = ureq::post(&url)
            .set("Content-Type", "application/json")
            .set("Accept", "text/event-stream, application/json")
            .timeout(self.timeout);
        if let Some(k) = &self.api_key {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        let resp = match req.send_string(&body) {
            Ok(r) => r,
            Err(ureq::Error::Status(code, resp)) => {
                let detail = resp.into_string().unwrap_or_default();
                return Err(self.status_error(&url, code, &detail));
            }
            Err(ureq::Error::Transport(t)) => {
                let io = std::error::Error::source(&t).and_then(|s| s.downcast_ref::<std::io::Error>());
                if io.is_some_and(timed_out) || t.to_string().contains("timed out") {
                    return Err(self.timeout_error(&url, "did not answer"));
                }
                return Err(model_error(
                    "phx::model",
                    format!("cannot reach {url}: {t}"),
                    "is the server running? check PHX_LLM_BASE_URL (or [llm] base_url), e.g. http://127.0.0.1:8080/v1",
                ));
            }
        };
        let garbage = |what: String| {
            model_error(
                "phx::model-answer",
                format!("{url} answered, but not with a chat completion: {what}"),
                "check that PHX_LLM_BASE_URL is an OpenAI-compatible API (its /chat/completions), e.g. http://127.0.0.1:8080/v1",
            )
        };
        let streamed = resp.content_type() == "text/event-stream";
        let reader = BufReader::new(resp.into_reader().take(64 << 20));
        let mut text = String::new();
        let mut finish: Option<String> = None;
        if !streamed {
            // A server that does not stream answers with one JSON document.
            let mut raw = String::new();
            for line in reader.lines() {
                match line {
                    Ok(l) => {
                        raw.push_str(&l);
                        raw.push('\n');
                    }
                    Err(e) if timed_out(&e) => return Err(self.timeout_error(&url, "did not finish its answer")),
                    Err(e) => return Err(garbage(e.to_string())),
                }
            }
            let v: Json = serde_json::from_str(&raw)
                .map_err(|e| garbage(format!("not JSON ({e}): {}", raw.chars().take(200).collect::<String>())))?;
            let content = v
                .pointer("/choices/0/message/content")
                .and_then(Json::as_str)
                .ok_or_else(|| garbage("no choices[0].message.content".into()))?;
            let truncated = v.pointer("/choices/0/finish_reason").and_then(Json::as_str) == Some("length");
            self.report(1, start, true);
            return Ok(Answer { text: content.to_string(), truncated });
        }
        let mut pieces = 0usize;
        for line in reader.lines() {
            let line = match line {
                Ok(l) => l,
                Err(e) if timed_out(&e) => return Err(self.timeout_error(&url, "did not finish its answer")),
                Err(e) => return Err(garbage(format!("the stream broke: {e}"))),
            };
            if start.elapsed() > self.timeout {
                return Err(self.timeout_error(&url, "did not finish its answer"));
            }
            let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
            if data == "[DONE]" {
                break;
            }
            let v: Json = serde_json::from_str(data).map_err(|e| garbage(format!("a piece that is not JSON ({e})")))?;
            if let Some(err) = v.get("error") {
                return Err(self.status_error(&url, 500, &err.to_string()));
            }
            if let Some(piece) = v.pointer("/choices/0/delta/content").and_then(Json::as_str) {
                text.push_str(piece);
                pieces += 1;
                self.report(pieces, start, false);
            }
            if let Some(f) = v.pointer("/choices/0/finish_reason").and_then(Json::as_str) {
                finish = Some(f.to_string());
            }
        }
        self.report(pieces, start, true);
        if text.is_empty() && finish.is_none() {
            return Err(garbage("the stream ended without any text".into()));
        }
        Ok(Answer { text, truncated: finish.as_deref() == Some("length") })
    }
}
