//! Writing programs: saved programs an agent refers to by id, programs
//! from the JSON form of a DAG, and programs written by a model (an
//! OpenAI-compatible endpoint for `phx gen`, the client's own model through
//! MCP sampling) and repaired with the compiler's diagnostics.

use std::path::{Path, PathBuf};

mod endpoint;
pub use endpoint::{Endpoint, Progress};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
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

/// The language summary of `phx schema --format llm`, for a client's own
/// (large) model that writes a program itself.
pub fn system_prompt() -> String {
    format!(
        "You write programs in the phx language. Answer with one ```phx code block and nothing else.\n\n{}",
        phx_db::schema_doc::llm()
    )
}

/// What a model needs to write a program for `wish` when phx does not ask
/// it itself (an MCP client without sampling): the request, the tools it
/// needs in full and an example calling them.
pub fn prompt_material(wish: &str) -> String {
    let plan = Plan::new(wish, Constrain::None);
    format!("{}\n\nWrite a phx program for this request:\n{wish}\n\nAnswer with one ```phx code block.", plan.system)
}

/// The request for a repair, with the errors of the last answer (each with
/// its code, line and help).
pub fn repair_request(errors: &[String], json: bool) -> String {
    let what = if json { "the whole corrected program, in the same JSON form" } else { "the whole corrected program" };
    format!("phx check found these errors; answer with {what}:\n{}", errors.join("\n"))
}

/// The program text between ``` fences, or all of it.
pub fn program_from_reply(text: &str) -> String {
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        let after = after.split_once('\n').map(|(_, rest)| rest).unwrap_or(after);
        if let Some(end) = after.find("```") {
            return after[..end].trim().to_string() + "\n";
        }
        // A fence that never closed: the answer was cut off.
        return after.trim().to_string() + "\n";
    }
    text.trim().to_string() + "\n"
}

/// The JSON object in an answer (fenced or not), written as `.phx` text.
pub fn program_from_json_reply(text: &str) -> Result<String, String> {
    let start = text.find('{').ok_or("the answer holds no JSON object")?;
    let end = text.rfind('}').ok_or("the answer holds no JSON object")?;
    if end < start {
        return Err("the answer holds no JSON object".into());
    }
    phx_interchange::import(&text[start..=end]).map_err(|e| e.to_string())
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

/// A program to start from when no model can be asked: the example phx
/// makes for the tools the request needs.
pub fn skeleton(wish: &str) -> String {
    let first = wish.lines().next().unwrap_or("").chars().take(100).collect::<String>();
    format!("/// {first}\n{}", Plan::new(wish, Constrain::None).example)
}

/// A chat message to a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// `user` or `assistant` (the system prompt is passed apart).
    pub role: String,
    pub content: String,
}

/// How a model's answer is held to the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum Constrain {
    /// A GBNF grammar of the program (llama.cpp's `grammar`): the answer
    /// cannot fail to parse or name a tool or argument that does not exist.
    Gbnf,
    /// A JSON Schema of the program's JSON form (`response_format`), which
    /// `phx import` writes as text.
    JsonSchema,
    /// Free text.
    None,
}

impl Constrain {
    /// The mode a configuration names (`auto`: `None`, the endpoint decides).
    pub fn parse(text: &str) -> AppResult<Option<Constrain>> {
        match text.trim() {
            "gbnf" => Ok(Some(Constrain::Gbnf)),
            "json_schema" | "json-schema" => Ok(Some(Constrain::JsonSchema)),
            "none" => Ok(Some(Constrain::None)),
            "auto" | "" => Ok(None),
            other => Err(AppError::usage(format!("`constrain = \"{other}\"` is not a mode"))
                .with_help("write gbnf, json_schema, none or auto")),
        }
    }

    /// The mode's name as configured.
    pub fn name(self) -> &'static str {
        match self {
            Constrain::Gbnf => "gbnf",
            Constrain::JsonSchema => "json_schema",
            Constrain::None => "none",
        }
    }
}

/// One request to a model.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    pub system: &'a str,
    pub messages: &'a [Message],
    /// The GBNF grammar the answer must follow.
    pub grammar: Option<&'a str>,
    /// The JSON Schema the answer must follow.
    pub json_schema: Option<&'a Json>,
    /// The most tokens the answer may have.
    pub max_tokens: u32,
}

/// A model's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    /// The answer stopped at `max_tokens`, not where the model ended it.
    pub truncated: bool,
}

/// A model that answers a conversation: an HTTP endpoint, or an MCP
/// client's model through sampling.
pub trait Model {
    /// The constraint this model takes best (asked once per program).
    fn constraint(&mut self) -> Constrain {
        Constrain::None
    }

    /// The model's answer to `ask`.
    fn complete(&mut self, ask: &Ask<'_>) -> AppResult<Answer>;
}

/// One answer of the model and what the compiler said of it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Attempt {
    /// The program after the compiler's own fixes.
    pub program: String,
    /// The errors left in it.
    pub errors: Vec<String>,
    /// What the compiler fixed itself (`line N: phx::CODE: what`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed: Vec<String>,
    /// The answer stopped at the token limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
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
    /// How the answers were constrained.
    pub constrain: Constrain,
    /// The tools phx chose for the request (listed in full to the model).
    pub tools: Vec<String>,
}

/// What `write_program` may do.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// How many times the model may be asked again with the errors.
    pub max_repairs: usize,
    /// The constraint; `None`: what the model takes best.
    pub constrain: Option<Constrain>,
    /// Whether the compiler fixes what it can before the model is asked.
    pub compiler_fixes: bool,
    /// The most tokens of one answer.
    pub max_tokens: u32,
}

impl Default for GenOptions {
    fn default() -> GenOptions {
        GenOptions { max_repairs: 3, constrain: None, compiler_fixes: true, max_tokens: 1024 }
    }
}

/// What happens while a program is written, for a front end to show.
#[derive(Clone, Debug)]
pub enum GenEvent<'a> {
    /// The constraint and the tools chosen, before the first request.
    Plan { constrain: Constrain, tools: &'a [String] },
    /// The compiler fixed these in answer `attempt`.
    Fixed { attempt: usize, fixes: &'a [String] },
    /// Answer `attempt` (from 1) has `errors` errors left.
    Attempt { attempt: usize, errors: usize },
}

/// The tools a program may call: the standard library's and those declared
/// in the program at `path` (with its imports), or in every program of the
/// folder `path` (hidden folders left out), by name.
pub fn tools_of(path: &Path) -> AppResult<Vec<std::sync::Arc<phx_db::gbnf::ToolSchema>>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut found = Vec::new();
        let mut folders = vec![path.to_path_buf()];
        while let Some(d) = folders.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let q = e.path();
                if q.is_dir() && !q.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                    folders.push(q);
                } else if q.extension().is_some_and(|x| x == "phx") {
                    found.push(q);
                }
            }
        }
        found
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(AppError::usage(format!("`{}` is neither a tool, a program nor a folder", path.display()))
            .with_help("`phx schema` lists every tool"));
    };
    let mut all = phx_db::gbnf::stdlib_tools();
    for f in files {
        let mut db = phx_db::Database::new();
        let file = db.load_with_imports(&f.to_string_lossy(), &phx_db::FsLoader);
        for t in phx_db::gbnf::program_tools(&db, file) {
            if !all.iter().any(|a| a.name == t.name) {
                all.push(t);
            }
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// The prompt, grammar and schema of one request in words.
pub struct Plan {
    pub constrain: Constrain,
    pub tools: Vec<String>,
    /// The example program the prompt shows.
    pub example: String,
    pub system: String,
    pub grammar: Option<String>,
    pub json_schema: Option<Json>,
}

impl Plan {
    /// The tools `wish` needs among the standard library's, an example of
    /// them, and the system prompt, grammar or schema for `constrain`.
    pub fn new(wish: &str, constrain: Constrain) -> Plan {
        use phx_db::{dag_schema, gbnf, prompt};
        let all = gbnf::stdlib_tools();
        let sel = prompt::select_tools(wish, &all, 5);
        let (example, _) = prompt::example_program(&sel);
        let system = match constrain {
            Constrain::JsonSchema => {
                let json = phx_interchange::export(&example)
                    .map(|j| serde_json::to_string(&j).unwrap_or_default())
                    .unwrap_or_default();
                json_system_prompt(&sel, &json)
            }
            _ => prompt::system_prompt(&sel, &all, &example),
        };
        Plan {
            constrain,
            tools: sel.tools.iter().map(|t| t.name.clone()).collect(),
            example,
            system,
            grammar: (constrain == Constrain::Gbnf).then(|| gbnf::small_for(&prompt::shape(&sel))),
            json_schema: (constrain == Constrain::JsonSchema)
                .then(|| dag_schema::schema(&sel.tools, gbnf::Profile::Small)),
        }
    }
}

/// The system prompt for the JSON form of a program.
fn json_system_prompt(sel: &phx_db::prompt::Selection, example: &str) -> String {
    let mut out = String::from(
        "You write programs in phx, a language for physics pipelines, in their JSON form. Answer with one JSON object only, no explanations:\n\
         {\"fns\": [{\"name\": NAME, \"source\": \"fn NAME(x: Float) -> Float { ... }\"}], \"nodes\": [{\"id\": NAME, \"tool\": TOOL, \"args\": {ARG: VALUE}, \"emit\": [\"static\"]}]}\n\
         Values: numbers, strings, lists, quantities {\"value\": 20, \"unit\": \"bohr\"}, another node's output {\"ref\": \"NODE.OUTPUT\"}, a fn's name {\"expr\": \"NAME\"}. \
         A sweep makes one node per value: \"sweep\": {\"n\": [1, 2, 3]} with {\"expr\": \"n\"} as the argument; {\"ref\": \"NODE[*].OUTPUT\"} is the list of every instance's output.\n\nTools:\n",
    );
    for t in &sel.tools {
        out.push_str(&format!("- {}\n", phx_db::prompt::tool_line(t)));
    }
    out.push_str(&format!("\nExample:\n{example}\n"));
    out
}

/// Checks `program` as the file `check_as`, after the compiler's own
/// fixes when `fixes` is on: the program, its errors and what was fixed.
fn check_and_fix(check_as: &Path, program: String, fixes: bool) -> AppResult<(String, Vec<String>, Vec<String>)> {
    // One layout, so the errors' lines are those of the text kept.
    let program = phx_fmt::format_source(&program).unwrap_or(program);
    let errors = error_lines(&check_text(check_as, &program)?);
    if errors.is_empty() || !fixes {
        return Ok((program, errors, Vec::new()));
    }
    let path = check_as.to_string_lossy();
    let repaired = phx_db::fixes::repair(&path, &program, &phx_db::FsLoader, 40);
    if repaired.applied.is_empty() {
        return Ok((program, errors, Vec::new()));
    }
    let text = phx_fmt::format_source(&repaired.text).unwrap_or(repaired.text);
    let errors = error_lines(&check_text(check_as, &text)?);
    Ok((text, errors, repaired.applied))
}

/// Asks `model` for a program doing `wish`: the tools it needs and an
/// example of them in the prompt, the answer held to a grammar or schema
/// when the model takes one; each answer checked as the file `check_as`
/// (its imports resolve from that folder), fixed by the compiler where it
/// can, and sent back with the errors left up to `max_repairs` times.
pub fn write_program(
    model: &mut dyn Model,
    wish: &str,
    check_as: &Path,
    options: &GenOptions,
    on_event: &dyn Fn(&GenEvent<'_>),
) -> AppResult<Authored> {
    let constrain = options.constrain.unwrap_or_else(|| model.constraint());
    let plan = Plan::new(wish, constrain);
    on_event(&GenEvent::Plan { constrain, tools: &plan.tools });
    let json = constrain == Constrain::JsonSchema;
    let mut messages = vec![Message { role: "user".into(), content: wish.to_string() }];
    let mut attempts = Vec::new();
    for attempt in 0..=options.max_repairs {
        let ask = Ask {
            system: &plan.system,
            messages: &messages,
            grammar: plan.grammar.as_deref(),
            json_schema: plan.json_schema.as_ref(),
            max_tokens: options.max_tokens,
        };
        let answer = model.complete(&ask)?;
        let (program, mut errors, fixed) = if json {
            match program_from_json_reply(&answer.text) {
                Ok(p) => check_and_fix(check_as, p, options.compiler_fixes)?,
                Err(e) => (
                    answer.text.clone(),
                    vec![format!("line 1: phx::syntax the answer is not the JSON form of a program: {e}")],
                    Vec::new(),
                ),
            }
        } else {
            check_and_fix(check_as, program_from_reply(&answer.text), options.compiler_fixes)?
        };
        // A program that says nothing checks clean, but is no answer.
        let nodes = phx_syntax::parse_file(&program)
            .items
            .iter()
            .filter(|i| matches!(i, phx_syntax::ast::Item::Node(_)))
            .count();
        if errors.is_empty() && nodes == 0 {
            errors
                .push("line 1: phx::syntax the answer holds no `node`: write the whole program, nodes included".into());
        }
        if answer.truncated && !errors.is_empty() {
            errors.push(format!(
                "the answer stopped at the limit of {} tokens before the program was complete: write a shorter program",
                options.max_tokens
            ));
        }
        if !fixed.is_empty() {
            on_event(&GenEvent::Fixed { attempt: attempt + 1, fixes: &fixed });
        }
        on_event(&GenEvent::Attempt { attempt: attempt + 1, errors: errors.len() });
        attempts.push(Attempt { program: program.clone(), errors: errors.clone(), fixed, truncated: answer.truncated });
        if errors.is_empty() || attempt == options.max_repairs {
            if !errors.is_empty() && attempts.iter().all(|a| a.truncated) {
                return Err(AppError::environment(
                    "phx::model-answer",
                    format!(
                        "the model never finished its program: every answer stopped at the limit of {} tokens",
                        options.max_tokens
                    ),
                )
                .with_help(
                    "raise the limit ([llm] max_tokens in phx.toml, or PHX_LLM_MAX_TOKENS), or hold the model to the language ([llm] constrain = \"gbnf\" for llama.cpp, \"json_schema\" for other servers)",
                ));
            }
            return Ok(Authored { program, repairs: attempt, attempts, errors, constrain, tools: plan.tools.clone() });
        }
        // The model sees its answer as phx kept it (the compiler's fixes
        // applied), so the errors' lines are lines of what it sees.
        let shown = match (json, phx_interchange::export(&program)) {
            (true, Ok(j)) => serde_json::to_string(&j).unwrap_or(answer.text),
            (true, Err(_)) => answer.text,
            (false, _) => format!("```phx\n{program}```"),
        };
        messages.push(Message { role: "assistant".into(), content: shown });
        messages.push(Message { role: "user".into(), content: repair_request(&errors, json) });
    }
    Err(AppError::environment("phx::internal", "the repair loop ended without an answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_gives_the_program_between_fences() {
        assert_eq!(program_from_reply("Here:\n```phx\nparam a: Int = 1\n```\nbye"), "param a: Int = 1\n");
        assert_eq!(program_from_reply("param a: Int = 1"), "param a: Int = 1\n");
        // Cut off inside its fence: what came.
        assert_eq!(program_from_reply("```phx\nparam a: Int = 1\nnode"), "param a: Int = 1\nnode\n");
        assert!(program_from_json_reply("no json").is_err());
        let text = program_from_json_reply(
            "```json\n{\"nodes\": [{\"id\": \"d\", \"tool\": \"quantum.orbital\", \"args\": {\"n\": 1}}]}\n```",
        )
        .unwrap();
        assert!(text.contains("node d = quantum.orbital(n = 1)"), "{text}");
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
