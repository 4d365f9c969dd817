//! What each method does. Checking happens in process (the compiler is a
//! library); running, reports, the notebook and artifact history go through
//! this same `phx` binary as a child process, so they behave exactly as
//! the command line does.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::Peer;
use super::tools::{self, COLLABORATION, ORCHESTRATOR, failure_of, success};
use crate::authoring;

/// The server's state: the folder it works in and the DAGs it defined.
pub struct Server {
    dir: PathBuf,
}

/// How many times the model may repair a program.
const REPAIRS: usize = 3;

fn string_arg<'a>(args: &'a Json, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Json::as_str).filter(|s| !s.trim().is_empty())
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(T[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Server {
    /// A server working in `dir` (its store is `dir/.phx`).
    pub fn new(dir: PathBuf) -> Server {
        Server { dir }
    }

    fn dags(&self) -> PathBuf {
        self.dir.join(".phx").join("mcp").join("dags")
    }

    fn dag_path(&self, id: &str) -> PathBuf {
        self.dags().join(format!("{id}.phx"))
    }

    /// Saves a program under its content hash; returns the id.
    fn save(&self, source: &str) -> Result<String, String> {
        let id = phx_store::hex(&Sha256::digest(source.as_bytes())[..8]);
        std::fs::create_dir_all(self.dags())
            .map_err(|e| format!("cannot write under {}: {e}", self.dags().display()))?;
        let path = self.dag_path(&id);
        std::fs::write(&path, source).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(id)
    }

    /// The program a call names: `dag_id` (from define_dag) or `source`.
    fn program(&self, args: &Json) -> Result<(String, PathBuf), String> {
        if let Some(id) = string_arg(args, "dag_id") {
            if !id.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("`{id}` is not a dag_id: define_dag returns one (16 hex digits)"));
            }
            let path = self.dag_path(id);
            let text = std::fs::read_to_string(&path)
                .map_err(|_| format!("no DAG `{id}`: call define_dag first, or pass `source`"))?;
            return Ok((text, path));
        }
        if let Some(source) = string_arg(args, "source") {
            let id = self.save(source)?;
            return Ok((source.to_string(), self.dag_path(&id)));
        }
        Err("give `dag_id` (from define_dag) or `source` (a .phx program)".into())
    }

    /// Checks a program saved at `path`: diagnostics, nodes, edges.
    fn check(&self, path: &Path, text: &str) -> Json {
        authoring::check_source(path, text)
    }

    fn phx(&self, args: &[&str]) -> Result<Json, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find the phx binary: {e}"))?;
        let out = Command::new(exe).args(args).current_dir(&self.dir).output().map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match serde_json::from_str::<Json>(&stdout) {
            Ok(v) => Ok(v),
            Err(_) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        }
    }

    /// Runs one call; always returns a tool result.
    pub fn call<R: BufRead, W: Write>(&mut self, name: &str, args: &Json, peer: &mut Peer<R, W>) -> Json {
        let method = match name {
            "experiment_orchestrator" | "distributed_collaboration" => {
                let allowed: &[&str] = if name == "experiment_orchestrator" { &ORCHESTRATOR } else { &COLLABORATION };
                match args.get("method").and_then(Json::as_str) {
                    Some(m) if allowed.contains(&m) => m.to_string(),
                    Some(m) => {
                        return failure_of(
                            m,
                            format!("`{name}` has no method `{m}`; use one of: {}", allowed.join(", ")),
                        );
                    }
                    None => return failure_of("", format!("`{name}` needs `method`, one of: {}", allowed.join(", "))),
                }
            }
            m if ORCHESTRATOR.contains(&m) || COLLABORATION.contains(&m) => m.to_string(),
            other => return tools::failure(format!("no tool `{other}`; `tools/list` names them")),
        };
        if !args.is_object() {
            return failure_of(&method, "`arguments` must be an object".into());
        }
        let result = match method.as_str() {
            "define_dag" => self.define_dag(args, peer),
            "validate_dag" => self.validate_dag(args),
            "run_dag" => self.run_dag(args),
            "publish_report" => self.publish_report(args),
            "collaborate_share" | "session_share" => self.share(&method, args),
            "job_submit" => self.job_submit(args),
            "lab_notebook" => self.lab_notebook(args),
            "artifact_versioning" => self.artifact_versioning(args),
            _ => Err(format!("unknown method `{method}`")),
        };
        match result {
            Ok((summary, mut structured)) => {
                structured["method"] = json!(method);
                if structured.get("ok").is_none() {
                    structured["ok"] = json!(true);
                }
                success(summary, structured)
            }
            Err(message) => failure_of(&method, message),
        }
    }

    fn define_dag<R: BufRead, W: Write>(
        &mut self,
        args: &Json,
        peer: &mut Peer<R, W>,
    ) -> Result<(String, Json), String> {
        let given = ["source", "spec", "natural_language"]
            .iter()
            .filter(|k| args.get(**k).is_some_and(|v| !v.is_null()))
            .count();
        if given != 1 {
            return Err(
                "give exactly one of `source` (.phx text), `spec` (the JSON form of a DAG) or `natural_language`"
                    .into(),
            );
        }
        let (source, repairs, transcript) = if let Some(src) = string_arg(args, "source") {
            (src.to_string(), 0, Vec::new())
        } else if let Some(spec) = args.get("spec").filter(|v| !v.is_null()) {
            let text = serde_json::to_string(spec).map_err(|e| e.to_string())?;
            let program =
                phx_interchange::import(&text).map_err(|e| format!("`spec` is not the JSON form of a DAG: {e}"))?;
            (program, 0, Vec::new())
        } else {
            let wish =
                string_arg(args, "natural_language").ok_or("`natural_language` is empty: say what to compute")?;
            if !peer.can_sample {
                let prompt = authoring::prompt_material(wish);
                return Ok((
                    "This client does not offer MCP sampling, so phx cannot ask a model to write the program. Here is the prompt material and a skeleton: write the program, then call define_dag with `source`.".into(),
                    json!({"ok": false, "needs_model": true, "prompt": prompt, "program": skeleton(wish), "diagnostics": []}),
                ));
            }
            self.write_with_model(wish, peer)?
        };
        let id = self.save(&source)?;
        let mut checked = self.check(&self.dag_path(&id), &source);
        let ok = checked["ok"].as_bool().unwrap_or(false);
        let summary = format!(
            "DAG {id}: {} nodes, {} edges, {} diagnostics{}{}",
            checked["nodes"].as_array().map_or(0, Vec::len),
            checked["edges"].as_array().map_or(0, Vec::len),
            checked["diagnostics"].as_array().map_or(0, Vec::len),
            if ok { "" } else { " (has errors: fix them and define it again)" },
            if repairs > 0 { format!("; the model repaired it {repairs} time(s)") } else { String::new() }
        );
        checked["dag_id"] = json!(id);
        checked["program"] = json!(source);
        if !transcript.is_empty() {
            checked["repairs"] = json!(repairs);
            checked["attempts"] = json!(transcript);
        }
        Ok((summary, checked))
    }

    /// Asks the client's model (MCP sampling) for a program and repairs it
    /// with the compiler's diagnostics, up to three times.
    fn write_with_model<R: BufRead, W: Write>(
        &mut self,
        wish: &str,
        peer: &mut Peer<R, W>,
    ) -> Result<(String, usize, Vec<Json>), String> {
        let system = authoring::system_prompt();
        let mut messages =
            vec![json!({"role": "user", "content": {"type": "text", "text": authoring::prompt_material(wish)}})];
        let mut transcript = Vec::new();
        let mut program = String::new();
        for attempt in 0..=REPAIRS {
            let reply = peer.request(
                "sampling/createMessage",
                json!({"messages": messages, "systemPrompt": system, "maxTokens": 4000, "includeContext": "none"}),
            )?;
            let text = reply.pointer("/content/text").and_then(Json::as_str).unwrap_or("").to_string();
            program = authoring::program_from_reply(&text);
            let id = self.save(&program)?;
            let errors = authoring::error_lines(&self.check(&self.dag_path(&id), &program));
            transcript.push(json!({"program": program, "errors": errors}));
            if errors.is_empty() {
                return Ok((program, attempt, transcript));
            }
            if attempt == REPAIRS {
                break;
            }
            messages.push(json!({"role": "assistant", "content": {"type": "text", "text": text}}));
            messages
                .push(json!({"role": "user", "content": {"type": "text", "text": authoring::repair_request(&errors)}}));
        }
        Ok((program, REPAIRS, transcript))
    }

    fn validate_dag(&mut self, args: &Json) -> Result<(String, Json), String> {
        let (text, path) = self.program(args)?;
        let checked = self.check(&path, &text);
        let n = checked["diagnostics"].as_array().map_or(0, Vec::len);
        Ok((
            format!("{}: {n} diagnostics", if checked["ok"] == true { "valid" } else { "invalid" }),
            json!({"ok": checked["ok"], "diagnostics": checked["diagnostics"]}),
        ))
    }

    fn run_dag(&mut self, args: &Json) -> Result<(String, Json), String> {
        let (text, path) = self.program(args)?;
        let checked = self.check(&path, &text);
        if checked["ok"] != true {
            return Ok((
                "not run: the program has errors (see diagnostics)".into(),
                json!({"ok": false, "diagnostics": checked["diagnostics"]}),
            ));
        }
        let mut cli: Vec<String> =
            vec!["run".into(), path.to_string_lossy().into_owned(), "--format".into(), "json".into()];
        if let Some(p) = args.get("policy").filter(|v| !v.is_null()) {
            let p = p
                .as_str()
                .filter(|p| ["local_first", "remote_first", "auto"].contains(p))
                .ok_or("`policy` is one of local_first, remote_first, auto")?;
            cli.extend(["--policy".into(), p.into()]);
        }
        if let Some(j) = args.get("parallelism").filter(|v| !v.is_null()) {
            let j =
                j.as_u64().filter(|j| (1..=256).contains(j)).ok_or("`parallelism` is a whole number from 1 to 256")?;
            cli.extend(["--jobs".into(), j.to_string()]);
        }
        let refs: Vec<&str> = cli.iter().map(String::as_str).collect();
        let run = self.phx(&refs)?;
        let experiment = self.dir.join(".phx").join("mcp").join("dags");
        let abs = |p: &str| -> String {
            let pb = Path::new(p);
            if pb.is_absolute() { p.to_string() } else { experiment.join(pb).to_string_lossy().into_owned() }
        };
        let mut device_mix: BTreeMap<String, u64> = BTreeMap::new();
        let mut artifacts = Vec::new();
        let mut figures = Vec::new();
        let mut tables = Vec::new();
        for n in run["nodes"].as_array().into_iter().flatten() {
            *device_mix.entry(n["device"].as_str().unwrap_or("none").to_string()).or_default() += 1;
            for (name, o) in n["outputs"].as_object().into_iter().flatten() {
                artifacts.push(json!({"node": n["id"], "output": name, "kind": o["kind"], "sha256": o["sha256"], "path": abs(o["path"].as_str().unwrap_or("")), "value": o.get("value")}));
            }
            for s in n["visuals"]["static"].as_array().into_iter().flatten() {
                let png = abs(s["png"].as_str().unwrap_or(""));
                let thumb =
                    std::fs::read(&png).ok().and_then(|b| phx_notebook::thumbnail_png(&b, 256)).map(|t| base64(&t));
                figures.push(json!({"node": n["id"], "png": png, "svg": s["svg"].as_str().map(abs), "png_b64": thumb,
                    "caption": format!("{} of node {} ({})", n["tool"].as_str().unwrap_or(""), n["id"].as_str().unwrap_or(""), n["device"].as_str().unwrap_or("cpu"))}));
            }
            for a in n["visuals"]["animation"].as_array().into_iter().flatten() {
                let strip = a["thumbnails"].as_str().map(abs);
                let thumb = strip
                    .as_ref()
                    .and_then(|p| std::fs::read(p).ok())
                    .and_then(|b| phx_notebook::thumbnail_png(&b, 512))
                    .map(|t| base64(&t));
                figures.push(json!({"node": n["id"], "animation": abs(a["file"].as_str().unwrap_or("")), "format": a["format"], "png_b64": thumb,
                    "caption": format!("animation of node {}", n["id"].as_str().unwrap_or(""))}));
            }
            for t in n["visuals"]["series"].as_array().into_iter().flatten() {
                tables.push(json!({"node": n["id"], "csv": abs(t.as_str().unwrap_or("")), "caption": format!("a Series of node {}", n["id"].as_str().unwrap_or(""))}));
            }
        }
        let status = run["status"].as_str().unwrap_or("unknown").to_string();
        let run_id = run["run_id"].as_str().unwrap_or("").to_string();
        Ok((
            format!(
                "run {run_id}: {status}, {} nodes, {} cache hits, {} figures, {} tables",
                run["nodes"].as_array().map_or(0, Vec::len),
                run["cache_hits"],
                figures.len(),
                tables.len()
            ),
            json!({
                "ok": status == "succeeded", "run_id": run_id, "status": status, "cache_hits": run["cache_hits"],
                "nodes": run["nodes"], "artifacts": artifacts, "device_mix": device_mix,
                "reportable": {"figures": figures, "tables": tables}, "report": run["report"].as_str().map(abs),
            }),
        ))
    }

    /// One command as a cluster job: a `shell.run` node with the job's
    /// resources, run with `--backend`; the job id, its logs, artifacts
    /// and provenance come back.
    fn job_submit(&mut self, args: &Json) -> Result<(String, Json), String> {
        let backend = string_arg(args, "backend").unwrap_or("slurm");
        if backend == "k8s" {
            return Err("the k8s backend is not available in this build of phx; use `backend: \"slurm\"`".into());
        }
        if backend != "slurm" {
            return Err(format!("`backend` is slurm or k8s, not `{backend}`"));
        }
        let job = args.get("job").filter(|j| j.is_object()).ok_or("`job` is required: an object with `command`")?;
        let command = job
            .get("command")
            .and_then(Json::as_str)
            .filter(|c| !c.trim().is_empty())
            .ok_or("`job.command` is required: the shell command the job runs")?;
        let mut script = String::new();
        for (k, v) in job.get("env").and_then(Json::as_object).into_iter().flatten() {
            if k.is_empty()
                || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || k.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(format!("`job.env` key `{k}` is not a variable name (letters, digits, _)"));
            }
            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            script.push_str(&format!("export {k}={}\n", phx_backends::sh_quote(&v)));
        }
        script.push_str(command);
        let mut resources = Vec::new();
        let res = job.get("resources").cloned().unwrap_or(json!({}));
        for (key, unit, max) in
            [("cpus", "", 4096.0), ("gpus", "", 64.0), ("mem_mb", " MiB", 1e9), ("time_s", " s", 1e8)]
        {
            if let Some(v) = res.get(key).filter(|v| !v.is_null()) {
                let n = v
                    .as_f64()
                    .filter(|n| *n >= 0.0 && *n <= max)
                    .ok_or(format!("`job.resources.{key}` is a number from 0 to {max}"))?;
                let name = key.split('_').next().unwrap_or(key);
                let value = if unit.is_empty() { format!("{}", n.round() as i64) } else { format!("{n}{unit}") };
                resources.push(format!("{name} = {value}"));
            }
        }
        let outputs: Vec<String> = job
            .get("outputs")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(phx_string))
            .collect();
        let mut warnings = Vec::new();
        if job.get("image").is_some_and(|i| !i.is_null()) {
            warnings
                .push("`image` applies to Kubernetes jobs; a Slurm job runs on the cluster's own system".to_string());
        }
        if job.get("mounts").is_some_and(|m| !m.is_null()) {
            warnings.push(
                "`mounts` apply to Kubernetes jobs; a Slurm job sees the cluster's shared file system".to_string(),
            );
        }
        let mut props = vec!["backend = slurm".to_string()];
        if !resources.is_empty() {
            props.push(format!("resources = {{ {} }}", resources.join(", ")));
        }
        props.push("cache = false".into());
        let source = format!(
            "/// A job submitted through MCP.\nnode job = shell.run(command = {}, outputs = [{}]) {{\n  {}\n}}\n",
            phx_string(&script),
            outputs.join(", "),
            props.join("\n  ")
        );
        let id = self.save(&source)?;
        let path = self.dag_path(&id);
        let checked = self.check(&path, &source);
        if checked["ok"] != true {
            return Err(format!("the job does not make a valid node: {}", checked["diagnostics"]));
        }
        let run = self.phx(&["run", &path.to_string_lossy(), "--backend", "slurm", "--format", "json"])?;
        let node = run["nodes"].as_array().and_then(|n| n.first()).cloned().unwrap_or(json!({}));
        let run_id = run["run_id"].as_str().unwrap_or("").to_string();
        let job_id = node["job_id"].clone();
        let work = self.dir.join(".phx/mcp/dags/.phx/runs").join(&run_id).join("work/job-1");
        let experiment = self.dir.join(".phx").join("mcp").join("dags");
        let artifacts: Vec<Json> = node["outputs"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, o)| json!({"output": name, "kind": o["kind"], "sha256": o["sha256"], "path": experiment.join(o["path"].as_str().unwrap_or("")).to_string_lossy()}))
            .collect();
        let status = node["status"].as_str().unwrap_or("unknown").to_string();
        Ok((
            format!("job {} on slurm: {status}", job_id.as_str().unwrap_or("(none)")),
            json!({
                "ok": status == "succeeded", "status": status, "backend": "slurm", "job_id": job_id, "run_id": run_id,
                "log": {"stdout": work.join("job.out").to_string_lossy(), "stderr": work.join("job.err").to_string_lossy()},
                "artifacts": artifacts, "error": node["error"], "warnings": warnings, "program": source,
                "provenance": {"backend": node["backend"], "placement": node["placement"], "device": node["device"],
                               "duration_ms": node["duration_ms"], "attempts": node["attempts"], "dag_id": id},
            }),
        ))
    }

    /// A share link: to the run (`session_share`), or to a signed bundle of
    /// it made for the participants (`collaborate_share`).
    fn share(&mut self, method: &str, args: &Json) -> Result<(String, Json), String> {
        let run_id = string_arg(args, "run_id").ok_or("`run_id` is required: run_dag returns it")?;
        if !run_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("`{run_id}` is not a run id"));
        }
        let access = string_arg(args, "access").unwrap_or("read");
        if !matches!(access, "read" | "write") {
            return Err("`access` is read or write".into());
        }
        let expires = string_arg(args, "expires").unwrap_or("72h");
        let dags = self.dags();
        let dir = dags.to_string_lossy().into_owned();
        let mut cli: Vec<String> =
            ["share", "create", "--dir", &dir, "--format", "json", "--access", access, "--expires", expires]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let participants: Vec<String> = args
            .get("participants")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        for p in &participants {
            cli.extend(["--to".to_string(), p.clone()]);
        }
        let mut bundle = None;
        if method == "collaborate_share" {
            let path = dags.join("bundles").join(format!("{run_id}.phxb"));
            std::fs::create_dir_all(dags.join("bundles")).map_err(|e| format!("cannot write bundles: {e}"))?;
            let exe = std::env::current_exe().map_err(|e| format!("cannot find the phx binary: {e}"))?;
            let out = Command::new(exe)
                .args(["bundle", "export", run_id, "-o"])
                .arg(&path)
                .args(["--dir", &dir])
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
            }
            cli.extend(["--bundle".to_string(), path.to_string_lossy().into_owned()]);
            bundle = Some(path.to_string_lossy().into_owned());
        } else {
            cli.extend(["--run".to_string(), run_id.to_string()]);
        }
        let refs: Vec<&str> = cli.iter().map(String::as_str).collect();
        let link = self.phx(&refs)?;
        let url = link["url"].as_str().unwrap_or("").to_string();
        Ok((
            format!(
                "{access} link to {} until unix {}: {url}",
                if bundle.is_some() { "a bundle of the run" } else { "the run" },
                link["expires_at"]
            ),
            json!({
                "ok": true, "url": url, "share_id": link["id"], "access": access, "expires_at": link["expires_at"],
                "participants": participants, "bundle": bundle, "run_id": run_id,
                "serve": format!("phx serve --dir {dir}"),
            }),
        ))
    }

    fn publish_report(&mut self, args: &Json) -> Result<(String, Json), String> {
        let run_id = string_arg(args, "run_id").ok_or("`run_id` is required: run_dag returns it")?;
        if !run_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("`{run_id}` is not a run id"));
        }
        let experiment = self.dir.join(".phx").join("mcp").join("dags");
        let store = phx_store::Store::open(&experiment).map_err(|e| e.to_string())?;
        let run = store
            .db
            .run(run_id)
            .map_err(|e| e.to_string())?
            .ok_or(format!("no run `{run_id}`: run_dag returns run ids"))?;
        let saved_path = store.run_dir(&run.id).join("report.json");
        let mut saved: phx_report::SavedReport = match std::fs::read(&saved_path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("the run's saved report is unreadable: {e}"))?
            }
            // No `report` block: one section with every picture of the run.
            Err(_) => default_report(&store, &run)?,
        };
        if let Some(t) = string_arg(args, "title") {
            saved.spec.title = Some(t.to_string());
        }
        if let Some(a) = args.get("authors").and_then(Json::as_array) {
            saved.spec.authors = a.iter().filter_map(Json::as_str).map(str::to_string).collect();
        }
        if let Some(entries) = args.get("bibliography").and_then(Json::as_array) {
            let text: Vec<&str> = entries.iter().filter_map(Json::as_str).collect();
            if !text.is_empty() {
                let mut all = saved.bibliography.as_ref().map(|b| b.text.clone()).unwrap_or_default();
                all.push('\n');
                all.push_str(&text.join("\n\n"));
                saved.bibliography = Some(phx_report::SavedBibliography { name: "references.bib".into(), text: all });
            }
        }
        phx_report::preflight(&saved).map_err(|e| format!("{e} ({}); {}", e.code(), e.hint()))?;
        let doc =
            phx_report::gather(&store, &run.id, &saved).map_err(|e| format!("{e} ({}); {}", e.code(), e.hint()))?;
        let pdf = phx_report::render(&doc).map_err(|e| format!("{e} ({}); {}", e.code(), e.hint()))?;
        let path = store.run_dir(&run.id).join("published.pdf");
        std::fs::write(&path, &pdf).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok((
            format!("wrote {} ({} KB)", path.display(), pdf.len().div_ceil(1024)),
            json!({"report": path.to_string_lossy(), "run_id": run.id, "bytes": pdf.len()}),
        ))
    }

    fn lab_notebook(&mut self, args: &Json) -> Result<(String, Json), String> {
        let title = string_arg(args, "title").ok_or("`title` is required")?;
        let markdown = string_arg(args, "markdown").unwrap_or("");
        let experiment = self.dir.join(".phx").join("mcp").join("dags");
        let experiment = experiment.to_string_lossy().into_owned();
        let mut cli: Vec<String> = vec![
            "notebook".into(),
            "add".into(),
            "--title".into(),
            title.into(),
            "--message".into(),
            markdown.into(),
            "--dir".into(),
            experiment,
            "--format".into(),
            "json".into(),
        ];
        for a in args.get("attach").and_then(Json::as_array).into_iter().flatten() {
            let a = a.as_str().ok_or("`attach` is a list of strings")?;
            cli.extend(["--attach".into(), a.into()]);
        }
        let refs: Vec<&str> = cli.iter().map(String::as_str).collect();
        let out = self.phx(&refs)?;
        let entry = out["entry"].clone();
        Ok((
            format!("notebook entry {}: {}", entry["seq"], entry["title"].as_str().unwrap_or("")),
            json!({"entry": entry}),
        ))
    }

    fn artifact_versioning(&mut self, args: &Json) -> Result<(String, Json), String> {
        let dir = self.dir.join(".phx").join("mcp").join("dags").to_string_lossy().into_owned();
        if let Some(a) = string_arg(args, "artifact") {
            let show = self.phx(&["artifact", "show", a, "--dir", &dir, "--format", "json"])?;
            let lineage = self.phx(&["artifact", "lineage", a, "--dir", &dir, "--format", "json"])?;
            let cached = show["produced_by"].as_array().map(|p| p.iter().any(|x| x["cached"] == true)).unwrap_or(false);
            return Ok((
                format!(
                    "artifact {}: {} ancestors, {} descendants",
                    show["sha256"].as_str().unwrap_or(a),
                    lineage["ancestors"].as_array().map_or(0, Vec::len),
                    lineage["descendants"].as_array().map_or(0, Vec::len)
                ),
                json!({"artifact": show, "lineage": lineage, "cache_status": if cached { "reused from the cache" } else { "computed" }}),
            ));
        }
        if let Some(n) = string_arg(args, "node") {
            let log = self.phx(&["artifact", "log", n, "--dir", &dir, "--format", "json"])?;
            return Ok((
                format!("{} artifacts of `{n}`", log["artifacts"].as_array().map_or(0, Vec::len)),
                json!({"history": log}),
            ));
        }
        Err("give `artifact` (a SHA-256 or prefix) or `node` (a node name)".into())
    }
}

/// The report of a run whose program had no `report` block: its title from
/// the program, one section with every picture.
fn default_report(store: &phx_store::Store, run: &phx_store::RunRow) -> Result<phx_report::SavedReport, String> {
    use phx_sema::{ReportBlock, ReportSpec};
    let mut blocks = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in store.db.executions(&run.id).map_err(|e| e.to_string())? {
        let outs = store.db.outputs(e.id).map_err(|e| e.to_string())?;
        if outs.iter().any(|o| o.kind == "Image" || o.kind == "Animation") && seen.insert(e.node.clone()) {
            blocks.push(ReportBlock::Figure { node: e.node.clone(), index: None, caption: None, width: None });
        }
    }
    let spec = ReportSpec {
        name: "mcp".into(),
        title: Some(format!("Results of {}", run.file)),
        blocks: vec![ReportBlock::Section { heading: "Results".into(), blocks }],
        ..ReportSpec::default()
    };
    Ok(phx_report::SavedReport {
        spec,
        file: run.file.clone(),
        experiment_title: None,
        experiment_authors: Vec::new(),
        bibliography: None,
    })
}

/// A program to start from when no model can be asked.
fn skeleton(wish: &str) -> String {
    format!(
        "/// {}\nexperiment draft {{\n  title = \"draft\"\n}}\n\nparam grid: Int = 64\n\nnode result = quantum.orbital(n = 1, l = 0, m = 0, grid = grid) {{\n  emit = [static, series]\n}}\n",
        wish.lines().next().unwrap_or("").chars().take(100).collect::<String>()
    )
}

/// A `.phx` string literal holding `s` exactly: escapes, and `{{` so that
/// nothing is interpolated.
fn phx_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
