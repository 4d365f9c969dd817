//! Command-backed tools (language spec, section 7) and `shell.run`.
//!
//! The `run` template is filled in (paths of staged inputs, quantities in the
//! unit a placeholder asks for, lists as shell words, output paths), written
//! to a script file (so its length is no limit), and run by `/bin/sh` in the
//! working folder, in a process group of its own: a timeout or a
//! cancellation ends the whole group and nothing else. What leaves the
//! group (`setsid`, daemons) is still the node's: `containment` ends it
//! with the node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use phx_sema::value::Value;
use phx_units::format_f64;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::containment::Containment;
use crate::tool::{BoxFuture, Invocation, Produced, ProducedOutput, StagedInput, Tool, ToolError, extension};

/// How many lines of stderr a failed node's error carries.
pub const STDERR_TAIL_LINES: usize = 20;

/// A tool backed by a command template.
pub struct CommandTool {
    pub template: String,
}

/// `shell.run`: a free-form command with staged inputs and collected outputs.
pub struct ShellRun;

/// Quotes a word for `/bin/sh` when it needs it.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_./:=+-,@%".contains(&b));
    if safe { s.to_string() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

/// The relative path where a command writes an output.
pub fn output_path(name: &str, kind: &str) -> PathBuf {
    PathBuf::from("out").join(format!("{name}.{}", extension(kind)))
}

fn value_text(v: &Value, unit: Option<&str>, staged: Option<&Vec<StagedInput>>) -> Result<String, String> {
    match v {
        Value::Output(_) => {
            let paths: Vec<String> =
                staged.map(|s| s.iter().map(|i| shell_quote(&i.path.to_string_lossy())).collect()).unwrap_or_default();
            Ok(paths.join(" "))
        }
        Value::List(items) => {
            let mut words = Vec::new();
            let mut staged_iter = staged.map(|s| s.iter());
            for item in items {
                match item {
                    Value::Output(_) => {
                        if let Some(it) = staged_iter.as_mut() {
                            for s in it.by_ref().take(item_count(item)) {
                                words.push(shell_quote(&s.path.to_string_lossy()));
                            }
                        }
                    }
                    Value::Str(s) => words.push(shell_quote(&literal_file(s, staged))),
                    other => words.push(shell_quote(&value_text(other, unit, None)?)),
                }
            }
            Ok(words.join(" "))
        }
        Value::Quantity { si, dim, .. } => match unit {
            Some(u) => {
                let r = phx_units::resolve_text(u).map_err(|e| format!("unknown unit `{}`", e.name))?;
                if r.dim != *dim {
                    return Err(format!("cannot write {v} in `{u}`"));
                }
                Ok(format_f64(si / r.factor))
            }
            None => Ok(format_f64(*si)),
        },
        Value::Float(f) => Ok(format_f64(*f)),
        Value::Int(i) => Ok(i.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        // One shell word, whatever it holds (quotes, `$()`, backticks,
        // newlines): a value never becomes shell syntax.
        Value::Str(s) => Ok(shell_quote(&literal_file(s, staged))),
        Value::Enum(_, s) => Ok(shell_quote(s)),
        Value::Fn(f) => Ok(f.name.clone()),
        Value::Record(_) | Value::Node(_) | Value::Error => Err(format!("`{v}` cannot be written into a command")),
    }
}

/// A string as the command sees it: a file of the experiment given to a
/// `File`/`Path` parameter is staged under `in/`, and named there (the
/// command runs in its own working folder, where the path as written
/// names nothing); any other string is itself.
fn literal_file(s: &str, staged: Option<&Vec<StagedInput>>) -> String {
    staged
        .and_then(|inputs| inputs.iter().find(|i| i.reference == s))
        .map_or_else(|| s.to_string(), |i| i.path.to_string_lossy().into_owned())
}

fn item_count(v: &Value) -> usize {
    match v {
        Value::Output(r) => r.vertex_ids().len(),
        _ => 1,
    }
}

/// Where the template's own text stands, as `/bin/sh` reads it, when a
/// placeholder comes: a value is one word in every context.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Context {
    /// Outside quotes (also inside `$(...)` or backticks).
    Plain,
    /// Inside the template's `'...'`.
    Single,
    /// Inside the template's `"..."`.
    Double,
    /// In a here-document's body, ended by a line `delimiter`.
    Heredoc { delimiter: String, strip_tabs: bool },
}

/// Follows the template's literal text through the shell's quoting:
/// quotes, backslashes, comments, `$(...)` and backticks (each a plain
/// context of its own, also inside double quotes), and here-documents.
#[derive(Default)]
struct ShellState {
    /// Open contexts, innermost last; empty means plain.
    stack: Vec<(Context, Opener)>,
    escaped: bool,
    comment: bool,
    /// A `<<DELIM` seen on this line: its body starts at the next newline.
    pending: Option<(String, bool)>,
    /// The text of the current line (for here-documents and comments).
    line: String,
}

/// What opened a context, so the right character closes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opener {
    Quote,
    Paren,
    Backtick,
    Heredoc,
}

impl ShellState {
    fn context(&self) -> &Context {
        self.stack.last().map(|(c, _)| c).unwrap_or(&Context::Plain)
    }

    fn opener(&self) -> Option<Opener> {
        self.stack.last().map(|(_, o)| *o)
    }

    /// Reads one character of the template's own text (`rest` is the text
    /// after it, for `<<` and `$(`).
    fn feed(&mut self, c: char, rest: &str) {
        if c == '\n' {
            self.end_line();
            return;
        }
        let at_word_start =
            self.line.is_empty() || self.line.ends_with(|p: char| p.is_whitespace() || ";|&(".contains(p));
        self.line.push(c);
        if self.escaped {
            self.escaped = false;
            return;
        }
        if self.comment {
            return;
        }
        match (self.context().clone(), c) {
            (Context::Heredoc { .. }, _) => {}
            (Context::Plain | Context::Double, '\\') => self.escaped = true,
            (Context::Plain, '#') if at_word_start => self.comment = true,
            (Context::Plain, '\'') => self.stack.push((Context::Single, Opener::Quote)),
            (Context::Plain, '"') => self.stack.push((Context::Double, Opener::Quote)),
            (Context::Single, '\'') => {
                self.stack.pop();
            }
            (Context::Double, '"') => {
                self.stack.pop();
            }
            (Context::Plain | Context::Double, '$') if rest.starts_with('(') => {
                self.stack.push((Context::Plain, Opener::Paren));
            }
            (Context::Plain, ')') if self.opener() == Some(Opener::Paren) => {
                self.stack.pop();
            }
            (Context::Plain, '`') if self.opener() == Some(Opener::Backtick) => {
                self.stack.pop();
            }
            (Context::Plain | Context::Double, '`') => self.stack.push((Context::Plain, Opener::Backtick)),
            (Context::Plain, '<') if rest.starts_with('<') && !self.line.ends_with("<<") => {
                // `<<DELIM`, `<<-DELIM`, `<< 'DELIM'`, `<<"DELIM"`.
                let after = &rest[1..];
                let strip_tabs = after.starts_with('-');
                let after = after.trim_start_matches('-').trim_start();
                let word: String =
                    after.chars().take_while(|c| !c.is_whitespace() && !";|&<>()".contains(*c)).collect();
                let delimiter: String = word.chars().filter(|c| !matches!(c, '\'' | '"' | '\\')).collect();
                if !delimiter.is_empty() {
                    self.pending = Some((delimiter, strip_tabs));
                }
            }
            _ => {}
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.escaped = false;
        self.comment = false;
        if let Some((Context::Heredoc { delimiter, strip_tabs }, _)) = self.stack.last() {
            let text = if *strip_tabs { line.trim_start_matches('\t') } else { line.as_str() };
            if text == delimiter {
                self.stack.pop();
            }
            return;
        }
        if let Some((delimiter, strip_tabs)) = self.pending.take()
            && *self.context() == Context::Plain
        {
            self.stack.push((Context::Heredoc { delimiter, strip_tabs }, Opener::Heredoc));
        }
    }

    /// A value's word (or words), made to stay what it is where it lands.
    fn place(&mut self, word: &str, value: Option<&Value>, name: &str) -> Result<String, String> {
        let placed = match self.context() {
            // In a comment it does nothing; as a word it is safe anyway.
            Context::Plain => word.to_string(),
            // Close the template's quotes, put the word, open them again.
            Context::Single => format!("'{word}'"),
            Context::Double => format!("\"{word}\""),
            Context::Heredoc { .. } => {
                // A here-document takes text, not words: only values that
                // cannot hold shell syntax or a line of their own go there.
                let plain =
                    matches!(value, Some(Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Quantity { .. }));
                if !plain {
                    return Err(format!(
                        "`{{{name}}}` is inside a here-document, where a text value cannot be quoted; pass it as an argument (`cmd {{{name}}} <<EOF`) or write it to a file"
                    ));
                }
                word.to_string()
            }
        };
        // Old-style command substitution reads its text with `\\`, `` ` ``
        // and `$` escaped, once per level, before the shell parses it.
        let levels = self.stack.iter().filter(|(_, o)| *o == Opener::Backtick).count();
        let mut placed = placed;
        for _ in 0..levels {
            placed = placed.replace('\\', "\\\\").replace('`', "\\`").replace('$', "\\$");
        }
        self.line.push_str(&placed);
        Ok(placed)
    }
}

/// Fills a `run` template for one vertex. Each placeholder is one shell
/// word wherever it stands: bare, inside the template's own single or
/// double quotes (which are closed around it), or refused where it cannot
/// be (a text value in a here-document's body).
pub fn render(template: &str, inv: &Invocation) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut state = ShellState::default();
    let mut chars = template.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                state.feed('{', &template[at + 1..]);
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                state.feed('}', &template[at + 1..]);
                out.push('}');
            }
            '{' => {
                let mut inner = String::new();
                for (_, d) in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                    inner.push(d);
                }
                let (name, unit) = match inner.split_once(':') {
                    Some((n, u)) => (n.trim(), Some(u.trim())),
                    None => (inner.trim(), None),
                };
                if let Some((_, v)) = inv.vertex.args.iter().find(|(n, _)| n == name) {
                    match (unit, v) {
                        // `{s:raw}`: the template asks for shell syntax from the
                        // value (phx check warns, phx::raw-placeholder); it
                        // goes in as it is, wherever it stands.
                        (Some("raw"), Value::Str(s)) => out.push_str(s),
                        (Some("raw"), Value::List(items)) => {
                            let mut words = Vec::new();
                            for i in items.iter() {
                                words.push(match i {
                                    Value::Str(s) => s.clone(),
                                    other => value_text(other, None, None)?,
                                });
                            }
                            out.push_str(&words.join(" "));
                        }
                        (Some("raw"), other) => out.push_str(&value_text(other, None, inv.inputs.get(name))?),
                        _ => {
                            let word = value_text(v, unit, inv.inputs.get(name))?;
                            out.push_str(&state.place(&word, Some(v), name)?);
                        }
                    }
                } else if let Some((_, kind)) = inv.vertex.outputs.iter().find(|(n, _)| n == name) {
                    let word = shell_quote(&output_path(name, kind).to_string_lossy());
                    out.push_str(&state.place(&word, None, name).or_else(|_| Ok::<_, String>(word.clone()))?);
                } else {
                    return Err(format!("the placeholder `{{{inner}}}` names no parameter or output"));
                }
            }
            c => {
                state.feed(c, &template[at + c.len_utf8()..]);
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// The last lines of a file, for a failed node's error.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn kill_group(pid: u32, signal: i32) {
    // SAFETY: kill() on the negative pid signals exactly the process group
    // that we created for this child (process_group(0)), nothing else.
    unsafe {
        libc::kill(-(pid as i32), signal);
    }
}

/// `/bin/sh SCRIPT` in the working folder, in a process group of its own,
/// marked as `containment`'s; stdout and stderr go to files.
fn shell(inv: &Invocation<'_>, containment: &Containment) -> Result<Command, ToolError> {
    let dir = inv.work_dir;
    let stdout = std::fs::File::create(dir.join(".phx-stdout")).map_err(|e| ToolError::failed(e.to_string()))?;
    let stderr = std::fs::File::create(dir.join(".phx-stderr")).map_err(|e| ToolError::failed(e.to_string()))?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(".phx-run.sh")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .env("PHX_NODE", &inv.vertex.id)
        .env("PHX_DEVICE", inv.device)
        .process_group(0)
        .kill_on_drop(false);
    containment.prepare_shell(cmd.as_std_mut());
    Ok(cmd)
}

/// Ends every process the node started, also those that left its process
/// group (off the async threads: it may wait a little for them to die).
async fn end(containment: Containment) {
    let _ = tokio::task::spawn_blocking(move || containment.end()).await;
}

/// Runs `/bin/sh SCRIPT` in `work_dir`; stdout and stderr go to files.
/// Whatever the script starts ends with it ([`Containment`]): when it
/// exits, times out or is cancelled, and (by the drop) when the run stops
/// waiting for it.
pub async fn run_script(script: &str, inv: &Invocation<'_>) -> Result<i32, ToolError> {
    let dir = inv.work_dir;
    std::fs::create_dir_all(dir.join("out"))
        .map_err(|e| ToolError::failed(format!("cannot prepare the working folder: {e}")))?;
    let mut containment = Containment::new();
    // The script joins the node's cgroup first: started without a hook
    // between fork and exec, the shell is spawned, not forked.
    let script_path = dir.join(".phx-run.sh");
    std::fs::write(&script_path, format!("{}set -e\n{script}\n", containment.shell_join()))
        .map_err(|e| ToolError::failed(format!("cannot write the command script: {e}")))?;
    let spawned = shell(inv, &containment)?.spawn();
    let mut child = spawned.map_err(|e| ToolError::failed(format!("cannot start /bin/sh: {e}")))?;
    let pid = child.id().unwrap_or(0);
    let mut cancel = inv.cancel.clone();
    let timeout = inv.timeout.unwrap_or(Duration::from_secs(u64::MAX / 4));
    let ended = tokio::select! {
        status = child.wait() => Ok(status),
        _ = tokio::time::sleep(timeout) => Err(ToolError::Timeout(timeout)),
        _ = async { while !*cancel.borrow() { if cancel.changed().await.is_err() { std::future::pending::<()>().await; } } } => Err(ToolError::Cancelled),
    };
    // One that could not join its cgroup is ended by its mark, and the
    // nodes after it do not make cgroups they cannot join.
    containment.joined(dir);
    match ended {
        Ok(status) => {
            let status = status.map_err(|e| ToolError::failed(format!("waiting for the command failed: {e}")))?;
            // Children the command left in its group, or anywhere else, do
            // not outlive it.
            kill_group(pid, libc::SIGKILL);
            end(containment).await;
            Ok(status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)))
        }
        Err(e) => {
            kill_group(pid, libc::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err() {
                kill_group(pid, libc::SIGKILL);
                let _ = child.wait().await;
            }
            end(containment).await;
            Err(e)
        }
    }
}

/// Checks that an output exists, is a regular file, and stays inside the
/// working folder (a symlink may not point out of it).
pub fn checked_output(work_dir: &Path, rel: &Path, what: &str) -> Result<PathBuf, ToolError> {
    let path = work_dir.join(rel);
    let meta = std::fs::symlink_metadata(&path)
        .map_err(|_| ToolError::failed(format!("the command wrote no {what} (expected at `{}`)", rel.display())))?;
    let real = path
        .canonicalize()
        .map_err(|e| ToolError::failed(format!("{what} at `{}` cannot be read: {e}", rel.display())))?;
    let root = work_dir.canonicalize().map_err(|e| ToolError::failed(e.to_string()))?;
    if !real.starts_with(&root) {
        return Err(ToolError::failed(format!(
            "{what} at `{}` escapes the working folder (it points to `{}`)",
            rel.display(),
            real.display()
        )));
    }
    if !meta.is_file() && !real.is_file() {
        return Err(ToolError::failed(format!("{what} at `{}` is not a regular file", rel.display())));
    }
    Ok(real)
}

fn check_series(path: &Path, name: &str) -> Result<serde_json::Value, ToolError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ToolError::failed(format!("output `{name}` is not text: {e}")))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("").trim();
    if header.is_empty() {
        return Err(ToolError::failed(format!("output `{name}` is a Series, read as CSV, but it has no header line")));
    }
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let rows = lines.filter(|l| !l.trim().is_empty()).count();
    Ok(serde_json::json!({"columns": columns, "samples": rows, "dtype": "csv"}))
}

fn scalar_value(path: &Path, kind: &str, name: &str) -> Result<Option<serde_json::Value>, ToolError> {
    let text = || {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| ToolError::failed(format!("output `{name}`: {e}")))
    };
    Ok(match kind {
        "Float" => Some(serde_json::json!(
            text()?.parse::<f64>().map_err(|_| ToolError::failed(format!("output `{name}` must hold a number")))?
        )),
        "Int" => Some(serde_json::json!(
            text()?.parse::<i64>().map_err(|_| ToolError::failed(format!("output `{name}` must hold an integer")))?
        )),
        "Bool" => Some(serde_json::json!(
            text()?
                .parse::<bool>()
                .map_err(|_| ToolError::failed(format!("output `{name}` must hold true or false")))?
        )),
        "String" => Some(serde_json::json!(text()?)),
        _ => None,
    })
}

/// Reads a declared output back: checked, with its metadata.
pub fn collect(work_dir: &Path, name: &str, kind: &str, rel: &Path) -> Result<ProducedOutput, ToolError> {
    let path = checked_output(work_dir, rel, &format!("output `{name}`"))?;
    let meta = if kind == "Series" { check_series(&path, name)? } else { serde_json::json!({}) };
    let value = scalar_value(&path, kind, name)?;
    Ok(ProducedOutput { name: name.to_string(), path, kind: kind.to_string(), meta, value })
}

/// Whether the file system holding `dir` has no room left.
pub fn disk_full(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    // SAFETY: statvfs fills a zeroed struct for a valid C path.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_bavail == 0
    }
}

fn exit_failure(code: i32, work_dir: &Path) -> ToolError {
    let mut tail = tail(&work_dir.join(".phx-stderr"), STDERR_TAIL_LINES);
    if disk_full(work_dir) {
        tail.push_str(if tail.is_empty() { "" } else { "\n" });
        tail.push_str("the disk holding the working folder is full: free space, or run `phx store gc`");
    }
    let message = if code == 127 {
        format!("the command exited with 127: a program was not found\n{tail}")
    } else if tail.is_empty() {
        format!("the command exited with {code}")
    } else {
        format!("the command exited with {code}:\n{tail}")
    };
    ToolError::Failed { message, exit_code: Some(code) }
}

impl Tool for CommandTool {
    fn code_version(&self) -> String {
        // The command's text is its code.
        hex::encode(Sha256::digest(self.template.as_bytes()))
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let script = render(&self.template, &inv).map_err(ToolError::failed)?;
            let code = run_script(&script, &inv).await?;
            if code != 0 {
                return Err(exit_failure(code, inv.work_dir));
            }
            let mut outputs = Vec::new();
            for (name, kind) in inv.vertex.outputs.iter() {
                outputs.push(collect(inv.work_dir, name, kind, &output_path(name, kind))?);
            }
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: Some(code) })
        })
    }
}

impl Tool for ShellRun {
    fn code_version(&self) -> String {
        "shell.run/1".into()
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let arg = |n: &str| inv.vertex.args.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            let Some(Value::Str(command)) = arg("command") else {
                return Err(ToolError::failed("`command` must be a string"));
            };
            // Inputs sit in the working folder under their own names.
            for staged in inv.inputs.values().flatten() {
                let name = staged.path.file_name().map(PathBuf::from).unwrap_or_default();
                let dest = inv.work_dir.join(&name);
                if !dest.exists() {
                    std::fs::hard_link(inv.work_dir.join(&staged.path), &dest)
                        .or_else(|_| std::fs::copy(inv.work_dir.join(&staged.path), &dest).map(|_| ()))
                        .map_err(|e| ToolError::failed(format!("cannot stage `{}`: {e}", name.display())))?;
                }
            }
            let code = run_script(&command, &inv).await?;
            if code != 0 {
                return Err(exit_failure(code, inv.work_dir));
            }
            let mut outputs = Vec::new();
            let wanted: Vec<String> = match arg("outputs") {
                Some(Value::List(items)) => {
                    items.iter().filter_map(|v| if let Value::Str(s) = v { Some(s.clone()) } else { None }).collect()
                }
                _ => Vec::new(),
            };
            for rel in &wanted {
                let mut o = collect(inv.work_dir, "files", "File", Path::new(rel))?;
                o.meta = serde_json::json!({"path": rel});
                outputs.push(o);
            }
            let stdout = inv.work_dir.join(".phx-stdout");
            outputs.push(ProducedOutput {
                name: "stdout".into(),
                path: stdout,
                kind: "File".into(),
                meta: serde_json::json!({}),
                value: None,
            });
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: Some(code) })
        })
    }
}

/// The tool registry: stdlib implementations by name; command-backed tools
/// are made from their templates.
#[derive(Default)]
pub struct Registry {
    builtin: BTreeMap<String, std::sync::Arc<dyn Tool>>,
}

impl Registry {
    /// The tools this build implements.
    pub fn standard() -> Registry {
        let mut r = Registry::default();
        r.builtin.insert("shell.run".into(), std::sync::Arc::new(ShellRun));
        r
    }

    /// Adds (or replaces) a built-in implementation.
    pub fn insert(&mut self, name: &str, tool: std::sync::Arc<dyn Tool>) {
        self.builtin.insert(name.to_string(), tool);
    }

    /// The implementation for a vertex, or why there is none.
    pub fn for_vertex(&self, v: &phx_dag::Vertex) -> Result<std::sync::Arc<dyn Tool>, String> {
        if let Some(template) = &v.run {
            return Ok(std::sync::Arc::new(CommandTool { template: template.clone() }));
        }
        self.builtin
            .get(&v.tool)
            .cloned()
            .ok_or_else(|| format!("this build of phx has no implementation of `{}` yet", v.tool))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Hostile values of every kind a placeholder takes.
    const HOSTILE: [&str; 10] =
        ["x; id > pwned; echo", "Bob's", "$(id)", "`id`", "a\nb", "-n", "--help", "\"quoted\" 'single'", "*", ""];

    fn vertex(args: Vec<(&str, Value)>) -> phx_dag::Vertex {
        phx_dag::Vertex::lone("n", "lab.echo", args)
    }

    fn rendered(template: &str, v: &phx_dag::Vertex) -> String {
        try_render(template, v).unwrap()
    }

    /// `render` of `template` for `v`, with no inputs.
    fn try_render(template: &str, v: &phx_dag::Vertex) -> Result<String, String> {
        let inputs = BTreeMap::new();
        let (_tx, cancel) = tokio::sync::watch::channel(false);
        let inv = Invocation {
            vertex: v,
            inputs: &inputs,
            work_dir: Path::new("."),
            device: "cpu",
            timeout: None,
            cancel,
            deadline: None,
        };
        render(template, &inv)
    }

    /// What /bin/sh prints for `printf '%s|' WORDS`.
    fn shell_words(command: &str) -> String {
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(command).output().unwrap();
        assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn every_value_is_one_shell_word() {
        for h in HOSTILE {
            let v = vertex(vec![("s", Value::Str(h.into()))]);
            let cmd = rendered("printf '%s|' {s}", &v);
            assert_eq!(shell_words(&cmd), format!("{h}|"), "{cmd}");
            // In a list, each item is its own word.
            let v = vertex(vec![("s", Value::List(vec![Value::Str(h.into()), Value::Str("next".into())]))]);
            assert_eq!(shell_words(&rendered("printf '%s|' {s}", &v)), format!("{h}|next|"));
        }
        for (value, word) in [
            (Value::Int(-3), "-3"),
            (Value::Float(2.5), "2.5"),
            (Value::Bool(true), "true"),
            (Value::Enum(phx_sema::types::EnumKind::Device, "gpu".into()), "gpu"),
        ] {
            let v = vertex(vec![("x", value)]);
            assert_eq!(shell_words(&rendered("printf '%s|' {x}", &v)), format!("{word}|"));
        }
    }

    /// A node's working folder and the sleeps its command started, which
    /// are killed (and the folder removed) when the test ends, passed or
    /// not.
    struct Node {
        dir: std::path::PathBuf,
    }

    impl Node {
        fn new(name: &str) -> Node {
            let dir = std::env::temp_dir().join(format!("phx-command-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Node { dir }
        }

        fn pid(&self, file: &str) -> Option<i32> {
            std::fs::read_to_string(self.dir.join(file)).ok()?.trim().parse().ok()
        }

        /// Runs `script` as node `n`; cancels the run once `out/x.txt`
        /// exists when `cancel` is set.
        async fn run(&self, script: &str, timeout: Option<Duration>, cancel: bool) -> Result<i32, ToolError> {
            let v = vertex(vec![]);
            let inputs = BTreeMap::new();
            let (tx, rx) = tokio::sync::watch::channel(false);
            let inv = Invocation {
                vertex: &v,
                inputs: &inputs,
                work_dir: &self.dir,
                device: "cpu",
                timeout,
                cancel: rx,
                deadline: None,
            };
            let pid_file = self.dir.join("out/x.txt");
            let canceller = tokio::spawn(async move {
                while cancel && std::fs::metadata(&pid_file).map_or(true, |m| m.len() == 0) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                if cancel {
                    let _ = tx.send(true);
                }
                // Keep the sender until the node is done.
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(tx);
            });
            let result = run_script(script, &inv).await;
            canceller.abort();
            result
        }
    }

    impl Drop for Node {
        fn drop(&mut self) {
            for f in ["escaped.pid", "scrubbed.pid"] {
                if let Some(pid) = self.pid(f).filter(|p| alive(*p)) {
                    // SAFETY: a sleep this test's command started.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Whether `pid` is a sleep that has not ended (a zombie has).
    fn alive(pid: i32) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
        state.is_some_and(|s| s != "Z") && cmd.starts_with(b"sleep\0")
    }

    /// Gone within a few seconds (SIGKILL is asynchronous).
    fn gone_soon(pid: i32) -> bool {
        let start = std::time::Instant::now();
        while alive(pid) {
            if start.elapsed() > Duration::from_secs(5) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// A command that starts a `setsid` sleep (a session of its own: no
    /// process group reaches it) and one that empties its environment
    /// too, then runs `rest`.
    fn escaping(rest: &str) -> String {
        let var = crate::containment::supervisor_var(crate::containment::supervisor_id());
        format!(
            "setsid sh -c 'echo \"${var}\" > mark; echo $$ > escaped.pid; exec sleep 3003' &\n\
             env -i setsid sh -c 'echo $$ > scrubbed.pid; exec sleep 3004' &\n\
             while [ ! -s escaped.pid ] || [ ! -s scrubbed.pid ]; do sleep 0.01; done\n\
             echo ok > out/x.txt\n{rest}"
        )
    }

    /// After the node: the escaped sleep is gone and no process carries
    /// the node's mark; the one without a mark is gone where the node had
    /// a cgroup.
    fn nothing_outlives(node: &Node, cgroups: bool) {
        let escaped = node.pid("escaped.pid").expect("the command started its escapee");
        assert!(gone_soon(escaped), "the setsid child outlived its node");
        let mark = std::fs::read_to_string(node.dir.join("mark")).unwrap();
        let entry =
            format!("{}={}", crate::containment::supervisor_var(crate::containment::supervisor_id()), mark.trim());
        assert!(!mark.trim().is_empty());
        let left = crate::containment::carriers(crate::containment::Marked::Entry(entry.as_bytes()));
        assert!(left.is_empty(), "processes with the node's mark are alive: {left:?}");
        let scrubbed = node.pid("scrubbed.pid").unwrap();
        if cgroups {
            assert!(gone_soon(scrubbed), "a process in the node's cgroup outlived it");
        }
    }

    fn cgroups_here() -> bool {
        crate::containment::Containment::new().has_cgroup()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_setsid_child_ends_with_its_node() {
        let node = Node::new("exit");
        assert_eq!(node.run(&escaping(""), None, false).await.unwrap(), 0);
        assert_eq!(std::fs::read_to_string(node.dir.join("out/x.txt")).unwrap(), "ok\n");
        nothing_outlives(&node, cgroups_here());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_setsid_child_ends_with_a_timed_out_node() {
        let node = Node::new("timeout");
        let r = node.run(&escaping("sleep 3005"), Some(Duration::from_secs(2)), false).await;
        assert!(matches!(r, Err(ToolError::Timeout(_))), "{r:?}");
        nothing_outlives(&node, cgroups_here());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_setsid_child_ends_with_a_cancelled_node() {
        let node = Node::new("cancel");
        let r = node.run(&escaping("sleep 3005"), None, true).await;
        assert!(matches!(r, Err(ToolError::Cancelled)), "{r:?}");
        nothing_outlives(&node, cgroups_here());
    }

    #[test]
    fn a_value_stays_one_word_inside_the_templates_own_quotes() {
        // Where the template already quotes the placeholder, or puts it in
        // a command substitution, a comment or a here-document.
        let templates = [
            "printf '%s|' '{s}'",
            "printf '%s|' \"{s}\"",
            "printf '%s|' \"pre-{s}\" | sed 's/^pre-//'",
            "printf '%s|' \"$(printf '%s' {s})\"",
            "printf '%s|' \"$(printf '%s' \"{s}\")\"",
            "printf '%s|' \"$(printf '%s' '{s}')\"",
            "printf '%s|' `printf '%s' {s}`x | sed 's/x|$/|/'",
            "# it's a comment with a quote\nprintf '%s|' {s}",
            "cat <<'EOF' >/dev/null\nit's {{not}} a placeholder\nEOF\nprintf '%s|' \"{s}\"",
        ];
        for t in templates {
            for h in HOSTILE {
                // A command substitution drops the value's trailing newlines
                // and backticks split it: those templates get single-line,
                // space-free values only where the shell itself would split.
                if t.contains('`') && (h.contains(' ') || h.contains('\n') || h.is_empty() || h == "*") {
                    continue;
                }
                let v = vertex(vec![("s", Value::Str(h.to_string()))]);
                let cmd = rendered(t, &v);
                assert_eq!(shell_words(&cmd), format!("{h}|"), "template {t:?}, value {h:?}: {cmd}");
            }
        }
    }

    #[test]
    fn text_in_a_here_document_is_refused_and_numbers_go_in() {
        let v = vertex(vec![("s", Value::Str("$(id)".into())), ("n", Value::Int(7))]);
        let e = try_render("cat <<EOF\n{s}\nEOF", &v).unwrap_err();
        assert!(e.contains("here-document"), "{e}");
        assert!(try_render("cat <<-'PY'\n\tprint({s})\n\tPY", &v).is_err());
        assert_eq!(shell_words(&rendered("cat <<EOF\n{n}\nEOF", &v)), "7\n");
        // After its delimiter, the template is plain again.
        assert_eq!(shell_words(&rendered("cat <<EOF\n{n}\nEOF\nprintf '%s|' {s}", &v)), "7\n$(id)|");
    }

    #[test]
    fn raw_placeholders_pass_shell_syntax_on_purpose() {
        let v = vertex(vec![("s", Value::Str("a b; echo c".into()))]);
        assert_eq!(rendered("printf '%s|' {s:raw}", &v), "printf '%s|' a b; echo c");
        assert_eq!(shell_words(&rendered("printf '%s|' {s:raw}", &v)), "a|b|c\n");
    }
}
