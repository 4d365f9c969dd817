//! Running a program (and planning it: a dry run), with progress events
//! and cancellation; the result in the shape of `phx run --format json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use phx_runtime::scheduler::{Event, NodeOutcome};
use phx_runtime::scheduler::{OutputInfo, RunOptions, RunReport};
pub use phx_runtime::status::{NodeStatus, RunStatus};
pub use phx_runtime::tally::{FamilyTally, TallyGroup};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::cluster::{self, BackendKind, Policy};
use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;
use crate::program::{Checked, Program};

/// How to run a program.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct RunSettings {
    /// Nodes at once (default: `[run] jobs`, else the machine's cores).
    pub jobs: Option<usize>,
    /// Only these nodes and their ancestors.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Plan only: which nodes would run and why; run nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Ignore the cache (outputs are still stored).
    #[serde(default)]
    pub no_cache: bool,
    /// Count each sweep's instances that went well (would run or cached in
    /// a plan, succeeded in a run) by status and reason (`families` of the
    /// result) instead of listing each in `nodes`; an instance that failed,
    /// was skipped or cancelled is still listed. A run of a million holds
    /// a few counts instead of a million outcomes.
    #[serde(default)]
    pub fold_sweeps: bool,
    pub policy: Option<Policy>,
    pub backend: Option<BackendKind>,
    /// Volumes every cluster job of the run mounts (Kubernetes).
    #[serde(skip)]
    #[schemars(skip)]
    pub mounts: Vec<phx_backends::Mount>,
    /// What the caller may make the run do (none by default; the command
    /// line has every grant).
    #[serde(skip)]
    #[schemars(skip)]
    pub grants: crate::trust::Grants,
}

/// Asks a run to stop: no new node starts, running ones are ended and
/// recorded as cancelled, cluster jobs are cancelled.
#[derive(Clone, Debug)]
pub struct Cancellation(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Cancellation {
    fn default() -> Self {
        Cancellation(Arc::new(tokio::sync::watch::channel(false).0))
    }
}

impl Cancellation {
    /// A token nobody has cancelled yet.
    pub fn new() -> Cancellation {
        Cancellation::default()
    }

    /// Cancels (idempotent).
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// What the scheduler watches.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// Takes each vertex's entry of a run's result as soon as it is final (a
/// succeeded one once its outputs are in `results/`), possibly on another
/// thread: a run of a million is written out as it goes, not held.
pub type ResultSink = Arc<dyn Fn(NodeResult) + Send + Sync>;

/// What a run tells its caller while it goes: the scheduler's events, and
/// notes a person should read (the cluster connected, a warning).
pub struct Observer<'a> {
    pub on_event: &'a (dyn Fn(Event) + Sync),
    pub on_note: &'a (dyn Fn(&str) + Sync),
    /// Every vertex's entry, listed or folded, in the order they are final.
    pub on_result: Option<ResultSink>,
}

impl Observer<'static> {
    /// An observer that ignores everything.
    pub fn silent() -> Observer<'static> {
        Observer { on_event: &|_| {}, on_note: &|_| {}, on_result: None }
    }
}

/// One output of a node.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct OutputResult {
    /// Its type: `Field3D`, `Image`, `Series`, `Float`, ...
    pub kind: String,
    pub sha256: String,
    /// Relative to the experiment folder, or absolute.
    pub path: String,
    /// Scalar outputs carry their value inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Json>,
    /// What the tool says of it (the graphics contract: `device`, `dtype`,
    /// `samples`, `mesh`, `duration_ms`, `sha256`, `bytes`, ...), with
    /// `cached` (whether this run took it from the cache).
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub meta: Json,
    /// Where the output is by name, in the experiment's `results/`
    /// (`results/slice/image.png`); absent in a plan and for outputs of
    /// vertices that did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// A picture: PNG with its SVG twin.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct StaticVisual {
    pub png: String,
    pub svg: Option<String>,
}

/// An animation with its thumbnail strip.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AnimationVisual {
    pub file: String,
    pub format: Option<Json>,
    pub thumbnails: Option<String>,
}

/// A node's visual outputs by the graphics contract.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct Visuals {
    #[serde(rename = "static")]
    pub statics: Vec<StaticVisual>,
    pub series: Vec<String>,
    pub animation: Vec<AnimationVisual>,
}

/// One vertex of a run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NodeResult {
    pub id: String,
    pub tool: String,
    /// `succeeded`, `failed`, `cancelled`, `skipped`; in a plan `cached` or `would-run`.
    pub status: NodeStatus,
    pub cached: bool,
    pub device: Option<String>,
    /// Why it ran on the CPU although it asked for a GPU.
    pub fallback: Option<String>,
    pub backend: BackendKind,
    pub job_id: Option<String>,
    pub placement: Option<String>,
    pub duration_ms: u64,
    pub attempts: u32,
    pub outputs: BTreeMap<String, OutputResult>,
    pub visuals: Visuals,
    pub error: Option<String>,
    /// Why it runs (in a plan) or ran.
    pub why: Vec<String>,
}

/// A run (or a plan): the CLI spec's `phx run --format json`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunResult {
    pub run_id: String,
    /// `succeeded`, `failed` or `cancelled`.
    pub status: RunStatus,
    /// The program, relative to the experiment folder.
    pub file: String,
    pub duration_ms: u64,
    pub cache_hits: usize,
    /// The report's PDF, when the program has a `report` block.
    pub report: Option<String>,
    pub nodes: Vec<NodeResult>,
    /// With `fold_sweeps`: each sweep's instances that went well, counted
    /// by status and reason (those instances are not in `nodes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<FamilyTally>,
    /// Why the report could not be written, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_error: Option<String>,
    /// How many files this run placed (or found already in place) in the
    /// experiment's `results/`, folded instances' included.
    #[serde(default)]
    pub placed_results: usize,
}

impl RunResult {
    /// Whether the run and its report succeeded.
    pub fn ok(&self) -> bool {
        self.status == RunStatus::Succeeded && self.report_error.is_none()
    }

    /// How many vertices ended with `status`, listed or folded.
    pub fn count(&self, status: NodeStatus) -> usize {
        self.nodes.iter().filter(|n| n.status == status).count()
            + self.families.iter().map(|f| f.with_status(status)).sum::<usize>()
    }

    /// How many vertices succeeded by running (not from the cache).
    pub fn ran(&self) -> usize {
        self.nodes.iter().filter(|n| n.status == NodeStatus::Succeeded && !n.cached).count()
            + self
                .families
                .iter()
                .flat_map(|f| &f.groups)
                .filter(|g| g.status == NodeStatus::Succeeded && !g.cached)
                .map(|g| g.count)
                .sum::<usize>()
    }
}

/// One line of a plan or of a run's summary: a node, or a sweep with its
/// instances counted.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct PlanRow {
    /// `name`, `name[lo..hi]` for a sweep's contiguous instances, or
    /// `name[N instances]`.
    pub label: String,
    pub tool: String,
    /// What becomes (or became) of it: `would run (it has never run
    /// before)`, or for a sweep `999,998 would run (...)`, `2 cached`; in a
    /// run `ran (...)`, `cached`, `failed`: what runs first, then what is
    /// cached, then the rest.
    pub parts: Vec<String>,
}

/// A plan (or a run) by node: one row per node and per sweep (not per instance),
/// counting a sweep's instances by status and reason, in the program's
/// order. Listed instances and folded ones count alike.
pub fn plan_rows(r: &RunResult, checked: &Checked) -> Vec<PlanRow> {
    /// At most this many reasons are spelt out for one sweep.
    const SHOWN: usize = 4;
    #[derive(Default)]
    struct Family {
        tool: String,
        sweep: bool,
        count: usize,
        lowest: usize,
        highest: usize,
        groups: BTreeMap<(u8, String), usize>,
    }
    fn what(status: NodeStatus, cached: bool, backend: BackendKind, why: &[String]) -> (u8, String) {
        let place = if backend == BackendKind::Local { String::new() } else { format!(" on {backend}") };
        let why: Vec<String> = why.iter().map(|w| phx_runtime::tally::instance_free(w)).collect();
        let reason = if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) };
        match status {
            NodeStatus::WouldRun => (0, format!("would run{place}{reason}")),
            NodeStatus::Cached => (1, "cached".to_string()),
            NodeStatus::Succeeded if cached => (1, "cached".to_string()),
            NodeStatus::Succeeded => (0, format!("ran{place}{reason}")),
            other => (2, other.as_str().to_string()),
        }
    }
    fn seen<'f>(
        families: &'f mut BTreeMap<String, Family>,
        name: &str,
        tool: &str,
        index: Option<usize>,
        n: usize,
    ) -> &'f mut Family {
        let f = families.entry(name.to_string()).or_insert_with(|| Family {
            tool: tool.to_string(),
            lowest: usize::MAX,
            ..Family::default()
        });
        f.count += n;
        if let Some(i) = index {
            f.sweep = true;
            f.lowest = f.lowest.min(i);
            f.highest = f.highest.max(i);
        }
        f
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for n in &r.nodes {
        let (name, index) = phx_store::parse_vertex_id(&n.id).unwrap_or((n.id.as_str(), None));
        let f = seen(&mut families, name, &n.tool, index, 1);
        *f.groups.entry(what(n.status, n.cached, n.backend, &n.why)).or_default() += 1;
    }
    for t in &r.families {
        let f = seen(&mut families, &t.node, &t.tool, Some(t.lowest), t.count);
        f.highest = f.highest.max(t.highest);
        for g in &t.groups {
            *f.groups.entry(what(g.status, g.cached, g.backend, &g.why)).or_default() += g.count;
        }
    }
    let dag = &checked.checked.dag;
    let place = |name: &str| dag.families.iter().position(|f| f.name() == name).unwrap_or(usize::MAX);
    let mut order: Vec<(&String, &Family)> = families.iter().collect();
    order.sort_by_key(|(name, _)| place(name));
    order
        .into_iter()
        .map(|(name, f)| {
            let label = match f.sweep {
                false => name.clone(),
                true if f.lowest == f.highest => format!("{name}[{}]", f.lowest),
                true if f.highest - f.lowest + 1 == f.count => format!("{name}[{}..{}]", f.lowest, f.highest + 1),
                true => format!("{name}[{} instances]", thousands(f.count)),
            };
            let mut parts: Vec<String> = f
                .groups
                .iter()
                .take(SHOWN)
                .map(|((_, what), count)| if f.sweep { format!("{} {what}", thousands(*count)) } else { what.clone() })
                .collect();
            if f.groups.len() > SHOWN {
                let rest: usize = f.groups.values().skip(SHOWN).sum();
                parts.push(format!("{} more for {} other reasons", thousands(rest), f.groups.len() - SHOWN));
            }
            PlanRow { label, tool: f.tool.clone(), parts }
        })
        .collect()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether `name` is the thumbnail strip of one of the node's animations.
fn is_thumbnail_strip(name: &str, outputs: &[OutputInfo]) -> bool {
    name.strip_suffix("_thumbnails").is_some_and(|base| outputs.iter().any(|x| x.name == base && x.kind == "Animation"))
}

/// A scheduler outcome in the result's shape (taken, not copied: a run of
/// 100,000 nodes held both shapes at once).
pub fn node_result(exp_dir: &Path, n: NodeOutcome) -> NodeResult {
    let rel =
        |p: &Path| p.strip_prefix(exp_dir).map(|x| x.display().to_string()).unwrap_or_else(|_| p.display().to_string());
    let mut outputs = BTreeMap::new();
    let mut visuals = Visuals::default();
    for o in &n.outputs {
        match o.kind.as_str() {
            "Series" => visuals.series.push(rel(&o.path)),
            // An animation's thumbnail strip belongs to the animation, not
            // to the static pictures (which come as PNG and SVG pairs).
            "Image" if is_thumbnail_strip(&o.name, &n.outputs) => {}
            "Image" => {
                let svg = n.outputs.iter().find(|x| x.name == format!("{}_svg", o.name)).map(|x| rel(&x.path));
                visuals.statics.push(StaticVisual { png: rel(&o.path), svg });
            }
            "Animation" => {
                let thumbnails =
                    n.outputs.iter().find(|x| x.name == format!("{}_thumbnails", o.name)).map(|x| rel(&x.path));
                visuals.animation.push(AnimationVisual {
                    file: rel(&o.path),
                    format: o.meta.get("format").cloned(),
                    thumbnails,
                });
            }
            _ => {}
        }
    }
    for o in n.outputs {
        let path = rel(&o.path);
        outputs.insert(
            o.name,
            OutputResult {
                kind: o.kind,
                sha256: o.sha256,
                path,
                value: o.value,
                meta: match o.meta {
                    Json::Object(mut m) => {
                        m.insert("cached".into(), Json::Bool(n.cached));
                        Json::Object(m)
                    }
                    _ => Json::Null,
                },
                result: None,
            },
        );
    }
    NodeResult {
        id: n.id,
        tool: n.tool,
        status: n.status,
        cached: n.cached,
        device: n.device,
        fallback: n.fallback,
        backend: n.backend,
        job_id: n.job_id,
        placement: n.placement,
        duration_ms: n.duration_ms,
        attempts: n.attempts,
        outputs,
        visuals,
        error: n.error,
        why: n.why,
    }
}

fn result_of(exp: &Experiment, r: RunReport, file: &str, pdf: Option<&Path>) -> RunResult {
    RunResult {
        run_id: r.run_id,
        status: r.status,
        file: file.to_string(),
        duration_ms: r.duration_ms,
        cache_hits: r.cache_hits,
        report: pdf.map(|p| exp.shown(p)),
        nodes: r.nodes.into_iter().map(|n| node_result(&exp.dir, n)).collect(),
        families: r.families,
        report_error: None,
        placed_results: 0,
    }
}

/// How many nodes run at once.
fn jobs_of(settings: &RunSettings, config: &phx_backends::ClusterConfig) -> usize {
    settings
        .jobs
        .or(config.run.jobs.filter(|j| *j > 0))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1)
}

/// How many vertices the run covers (for progress totals).
pub fn vertex_count(checked: &Checked, targets: &[String]) -> usize {
    let dag = &checked.checked.dag;
    match phx_runtime::scheduler::selected(dag, targets) {
        Ok(Some(chosen)) => chosen.len(),
        _ => dag.vertex_count(),
    }
}

/// A run of more vertices than this is summarised by sweep, not listed
/// vertex by vertex, where the caller leaves it to phx (the terminal, an
/// agent): a list of 100,000 instances is read by no one.
pub const LISTED_VERTICES_AT_MOST: usize = 200;

/// The sweeps a run covers, each with the number of its instances it
/// covers (for progress by sweep).
pub fn sweep_sizes(checked: &Checked, targets: &[String]) -> Vec<(String, usize)> {
    let dag = &checked.checked.dag;
    let sweeps = dag.families.iter().filter(|f| f.is_sweep());
    match phx_runtime::scheduler::selected(dag, targets).ok().flatten() {
        None => sweeps.map(|f| (f.name().to_string(), f.len())).collect(),
        Some(ids) => {
            let mut chosen: BTreeMap<&str, usize> = BTreeMap::new();
            for id in &ids {
                if let Some((name, Some(_))) = phx_store::parse_vertex_id(id) {
                    *chosen.entry(name).or_default() += 1;
                }
            }
            sweeps.filter_map(|f| chosen.get(f.name()).map(|n| (f.name().to_string(), *n))).collect()
        }
    }
}

/// Runs (or plans) `program`, already checked as `checked`, in `exp`.
/// Reports the program declares are written when the run succeeds.
pub fn run(
    exp: &Experiment,
    program: Program,
    checked: &Checked,
    settings: &RunSettings,
    observer: &Observer<'_>,
    cancel: &Cancellation,
) -> AppResult<RunResult> {
    if checked.has_errors() {
        return Err(checked.not_runnable());
    }
    let _lock = if settings.dry_run {
        None
    } else {
        let note = || {
            (observer.on_note)(&format!(
                "phx: another run holds {}; waiting for it to finish",
                exp.store.root.display()
            ))
        };
        match exp.store.lock_unless(&note, &|| cancel.is_cancelled())? {
            Some(lock) => Some(lock),
            None => {
                return Err(AppError::invalid("phx::cancelled", "cancelled while waiting for another run to finish")
                    .with_help("nothing ran"));
            }
        }
    };
    let program_path = Path::new(&program.path).to_path_buf();
    let file = exp.relative(&program_path);
    let reports =
        if settings.dry_run { Vec::new() } else { crate::report::prepare(&checked.checked, &program_path, &file)? };
    let config = exp.cluster_config()?;
    let mut plan = cluster::plan(&config, settings.backend, settings.policy, &checked.checked.dag)?;
    settings.grants.admit(exp, checked, settings.backend)?;
    if !settings.grants.cluster {
        // Without the grant nothing leaves this machine, whatever phx.toml
        // configures.
        plan.cluster = None;
    }
    let jobs = jobs_of(settings, &config);
    // What the nodes start ends with them, and with phx if it is killed
    // (dropped after the runtime, when every node has ended).
    let _watchdog = if settings.dry_run { None } else { crate::processes::watchdog(observer.on_note) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(1, 8))
        .enable_all()
        .build()
        .map_err(|e| AppError::environment("phx::runtime", format!("cannot start the scheduler: {e}")))?;
    let source = Arc::new(program.source());
    // The compiler's memos are not needed from here on (the DAG lives in
    // `checked`): freed now, their memory serves the run instead of adding
    // to its peak.
    drop(program);
    let remote = if settings.dry_run {
        None
    } else {
        rt.block_on(cluster::connect(&config, &plan, source.clone(), &exp.dir, &settings.mounts, observer.on_note))?
    };
    let backend_name = plan.cluster.map_or("local", BackendKind::as_str);
    let opts = RunOptions {
        file: file.clone(),
        experiment_dir: exp.dir.clone(),
        jobs,
        targets: settings.targets.clone(),
        no_cache: settings.no_cache,
        dry_run: settings.dry_run,
        keep_components: false,
        fold_instances: settings.fold_sweeps,
        settings: json!({"set": overrides_list(&source), "allow_large": source.allow_large, "jobs": jobs, "targets": settings.targets, "no_cache": settings.no_cache, "policy": plan.policy.as_str(), "backend": backend_name}),
        policy: plan.policy,
        cluster: plan.cluster,
        remote,
        remote_jobs: match plan.cluster {
            Some(BackendKind::K8s) => config.k8s.as_ref().and_then(|k| k.max_jobs),
            _ => config.slurm.as_ref().and_then(|s| s.max_jobs),
        }
        .unwrap_or(100),
        program: Some(source),
    };
    let registry = phx_stdlib::registry();
    // results/ is filled as nodes succeed, beside the scheduler's work.
    let sink = observer.on_result.clone();
    let placing = (!settings.dry_run).then(|| crate::results::Placing::start(exp, sink.clone()));
    let dag = &checked.checked.dag;
    let on_event = |e: Event| {
        if let Event::Finished(o) = &e {
            // Its entry, for the caller who takes them as they come.
            let entry = || sink.as_ref().map(|_| node_result(&exp.dir, (**o).clone()));
            match &placing {
                // A succeeded vertex's entry names its places in results/:
                // the placing thread hands it on once they are made.
                Some(p) if o.status == NodeStatus::Succeeded => {
                    p.place(&o.id, &o.outputs, !o.folded, entry());
                }
                _ => {
                    if let (Some(sink), Some(entry)) = (&sink, entry()) {
                        sink(entry);
                    }
                }
            }
        }
        (observer.on_event)(e);
    };
    let report = rt
        .block_on(phx_runtime::run(
            &checked.checked.dag,
            exp.store.clone(),
            &registry,
            opts,
            cancel.subscribe(),
            &on_event,
        ))
        .map_err(run_error)?;
    let mut report_error = None;
    let pdf = if reports.is_empty() {
        None
    } else if report.status != RunStatus::Succeeded {
        (observer.on_note)(&format!("phx: no report: the run {}", report.status));
        None
    } else {
        match crate::report::write_for_run(&exp.store, &report.run_id, &reports) {
            Ok(p) => p,
            Err(e) => {
                report_error = Some(e.render());
                None
            }
        }
    };
    let mut result = result_of(exp, report, &file, pdf.as_deref());
    result.report_error = report_error;
    if let Some(placing) = placing {
        // The run is recorded whatever happens here: results/ is a view
        // of the store that `phx results` can make again.
        let sweeps: BTreeMap<&str, usize> =
            dag.families.iter().filter(|f| f.is_sweep()).map(|f| (f.name(), f.len())).collect();
        for e in placing.finish(exp, &mut result, settings.targets.is_empty(), &sweeps) {
            (observer.on_note)(&format!("phx: results/ not fully updated: {}", e.render()));
        }
    }
    Ok(result)
}

/// The `--set` overrides as given, for the run's recorded settings.
fn overrides_list(source: &phx_runtime::worker::ProgramSource) -> Vec<String> {
    source.overrides.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn run_error(e: phx_runtime::scheduler::RunError) -> AppError {
    match e {
        phx_runtime::scheduler::RunError::Usage(msg) => AppError::usage(msg),
        phx_runtime::scheduler::RunError::Store(e) => e.into(),
        other => AppError::environment("phx::runtime", other.to_string()),
    }
}

/// Why each instance of a node would run again (or that it is cached).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ExplainedInstance {
    pub id: String,
    pub tool: String,
    pub cached: bool,
    pub why: Vec<String>,
    /// The components of its cache key (arguments as written, inputs,
    /// code version, device).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Json>,
}

/// `phx explain FILE NODE`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Explanation {
    pub node: String,
    pub instances: Vec<ExplainedInstance>,
}

/// Why `node` (every instance of a sweep) would run again.
pub fn explain(exp: &Experiment, program: &Program, checked: &Checked, node: &str) -> AppResult<Explanation> {
    if checked.has_errors() {
        return Err(checked.not_runnable());
    }
    let opts = RunOptions {
        targets: vec![node.to_string()],
        dry_run: true,
        keep_components: true,
        settings: json!({}),
        ..RunOptions::local(exp.relative(Path::new(&program.path)), exp.dir.clone(), 1)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::environment("phx::runtime", format!("cannot start: {e}")))?;
    let cancel = Cancellation::new();
    let report = rt
        .block_on(phx_runtime::run(
            &checked.checked.dag,
            exp.store.clone(),
            &phx_stdlib::registry(),
            opts,
            cancel.subscribe(),
            &|_| {},
        ))
        .map_err(run_error)?;
    let instances = report
        .nodes
        .iter()
        .filter(|n| n.node == node || n.id == node)
        .map(|n| ExplainedInstance {
            id: n.id.clone(),
            tool: n.tool.clone(),
            cached: n.status == NodeStatus::Cached,
            why: n.why.clone(),
            components: n.components.clone(),
        })
        .collect();
    Ok(Explanation { node: node.to_string(), instances })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_in_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    fn folded(groups: &[(NodeStatus, bool, usize)]) -> RunResult {
        let mut tally = FamilyTally::new("t", "x.y");
        tally.groups = groups
            .iter()
            .map(|&(status, cached, count)| TallyGroup {
                status,
                cached,
                backend: BackendKind::Local,
                device: None,
                why: vec![],
                count,
            })
            .collect();
        tally.count = groups.iter().map(|g| g.2).sum();
        RunResult {
            run_id: "r".into(),
            status: RunStatus::Succeeded,
            file: "f.phx".into(),
            duration_ms: 0,
            cache_hits: 0,
            report: None,
            nodes: vec![],
            families: vec![tally],
            report_error: None,
            placed_results: 0,
        }
    }

    #[test]
    fn what_ran_is_told_apart_from_what_was_cached_in_runs_and_plans() {
        let run = folded(&[(NodeStatus::Succeeded, true, 7), (NodeStatus::Succeeded, false, 3)]);
        assert_eq!((run.ran(), run.count(NodeStatus::Succeeded)), (3, 10));
        let plan = folded(&[(NodeStatus::Cached, true, 7), (NodeStatus::WouldRun, false, 3)]);
        assert_eq!((plan.ran(), plan.count(NodeStatus::WouldRun), plan.count(NodeStatus::Cached)), (0, 3, 7));
    }
}
