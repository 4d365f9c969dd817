//! `phx run`, `phx explain`, `phx runs`, `phx show`: the runtime's commands.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use phx_runtime::scheduler::{Event, NodeOutcome, RunOptions, RunReport};
use phx_store::Store;
use serde_json::{Value as Json, json};

use super::common::{self, CompileOpts, TextOrJson};
use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The experiment to run.
    file: String,
    #[command(flatten)]
    opts: CompileOpts,
    /// How many nodes run at once (default: the machine's cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Run only this node and its ancestors (repeatable).
    #[arg(long)]
    target: Vec<String>,
    /// Print the plan (each node cached or to run, and why); run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Ignore the cache (outputs are still stored).
    #[arg(long)]
    no_cache: bool,
    /// `local_first` (run here unless a node needs what this machine lacks),
    /// `remote_first` (every node to the cluster) or `auto` (heavy nodes to
    /// the cluster). Default: the experiment's `policy`, else `[run] policy`
    /// of phx.toml, else `local_first`.
    #[arg(long)]
    policy: Option<String>,
    /// `local` (everything here), `slurm` (the cluster of phx.toml's
    /// `[slurm]`; with no policy given, every node goes there) or `k8s`.
    #[arg(long)]
    backend: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: TextOrJson,
}

/// The experiment folder: the nearest folder holding `phx.toml`, from the
/// file's folder upwards; else the file's folder.
pub fn experiment_dir(file: &Path) -> PathBuf {
    let start = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let start = start.canonicalize().unwrap_or(start);
    let mut dir = start.as_path();
    loop {
        if dir.join("phx.toml").is_file() {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return start,
        }
    }
}

fn relative_file(file: &Path, dir: &Path) -> String {
    let abs = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    abs.strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_else(|_| abs.display().to_string())
}

fn open_store(dir: &Path) -> Result<Arc<Store>, u8> {
    common::open_store(dir).map(Arc::new)
}

fn cancel_on_signals(rt: &tokio::runtime::Runtime) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    rt.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("phx: stopping: no new nodes start; running ones are ended and recorded as cancelled");
        let _ = tx.send(true);
    });
    rx
}

fn short(s: &str) -> &str {
    &s[..12.min(s.len())]
}

fn outcome_line(o: &NodeOutcome) -> String {
    let mut line = match o.status.as_str() {
        "succeeded" if o.cached => format!("cached    {} ({})", o.id, o.tool),
        "succeeded" => format!(
            "done      {} ({}) in {} ms on {}{}",
            o.id,
            o.tool,
            o.duration_ms,
            o.device.as_deref().unwrap_or("cpu"),
            o.job_id.as_ref().map(|j| format!(" ({} job {j})", o.backend)).unwrap_or_default()
        ),
        "would-run" if o.backend != "local" => format!(
            "would run {} ({}) on {}: {}\n          placement: {}",
            o.id,
            o.tool,
            o.backend,
            o.why.join("; "),
            o.placement.as_deref().unwrap_or("")
        ),
        "would-run" => format!("would run {} ({}): {}", o.id, o.tool, o.why.join("; ")),
        "cached" => format!("cached    {} ({})", o.id, o.tool),
        other => format!("{other:<9} {} ({})", o.id, o.tool),
    };
    if let Some(f) = &o.fallback {
        line.push_str(&format!("\n          warning[phx::device-fallback]: ran on the CPU: {f}"));
    }
    if let Some(e) = &o.error {
        for (i, l) in e.lines().enumerate() {
            line.push_str(if i == 0 { "\n          error: " } else { "\n            " });
            line.push_str(l);
        }
    }
    line
}

/// Whether `name` is the thumbnail strip of one of the node's animations.
fn is_thumbnail_strip(name: &str, outputs: &[phx_runtime::scheduler::OutputInfo]) -> bool {
    name.strip_suffix("_thumbnails").is_some_and(|base| outputs.iter().any(|x| x.name == base && x.kind == "Animation"))
}

/// The JSON of a run (CLI spec, `phx run --format json`).
pub fn report_json(r: &RunReport, file: &str, dir: &Path, pdf: Option<&Path>) -> Json {
    let rel =
        |p: &Path| p.strip_prefix(dir).map(|x| x.display().to_string()).unwrap_or_else(|_| p.display().to_string());
    let nodes: Vec<Json> = r
        .nodes
        .iter()
        .map(|n| {
            let mut outputs = serde_json::Map::new();
            let mut statics = Vec::new();
            let mut series = Vec::new();
            let mut animations = Vec::new();
            for o in &n.outputs {
                let mut m = serde_json::Map::new();
                m.insert("kind".into(), json!(o.kind));
                m.insert("sha256".into(), json!(o.sha256));
                m.insert("path".into(), json!(rel(&o.path)));
                if let Some(v) = &o.value {
                    m.insert("value".into(), v.clone());
                }
                match o.kind.as_str() {
                    "Series" => series.push(json!(rel(&o.path))),
                    // An animation's thumbnail strip belongs to the animation, not
                    // to the static pictures (which come as PNG and SVG pairs).
                    "Image" if is_thumbnail_strip(&o.name, &n.outputs) => {}
                    "Image" => {
                        let svg = n.outputs.iter().find(|x| x.name == format!("{}_svg", o.name)).map(|x| rel(&x.path));
                        statics.push(json!({"png": rel(&o.path), "svg": svg}));
                    }
                    "Animation" => {
                        let thumbnails =
                            n.outputs.iter().find(|x| x.name == format!("{}_thumbnails", o.name)).map(|x| rel(&x.path));
                        animations.push(
                            json!({"file": rel(&o.path), "format": o.meta.get("format"), "thumbnails": thumbnails}),
                        )
                    }
                    _ => {}
                }
                outputs.insert(o.name.clone(), Json::Object(m));
            }
            json!({
                "id": n.id, "tool": n.tool, "status": n.status, "cached": n.cached,
                "device": n.device, "fallback": n.fallback, "backend": n.backend, "job_id": n.job_id, "placement": n.placement,
                "duration_ms": n.duration_ms, "attempts": n.attempts, "outputs": outputs,
                "visuals": {"static": statics, "series": series, "animation": animations},
                "error": n.error, "why": n.why,
            })
        })
        .collect();
    json!({"run_id": r.run_id, "status": r.status, "file": file, "duration_ms": r.duration_ms, "cache_hits": r.cache_hits, "report": pdf.map(rel), "nodes": nodes})
}

pub fn run(a: Args) -> u8 {
    for (flag, value) in [("--backend", &a.backend), ("--policy", &a.policy)] {
        if let Some(v) = value {
            let allowed: &[&str] =
                if flag == "--backend" { &["local", "slurm", "k8s"] } else { &["local_first", "remote_first", "auto"] };
            if !allowed.contains(&v.as_str()) {
                eprintln!("error: `{flag} {v}` is not one of: {}", allowed.join(", "));
                return exit::USAGE;
            }
        }
    }
    let loaded = match common::load(&a.file, &a.opts) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let checked = loaded.db.check(loaded.file);
    let text = loaded.file.text(&loaded.db);
    common::print_diagnostics(&checked.diagnostics, &loaded.path, text);
    if checked.has_errors() {
        eprintln!("{}: not run: it has errors", loaded.path);
        return exit::INVALID;
    }
    let dir = experiment_dir(Path::new(&a.file));
    let store = match open_store(&dir) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let _lock = if a.dry_run {
        None
    } else {
        match store.lock(&|| eprintln!("phx: another run holds {}; waiting for it to finish", store.root.display())) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: {e}\n  help: {}", e.hint());
                return exit::ENVIRONMENT;
            }
        }
    };
    let file = relative_file(Path::new(&a.file), &dir);
    let reports = if a.dry_run {
        Vec::new()
    } else {
        match super::report::prepare(&checked, Path::new(&a.file), &file) {
            Ok(r) => r,
            Err(code) => return code,
        }
    };
    let config = match phx_backends::ClusterConfig::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n  help: see the comments `phx init` writes into phx.toml");
            return exit::USAGE;
        }
    };
    let plan = match super::cluster::plan(&config, a.backend.as_deref(), a.policy.as_deref(), &checked.dag) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let jobs = a
        .jobs
        .or(config.run.jobs.filter(|j| *j > 0))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(jobs.clamp(1, 8)).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the scheduler: {e}");
            return exit::ENVIRONMENT;
        }
    };
    let program = std::sync::Arc::new(super::cluster::program_of(&loaded));
    // The compiler's memos are not needed from here on (the DAG lives in
    // `checked`): freed now, their memory serves the run instead of adding
    // to its peak.
    drop(loaded);
    let remote = if a.dry_run {
        None
    } else {
        match rt.block_on(super::cluster::connect(&config, &plan, program.clone(), &dir)) {
            Ok(r) => r,
            Err(code) => return code,
        }
    };
    let opts = RunOptions {
        file: file.clone(),
        experiment_dir: dir.clone(),
        jobs,
        targets: a.target.clone(),
        no_cache: a.no_cache,
        dry_run: a.dry_run,
        keep_components: false,
        settings: json!({"set": a.opts.set, "allow_large": a.opts.allow_large, "jobs": jobs, "targets": a.target, "no_cache": a.no_cache, "policy": plan.policy, "backend": plan.cluster.as_deref().unwrap_or("local")}),
        policy: plan.policy.clone(),
        cluster: plan.cluster.clone(),
        remote,
        remote_jobs: match plan.cluster.as_deref() {
            Some("k8s") => config.k8s.as_ref().and_then(|k| k.max_jobs),
            _ => config.slurm.as_ref().and_then(|s| s.max_jobs),
        }
        .unwrap_or(100),
        program: Some(program),
    };
    let cancel = cancel_on_signals(&rt);
    let registry = phx_stdlib::registry();
    let total =
        phx_runtime::scheduler::selected(&checked.dag, &a.target).map_or(checked.dag.vertices.len(), |s| s.len());
    let live =
        std::io::stderr().is_terminal() && a.format == TextOrJson::Text && std::env::var_os("NO_COLOR").is_none();
    let progress = super::progress::Progress::new(total.max(1), live);
    let on_event = |e: Event| progress.event(e, outcome_line);
    let report = rt.block_on(phx_runtime::run(&checked.dag, store.clone(), &registry, opts, cancel, &on_event));
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(phx_runtime::scheduler::RunError::Usage(msg)) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
        Err(phx_runtime::scheduler::RunError::Store(e)) => {
            eprintln!("error: {e}\n  help: {}", e.hint());
            return exit::ENVIRONMENT;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ENVIRONMENT;
        }
    };
    let mut report_ok = true;
    let pdf = if reports.is_empty() {
        None
    } else if report.status != "succeeded" {
        eprintln!("phx: no report: the run {}", report.status);
        None
    } else {
        match super::report::write_for_run(&store, &report.run_id, &reports) {
            Ok(p) => p,
            Err(e) => {
                super::report::print_error(&e);
                report_ok = false;
                None
            }
        }
    };
    match a.format {
        TextOrJson::Json => common::print_json(&report_json(&report, &file, &dir, pdf.as_deref())),
        TextOrJson::Text => {
            let ran = report.nodes.iter().filter(|n| n.status == "succeeded" && !n.cached).count();
            let failed = report.nodes.iter().filter(|n| n.status == "failed").count();
            let skipped = report.nodes.iter().filter(|n| matches!(n.status.as_str(), "skipped" | "cancelled")).count();
            let verb = if a.dry_run { "plan" } else { "run" };
            if !a.dry_run && report.nodes.len() <= 200 {
                common::out(&super::progress::summary_table(&report));
            }
            common::out(&format!(
                "{verb} {}: {} in {} ms: {ran} ran, {} cached, {failed} failed, {skipped} skipped or cancelled\n",
                report.run_id, report.status, report.duration_ms, report.cache_hits
            ));
            if let Some(p) = &pdf {
                // Relative to where the user stands, so it can be opened as printed.
                let here = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
                let shown = here.as_deref().and_then(|h| p.strip_prefix(h).ok()).unwrap_or(p);
                common::out(&format!("report {}\n", shown.display()));
            }
        }
    }
    let ok = report.status == "succeeded" && report_ok;
    common::release_at_exit(checked);
    if ok { exit::OK } else { exit::INVALID }
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The experiment.
    file: String,
    /// The node (all instances of a sweep).
    node: String,
    #[command(flatten)]
    opts: CompileOpts,
    #[arg(long, value_enum, default_value_t)]
    format: TextOrJson,
}

/// `phx explain FILE NODE`: why a node would run again.
pub fn explain(a: ExplainArgs) -> u8 {
    let loaded = match common::load(&a.file, &a.opts) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let checked = loaded.db.check(loaded.file);
    if checked.has_errors() {
        common::print_diagnostics(&checked.diagnostics, &loaded.path, loaded.file.text(&loaded.db));
        return exit::INVALID;
    }
    let dir = experiment_dir(Path::new(&a.file));
    let store = match open_store(&dir) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = RunOptions {
        targets: vec![a.node.clone()],
        dry_run: true,
        keep_components: true,
        settings: json!({}),
        ..RunOptions::local(relative_file(Path::new(&a.file), &dir), dir, 1)
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return exit::ENVIRONMENT;
        }
    };
    let (_tx, cancel) = tokio::sync::watch::channel(false);
    let report =
        match rt.block_on(phx_runtime::run(&checked.dag, store, &phx_stdlib::registry(), opts, cancel, &|_| {})) {
            Ok(r) => r,
            Err(phx_runtime::scheduler::RunError::Usage(msg)) => {
                eprintln!("error: {msg}");
                return exit::USAGE;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::ENVIRONMENT;
            }
        };
    let mine: Vec<&NodeOutcome> = report.nodes.iter().filter(|n| n.node == a.node || n.id == a.node).collect();
    if a.format == TextOrJson::Json {
        let nodes: Vec<Json> = mine
            .iter()
            .map(|n| json!({"id": n.id, "tool": n.tool, "cached": n.status == "cached", "why": n.why}))
            .collect();
        common::print_json(&json!({"node": a.node, "instances": nodes}));
        return exit::OK;
    }
    let mut text = String::new();
    for n in mine {
        if n.status == "cached" {
            text.push_str(&format!(
                "{} ({}): cached; every key component is unchanged, so it will not run\n",
                n.id, n.tool
            ));
            continue;
        }
        text.push_str(&format!("{} ({}) will run:\n", n.id, n.tool));
        for w in &n.why {
            text.push_str(&format!("  - {w}\n"));
        }
        if let Some(c) = &n.components {
            text.push_str("  key components (* changed):\n");
            let changed = |what: &str| n.why.iter().any(|w| w.contains(what));
            let mark = |b: bool| if b { "*" } else { " " };
            let s = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("").to_string();
            text.push_str(&format!("  {} tool {} version {}\n", mark(changed("tool")), s("tool"), s("tool_version")));
            text.push_str(&format!(
                "  {} code version {}\n",
                mark(changed("implementation")),
                short(&s("code_version"))
            ));
            text.push_str(&format!("  {} device {}\n", mark(changed("device")), s("device")));
            if let Some(args) = c.get("args").and_then(Json::as_object) {
                for (name, a) in args {
                    let shown = a.get("display").and_then(Json::as_str).unwrap_or("");
                    let is_input = c.get("inputs").and_then(|i| i.get(name)).is_some();
                    let hit = changed(&format!("argument {name} ")) || (is_input && changed(&format!("input {shown}")));
                    text.push_str(&format!(
                        "  {} {} {name} = {shown}\n",
                        mark(hit),
                        if is_input { "input" } else { "argument" }
                    ));
                }
            }
        }
    }
    common::out(&text);
    exit::OK
}

#[derive(clap::Args)]
pub struct RunsArgs {
    /// The experiment folder (default: the current folder).
    #[arg(long, default_value = ".")]
    dir: String,
    #[arg(long, value_enum, default_value_t)]
    format: TextOrJson,
}

/// `phx runs`: past runs, newest first.
pub fn runs(a: RunsArgs) -> u8 {
    let store = match open_store(Path::new(&a.dir)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rows = match store.db.runs() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ENVIRONMENT;
        }
    };
    if a.format == TextOrJson::Json {
        let list: Vec<Json> = rows
            .iter()
            .map(|r| json!({"run_id": r.id, "file": r.file, "status": r.status, "started_at": r.started_at, "finished_at": r.finished_at, "host": r.host, "git_commit": r.git_commit, "git_dirty": r.git_dirty}))
            .collect();
        common::print_json(&json!({"runs": list}));
        return exit::OK;
    }
    let mut text = format!("{:<22} {:<10} {:<24} {}\n", "RUN", "STATUS", "STARTED", "FILE");
    for r in rows {
        text.push_str(&format!("{:<22} {:<10} {:<24} {}\n", r.id, r.status, r.started_at, r.file));
    }
    common::out(&text);
    exit::OK
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// A run id (or a unique prefix of one).
    run: String,
    #[arg(long, default_value = ".")]
    dir: String,
    #[arg(long, value_enum, default_value_t)]
    format: TextOrJson,
}

/// `phx show RUN`: one run's nodes, devices, durations, artifacts.
pub fn show(a: ShowArgs) -> u8 {
    let store = match open_store(Path::new(&a.dir)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Ok(Some(run)) = store.db.run(&a.run) else {
        eprintln!("error: no run `{}` in {}\n  help: `phx runs` lists them", a.run, store.root.display());
        return exit::INVALID;
    };
    let execs = store.db.executions(&run.id).unwrap_or_default();
    let mut nodes = Vec::new();
    let mut text =
        format!("run {} ({}) of {}, started {}, host {}\n", run.id, run.status, run.file, run.started_at, run.host);
    if let Some(c) = &run.git_commit {
        text.push_str(&format!("git {}{}\n", short(c), if run.git_dirty == Some(true) { " (dirty)" } else { "" }));
    }
    for e in &execs {
        let outs = store.db.outputs(e.id).unwrap_or_default();
        text.push_str(&format!(
            "  {:<24} {:<10} {:<6} {:>7} ms  {}{}\n",
            e.vertex,
            e.status,
            e.device.as_deref().unwrap_or("-"),
            e.duration_ms.unwrap_or(0),
            if e.cached { "cached " } else { "" },
            outs.iter().map(|o| format!("{}={}", o.name, short(&o.sha256))).collect::<Vec<_>>().join(" ")
        ));
        if e.backend != "local" || e.job_id.is_some() {
            text.push_str(&format!(
                "      on {}{}: {}\n",
                e.backend,
                e.job_id.as_ref().map(|j| format!(" job {j}")).unwrap_or_default(),
                e.placement.as_deref().unwrap_or("")
            ));
        }
        if let Some(err) = &e.error {
            text.push_str(&format!("      error: {}\n", err.lines().next().unwrap_or("")));
        }
        nodes.push(json!({
            "id": e.vertex, "tool": e.tool, "status": e.status, "cached": e.cached, "device": e.device, "fallback": e.fallback,
            "backend": e.backend, "job_id": e.job_id, "placement": e.placement, "duration_ms": e.duration_ms, "attempt": e.attempt, "error": e.error,
            "outputs": outs.iter().map(|o| (o.name.clone(), json!({"kind": o.kind, "sha256": o.sha256}))).collect::<serde_json::Map<_, _>>(),
        }));
    }
    match a.format {
        TextOrJson::Json => common::print_json(
            &json!({"run_id": run.id, "status": run.status, "file": run.file, "started_at": run.started_at, "finished_at": run.finished_at, "nodes": nodes}),
        ),
        TextOrJson::Text => common::out(&text),
    }
    exit::OK
}
