//! What each method does: arguments parsed into the types of `api`, one
//! call into the application layer (in this process), the result
//! serialized from the types of `api`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine;
use phx_app::authoring::{self, Model};
use phx_app::run::Event;
use phx_app::run::{Cancellation, Observer, RunResult, RunSettings};
use phx_app::share::ShareRunRequest;
use phx_app::trust::Grants;
use phx_app::{AppError, AppResult, BackendKind, CompileOptions, Experiment, Program};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use super::Peer;
use super::api::*;
use super::tools::{self, COLLABORATION, ORCHESTRATOR};

/// How many times the client's model may repair a program.
const REPAIRS: usize = 3;

/// What one tool call may use: the connection (sampling, progress, logs),
/// the client's progress token, and the call's cancellation.
pub struct CallContext<'a> {
    pub peer: &'a Peer,
    pub progress_token: Option<Json>,
    pub cancel: Cancellation,
}

impl CallContext<'_> {
    /// A progress notification, when the client asked for them.
    fn progress(&self, progress: f64, total: usize, message: &str) {
        if let Some(token) = &self.progress_token {
            self.peer.notify(
                "notifications/progress",
                json!({"progressToken": token, "progress": progress, "total": total, "message": message}),
            );
        }
    }

    /// A log message for the client.
    fn log(&self, level: &str, text: &str) {
        self.peer.notify("notifications/message", json!({"level": level, "logger": "phx", "data": text}));
    }
}

/// A call's progress: nodes finished, and events since the last one.
#[derive(Default)]
pub struct Progress {
    finished: usize,
    since: u32,
}

impl Progress {
    /// The value of the next notification: the count of finished nodes
    /// after a node finishes, else a little more than the last value.
    fn next(&mut self, finished: bool) -> f64 {
        if finished {
            self.finished += 1;
            self.since = 0;
            return self.finished as f64;
        }
        self.since += 1;
        let k = f64::from(self.since);
        self.finished as f64 + k / (k + 1.0)
    }
}

/// The server: the experiment folder every method works in.
pub struct Server {
    exp: AppResult<Experiment>,
    /// What the person who started the server allowed its clients.
    grants: Grants,
    /// The constraint the client's model takes in sampling (set by whoever
    /// starts the server; else what the client announces).
    sampling: Option<authoring::Constrain>,
}

/// A failure of `method`.
fn failed(method: &str, e: AppError) -> Failure {
    Failure { method: method.to_string(), ok: false, error: e.message, code: e.code, help: e.help }
}

/// Deserializes arguments, naming the field that is wrong.
fn parse<T: DeserializeOwned>(method: &str, args: Json) -> Result<T, Failure> {
    serde_path_to_error::deserialize::<_, T>(args).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." || path.is_empty() { String::new() } else { format!("{path}: ") };
        failed(
            method,
            AppError::usage(format!("`{method}` arguments: {at}{}", e.inner()))
                .with_help("the tool's inputSchema lists what each method takes"),
        )
    })
}

/// Refuses an argument that no method of the tool takes (a typo would
/// otherwise be ignored), naming the closest one.
fn refuse_unknown(method: &str, args: &Json, methods: &[&str], routed: bool) -> Result<(), Failure> {
    let mut known: Vec<String> = if routed { vec!["method".into()] } else { vec![] };
    for m in methods {
        if let Some(props) = tools::input_of(m).get("properties").and_then(Json::as_object) {
            known.extend(props.keys().cloned());
        }
    }
    for key in args.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !known.contains(key) {
            let help = phx_diagnostics::did_you_mean(key, known.iter().map(String::as_str))
                .unwrap_or_else(|| format!("the arguments are: {}", known.join(", ")));
            return Err(failed(
                method,
                AppError::usage(format!("`{method}` takes no argument `{key}`")).with_help(help),
            ));
        }
    }
    Ok(())
}

/// The method and typed call that a tool call names.
fn parse_call(name: &str, args: Json) -> Result<(String, Call), Failure> {
    if !args.is_object() {
        return Err(failed("", AppError::usage("`arguments` must be an object")));
    }
    if ORCHESTRATOR.contains(&name) || COLLABORATION.contains(&name) {
        refuse_unknown(name, &args, &[name], false)?;
    }
    let routed = match name {
        "experiment_orchestrator" => Some(&ORCHESTRATOR[..]),
        "distributed_collaboration" => Some(&COLLABORATION[..]),
        _ => None,
    };
    if let Some(allowed) = routed {
        let method = match args.get("method").and_then(Json::as_str) {
            Some(m) if allowed.contains(&m) => m.to_string(),
            Some(m) => {
                return Err(failed(
                    m,
                    AppError::usage(format!("`{name}` has no method `{m}`; use one of: {}", allowed.join(", "))),
                ));
            }
            None => {
                return Err(failed(
                    "",
                    AppError::usage(format!("`{name}` needs `method`, one of: {}", allowed.join(", "))),
                ));
            }
        };
        refuse_unknown(&method, &args, allowed, true)?;
        // The routed tools offer the union of their methods' properties:
        // each method reads its own and ignores the others'.
        let mut own = args.clone();
        if let (Json::Object(m), Some(props)) =
            (&mut own, tools::input_of(&method).get("properties").and_then(Json::as_object))
        {
            m.retain(|k, _| k == "method" || props.contains_key(k));
        }
        let call = if name == "experiment_orchestrator" {
            Call::Orchestrator(parse(&method, own)?)
        } else {
            Call::Collaboration(parse(&method, own)?)
        };
        return Ok((method, call));
    }
    let m = name.to_string();
    let call = match name {
        "define_dag" => Call::Orchestrator(OrchestratorCall::DefineDag(parse(name, args)?)),
        "validate_dag" => Call::Orchestrator(OrchestratorCall::ValidateDag(parse(name, args)?)),
        "run_dag" => Call::Orchestrator(OrchestratorCall::RunDag(parse(name, args)?)),
        "publish_report" => Call::Orchestrator(OrchestratorCall::PublishReport(parse(name, args)?)),
        "collaborate_share" => Call::Orchestrator(OrchestratorCall::CollaborateShare(parse(name, args)?)),
        "job_submit" => Call::Collaboration(CollaborationCall::JobSubmit(parse(name, args)?)),
        "session_share" => Call::Collaboration(CollaborationCall::SessionShare(parse(name, args)?)),
        "lab_notebook" => Call::Collaboration(CollaborationCall::LabNotebook(parse(name, args)?)),
        "artifact_versioning" => Call::Collaboration(CollaborationCall::ArtifactVersioning(parse(name, args)?)),
        other => {
            return Err(failed("", AppError::usage(format!("no tool `{other}`")).with_help("`tools/list` names them")));
        }
    };
    Ok((m, call))
}

/// A result of `method` with its summary.
fn reply<T: Serialize>(method: &str, ok: bool, summary: String, body: T) -> Json {
    let r = Reply { method: method.to_string(), ok, body };
    match serde_json::to_value(&r) {
        Ok(v) => tools::success(summary, v),
        Err(e) => tools::failure(&failed(method, AppError::environment("phx::internal", e.to_string()))),
    }
}

/// The client's model, asked through MCP sampling; a cancelled call stops
/// waiting for it. A grammar or schema goes in the request's `metadata`
/// (`grammar`, `response_format`, as OpenAI-compatible servers name them),
/// for a client that passes it on to its model.
struct Sampling<'a> {
    peer: &'a Peer,
    cancel: &'a Cancellation,
    constrain: authoring::Constrain,
}

impl Model for Sampling<'_> {
    fn constraint(&mut self) -> authoring::Constrain {
        self.constrain
    }

    fn complete(&mut self, ask: &authoring::Ask<'_>) -> AppResult<authoring::Answer> {
        let messages: Vec<Json> = ask
            .messages
            .iter()
            .map(|m| json!({"role": m.role, "content": {"type": "text", "text": m.content}}))
            .collect();
        let mut params = json!({"messages": messages, "systemPrompt": ask.system, "maxTokens": ask.max_tokens, "includeContext": "none"});
        if let Some(g) = ask.grammar {
            params["metadata"] = json!({"grammar": g});
        }
        if let Some(s) = ask.json_schema {
            params["metadata"] =
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "program", "schema": s}}});
        }
        let reply = self.peer.request("sampling/createMessage", params, self.cancel)?;
        Ok(authoring::Answer {
            text: reply.pointer("/content/text").and_then(Json::as_str).unwrap_or("").to_string(),
            truncated: reply.get("stopReason").and_then(Json::as_str) == Some("maxTokens"),
        })
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Server {
    /// A server for the experiment that `dir` belongs to.
    pub fn new(dir: PathBuf, grants: Grants) -> Server {
        Server { exp: Experiment::open(&dir), grants, sampling: None }
    }

    /// The constraint the client's model takes in sampling requests.
    pub fn with_sampling(mut self, sampling: Option<authoring::Constrain>) -> Server {
        self.sampling = sampling;
        self
    }

    /// What the client is told at `initialize`.
    pub fn instructions(&self) -> String {
        let folder = match &self.exp {
            Ok(e) => format!("The experiment folder is {}.", e.dir.display()),
            Err(e) => format!("The experiment folder cannot be used: {}.", e.message),
        };
        format!(
            "Write, check, run and report computational-physics experiments in the phx language. Start with experiment_orchestrator method=define_dag (source, spec, path or natural_language), then run_dag and publish_report; every method finds what the others made. {folder} What this server may do: {}.",
            self.grants.describe()
        )
    }

    /// Runs one tool call; always returns a tool result.
    pub fn call(&self, name: &str, args: Json, ctx: &CallContext<'_>) -> Json {
        let (method, call) = match parse_call(name, args) {
            Ok(x) => x,
            Err(f) => return tools::failure(&f),
        };
        let exp = match &self.exp {
            Ok(e) => e,
            Err(e) => return tools::failure(&failed(&method, e.clone())),
        };
        let result = match call {
            Call::Orchestrator(OrchestratorCall::DefineDag(a)) => self.define_dag(exp, &method, a, ctx),
            Call::Orchestrator(OrchestratorCall::ValidateDag(a)) => self.validate_dag(exp, &method, a),
            Call::Orchestrator(OrchestratorCall::RunDag(a)) => self.run_dag(exp, &method, a, ctx),
            Call::Orchestrator(OrchestratorCall::PublishReport(a)) => self.publish_report(exp, &method, a),
            Call::Orchestrator(OrchestratorCall::CollaborateShare(a))
            | Call::Collaboration(CollaborationCall::SessionShare(a)) => self.share(exp, &method, a),
            Call::Collaboration(CollaborationCall::JobSubmit(a)) => self.job_submit(exp, &method, a, ctx),
            Call::Collaboration(CollaborationCall::LabNotebook(a)) => self.lab_notebook(exp, &method, a),
            Call::Collaboration(CollaborationCall::ArtifactVersioning(a)) => self.artifact_versioning(exp, &method, a),
        };
        result.unwrap_or_else(|e| tools::failure(&failed(&method, e)))
    }

    /// The text and file of the program a call names.
    fn program(&self, exp: &Experiment, p: &ProgramRef) -> AppResult<(String, PathBuf)> {
        let given = [p.dag_id.is_some(), p.source.is_some(), p.path.is_some()].iter().filter(|x| **x).count();
        if given != 1 {
            return Err(AppError::usage(
                "give one of `dag_id` (from define_dag), `source` (a .phx program) or `path` (a file of the experiment folder)",
            ));
        }
        if let Some(id) = &p.dag_id {
            return authoring::load_saved(exp, id);
        }
        if let Some(path) = &p.path {
            return authoring::program_file(exp, path);
        }
        let source = p.source.clone().unwrap_or_default();
        let (_, path) = authoring::save(exp, &source)?;
        Ok((source, path))
    }

    fn define_dag(&self, exp: &Experiment, method: &str, a: DefineDag, ctx: &CallContext<'_>) -> AppResult<Json> {
        let given = [
            a.source.is_some(),
            a.spec.as_ref().is_some_and(|s| !s.is_null()),
            a.natural_language.is_some(),
            a.path.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if given != 1 {
            return Err(AppError::usage(
                "give exactly one of `source` (.phx text), `spec` (the JSON form of a DAG), `path` (a file of the experiment folder) or `natural_language`",
            ));
        }
        let mut authored = None;
        let (source, saved_as) = if let Some(src) = a.source {
            (src, None)
        } else if let Some(spec) = a.spec.as_ref().filter(|s| !s.is_null()) {
            (authoring::from_spec(spec)?, None)
        } else if let Some(path) = &a.path {
            let (text, file) = authoring::program_file(exp, path)?;
            (text, Some(file))
        } else {
            let wish = a.natural_language.unwrap_or_default();
            if wish.trim().is_empty() {
                return Err(AppError::usage("`natural_language` is empty: say what to compute"));
            }
            if !ctx.peer.can_sample() {
                let body = Defined {
                    needs_model: Some(true),
                    prompt: Some(authoring::prompt_material(&wish)),
                    ..Defined::checked(None, authoring::skeleton(&wish), phx_app::program::CheckReport::default())
                };
                return Ok(reply(
                    method,
                    false,
                    "This client does not offer MCP sampling, so phx cannot ask a model to write the program. Here is the prompt material and a skeleton: write the program, then call define_dag with `source`.".into(),
                    body,
                ));
            }
            let constrain = self.sampling.unwrap_or_else(|| ctx.peer.sampling_constraint());
            let mut model = Sampling { peer: ctx.peer, cancel: &ctx.cancel, constrain };
            let check_as = authoring::dags_dir(exp).join("generated.phx");
            let options = authoring::GenOptions { max_repairs: REPAIRS, ..Default::default() };
            let written = authoring::write_program(&mut model, &wish, &check_as, &options, &|e| match e {
                authoring::GenEvent::Plan { constrain, tools } => {
                    ctx.log("info", &format!("constraint {}; tools: {}", constrain.name(), tools.join(", ")))
                }
                authoring::GenEvent::Fixed { attempt, fixes } => {
                    ctx.log("info", &format!("attempt {attempt}: the compiler fixed {}", fixes.join("; ")))
                }
                authoring::GenEvent::Attempt { attempt, errors } => {
                    ctx.log("info", &format!("attempt {attempt}: {errors} error(s)"))
                }
            })?;
            let program = written.program.clone();
            authored = Some(written);
            (program, None)
        };
        let (id, path) = match saved_as {
            Some(file) => (None, file),
            None => {
                let (id, path) = authoring::save(exp, &source)?;
                (Some(id), path)
            }
        };
        let check = Program::from_text(&path, &source, &CompileOptions::default())?.check().report();
        let ok = check.ok;
        let summary = format!(
            "DAG {}: {} nodes, {} edges, {} diagnostics{}{}",
            id.as_deref().unwrap_or(&exp.shown(&path)),
            check.nodes.len(),
            check.edges.len(),
            check.diagnostics.len(),
            if ok { "" } else { " (has errors: fix them and define it again)" },
            authored
                .as_ref()
                .filter(|w| w.repairs > 0)
                .map(|w| format!("; the model repaired it {} time(s)", w.repairs))
                .unwrap_or_default()
        );
        let body = Defined {
            repairs: authored.as_ref().map(|w| w.repairs),
            attempts: authored.map(|w| w.attempts),
            ..Defined::checked(id, source, check)
        };
        Ok(reply(method, ok, summary, body))
    }

    fn validate_dag(&self, exp: &Experiment, method: &str, a: ValidateDag) -> AppResult<Json> {
        let (text, path) = self.program(exp, &a.program)?;
        let check = Program::from_text(&path, &text, &CompileOptions::default())?.check().report();
        let summary =
            format!("{}: {} diagnostics", if check.ok { "valid" } else { "invalid" }, check.diagnostics.len());
        Ok(reply(method, check.ok, summary, Validated { diagnostics: check.diagnostics }))
    }

    /// An observer that turns the run's events into progress notifications
    /// and log messages.
    fn observe<'a>(
        ctx: &'a CallContext<'a>,
        total: usize,
        counter: &'a Mutex<Progress>,
    ) -> (impl Fn(Event) + Sync + 'a, impl Fn(&str) + Sync + 'a) {
        // Every notification's value is larger than the last (MCP asks
        // that): a finished node counts one, each event in between a
        // shrinking fraction of the next.
        let step = move |finished: bool, message: &str| {
            if let Ok(mut p) = counter.lock() {
                let value = p.next(finished);
                ctx.progress(value, total, message);
            }
        };
        let on_event = move |e: Event| match e {
            Event::Started { id, tool } => step(false, &format!("started {id} ({tool})")),
            Event::Finished(o) => {
                let how = if o.cached { "cached".to_string() } else { format!("{} in {} ms", o.status, o.duration_ms) };
                step(true, &format!("{} ({}) {how}", o.id, o.tool));
            }
            Event::Log(l) => {
                let text = format!("{} | {}", l.vertex, l.line);
                step(false, &text);
                ctx.log(if l.stream == "stderr" { "warning" } else { "info" }, &text);
            }
        };
        let on_note = move |text: &str| ctx.log("info", text);
        (on_event, on_note)
    }

    fn run_dag(&self, exp: &Experiment, method: &str, a: RunDag, ctx: &CallContext<'_>) -> AppResult<Json> {
        if let Some(p) = a.parallelism
            && !(1..=256).contains(&p)
        {
            return Err(AppError::usage("`parallelism` is a whole number from 1 to 256"));
        }
        let (text, path) = self.program(exp, &a.program)?;
        let program = Program::from_text(&path, &text, &CompileOptions { set: a.set.clone(), allow_large: false })?;
        let checked = program.check();
        if checked.has_errors() {
            let report = checked.report();
            let body = Ran {
                run_id: String::new(),
                status: None,
                cache_hits: 0,
                nodes: vec![],
                families: vec![],
                artifacts: vec![],
                device_mix: BTreeMap::new(),
                reportable: Reportable::default(),
                report: None,
                diagnostics: report.diagnostics,
            };
            return Ok(reply(method, false, "not run: the program has errors (see diagnostics)".into(), body));
        }
        let total = phx_app::run::vertex_count(&checked, &a.targets);
        let settings = RunSettings {
            jobs: a.parallelism.map(|p| p as usize),
            targets: a.targets.clone(),
            dry_run: a.dry_run,
            no_cache: a.no_cache,
            fold_sweeps: a.fold_sweeps.unwrap_or(total > phx_app::run::LISTED_VERTICES_AT_MOST),
            policy: a.policy,
            backend: a.backend,
            mounts: Vec::new(),
            grants: self.grants.clone(),
        };
        let counter = Mutex::new(Progress::default());
        let (on_event, on_note) = Self::observe(ctx, total, &counter);
        let observer = Observer { on_event: &on_event, on_note: &on_note, on_result: None };
        let run = phx_app::run::run(exp, program, &checked, &settings, &observer, &ctx.cancel)?;
        let body = ran(exp, &run);
        let summary = format!(
            "run {}: {}, {} nodes, {} cache hits, {} figures, {} tables",
            run.run_id,
            run.status,
            run.nodes.len() + run.families.iter().map(|f| f.count).sum::<usize>(),
            run.cache_hits,
            body.reportable.figures.len(),
            body.reportable.tables.len()
        );
        Ok(reply(method, run.ok(), summary, body))
    }

    fn publish_report(&self, exp: &Experiment, method: &str, a: phx_app::report::PublishRequest) -> AppResult<Json> {
        let w = phx_app::report::publish(exp, &a)?;
        let summary = format!("wrote {} ({} KB)", w.report, w.bytes.div_ceil(1024));
        Ok(reply(method, true, summary, Published { run_id: w.run_id, report: w.report, bytes: w.bytes }))
    }

    /// A share link: to the run (`session_share`), or to a signed bundle of
    /// it made for the participants (`collaborate_share`).
    fn share(&self, exp: &Experiment, method: &str, a: Share) -> AppResult<Json> {
        let shared = phx_app::share::share_run(
            exp,
            &ShareRunRequest {
                run_id: a.run_id,
                participants: a.participants.clone(),
                access: a.access,
                expires: a.expires,
                bundle: method == "collaborate_share",
            },
        )?;
        let link = shared.link;
        let summary = format!(
            "{} link to {} until unix {}: {}",
            link.access,
            if shared.bundle.is_some() { "a bundle of the run" } else { "the run" },
            link.expires_at,
            link.url
        );
        let body = Shared {
            run_id: shared.run_id,
            url: link.url,
            share_id: link.id,
            access: link.access,
            expires_at: link.expires_at,
            participants: a.participants,
            bundle: shared.bundle,
            serve: format!("phx serve --dir {}", exp.dir.display()),
        };
        Ok(reply(method, true, summary, body))
    }

    fn job_submit(&self, exp: &Experiment, method: &str, a: JobSubmit, ctx: &CallContext<'_>) -> AppResult<Json> {
        if a.backend == BackendKind::Local {
            return Err(AppError::usage("`backend` is slurm or k8s: a job goes to a cluster"));
        }
        let counter = Mutex::new(Progress::default());
        let (on_event, on_note) = Self::observe(ctx, 1, &counter);
        let observer = Observer { on_event: &on_event, on_note: &on_note, on_result: None };
        let job = phx_app::jobs::submit(exp, &a.job, a.backend, &self.grants, &observer, &ctx.cancel)?;
        let summary =
            format!("job {} on {}: {}", job.job_id.as_deref().unwrap_or("(none)"), a.backend.as_str(), job.status);
        Ok(reply(method, job.ok(), summary, job))
    }

    fn lab_notebook(&self, exp: &Experiment, method: &str, a: LabNotebook) -> AppResult<Json> {
        let req = phx_app::notebook::EntryRequest {
            title: a.title,
            markdown: a.markdown,
            attach: a.attach,
            run_id: a.run_id,
            author: None,
            key: None,
        };
        let added = phx_app::notebook::add(exp, req, &self.grants)?;
        let summary = format!("notebook entry {}: {}", added.entry["seq"], added.entry["title"].as_str().unwrap_or(""));
        Ok(reply(method, true, summary, Noted { entry: added.entry }))
    }

    fn artifact_versioning(&self, exp: &Experiment, method: &str, a: ArtifactVersioning) -> AppResult<Json> {
        if let Some(id) = a.artifact.as_deref().filter(|s| !s.trim().is_empty()) {
            let show = phx_app::artifacts::show(exp, id)?;
            let lineage = phx_app::artifacts::lineage(exp, id)?;
            let cached = show.produced_by.iter().any(|p| p["cached"] == true);
            let summary = format!(
                "artifact {}: {} ancestors, {} descendants",
                show.sha256,
                lineage.ancestors.len(),
                lineage.descendants.len()
            );
            let body = Versioned {
                artifact: Some(show),
                lineage: Some(lineage),
                cache_status: Some(if cached { "reused from the cache" } else { "computed" }.into()),
                history: None,
            };
            return Ok(reply(method, true, summary, body));
        }
        if let Some(node) = a.node.as_deref().filter(|s| !s.trim().is_empty()) {
            let log = phx_app::artifacts::log(exp, node)?;
            let summary = format!("{} artifacts of `{node}`", log.artifacts.len());
            let body = Versioned { artifact: None, lineage: None, cache_status: None, history: Some(log) };
            return Ok(reply(method, true, summary, body));
        }
        Err(AppError::usage("give `artifact` (a SHA-256 or prefix) or `node` (a node name)"))
    }
}

/// run_dag's result from a run: absolute paths, figures with thumbnails,
/// tables, the device mix.
fn ran(exp: &Experiment, run: &RunResult) -> Ran {
    let abs = |p: &str| exp.absolute(p).display().to_string();
    let thumb = |p: &str, size: u32| phx_app::artifacts::thumbnail(&exp.absolute(p), size).map(|t| base64(&t));
    let mut device_mix: BTreeMap<String, u64> = BTreeMap::new();
    let mut artifacts = Vec::new();
    let mut reportable = Reportable::default();
    for g in run.families.iter().flat_map(|f| &f.groups) {
        *device_mix.entry(g.device.clone().unwrap_or_else(|| "none".into())).or_default() += g.count as u64;
    }
    for n in &run.nodes {
        *device_mix.entry(n.device.clone().unwrap_or_else(|| "none".into())).or_default() += 1;
        for (name, o) in &n.outputs {
            artifacts.push(RunArtifact {
                node: n.id.clone(),
                output: name.clone(),
                kind: o.kind.clone(),
                sha256: o.sha256.clone(),
                path: abs(&o.path),
                value: o.value.clone(),
            });
        }
        for s in &n.visuals.statics {
            reportable.figures.push(Figure {
                node: n.id.clone(),
                png: Some(abs(&s.png)),
                svg: s.svg.as_deref().map(abs),
                animation: None,
                format: None,
                png_b64: thumb(&s.png, 256),
                caption: format!("{} of node {} ({})", n.tool, n.id, n.device.as_deref().unwrap_or("cpu")),
            });
        }
        for a in &n.visuals.animation {
            reportable.figures.push(Figure {
                node: n.id.clone(),
                png: None,
                svg: None,
                animation: Some(abs(&a.file)),
                format: a.format.clone(),
                png_b64: a.thumbnails.as_deref().and_then(|t| thumb(t, 512)),
                caption: format!("animation of node {}", n.id),
            });
        }
        for t in &n.visuals.series {
            reportable.tables.push(Table {
                node: n.id.clone(),
                csv: abs(t),
                caption: format!("a Series of node {}", n.id),
            });
        }
    }
    Ran {
        run_id: run.run_id.clone(),
        status: Some(run.status),
        cache_hits: run.cache_hits,
        nodes: run.nodes.clone(),
        families: run.families.clone(),
        artifacts,
        device_mix,
        reportable,
        report: run.report.as_deref().map(abs),
        diagnostics: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn progress_values_always_increase_and_count_finished_nodes() {
        let mut p = Progress::default();
        let mut last = -1.0;
        let mut finished_values = Vec::new();
        let mut events = vec![false, false, true, false, false, false, true, true];
        events.extend(std::iter::repeat_n(false, 10_000));
        for finished in events {
            let v = p.next(finished);
            assert!(v > last, "{v} after {last}");
            last = v;
            if finished {
                finished_values.push(v);
            }
        }
        assert_eq!(finished_values, [1.0, 2.0, 3.0]);
        assert!(last < 4.0);
    }
}
