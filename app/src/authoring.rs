//! Writing programs: saved programs an agent refers to by id, programs
//! from the JSON form of a DAG, and programs written by a model (an
//! OpenAI-compatible endpoint for `phx gen`, the client's own model through
//! MCP sampling) and repaired with the compiler's diagnostics.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;
use crate::program::{CheckReport, check_text};

/// Where programs defined by agents are kept, inside the experiment's store.
pub fn dags_dir(exp: &Experiment) -> PathBuf {
    exp.store.root.join("mcp").join("dags")
}

/// The file of a saved program.
pub fn dag_path(exp: &Experiment, id: &str) -> AppResult<PathBuf> {
    if id.len() != 16 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::usage(format!("`{id}` is not a dag_id: define_dag returns one (16 hex digits)")));
    }
    Ok(dags_dir(exp).join(format!("{id}.phx")))
}

/// Saves a program under its content hash; returns its id and file.
pub fn save(exp: &Experiment, source: &str) -> AppResult<(String, PathBuf)> {
    let digest = Sha256::digest(source.as_bytes());
    let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let path = dag_path(exp, &id)?;
    crate::report::write(&path, source.as_bytes())?;
    Ok((id, path))
}

/// A saved program's text.
pub fn load_saved(exp: &Experiment, id: &str) -> AppResult<(String, PathBuf)> {
    let path = dag_path(exp, id)?;
    let text = std::fs::read_to_string(&path).map_err(|_| {
        AppError::invalid("phx::no-dag", format!("no DAG `{id}` in {}", exp.dir.display()))
            .with_help("call define_dag first, or pass `source` or `path`")
    })?;
    Ok((text, path))
}

/// A program file of the experiment folder (relative to it, or absolute
/// inside it).
pub fn program_file(exp: &Experiment, path: &str) -> AppResult<(String, PathBuf)> {
    let full = exp.absolute(path);
    let full = full.canonicalize().map_err(|e| {
        AppError::usage(format!("cannot read `{path}`: {e}")).with_help("give a .phx file of the experiment folder")
    })?;
    if !full.starts_with(&exp.dir) {
        return Err(AppError::usage(format!("`{path}` is outside the experiment folder {}", exp.dir.display()))
            .with_help("give a .phx file inside the experiment folder"));
    }
    // A program, and nothing of the store (its objects, keys and secrets).
    if full.extension().is_none_or(|x| x != "phx") || full.starts_with(&exp.store.root) {
        return Err(AppError::usage(format!("`{path}` is not a program of the experiment folder"))
            .with_help("give a .phx file of the experiment folder (not under .phx/)"));
    }
    let text = std::fs::read_to_string(&full)
        .map_err(|e| AppError::usage(format!("cannot read `{}`: {e}", full.display())))?;
    Ok((text, full))
}

/// The program text of the JSON form of a DAG.
pub fn from_spec(spec: &Json) -> AppResult<String> {
    let text = serde_json::to_string(spec).map_err(|e| AppError::usage(e.to_string()))?;
    phx_interchange::import(&text).map_err(|e| {
        AppError::usage(format!("`spec` is not the JSON form of a DAG: {e}"))
            .with_help("`phx export --json FILE` shows the form (language spec, section 8)")
    })
}

/// The system prompt: the language summary of `phx schema --format llm`.
pub fn system_prompt() -> String {
    format!(
        "You write programs in the phx language. Answer with one ```phx code block and nothing else.\n\n{}",
        phx_db::schema_doc::llm()
    )
}

/// What a model needs to write a program for `wish`.
pub fn prompt_material(wish: &str) -> String {
    let example = include_str!("../../examples/hydrogen_2p.phx");
    format!(
        "Write a phx program for this experiment:\n\n{wish}\n\nAn example program:\n```phx\n{example}```\n\nAnswer with one ```phx code block."
    )
}

/// The request for a repair, with the errors of the last answer.
pub fn repair_request(errors: &[String]) -> String {
    format!("phx check found these errors; answer with the whole corrected program:\n{}", errors.join("\n"))
}

/// The program text between ``` fences, or all of it.
pub fn program_from_reply(text: &str) -> String {
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        let after = after.split_once('\n').map(|(_, rest)| rest).unwrap_or(after);
        if let Some(end) = after.find("```") {
            return after[..end].trim().to_string() + "\n";
        }
    }
    text.trim().to_string() + "\n"
}

/// The errors of a check, one line each, as a model reads them.
pub fn error_lines(report: &CheckReport) -> Vec<String> {
    report
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::program::Severity::Error)
        .map(|d| {
            format!(
                "line {}: {} {}{}",
                d.line,
                d.code,
                d.message,
                d.help.as_deref().map(|h| format!(" (help: {h})")).unwrap_or_default()
            )
        })
        .collect()
}

/// A program to start from when no model can be asked.
pub fn skeleton(wish: &str) -> String {
    format!(
        "/// {}\nexperiment draft {{\n  title = \"draft\"\n}}\n\nparam grid: Int = 64\n\nnode result = quantum.orbital(n = 1, l = 0, m = 0, grid = grid) {{\n  emit = [static, series]\n}}\n",
        wish.lines().next().unwrap_or("").chars().take(100).collect::<String>()
    )
}

/// A chat message to a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// `user` or `assistant` (the system prompt is passed apart).
    pub role: String,
    pub content: String,
}

/// A model that answers a conversation: an HTTP endpoint, or an MCP
/// client's model through sampling.
pub trait Model {
    /// The model's answer to `messages` after the system prompt `system`.
    fn complete(&mut self, system: &str, messages: &[Message]) -> AppResult<String>;
}

/// One answer of the model and what the compiler said of it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Attempt {
    pub program: String,
    pub errors: Vec<String>,
}

/// A program written by a model.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Authored {
    pub program: String,
    /// How many repairs it took (0: the first answer checked).
    pub repairs: usize,
    /// Every answer, in order.
    pub attempts: Vec<Attempt>,
    /// The errors left in `program` (empty when it checks).
    pub errors: Vec<String>,
}

/// Asks `model` for a program doing `wish` and sends the compiler's errors
/// back up to `max_repairs` times. The program is checked as the file
/// `check_as` (its imports resolve from that folder). `on_attempt` hears
/// each attempt's number and error count.
pub fn write_program(
    model: &mut dyn Model,
    wish: &str,
    check_as: &Path,
    max_repairs: usize,
    on_attempt: &dyn Fn(usize, usize),
) -> AppResult<Authored> {
    let system = system_prompt();
    let mut messages = vec![Message { role: "user".into(), content: prompt_material(wish) }];
    let mut attempts = Vec::new();
    for attempt in 0..=max_repairs {
        let reply = model.complete(&system, &messages)?;
        let program = program_from_reply(&reply);
        let errors = error_lines(&check_text(check_as, &program)?);
        on_attempt(attempt + 1, errors.len());
        attempts.push(Attempt { program: program.clone(), errors: errors.clone() });
        if errors.is_empty() || attempt == max_repairs {
            return Ok(Authored { program, repairs: attempt, attempts, errors });
        }
        messages.push(Message { role: "assistant".into(), content: reply });
        messages.push(Message { role: "user".into(), content: repair_request(&errors) });
    }
    unreachable!("the loop returns on its last attempt")
}

/// An OpenAI-compatible chat endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
}

impl Endpoint {
    /// The endpoint of the environment (`PHX_LLM_BASE_URL`, else
    /// `OPENAI_BASE_URL`; `PHX_LLM_API_KEY`, else `OPENAI_API_KEY`;
    /// `PHX_LLM_MODEL`), else of `[llm]` in `dir/phx.toml`.
    pub fn configured(dir: &Path) -> AppResult<Endpoint> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let toml = crate::config::AppConfig::load(dir)?.llm.unwrap_or_default();
        let base_url = env("PHX_LLM_BASE_URL").or_else(|| env("OPENAI_BASE_URL")).or(toml.base_url).ok_or_else(|| {
            AppError::environment("phx::no-model", "no model endpoint is configured, so phx cannot write a program from words")
                .with_help("set PHX_LLM_BASE_URL (an OpenAI-compatible API, e.g. https://api.openai.com/v1), PHX_LLM_API_KEY and PHX_LLM_MODEL, or add to phx.toml:\n        [llm]\n        base_url = \"http://127.0.0.1:8080/v1\"\n        model = \"...\"\n        api_key_env = \"MY_KEY_VARIABLE\"\n  or use `phx mcp` from an MCP client, whose own model writes the program")
        })?;
        let model = env("PHX_LLM_MODEL").or(toml.model).unwrap_or_else(|| "gpt-4o-mini".into());
        let api_key = env("PHX_LLM_API_KEY")
            .or_else(|| env("OPENAI_API_KEY"))
            .or_else(|| toml.api_key_env.as_deref().and_then(env));
        Ok(Endpoint { base_url: base_url.trim_end_matches('/').to_string(), model, api_key })
    }
}

impl Model for Endpoint {
    fn complete(&mut self, system: &str, messages: &[Message]) -> AppResult<String> {
        let url = format!("{}/chat/completions", self.base_url);
        let mut all = vec![json!({"role": "system", "content": system})];
        all.extend(messages.iter().map(|m| json!({"role": m.role, "content": m.content})));
        let body = json!({"model": self.model, "messages": all, "temperature": 0.2}).to_string();
        let failed = |m: String| {
            AppError::environment("phx::model", m).with_help("check the endpoint, the model name and the key")
        };
        let mut req =
            ureq::post(&url).set("Content-Type", "application/json").timeout(std::time::Duration::from_secs(300));
        if let Some(k) = &self.api_key {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        let text = match req.send_string(&body) {
            Ok(resp) => resp.into_string().map_err(|e| failed(format!("cannot read the answer of {url}: {e}")))?,
            Err(ureq::Error::Status(code, resp)) => {
                let detail = resp.into_string().unwrap_or_default();
                return Err(failed(format!(
                    "{url} answered HTTP {code}: {}",
                    detail.chars().take(300).collect::<String>()
                )));
            }
            Err(e) => return Err(failed(format!("cannot reach {url}: {e}"))),
        };
        let v: Json = serde_json::from_str(&text).map_err(|e| failed(format!("{url} did not answer JSON: {e}")))?;
        v.pointer("/choices/0/message/content")
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| failed(format!("{url} answered without choices[0].message.content")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_gives_the_program_between_fences() {
        assert_eq!(program_from_reply("Here:\n```phx\nparam a: Int = 1\n```\nbye"), "param a: Int = 1\n");
        assert_eq!(program_from_reply("param a: Int = 1"), "param a: Int = 1\n");
    }
}

#[cfg(test)]
mod program_file_tests {
    use super::*;

    #[test]
    fn only_programs_of_the_folder_are_read() {
        let dir = std::env::temp_dir().join(format!("phx-app-program-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.phx"), "param a: Int = 1\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "secret").unwrap();
        let exp = Experiment::open_exact(&dir).unwrap();
        assert!(program_file(&exp, "sub/a.phx").is_ok());
        std::fs::write(exp.store.root.join("stolen.phx"), "x").unwrap();
        for bad in ["notes.txt", ".phx/stolen.phx", "../../etc/passwd", "/etc/hostname", "sub/missing.phx"] {
            assert_eq!(program_file(&exp, bad).unwrap_err().code, "phx::usage", "{bad}");
        }
        std::os::unix::fs::symlink("/etc/hostname", dir.join("host.phx")).unwrap();
        assert!(program_file(&exp, "host.phx").is_err(), "a link out of the folder");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
