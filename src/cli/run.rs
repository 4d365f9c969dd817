//! `phx run`, `phx explain`, `phx runs`, `phx show`: the runtime's commands.

use std::io::IsTerminal;
use std::path::Path;

use phx_app::run::{
    Cancellation, Event, LISTED_VERTICES_AT_MOST, NodeOutcome, NodeStatus, Observer, RunResult, RunSettings, thousands,
};
use phx_app::{BackendKind, Experiment, Policy};

use super::common::{self, CompileOpts, DirArg, FormatArg, TextOrJson};
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
    /// Every instance of a sweep on its own lines (as it is decided, or
    /// starts and ends), not one line per sweep: in a plan, and in a run
    /// of more than 200 vertices.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Ignore the cache (outputs are still stored).
    #[arg(long)]
    no_cache: bool,
    /// `local_first` (run here unless a node needs what this machine lacks),
    /// `remote_first` (every node to the cluster) or `auto` (heavy nodes to
    /// the cluster). Default: the experiment's `policy`, else `[run] policy`
    /// of phx.toml, else `local_first`.
    #[arg(long, value_enum)]
    policy: Option<Policy>,
    /// `local` (everything here), `slurm` (the cluster of phx.toml's
    /// `[slurm]`; with no policy given, every node goes there) or `k8s`.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    #[command(flatten)]
    format: FormatArg,
}

/// Cancels `cancel` on SIGINT or SIGTERM (a thread of its own: the run
/// owns its runtime).
fn cancel_on_signals(cancel: Cancellation) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            eprintln!("phx: stopping: no new nodes start; running ones are ended and recorded as cancelled");
            cancel.cancel();
        });
    });
}

fn short(s: &str) -> &str {
    &s[..12.min(s.len())]
}

fn outcome_line(o: &NodeOutcome) -> String {
    let mut line = match o.status {
        NodeStatus::Succeeded if o.cached => format!("cached    {} ({})", o.id, o.tool),
        NodeStatus::Succeeded => format!(
            "done      {} ({}) in {} ms on {}{}",
            o.id,
            o.tool,
            o.duration_ms,
            o.device.as_deref().unwrap_or("cpu"),
            o.job_id.as_ref().map(|j| format!(" ({} job {j})", o.backend)).unwrap_or_default()
        ),
        NodeStatus::WouldRun if o.backend != BackendKind::Local => format!(
            "would run {} ({}) on {}: {}\n          placement: {}",
            o.id,
            o.tool,
            o.backend,
            o.why.join("; "),
            o.placement.as_deref().unwrap_or("")
        ),
        NodeStatus::WouldRun => format!("would run {} ({}): {}", o.id, o.tool, o.why.join("; ")),
        NodeStatus::Cached => format!("cached    {} ({})", o.id, o.tool),
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

/// `phx run FILE`.
pub fn run(a: Args) -> u8 {
    let program = match common::load(&a.file, &a.opts) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let checked = program.check();
    common::print_checked(&checked);
    if checked.has_errors() {
        eprintln!("{}: not run: it has errors", checked.path);
        return exit::INVALID;
    }
    let exp = match Experiment::of_program(Path::new(&a.file)) {
        Ok(e) => e,
        Err(e) => return common::fail(&e),
    };
    // JSON is written as each vertex's entry is final (a million entries
    // are never held at once); the run then keeps its sweeps folded.
    let stream =
        (a.format.format == TextOrJson::Json).then(|| std::sync::Arc::new(super::json_stream::RunStream::new()));
    let total = phx_app::run::vertex_count(&checked, &a.target);
    let settings = RunSettings {
        jobs: a.jobs,
        targets: a.target.clone(),
        dry_run: a.dry_run,
        no_cache: a.no_cache,
        // Read at the terminal, a plan or a run too large for a table
        // counts a sweep's instances that went well; `--verbose` lists
        // each. JSON lists every instance, streamed, while the run keeps
        // them folded.
        fold_sweeps: match a.format.format {
            TextOrJson::Text => !a.verbose && (a.dry_run || total > LISTED_VERTICES_AT_MOST),
            TextOrJson::Json => stream.is_some(),
        },
        policy: a.policy,
        backend: a.backend,
        mounts: Vec::new(),
        // The person at the terminal may make phx do anything they can.
        grants: phx_app::trust::Grants::all(),
    };
    let cancel = Cancellation::new();
    cancel_on_signals(cancel.clone());
    let live = std::io::stderr().is_terminal()
        && a.format.format == TextOrJson::Text
        && std::env::var_os("NO_COLOR").is_none();
    // A large run counts each sweep's instances as they finish, as its
    // summary does, rather than a line for each.
    let counted = if !a.verbose && !a.dry_run && total > LISTED_VERTICES_AT_MOST {
        phx_app::run::sweep_sizes(&checked, &a.target)
    } else {
        Vec::new()
    };
    let progress = super::progress::Progress::new(total.max(1), live, &counted);
    // A plan is summarised by sweep at the end; only `--verbose` lists
    // every instance as it is decided.
    let quiet_plan = a.dry_run && !a.verbose;
    let on_event = |e: Event| {
        if !quiet_plan {
            progress.event(e, outcome_line)
        }
    };
    let on_note = |text: &str| progress.note(text);
    let on_result = stream.clone().map(|s| -> phx_app::run::ResultSink { std::sync::Arc::new(move |e| s.node(&e)) });
    let observer = Observer { on_event: &on_event, on_note: &on_note, on_result };
    let result = phx_app::run::run(&exp, program, &checked, &settings, &observer, &cancel);
    progress.finish();
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(s) = &stream {
                s.abort(&e);
            }
            return common::fail(&e);
        }
    };
    if let Some(e) = &result.report_error {
        eprintln!("{e}");
    }
    let ok = result.ok();
    // JSON is streamed (`stream` is there exactly then).
    match &stream {
        Some(s) => s.finish(result),
        None => {
            print_summary(&result, a.dry_run, a.verbose, &exp, &checked);
            common::release_at_exit(result);
        }
    }
    common::release_at_exit(checked);
    if ok { exit::OK } else { exit::INVALID }
}

fn print_summary(r: &RunResult, dry_run: bool, verbose: bool, exp: &Experiment, checked: &phx_app::program::Checked) {
    let ran = r.ran();
    let failed = r.count(NodeStatus::Failed);
    let skipped = r.count(NodeStatus::Skipped) + r.count(NodeStatus::Cancelled);
    let verb = if dry_run { "plan" } else { "run" };
    if dry_run || !r.families.is_empty() || r.nodes.len() > LISTED_VERTICES_AT_MOST {
        // By node, a sweep's instances counted; what went wrong below.
        common::out(&plan_summary(r, checked));
        if !dry_run {
            common::out(&failures(r));
        }
    } else {
        common::out(&super::progress::summary_table(r));
    }
    if dry_run {
        let would = r.count(NodeStatus::WouldRun);
        let cached = r.count(NodeStatus::Cached);
        common::out(&format!(
            "plan: {} would run, {} cached ({} ms{})\n",
            thousands(would),
            thousands(cached),
            r.duration_ms,
            if verbose { "" } else { "; --verbose lists every instance" }
        ));
        return;
    }
    common::out(&format!(
        "{verb} {}: {} in {} ms: {} ran, {} cached, {} failed, {} skipped or cancelled\n",
        r.run_id,
        r.status,
        r.duration_ms,
        thousands(ran),
        thousands(r.cache_hits),
        thousands(failed),
        thousands(skipped)
    ));
    // Relative to where the user stands, so it can be opened as printed.
    let here = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    let shown = |p: &str| {
        let p = exp.absolute(p);
        here.as_deref().and_then(|h| p.strip_prefix(h).ok()).unwrap_or(&p).display().to_string()
    };
    let placed = r.placed_results;
    if placed > 0 {
        let dir = exp.dir.join(phx_app::results::RESULTS_DIR);
        let files = if placed == 1 { "file" } else { "files" };
        common::out(&format!(
            "results {}/ ({} {files} by name)\n",
            shown(&dir.display().to_string()),
            thousands(placed)
        ));
    }
    if let Some(p) = &r.report {
        common::out(&format!("report {}\n", shown(p)));
    }
}

/// The first vertices that failed (or were skipped, or cancelled), with
/// the first line of why, and how many more.
fn failures(r: &RunResult) -> String {
    const SHOWN: usize = 20;
    let bad: Vec<&phx_app::run::NodeResult> =
        r.nodes.iter().filter(|n| !matches!(n.status, NodeStatus::Succeeded)).collect();
    let mut text = String::new();
    for n in bad.iter().take(SHOWN) {
        text.push_str(&format!("  {} {}", n.status, n.id));
        if let Some(why) = n.error.as_deref().map(phx_app::history::first_words).filter(|w| !w.is_empty()) {
            text.push_str(&format!(": {why}"));
        }
        text.push('\n');
    }
    if bad.len() > SHOWN {
        text.push_str(&format!("  ... and {} more\n", thousands(bad.len() - SHOWN)));
    }
    text
}

/// A plan or a run, one line per node and one per sweep (not per instance): how
/// many instances would run for each reason, and how many are cached.
/// `sim[0..1000000]  sim.step  999,998 would run (it has never run before), 2 cached`
pub fn plan_summary(r: &RunResult, checked: &phx_app::program::Checked) -> String {
    let rows = phx_app::run::plan_rows(r, checked);
    let w = rows.iter().map(|r| r.label.chars().count()).max().unwrap_or(4);
    let tw = rows.iter().map(|r| r.tool.chars().count()).max().unwrap_or(4);
    let mut text = String::with_capacity(rows.len() * 80);
    for row in rows {
        text.push_str(&format!("{:<w$}  {:<tw$}  {}\n", row.label, row.tool, row.parts.join(", ")));
    }
    text
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The experiment.
    file: String,
    /// The node (all instances of a sweep).
    node: String,
    #[command(flatten)]
    opts: CompileOpts,
    #[command(flatten)]
    format: FormatArg,
}

/// `phx explain FILE NODE`: why a node would run again.
pub fn explain(a: ExplainArgs) -> u8 {
    let program = match common::load(&a.file, &a.opts) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let checked = program.check();
    if checked.has_errors() {
        common::print_checked(&checked);
        return exit::INVALID;
    }
    let exp = match Experiment::of_program(Path::new(&a.file)) {
        Ok(e) => e,
        Err(e) => return common::fail(&e),
    };
    let explanation = match phx_app::run::explain(&exp, &program, &checked, &a.node) {
        Ok(x) => x,
        Err(e) => return common::fail(&e),
    };
    if a.format.format == TextOrJson::Json {
        common::print_value(&explanation);
        return exit::OK;
    }
    let mut text = String::new();
    for n in &explanation.instances {
        if n.cached {
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
            let s = |k: &str| c.get(k).and_then(serde_json::Value::as_str).unwrap_or("").to_string();
            text.push_str(&format!("  {} tool {} version {}\n", mark(changed("tool")), s("tool"), s("tool_version")));
            text.push_str(&format!(
                "  {} code version {}\n",
                mark(changed("implementation")),
                short(&s("code_version"))
            ));
            text.push_str(&format!("  {} device {}\n", mark(changed("device")), s("device")));
            if let Some(args) = c.get("args").and_then(serde_json::Value::as_object) {
                for (name, a) in args {
                    let shown = a.get("display").and_then(serde_json::Value::as_str).unwrap_or("");
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
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    format: FormatArg,
}

/// `phx runs`: past runs, newest first.
pub fn runs(a: RunsArgs) -> u8 {
    let exp = match a.dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    let rows = match phx_app::history::runs(&exp) {
        Ok(r) => r,
        Err(e) => return common::fail(&e),
    };
    if a.format.format == TextOrJson::Json {
        common::print_json(&serde_json::json!({"runs": rows}));
        return exit::OK;
    }
    let mut text = format!("{:<22} {:<10} {:<24} {}\n", "RUN", "STATUS", "STARTED", "FILE");
    for r in rows {
        text.push_str(&format!("{:<22} {:<10} {:<24} {}\n", r.run_id, r.status, r.started_at, r.file));
    }
    common::out(&text);
    exit::OK
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// A run id (or a unique prefix of one).
    run: String,
    /// Every instance of every sweep on its own lines (a sweep of more
    /// than a few instances is otherwise one line).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    format: FormatArg,
}

/// One summary per sweep with more than `limit` instances, by node name,
/// as text: its states, cache hits, median time and devices, and the first
/// few failures.
fn large_families(nodes: &[phx_app::history::RecordedNode], limit: usize) -> std::collections::HashMap<String, String> {
    let facts = nodes.iter().map(|n| phx_app::history::InstanceFacts {
        id: &n.id,
        status: n.status.as_str(),
        cached: n.cached,
        duration_ms: n.duration_ms,
        device: n.device.as_deref(),
        error: n.error.as_deref(),
    });
    phx_app::history::summarise_families(facts, limit)
        .into_iter()
        .map(|(family, s)| {
            let mut text = format!("  {family}[…] {}\n", s.line());
            for (id, status, err) in &s.failures {
                text.push_str(&format!("      {id} {status}: {err}\n"));
            }
            if s.more_failures > 0 {
                text.push_str(&format!("      and {} more; phx show RUN --all lists them\n", s.more_failures));
            }
            (family, text)
        })
        .collect()
}

/// `phx show RUN`: one run's nodes, devices, durations, artifacts.
pub fn show(a: ShowArgs) -> u8 {
    let exp = match a.dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    let run = match phx_app::history::show(&exp, &a.run) {
        Ok(r) => r,
        Err(e) => return common::fail(&e),
    };
    if a.format.format == TextOrJson::Json {
        common::print_value(&run);
        return exit::OK;
    }
    let mut text =
        format!("run {} ({}) of {}, started {}, host {}\n", run.run_id, run.status, run.file, run.started_at, run.host);
    if let Some(c) = &run.git_commit {
        text.push_str(&format!("git {}{}\n", short(c), if run.git_dirty == Some(true) { " (dirty)" } else { "" }));
    }
    let families = large_families(&run.nodes, if a.all { usize::MAX } else { phx_app::history::SHOWN_INSTANCES });
    let mut summarised = std::collections::HashSet::new();
    for e in &run.nodes {
        let family = phx_app::history::family_of(&e.id);
        if let Some(summary) = families.get(family) {
            if summarised.insert(family) {
                text.push_str(summary);
            }
            continue;
        }
        text.push_str(&format!(
            "  {:<24} {:<10} {:<6} {:>7} ms  {}{}\n",
            e.id,
            e.status,
            e.device.as_deref().unwrap_or("-"),
            e.duration_ms.unwrap_or(0),
            if e.cached { "cached " } else { "" },
            e.outputs.iter().map(|(name, o)| format!("{name}={}", short(&o.sha256))).collect::<Vec<_>>().join(" ")
        ));
        for (name, o) in &e.outputs {
            let meta = common::meta_line(&o.meta);
            if !meta.is_empty() {
                text.push_str(&format!("      {name:<20} {:<9} {meta}\n", o.kind));
            }
        }
        if e.backend != BackendKind::Local || e.job_id.is_some() {
            text.push_str(&format!(
                "      on {}{}: {}\n",
                e.backend,
                e.job_id.as_ref().map(|j| format!(" job {j}")).unwrap_or_default(),
                e.placement.as_deref().unwrap_or("")
            ));
        }
        if let Some(err) = &e.error {
            text.push_str(&format!("      error: {}\n", phx_app::history::first_words(err)));
        }
    }
    common::out(&text);
    exit::OK
}
