//! The scheduler: runs the DAG IR on tokio. A vertex starts when its inputs
//! exist; `--jobs` and each vertex's `resources.cpus` bound what runs at
//! once; a cache hit (verified byte for byte) reuses outputs; a failure
//! skips the vertex's descendants while independent branches finish; a
//! cancellation ends running children and keeps every finished result.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use phx_dag::{At, Dag, Vertex};
use phx_sema::value::Value;
use phx_store::{CacheEntry, NewExecution, OutputRow, ReusedExecution, Store, StoreError, Verified};
use serde_json::{Value as Json, json};
use tokio::sync::{mpsc, watch};

use crate::cache::{self, Components, OutputHashes};
use crate::clock::now_rfc3339;
use crate::command::Registry;
use crate::placement::{Machine, Placement};
use crate::remote::{LogLine, Remote};
use crate::status::{BackendKind, NodeStatus, Policy, RunStatus};
use crate::tally::FamilyTally;
use crate::tool::{Invocation, Produced, StagedInput, ToolError, extension, stage};
use crate::worker::ProgramSource;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The program's path as recorded (relative to the experiment folder).
    pub file: String,
    pub experiment_dir: PathBuf,
    pub jobs: usize,
    /// Node names or vertex ids to run (with their ancestors); empty: all.
    pub targets: Vec<String>,
    pub no_cache: bool,
    pub dry_run: bool,
    /// In a dry run, keep each vertex's cache-key components in its outcome
    /// (`phx explain` shows them; a plain dry run of a large sweep need not
    /// hold them all).
    pub keep_components: bool,
    /// Count the instances of each sweep that went well (would run or are
    /// cached in a plan; succeeded in a run) by status and reason
    /// ([`RunReport::families`]) instead of keeping an outcome for each;
    /// an instance that failed, was skipped or cancelled is still listed.
    pub fold_instances: bool,
    /// The run's settings, recorded with it.
    pub settings: Json,
    /// `local_first`, `remote_first` or `auto`.
    pub policy: Policy,
    /// The configured cluster's backend name (`slurm`), if any: enough to
    /// plan; running there needs `remote`.
    pub cluster: Option<BackendKind>,
    /// The connected cluster, for nodes placed there.
    pub remote: Option<RemoteSetup>,
    /// How many cluster jobs may be in flight at once.
    pub remote_jobs: usize,
    /// The program's sources, kept with the run (`program.json`) so that
    /// its DAG can be drawn later whatever becomes of the files.
    pub program: Option<Arc<ProgramSource>>,
}

/// A connected cluster backend and the program, so that jobs can compile
/// it again.
#[derive(Clone)]
pub struct RemoteSetup {
    pub backend: Arc<dyn phx_backends::Backend>,
    pub program: Arc<ProgramSource>,
    /// Volumes every job of the run mounts (Kubernetes).
    pub mounts: Vec<phx_backends::Mount>,
}

impl std::fmt::Debug for RemoteSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSetup").field("backend", &self.backend.name()).finish()
    }
}

impl RunOptions {
    /// Options for a plain local run of `file` in `experiment_dir`.
    pub fn local(file: impl Into<String>, experiment_dir: PathBuf, jobs: usize) -> RunOptions {
        RunOptions {
            file: file.into(),
            experiment_dir,
            jobs,
            targets: vec![],
            no_cache: false,
            dry_run: false,
            keep_components: false,
            fold_instances: false,
            settings: Json::Null,
            policy: Policy::LocalFirst,
            cluster: None,
            remote: None,
            remote_jobs: 100,
            program: None,
        }
    }
}

/// One output of a finished vertex.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputInfo {
    pub name: String,
    pub kind: String,
    pub sha256: String,
    pub path: PathBuf,
    pub value: Option<Json>,
    pub meta: Json,
}

/// What happened to one vertex.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeOutcome {
    pub id: String,
    pub node: String,
    pub tool: String,
    /// `succeeded`, `failed`, `cancelled`, `skipped`; in a dry run `cached`
    /// or `would-run`.
    pub status: NodeStatus,
    pub cached: bool,
    pub device: Option<String>,
    pub fallback: Option<String>,
    pub duration_ms: u64,
    pub attempts: u32,
    pub outputs: Vec<OutputInfo>,
    pub error: Option<String>,
    /// Why it ran (or would run): the cache components that changed.
    pub why: Vec<String>,
    /// The components of its cache key (in a dry run), for `phx explain`.
    pub components: Option<Json>,
    /// `local`, or the cluster it ran (or would run) on.
    pub backend: BackendKind,
    /// The job id on the cluster.
    pub job_id: Option<String>,
    /// Why it runs where it runs (the policy's decision).
    pub placement: Option<String>,
    /// Counted in its sweep's [`FamilyTally`] rather than listed in the
    /// run's report (set by the run as it settles the outcome).
    pub folded: bool,
}

impl NodeOutcome {
    /// An outcome of `v` with `status` and nothing else known yet.
    pub fn of(v: &Vertex, status: NodeStatus) -> NodeOutcome {
        NodeOutcome {
            id: v.id.clone(),
            node: v.node.clone(),
            tool: v.tool.clone(),
            status,
            cached: false,
            device: None,
            fallback: None,
            duration_ms: 0,
            attempts: 0,
            outputs: vec![],
            error: None,
            why: vec![],
            components: None,
            backend: BackendKind::Local,
            job_id: None,
            placement: None,
            folded: false,
        }
    }
}

/// The whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    pub run_id: String,
    pub status: RunStatus,
    pub duration_ms: u64,
    pub cache_hits: usize,
    /// Every vertex's outcome in order, less the instances folded into
    /// `families`.
    pub nodes: Vec<NodeOutcome>,
    /// With [`RunOptions::fold_instances`]: each sweep's instances, counted.
    pub families: Vec<FamilyTally>,
}

/// Progress events, for the terminal display and logs.
#[derive(Clone, Debug)]
pub enum Event {
    Started {
        id: String,
        tool: String,
    },
    /// Shared with the run's own record of it (no copy an event).
    Finished(Arc<NodeOutcome>),
    /// A line that a job on a cluster printed, as it arrives.
    Log(LogLine),
}

/// Where a vertex would run, and why not on the device it asked for first.
/// `gpu` is the machine's answer (`Err` with the reason when it has none).
/// `gpu_impl`: whether the tool has a GPU implementation (command-backed
/// tools run their command, which may use the GPU).
pub fn pick_device(v: &Vertex, gpu: &Result<String, String>, gpu_impl: bool) -> (String, Option<String>) {
    let wants_gpu = v.props.device.first() == Some(&phx_sema::enums::Device::Gpu);
    if !wants_gpu {
        return ("cpu".into(), None);
    }
    match gpu {
        Err(reason) => ("cpu".into(), Some(reason.clone())),
        Ok(_) if v.run.is_some() || gpu_impl => ("gpu".into(), None),
        Ok(name) => ("cpu".into(), Some(format!("this build has no GPU implementation of {} (found {name})", v.tool))),
    }
}

/// The machine's GPU, detected once: its name, or why there is none.
fn detect_gpu() -> Result<String, String> {
    let d = phx_devices::detect();
    match d.gpus.first() {
        Some(g) => Ok(g.name.clone()),
        None => Err(d.no_gpu_reason.unwrap_or_else(|| "no GPU".into())),
    }
}

/// The vertices a run covers: the targets and their ancestors, or `None`
/// for all of them (a million ids need not be listed to say "all").
pub fn selected(dag: &Dag, targets: &[String]) -> Result<Option<HashSet<String>>, String> {
    if targets.is_empty() {
        return Ok(None);
    }
    let mut want: Vec<String> = Vec::new();
    for t in targets {
        let hits: Vec<&Vertex> = dag.vertices().iter().filter(|v| v.id == *t || v.node == *t).collect();
        if hits.is_empty() {
            let names: Vec<&str> = dag.vertices().iter().map(|v| v.node.as_str()).collect();
            let help = phx_units::closest(t, names).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default();
            return Err(format!("--target `{t}` names no node{help}"));
        }
        want.extend(hits.iter().map(|v| v.id.clone()));
    }
    let by_id: HashMap<&str, &Vertex> = dag.vertices().iter().map(|v| (v.id.as_str(), v)).collect();
    let mut out = HashSet::new();
    while let Some(id) = want.pop() {
        if out.insert(id.clone())
            && let Some(v) = by_id.get(id.as_str())
        {
            want.extend(v.depends_on.iter().cloned());
        }
    }
    Ok(Some(out))
}

fn cpus_of(v: &Vertex, jobs: usize) -> usize {
    let cpus = v.props.resources.iter().find(|(k, _)| k == "cpus").and_then(|(_, v)| v.as_int()).unwrap_or(1);
    (cpus.max(1) as usize).min(jobs.max(1))
}

/// A new run id: time-ordered and unique (`20261128T220501-1a2b3c`).
pub fn new_run_id() -> String {
    let t = now_rfc3339();
    let compact: String = t.chars().filter(|c| c.is_ascii_digit() || *c == 'T').take(15).collect();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{compact}-{:06x}", (nanos ^ std::process::id()) & 0xff_ffff)
}

/// Whether a parameter of declared type `param_type` names files (`File`,
/// `Path`, lists of them): a string given to it is a file to hash and stage.
pub fn names_files(param_type: &str) -> bool {
    param_type.contains("File") || param_type.contains("Path")
}

/// Literal files an argument names (`File`/`Path` parameters given a string).
pub fn literal_files(v: &Vertex) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in v.args.iter() {
        let ty = v.param_types.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str()).unwrap_or("");
        if !names_files(ty) {
            continue;
        }
        match value {
            Value::Str(s) => out.push((name.clone(), s.clone())),
            Value::List(items) => out.extend(
                items.iter().filter_map(|i| if let Value::Str(s) = i { Some((name.clone(), s.clone())) } else { None }),
            ),
            _ => {}
        }
    }
    out
}

struct Shared {
    store: Arc<Store>,
    opts: RunOptions,
    run_id: String,
    /// The cluster runner, when one is connected.
    remote: Option<Arc<Remote>>,
}

/// Runs `dag` (or the part `opts.targets` asks for).
///
/// Each pass over the waiting vertices takes every one through the same
/// phases, each a function of [`Schedule`]: **admission** (are its inputs
/// done, did one fail, was the run cancelled), **placement** (here or on
/// the cluster, and whether a slot is free there), the **cache decision**
/// (reuse verified outputs, say why it must run, or in a plan stop there)
/// and **execution** (stage the inputs and spawn the task); **recording**
/// writes what each phase settled (cache hits in one transaction a pass,
/// finished tasks as they end, the run's status at the end).
pub async fn run(
    dag: &Dag,
    store: Arc<Store>,
    registry: &Registry,
    opts: RunOptions,
    cancel: watch::Receiver<bool>,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let chosen = selected(dag, &opts.targets).map_err(RunError::Usage)?;
    let run_id = new_run_id();
    if !opts.dry_run {
        record_start(&store, &opts, &run_id)?;
    }
    // The positions of the chosen vertices: a large sweep is walked by
    // position, each vertex built when it is looked at.
    let chosen: Option<HashSet<At>> = chosen.map(|c| c.iter().filter_map(|id| dag.position(id)).collect());
    let order: Vec<At> = dag.positions().filter(|at| chosen.as_ref().is_none_or(|c| c.contains(at))).collect();
    let (log_tx, mut log_rx) = mpsc::unbounded_channel::<LogLine>();
    let remote = opts.remote.as_ref().map(|r| {
        // The size of each sweep this run covers: what an automatic
        // batch of a job array is cut from.
        let mut families: HashMap<String, usize> = HashMap::new();
        for (f, _) in order.iter().filter(|(f, _)| dag.families[*f as usize].is_sweep()) {
            *families.entry(dag.families[*f as usize].name().to_string()).or_default() += 1;
        }
        Arc::new(Remote::new(r.backend.clone(), r.program.clone(), r.mounts.clone(), log_tx).with_families(families))
    });
    let shared = Arc::new(Shared { store: store.clone(), opts: opts.clone(), run_id: run_id.clone(), remote });
    let mut s = Schedule {
        dag,
        registry,
        store: &store,
        opts: &opts,
        shared,
        on_event,
        cancel: cancel.clone(),
        chosen,
        jobs: opts.jobs.max(1),
        outcomes: Outcomes::new(dag, opts.fold_instances),
        hashes: OutputHashes::new(),
        waiting: Queue { held: VecDeque::new(), next: 0 },
        running: tokio::task::JoinSet::new(),
        busy: 0,
        remote_busy: 0,
        intact: Intact { known: store.db.verified_fingerprints()?, fresh: Vec::new() },
        known_keys: KnownKeys::of(store.db.cache_keys()?),
        ahead: ReadAhead::default(),
        gpu: std::sync::OnceLock::new(),
        machine: std::sync::OnceLock::new(),
        reused: Vec::new(),
        recorder: if opts.dry_run { None } else { Some(Recorder::start(&store)?) },
        file_has_history: store.db.file_has_cache_entries(&opts.file)?,
    };
    let mut cancel_rx = cancel.clone();
    loop {
        let cancelled = *cancel_rx.borrow();
        // One pass, keeping what still waits (in order): what is looked at
        // and must wait goes back to the front, held as built.
        let mut waiting = std::mem::take(&mut s.waiting);
        let mut still: Vec<Pending> = Vec::new();
        while let Some(p) = waiting.pop_front(&order) {
            // Every local core taken and no cluster: nothing further down
            // can start this pass, so it is not looked at (a pass per
            // finished task over a hundred thousand waiting vertices was
            // quadratic). A cancellation still goes through all of them.
            if !cancelled && s.shared.remote.is_none() && s.busy >= s.jobs {
                waiting.push_front(p);
                break;
            }
            let at = p.at;
            let v = p.vertex.unwrap_or_else(|| Box::new(dag.instance(at)));
            match s.admit(&v, cancelled)? {
                Admission::NotYet => {
                    still.push(Pending { at, vertex: Some(v) });
                    continue;
                }
                Admission::Settled => continue,
                Admission::Ready => {}
            }
            let placement = s.place(&v);
            let Some(slot) = s.slot(&v, &placement) else {
                still.push(Pending { at, vertex: Some(v) });
                continue;
            };
            if let Decision::Run(prepared) = s.decide(&v, &placement)? {
                s.execute(*v, placement, prepared, slot)?;
            }
        }
        for p in still.into_iter().rev() {
            waiting.push_front(p);
        }
        s.waiting = waiting;
        s.send_records();
        if s.running.is_empty() {
            if s.waiting.is_empty(&order) {
                break;
            }
            s.skip_unreachable(&order);
            break;
        }
        tokio::select! {
            Some(line) = log_rx.recv() => {
                on_event(Event::Log(line));
                continue;
            }
            joined = s.running.join_next() => match joined {
                Some(Ok((o, slot))) => s.record_finished(o, slot),
                Some(Err(e)) => return Err(RunError::Internal(format!("a node's task failed: {e}"))),
                None => {}
            },
            _ = cancel_rx.changed() => {}
        }
    }
    s.finish(&order, &run_id, started)
}

/// The vertices still waiting, in order: those looked at and left waiting
/// (held as built), then the rest of the run's order from `next` on (not
/// listed one by one: a million positions need no second list).
#[derive(Default)]
struct Queue {
    held: VecDeque<Pending>,
    next: usize,
}

impl Queue {
    fn pop_front(&mut self, order: &[At]) -> Option<Pending> {
        if let Some(p) = self.held.pop_front() {
            return Some(p);
        }
        let at = *order.get(self.next)?;
        self.next += 1;
        Some(Pending { at, vertex: None })
    }

    /// Puts `p` back in front (what was just taken, or what must wait).
    fn push_front(&mut self, p: Pending) {
        if p.vertex.is_none() && self.held.is_empty() && self.next > 0 {
            self.next -= 1;
        } else {
            self.held.push_front(p);
        }
    }

    fn is_empty(&self, order: &[At]) -> bool {
        self.held.is_empty() && self.next >= order.len()
    }

    /// Takes everything still waiting.
    fn drain(&mut self, order: &[At]) -> Vec<Pending> {
        let mut out: Vec<Pending> = self.held.drain(..).collect();
        out.extend(order[self.next.min(order.len())..].iter().map(|&at| Pending { at, vertex: None }));
        self.next = order.len();
        out
    }
}

/// A vertex waiting to start: where it is, and the vertex once built (a
/// vertex looked at and left waiting keeps what building it cost).
struct Pending {
    at: At,
    vertex: Option<Box<Vertex>>,
}

/// Records the run's start: its row, and the program kept with it (what
/// `phx serve` draws and a worker compiles).
fn record_start(store: &Store, opts: &RunOptions, run_id: &str) -> Result<(), StoreError> {
    store.db.close_abandoned_runs(&now_rfc3339(), &crate::provenance::host())?;
    store.objects.clean_temp();
    let git = crate::provenance::git_state(&opts.experiment_dir);
    store.db.insert_run(&phx_store::RunRow {
        id: run_id.to_string(),
        file: opts.file.clone(),
        started_at: now_rfc3339(),
        finished_at: None,
        status: RunStatus::Running.as_str().into(),
        phx_version: crate::provenance::PHX_VERSION.into(),
        host: crate::provenance::host(),
        git_commit: git.as_ref().map(|g| g.0.clone()),
        git_dirty: git.map(|g| g.1),
        settings_json: opts.settings.to_string(),
    })?;
    if let Some(p) = &opts.program
        && let Ok(text) = serde_json::to_vec(&**p)
    {
        let dir = store.run_dir(run_id);
        let _ = std::fs::create_dir_all(&dir);
        let _ = phx_store::write_atomic(&dir.join("program.json"), &text);
    }
    Ok(())
}

/// What admission decided for a waiting vertex.
enum Admission {
    /// An input has not finished: it waits.
    NotYet,
    /// It will not run (an input failed, or the run was cancelled): settled.
    Settled,
    /// Its inputs are there.
    Ready,
}

/// The slot a started vertex holds: how many cores, here or on the cluster.
#[derive(Clone, Copy)]
struct Slot {
    cpus: usize,
    remote: bool,
}

/// What the cache decision left to do.
enum Decision {
    /// Settled without running: a cache hit, a plan's entry, or a failure
    /// before it could start.
    Settled,
    /// It runs, with these.
    Run(Box<Prepared>),
}

/// A vertex ready to run: its implementation, key, device and inputs.
struct Prepared {
    tool: Arc<dyn crate::tool::Tool>,
    literals: Vec<(String, String, String)>,
    key: String,
    comps: Components,
    device: String,
    fallback: Option<String>,
    why: Vec<String>,
}

/// The state of one run between passes.
struct Schedule<'a> {
    dag: &'a Dag,
    registry: &'a Registry,
    store: &'a Arc<Store>,
    opts: &'a RunOptions,
    shared: Arc<Shared>,
    on_event: &'a (dyn Fn(Event) + Sync),
    cancel: watch::Receiver<bool>,
    /// The positions of the vertices this run covers (`None`: all of them).
    chosen: Option<HashSet<At>>,
    jobs: usize,
    outcomes: Outcomes<'a>,
    hashes: OutputHashes,
    waiting: Queue,
    running: tokio::task::JoinSet<(NodeOutcome, Slot)>,
    busy: usize,
    remote_busy: usize,
    intact: Intact,
    /// Every key the store has an entry for, and those this run may add:
    /// a key outside it misses without a query.
    known_keys: KnownKeys,
    /// Cache entries read ahead for a window of a sweep's instances.
    ahead: ReadAhead,
    /// Detected only if some node asks for a GPU.
    gpu: std::sync::OnceLock<Result<String, String>>,
    machine: std::sync::OnceLock<Machine>,
    /// Cache hits are recorded in batches (at the end of each pass, or
    /// every [`Recorder::BATCH`]), by the recorder's thread.
    reused: Vec<ReusedExecution>,
    recorder: Option<Recorder>,
    /// Whether any node of this file ran before: a miss in a file that
    /// never ran needs no look-up to explain itself.
    file_has_history: bool,
}

impl<'a> Schedule<'a> {
    /// Settles an outcome that finished here, at once.
    fn announce(&mut self, o: NodeOutcome) {
        let shown = self.outcomes.insert(o);
        (self.on_event)(Event::Finished(shown));
    }

    /// Admission: whether `v`'s inputs are done, and whether it may run.
    fn admit(&mut self, v: &Vertex, cancelled: bool) -> Result<Admission, StoreError> {
        // Each input looked up once: not yet settled (and in this run)
        // makes `v` wait; the first that did not succeed skips it.
        let mut failed_dep = None;
        for d in &v.depends_on {
            let Some(at) = self.dag.position(d) else { continue };
            match self.outcomes.status_at(at) {
                None if self.chosen.as_ref().is_none_or(|c| c.contains(&at)) => return Ok(Admission::NotYet),
                Some(s) if !s.lets_consumers_run() && failed_dep.is_none() => failed_dep = Some(d),
                _ => {}
            }
        }
        if cancelled || failed_dep.is_some() {
            let status = if cancelled { NodeStatus::Cancelled } else { NodeStatus::Skipped };
            let error = failed_dep.map(|d| format!("its input `{d}` did not succeed"));
            let o = NodeOutcome { error, ..NodeOutcome::of(v, status) };
            settle(&self.shared, self.on_event, &mut self.outcomes, v, o, None)?;
            return Ok(Admission::Settled);
        }
        Ok(Admission::Ready)
    }

    /// Placement: where `v` runs under the run's policy.
    fn place(&self, v: &Vertex) -> Placement {
        let gpu = self.gpu.get_or_init(detect_gpu);
        let machine = self.machine.get_or_init(|| Machine::here(gpu.clone()));
        crate::placement::place(v, self.opts.policy, self.opts.cluster, machine)
    }

    /// The slot `v` takes where it is placed, if one is free. Nodes on a
    /// cluster use its cores, not this machine's: they count against the
    /// cluster's own bound on jobs in flight.
    fn slot(&self, v: &Vertex, placement: &Placement) -> Option<Slot> {
        let remote = placement.is_remote() && !self.opts.dry_run;
        // An instance that goes out in a job array takes no job slot of
        // its own: the array's `%K` bounds how many of its tasks run.
        let arrayed = remote && self.shared.remote.as_ref().is_some_and(|r| r.batches(v));
        let (cpus, slots, used) = if arrayed {
            (0, 1, 0)
        } else if remote {
            (1, self.opts.remote_jobs.max(1), self.remote_busy)
        } else {
            (cpus_of(v, self.jobs), self.jobs, self.busy)
        };
        if used + cpus > slots && used > 0 { None } else { Some(Slot { cpus, remote: placement.is_remote() }) }
    }

    /// The cache decision: reuse verified outputs, or say why `v` must run
    /// (in a plan, that is where it stops).
    fn decide(&mut self, v: &Vertex, placement: &Placement) -> Result<Decision, StoreError> {
        let (opts, store) = (self.opts, self.store);
        // The implementation and the hashes of literal files; either
        // failing fails the vertex before it starts.
        let prepared =
            self.registry.for_vertex(v).and_then(|tool| Ok((tool, hash_literals(store, &opts.experiment_dir, v)?)));
        let (tool, literals) = match prepared {
            Ok(x) => x,
            Err(msg) => {
                let o = NodeOutcome { error: Some(msg), ..NodeOutcome::of(v, NodeStatus::Failed) };
                settle(&self.shared, self.on_event, &mut self.outcomes, v, o, None)?;
                return Ok(Decision::Settled);
            }
        };
        // A node that leaves this machine asks the cluster for its device;
        // the fallback is decided where it runs.
        let (device, fallback) = if placement.is_remote() {
            (v.props.device.first().map_or("cpu", |d| d.as_str()).to_string(), None)
        } else {
            let gpu = self.gpu.get_or_init(detect_gpu);
            pick_device(v, gpu, tool.gpu())
        };
        let mut comps = Components::of(v, &self.hashes, &tool.code_version(), &device);
        for (arg, path, sha) in &literals {
            comps.inputs.entry(arg.clone()).or_default().push((path.clone(), sha.clone()));
            if let Some(a) = comps.args.get_mut(arg) {
                a.canonical = format!("{}#{}", a.canonical, sha);
            }
        }
        let key = comps.key();
        let mut why = Vec::new();
        if !opts.no_cache && v.props.cache {
            let hit = if self.known_keys.may_hold(&key) {
                let ahead = self.prefetched(v, &key)?;
                cache_hit(store, &key, ahead, &mut self.intact)?
            } else {
                Hit::None
            };
            match hit {
                Hit::Valid(entry, outputs) => {
                    self.reuse(v, &key, &entry, outputs, device, fallback);
                    return Ok(Decision::Settled);
                }
                Hit::Corrupt(sha) => why.push(format!(
                    "a cached output ({}) was corrupt or missing; it is recomputed",
                    &sha[..12.min(sha.len())]
                )),
                Hit::None => {}
            }
            if why.is_empty() {
                let prev = if self.file_has_history { store.db.latest_cache_entry(&opts.file, &v.id)? } else { None };
                let prev_json = prev.and_then(|p| serde_json::from_str::<Json>(&p.components_json).ok());
                why = cache::explain(prev_json.as_ref(), &comps);
                if why.is_empty() {
                    why.push("its previous outputs are no longer in the store".into());
                }
            }
        } else {
            why.push(if opts.no_cache {
                "--no-cache was given".into()
            } else {
                "the node sets `cache = false`".into()
            });
        }
        if opts.dry_run {
            self.plan_entry(v, placement, &comps, device, fallback, why);
            return Ok(Decision::Settled);
        }
        Ok(Decision::Run(Box::new(Prepared { tool, literals, key, comps, device, fallback, why })))
    }

    /// The cache entry for `key` among those read ahead for `v`'s sweep:
    /// the entries of a window of its next instances are read in one
    /// query when `v` is past the last window.
    fn prefetched(&mut self, v: &Vertex, key: &str) -> Result<Option<CacheEntry>, StoreError> {
        const WINDOW: u32 = 512;
        let Some((f, i)) = self.dag.position(&v.id) else { return Ok(None) };
        let family = &self.dag.families[f as usize];
        if !family.is_sweep() || family.len() < 64 || !self.file_has_history {
            return Ok(None);
        }
        let fresh = match self.ahead.window {
            Some((wf, lo, hi)) => wf != f || i < lo || i >= hi,
            None => true,
        };
        if fresh {
            let hi = (i + WINDOW).min(family.len() as u32);
            let ids: Vec<String> = (i..hi).map(|k| family.instances().id(k as usize)).collect();
            let entries = self.store.db.cache_entries_of_vertices(&self.opts.file, &ids)?;
            self.ahead.entries = entries.into_iter().map(|e| (e.cache_key.clone(), e)).collect();
            self.ahead.window = Some((f, i, hi));
        }
        Ok(self.ahead.entries.remove(key))
    }

    /// A cache hit: the entry's outputs stand for `v`'s (recorded in the
    /// pass's batch).
    fn reuse(
        &mut self,
        v: &Vertex,
        key: &str,
        entry: &CacheEntry,
        outputs: Vec<OutputInfo>,
        device: String,
        fallback: Option<String>,
    ) {
        for o in &outputs {
            self.hashes.push(&v.id, base_name(&o.name), &o.sha256);
        }
        let status = if self.opts.dry_run { NodeStatus::Cached } else { NodeStatus::Succeeded };
        let o =
            NodeOutcome { cached: true, device: Some(device.clone()), fallback, outputs, ..NodeOutcome::of(v, status) };
        if !self.opts.dry_run {
            // The arguments and outputs are the cache entry's execution's;
            // a reuse records only which one it took.
            self.reused.push(ReusedExecution {
                execution: reused_execution(&self.shared, v, key, entry.execution_id),
                device,
                from: entry.execution_id,
            });
            if self.reused.len() >= Recorder::BATCH {
                self.send_records();
            }
        }
        self.announce(o);
    }

    /// In a plan: `v` would run, and why. A node that would run makes its
    /// consumers run too; that is said, rather than guessed at hashes not
    /// yet made.
    fn plan_entry(
        &mut self,
        v: &Vertex,
        placement: &Placement,
        comps: &Components,
        device: String,
        fallback: Option<String>,
        mut why: Vec<String>,
    ) {
        let upstream: Vec<&String> =
            v.depends_on.iter().filter(|d| self.outcomes.status(d) == Some(NodeStatus::WouldRun)).collect();
        if !upstream.is_empty() {
            why.retain(|w| !w.starts_with("input "));
            // Instances of one sweep are named once, as `name[*]` with
            // their number.
            let mut groups: Vec<(&str, usize, &str)> = Vec::new();
            for d in &upstream {
                let node = d.split('[').next().unwrap_or(d);
                match groups.iter_mut().find(|(n, _, _)| *n == node && d.contains('[')) {
                    Some(g) => g.1 += 1,
                    None => groups.push((node, 1, d.as_str())),
                }
            }
            let names: Vec<String> = groups
                .iter()
                .take(3)
                .map(|(node, n, first)| if *n > 1 { format!("`{node}[*]` ({n})") } else { format!("`{first}`") })
                .collect();
            let more = if groups.len() > 3 { format!(" and {} more", groups.len() - 3) } else { String::new() };
            why.insert(
                0,
                format!(
                    "its input{} {}{more} will be recomputed first",
                    if upstream.len() == 1 { "" } else { "s" },
                    names.join(", ")
                ),
            );
        }
        let o = NodeOutcome {
            device: Some(device),
            fallback,
            why,
            components: self.opts.keep_components.then(|| comps.to_json()),
            backend: placement.backend,
            placement: Some(placement.reason.clone()),
            ..NodeOutcome::of(v, NodeStatus::WouldRun)
        };
        self.announce(o);
    }

    /// Execution: stages `v`'s inputs and spawns its task in `slot`.
    fn execute(&mut self, v: Vertex, placement: Placement, p: Box<Prepared>, slot: Slot) -> Result<(), StoreError> {
        let Prepared { tool, literals, key, comps, device, fallback, why } = *p;
        // Its entry, once made, may serve a later vertex of this run.
        self.known_keys.insert_hex(&key);
        let inputs = match staged_inputs(&v, &self.hashes, self.dag, self.store, &literals) {
            Ok(x) => x,
            Err(msg) => {
                let o = NodeOutcome { error: Some(msg), why, ..NodeOutcome::of(&v, NodeStatus::Failed) };
                return settle(&self.shared, self.on_event, &mut self.outcomes, &v, o, Some(&key));
            }
        };
        if slot.remote {
            self.remote_busy += slot.cpus;
        } else {
            self.busy += slot.cpus;
        }
        (self.on_event)(Event::Started { id: v.id.clone(), tool: v.tool.clone() });
        let parents = hashes_of_inputs(&v, &self.hashes, &literals);
        let task = Task {
            shared: self.shared.clone(),
            vertex: v,
            tool,
            inputs,
            key,
            comps,
            device,
            fallback,
            why,
            cancel: self.cancel.clone(),
            parents,
            placement,
        };
        self.running.spawn(async move { (task.execute().await, slot) });
        Ok(())
    }

    /// Hands the cache hits and fresh fingerprints so far to the recorder
    /// (once a pass, and whenever a batch is full).
    fn send_records(&mut self) {
        let reused = std::mem::take(&mut self.reused);
        let verified = std::mem::take(&mut self.intact.fresh);
        if let Some(r) = &self.recorder {
            r.send(reused, verified);
        }
    }

    /// Recording of a finished task: its slot is free, its outputs feed
    /// its consumers.
    fn record_finished(&mut self, o: NodeOutcome, slot: Slot) {
        if slot.remote {
            self.remote_busy -= slot.cpus;
        } else {
            self.busy -= slot.cpus;
        }
        for out in &o.outputs {
            self.hashes.push(&o.id, base_name(&out.name), &out.sha256);
        }
        self.announce(o);
    }

    /// Nothing runs and nothing can start: the rest waits on vertices
    /// outside the selection or on a cycle; they are skipped.
    fn skip_unreachable(&mut self, order: &[At]) {
        let rest: Vec<Pending> = self.waiting.drain(order);
        for p in rest {
            let v = p.vertex.unwrap_or_else(|| Box::new(self.dag.instance(p.at)));
            let o =
                NodeOutcome { error: Some("its inputs cannot run".into()), ..NodeOutcome::of(&v, NodeStatus::Skipped) };
            self.announce(o);
        }
    }

    /// Recording at the end: the run's status, and the outcomes in order.
    fn finish(mut self, order: &[At], run_id: &str, started: Instant) -> Result<RunReport, RunError> {
        let mut nodes: Vec<NodeOutcome> = Vec::with_capacity(self.outcomes.full.len());
        for at in order {
            if let Some(o) = self.outcomes.full.remove(at) {
                // The events' copies are gone by now: taken, not cloned.
                nodes.push(Arc::try_unwrap(o).unwrap_or_else(|shared| (*shared).clone()));
            }
        }
        self.send_records();
        // The run's end is recorded even when its cache hits could not be
        // (their error is then the run's).
        let recorded = self.recorder.take().map_or(Ok(()), Recorder::finish);
        let families: Vec<FamilyTally> = std::mem::take(&mut self.outcomes.tallies).into_iter().flatten().collect();
        drop(self.outcomes);
        let status = if *self.cancel.borrow() {
            RunStatus::Cancelled
        } else if recorded.is_err() || nodes.iter().any(|n| n.status.fails_the_run()) {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        if !self.opts.dry_run {
            self.store.db.finish_run(run_id, status.as_str(), &now_rfc3339())?;
        }
        recorded?;
        Ok(RunReport {
            run_id: run_id.to_string(),
            status,
            duration_ms: started.elapsed().as_millis() as u64,
            cache_hits: nodes.iter().filter(|n| n.cached).count()
                + families.iter().map(FamilyTally::cached).sum::<usize>(),
            nodes,
            families,
        })
    }
}

/// Writes cache hits and verified fingerprints on a connection of its
/// own, on a thread of its own: a re-run of 100,000 cached nodes spent a
/// third of its time inserting their rows after deciding them, which now
/// goes on beside the deciding.
struct Recorder {
    batches: Option<std::sync::mpsc::Sender<RecordBatch>>,
    thread: Option<std::thread::JoinHandle<Result<(), StoreError>>>,
}

type RecordBatch = (Vec<ReusedExecution>, Vec<(String, phx_store::Fingerprint)>);

impl Recorder {
    /// Cache hits sent at once, at most.
    const BATCH: usize = 25_000;

    fn start(store: &Store) -> Result<Recorder, RunError> {
        let db = store.db.another_connection()?;
        let (tx, rx) = std::sync::mpsc::channel::<RecordBatch>();
        let thread = std::thread::Builder::new()
            .name("phx-recorder".into())
            .spawn(move || {
                // After an error the rest is still received (and dropped),
                // so the scheduler never blocks; the error ends the run.
                let mut result = Ok(());
                for (reused, verified) in rx {
                    if result.is_ok() {
                        result = db.record_cached(&reused).and_then(|_| db.record_verified(&verified));
                    }
                }
                result
            })
            .map_err(|e| RunError::Internal(format!("cannot start the recorder thread: {e}")))?;
        Ok(Recorder { batches: Some(tx), thread: Some(thread) })
    }

    fn send(&self, reused: Vec<ReusedExecution>, verified: Vec<(String, phx_store::Fingerprint)>) {
        if reused.is_empty() && verified.is_empty() {
            return;
        }
        if let Some(tx) = &self.batches {
            let _ = tx.send((reused, verified));
        }
    }

    /// Waits until everything sent is written.
    fn finish(mut self) -> Result<(), RunError> {
        self.batches.take();
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => Ok(result?),
            Some(Err(_)) => Err(RunError::Internal("the thread recording cache hits panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.batches.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What became of each settled vertex, by position: its status (what its
/// consumers ask), and its whole outcome unless it was folded into its
/// sweep's tally.
struct Outcomes<'a> {
    dag: &'a Dag,
    status: Vec<Vec<Option<NodeStatus>>>,
    full: HashMap<At, Arc<NodeOutcome>>,
    /// One per family, for sweeps whose instances are folded.
    tallies: Vec<Option<FamilyTally>>,
    fold: bool,
}

impl<'a> Outcomes<'a> {
    fn new(dag: &'a Dag, fold: bool) -> Outcomes<'a> {
        Outcomes {
            dag,
            status: dag.families.iter().map(|f| vec![None; f.len()]).collect(),
            full: HashMap::new(),
            tallies: dag.families.iter().map(|_| None).collect(),
            fold,
        }
    }

    /// The status of the settled vertex `id`, if it is settled.
    fn status(&self, id: &str) -> Option<NodeStatus> {
        self.status_at(self.dag.position(id)?)
    }

    /// The status of the settled vertex at `at`, if it is settled.
    fn status_at(&self, (f, i): At) -> Option<NodeStatus> {
        self.status[f as usize][i as usize]
    }

    /// Keeps `o` (or counts it, when folding a sweep's instances); gives back
    /// what its event shows.
    fn insert(&mut self, mut o: NodeOutcome) -> Arc<NodeOutcome> {
        let Some((f, i)) = self.dag.position(&o.id) else { return Arc::new(o) };
        self.status[f as usize][i as usize] = Some(o.status);
        let family = &self.dag.families[f as usize];
        if self.fold && family.is_sweep() && crate::tally::folds(&o) {
            o.folded = true;
            self.tallies[f as usize]
                .get_or_insert_with(|| FamilyTally::new(family.name(), &o.tool))
                .add(i as usize, &o);
            return Arc::new(o);
        }
        let o = Arc::new(o);
        self.full.insert((f, i), o.clone());
        o
    }
}

/// Why a run could not be carried out at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Internal(String),
}

/// Records and announces the outcome of a vertex that does not run
/// (skipped, cancelled, or failed before it could start).
fn settle(
    shared: &Shared,
    on_event: &(dyn Fn(Event) + Sync),
    outcomes: &mut Outcomes<'_>,
    v: &Vertex,
    o: NodeOutcome,
    key: Option<&str>,
) -> Result<(), StoreError> {
    if !shared.opts.dry_run {
        shared.store.db.record_execution(
            &new_execution(shared, v, key, 0),
            o.status.as_str(),
            false,
            None,
            o.error.as_deref(),
        )?;
    }
    let shown = outcomes.insert(o);
    on_event(Event::Finished(shown));
    Ok(())
}

/// An output name without its list index (`files#2` is `files`).
fn base_name(name: &str) -> &str {
    name.split('#').next().unwrap_or(name)
}

/// The cache keys the store has an entry for, as digests (their first
/// bytes are hash enough), and those this run may add.
#[derive(Default)]
struct KnownKeys(HashSet<[u8; 32], std::hash::BuildHasherDefault<DigestHasher>>);

impl KnownKeys {
    fn of(keys: Vec<[u8; 32]>) -> KnownKeys {
        KnownKeys(keys.into_iter().collect())
    }

    /// Whether the hex key `key` may have an entry (a key that is not hex
    /// may: it is asked for).
    fn may_hold(&self, key: &str) -> bool {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(key, &mut bytes).is_err() || self.0.contains(&bytes)
    }

    fn insert_hex(&mut self, key: &str) {
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(key, &mut bytes).is_ok() {
            self.0.insert(bytes);
        }
    }
}

/// Hashes a digest by its first eight bytes (already uniform).
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

enum Hit {
    /// The entry and its outputs, every object intact.
    Valid(CacheEntry, Vec<OutputInfo>),
    Corrupt(String),
    None,
}

/// Objects known to be intact: fingerprints from their last hash check,
/// and the new checks of this run (written in batches).
struct Intact {
    known: HashMap<String, phx_store::Fingerprint>,
    fresh: Vec<(String, phx_store::Fingerprint)>,
}

impl Intact {
    /// Whether the object hashes to its name: by fingerprint when its file
    /// is unchanged since the last check, else by hashing it again.
    fn check(&mut self, store: &Store, sha: &str) -> bool {
        let Some(fp) = store.objects.fingerprint(sha) else { return false };
        if self.known.get(sha) == Some(&fp) {
            return true;
        }
        if store.objects.verify(sha) != Verified::Ok {
            return false;
        }
        self.known.insert(sha.to_string(), fp);
        self.fresh.push((sha.to_string(), fp));
        true
    }
}

/// The cache entries of a window of a sweep's instances (family, first
/// and end index), by key.
#[derive(Default)]
struct ReadAhead {
    window: Option<(u32, u32, u32)>,
    entries: HashMap<String, CacheEntry>,
}

/// A cache entry is served only if every object it names is present and
/// hashes to its name; a bad one is removed and the entry dropped. `ahead`:
/// the entry if it was read already.
fn cache_hit(store: &Store, key: &str, ahead: Option<CacheEntry>, intact: &mut Intact) -> Result<Hit, StoreError> {
    let entry = match ahead {
        Some(e) => Some(e),
        None => store.db.cache_entry_outputs(key)?,
    };
    let Some(entry) = entry else { return Ok(Hit::None) };
    let outputs = outputs_of_entry(store, &entry);
    for o in &outputs {
        if !intact.check(store, &o.sha256) {
            let _ = store.objects.remove(&o.sha256);
            store.db.drop_cache_entry(key)?;
            return Ok(Hit::Corrupt(o.sha256.clone()));
        }
    }
    Ok(Hit::Valid(entry, outputs))
}

fn outputs_of_entry(store: &Store, entry: &CacheEntry) -> Vec<OutputInfo> {
    let outs: Json = serde_json::from_str(&entry.outputs_json).unwrap_or(Json::Null);
    let Json::Array(outs) = outs else { return Vec::new() };
    outs.into_iter()
        .map(|mut o| {
            let sha = o.get("sha256").and_then(Json::as_str).unwrap_or("").to_string();
            OutputInfo {
                name: o.get("name").and_then(Json::as_str).unwrap_or("").to_string(),
                kind: o.get("kind").and_then(Json::as_str).unwrap_or("").to_string(),
                path: store.objects.path(&sha),
                sha256: sha,
                value: o.get_mut("value").map(Json::take).filter(|v| !v.is_null()),
                meta: o.get_mut("meta").map(Json::take).unwrap_or(Json::Null),
            }
        })
        .collect()
}

fn new_execution(shared: &Shared, v: &Vertex, key: Option<&str>, attempt: u32) -> NewExecution {
    let args: serde_json::Map<String, Json> =
        v.args.iter().map(|(k, x)| (k.clone(), phx_dag::value_to_json(x))).collect();
    NewExecution {
        run_id: shared.run_id.clone(),
        vertex: v.id.clone(),
        node: v.node.clone(),
        tool: v.tool.clone(),
        tool_version: v.tool_version.clone(),
        static_key: v.static_key.clone(),
        cache_key: key.map(str::to_string),
        args_json: Json::Object(args).to_string(),
        attempt: attempt.max(1),
        started_at: now_rfc3339(),
    }
}

/// The record of a reuse: like [`new_execution`], but the arguments are
/// those of the execution the cache entry came from, so only that is kept.
fn reused_execution(shared: &Shared, v: &Vertex, key: &str, from: i64) -> NewExecution {
    NewExecution {
        run_id: shared.run_id.clone(),
        vertex: v.id.clone(),
        node: v.node.clone(),
        tool: v.tool.clone(),
        tool_version: v.tool_version.clone(),
        static_key: v.static_key.clone(),
        cache_key: Some(key.to_string()),
        args_json: format!("{{\"reused_execution\":{from}}}"),
        attempt: 1,
        started_at: now_rfc3339(),
    }
}

/// Hashes the literal files a vertex names into the store:
/// `(argument, path as written, sha256)`.
fn hash_literals(store: &Store, dir: &Path, v: &Vertex) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    for (arg, rel) in literal_files(v) {
        let p = dir.join(&rel);
        let (sha, _) =
            store.objects.put_file(&p).map_err(|e| format!("the file `{rel}` given as `{arg}` cannot be read: {e}"))?;
        out.push((arg, rel, sha));
    }
    Ok(out)
}

fn hashes_of_inputs(v: &Vertex, hashes: &OutputHashes, literals: &[(String, String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, val) in v.args.iter() {
        let mut refs = Vec::new();
        val.output_refs(&mut refs);
        for r in refs {
            for id in r.vertex_ids() {
                out.extend(hashes.get(&id, &r.output).unwrap_or_default());
            }
        }
    }
    out.extend(literals.iter().map(|(_, _, s)| s.clone()));
    out.sort();
    out.dedup();
    out
}

type Staging = Vec<(String, StagedInput, PathBuf)>;

/// Which objects to stage where: `(argument, input, object path)`.
fn staged_inputs(
    v: &Vertex,
    hashes: &OutputHashes,
    dag: &Dag,
    store: &Store,
    literals: &[(String, String, String)],
) -> Result<Staging, String> {
    let mut out = Vec::new();
    for (arg, val) in v.args.iter() {
        let mut refs = Vec::new();
        val.output_refs(&mut refs);
        let mut k = 0;
        for r in refs {
            for id in r.vertex_ids() {
                let kind = dag
                    .family(&r.node)
                    .and_then(|f| f.info.outputs.iter().find(|(n, _)| *n == r.output).map(|(_, t)| t.clone()))
                    .unwrap_or_else(|| "File".into());
                let list = hashes
                    .get(&id, &r.output)
                    .ok_or_else(|| format!("the input `{id}.{}` has no artifact", r.output))?;
                for sha in list {
                    let name = format!("{arg}_{k}.{}", extension(&kind));
                    k += 1;
                    let object = store.objects.path(&sha);
                    out.push((
                        arg.clone(),
                        StagedInput {
                            reference: format!("{id}.{}", r.output),
                            sha256: sha,
                            kind: kind.clone(),
                            path: PathBuf::from("in").join(&name),
                        },
                        object,
                    ));
                }
            }
        }
    }
    // A literal keeps its own file name where no other input took it
    // (`x/data.csv` and `y/data.csv` cannot both be `in/data.csv`).
    let mut taken: HashSet<PathBuf> = out.iter().map(|(_, s, _)| s.path.clone()).collect();
    for (k, (arg, rel, sha)) in literals.iter().enumerate() {
        let base = Path::new(rel).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| sha.clone());
        let mut path = PathBuf::from("in").join(&base);
        if taken.contains(&path) {
            path = PathBuf::from("in").join(format!("{arg}_{k}_{base}"));
        }
        taken.insert(path.clone());
        out.push((
            arg.clone(),
            StagedInput { reference: rel.clone(), sha256: sha.clone(), kind: "File".into(), path },
            store.objects.path(sha),
        ));
    }
    Ok(out)
}

struct Task {
    shared: Arc<Shared>,
    vertex: Vertex,
    tool: Arc<dyn crate::tool::Tool>,
    inputs: Staging,
    key: String,
    comps: Components,
    device: String,
    fallback: Option<String>,
    why: Vec<String>,
    cancel: watch::Receiver<bool>,
    parents: Vec<String>,
    placement: Placement,
}

/// A name fit for a folder: letters, digits, `_` and `-`.
pub(crate) fn safe_dir_name(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

impl Task {
    async fn execute(self) -> NodeOutcome {
        let v = &self.vertex;
        let store = &self.shared.store;
        let started = Instant::now();
        let mut outcome = NodeOutcome {
            device: Some(self.device.clone()),
            fallback: self.fallback.clone(),
            why: self.why.clone(),
            backend: self.placement.backend,
            placement: Some(self.placement.reason.clone()),
            ..NodeOutcome::of(v, NodeStatus::Failed)
        };
        let attempts = 1 + v.props.retries;
        for attempt in 1..=attempts {
            outcome.attempts = attempt;
            let exec_id = match store.db.start_execution(&new_execution(&self.shared, v, Some(&self.key), attempt)) {
                Ok(id) => id,
                Err(e) => {
                    outcome.error = Some(format!("{e} ({})", e.hint()));
                    break;
                }
            };
            let _ = store.db.set_execution_placement(
                exec_id,
                self.placement.backend.as_str(),
                None,
                Some(&self.placement.reason),
            );
            let t0 = Instant::now();
            let (result, job_id) = self.attempt(attempt, exec_id).await;
            outcome.job_id = job_id;
            let ms = t0.elapsed().as_millis() as i64;
            let now = now_rfc3339();
            match result {
                Ok(produced) => match self.commit(exec_id, &produced, &now, ms) {
                    Ok(outputs) => {
                        // Its outputs are safe in the store: the working
                        // folder keeps the logs and what reruns it by hand.
                        phx_store::prune_work_dir(&self.work_dir(attempt), phx_store::Keep::Rerunnable);
                        outcome.status = NodeStatus::Succeeded;
                        outcome.outputs = outputs;
                        outcome.device = Some(produced.device.clone());
                        outcome.error = None;
                        break;
                    }
                    Err(msg) => {
                        let _ = store.db.finish_execution(
                            exec_id,
                            "failed",
                            &now,
                            ms,
                            Some(&self.device),
                            None,
                            None,
                            Some(&msg),
                        );
                        outcome.error = Some(msg);
                    }
                },
                Err(ToolError::Cancelled) => {
                    let _ = store.db.finish_execution(
                        exec_id,
                        "cancelled",
                        &now,
                        ms,
                        Some(&self.device),
                        None,
                        None,
                        Some("cancelled"),
                    );
                    outcome.status = NodeStatus::Cancelled;
                    outcome.error = Some("cancelled".into());
                    break;
                }
                Err(e) => {
                    let code =
                        if let ToolError::Failed { exit_code, .. } = &e { exit_code.map(i64::from) } else { None };
                    let msg = e.to_string();
                    let _ = store.db.finish_execution(
                        exec_id,
                        "failed",
                        &now,
                        ms,
                        Some(&self.device),
                        None,
                        code,
                        Some(&msg),
                    );
                    outcome.error =
                        Some(if attempts > 1 { format!("{msg} (attempt {attempt} of {attempts})") } else { msg });
                }
            }
            if *self.cancel.borrow() {
                break;
            }
        }
        outcome.duration_ms = started.elapsed().as_millis() as u64;
        outcome
    }

    /// One try; with the job id when it ran on a cluster.
    async fn attempt(&self, attempt: u32, exec_id: i64) -> (Result<Produced, ToolError>, Option<String>) {
        let v = &self.vertex;
        let work = self.work_dir(attempt);
        let by_arg = match self.stage(&work) {
            Ok(x) => x,
            Err(e) => return (Err(e), None),
        };
        if !self.placement.is_remote() {
            let inv = Invocation {
                vertex: v,
                inputs: &by_arg,
                work_dir: &work,
                device: &self.device,
                timeout: v.props.timeout_s.map(Duration::from_secs_f64),
                cancel: self.cancel.clone(),
                deadline: v.props.timeout_s.map(|t| Instant::now() + Duration::from_secs_f64(t)),
            };
            return (self.tool.run(inv).await, None);
        }
        let Some(remote) = &self.shared.remote else {
            return (
                Err(ToolError::failed(format!(
                    "the policy sends this node to {} ({}), but that cluster is not connected\nhelp: check `phx doctor`, or run with `--backend local`",
                    self.placement.backend, self.placement.reason
                ))),
                None,
            );
        };
        let store = &self.shared.store;
        let backend = remote.backend_name();
        let reason = self.placement.reason.clone();
        let submitted = move |id: &str| {
            let _ = store.db.set_execution_placement(exec_id, backend, Some(id), Some(&reason));
        };
        match remote.run(v, &self.shared.run_id, &work, &by_arg, &self.device, self.cancel.clone(), &submitted).await {
            Ok((p, id)) => (Ok(p), id),
            Err((e, id)) => (Err(e), id),
        }
    }

    /// The working folder of one try.
    fn work_dir(&self, attempt: u32) -> PathBuf {
        self.shared
            .store
            .run_dir(&self.shared.run_id)
            .join("work")
            .join(format!("{}-{attempt}", safe_dir_name(&self.vertex.id)))
    }

    /// A fresh working folder with the inputs staged into it.
    fn stage(&self, work: &Path) -> Result<BTreeMap<String, Vec<StagedInput>>, ToolError> {
        let _ = std::fs::remove_dir_all(work);
        std::fs::create_dir_all(work)
            .map_err(|e| ToolError::failed(format!("cannot create the working folder `{}`: {e}", work.display())))?;
        let mut by_arg: BTreeMap<String, Vec<StagedInput>> = BTreeMap::new();
        for (arg, input, object) in &self.inputs {
            let name = input.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let rel = stage(object, work, &name)
                .map_err(|e| ToolError::failed(format!("cannot stage input `{}`: {e}", input.reference)))?;
            by_arg.entry(arg.clone()).or_default().push(StagedInput { path: rel, ..input.clone() });
        }
        Ok(by_arg)
    }

    /// Moves outputs into the store and records them, their lineage and the
    /// cache entry in one transaction.
    fn commit(&self, exec_id: i64, produced: &Produced, now: &str, ms: i64) -> Result<Vec<OutputInfo>, String> {
        let store = &self.shared.store;
        let mut infos = Vec::new();
        let mut rows = Vec::new();
        let mut sizes = Vec::new();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for o in &produced.outputs {
            *counts.entry(o.name.as_str()).or_default() += 1;
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for o in &produced.outputs {
            // The produced file becomes the object (no second copy).
            let (sha, size) = store.objects.put_file_owned(&o.path).map_err(|e| format!("{e} ({})", e.hint()))?;
            let n = seen.entry(o.name.as_str()).or_default();
            // List outputs (`files`) keep every item, in order.
            let name = if counts[o.name.as_str()] > 1 || o.name == "files" {
                format!("{}#{n}", o.name)
            } else {
                o.name.clone()
            };
            *n += 1;
            // The graphics contract: every output says where and how fast
            // it was made, and its size, whatever the tool itself recorded.
            let mut meta = match &o.meta {
                Json::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            crate::contract::complete(&o.kind, &store.objects.path(&sha), &mut meta);
            meta.insert("device".into(), json!(produced.device));
            meta.insert("sha256".into(), json!(sha));
            meta.insert("bytes".into(), json!(size));
            meta.entry("duration_ms").or_insert(json!(ms));
            let meta = Json::Object(meta);
            rows.push(OutputRow {
                name: name.clone(),
                sha256: sha.clone(),
                kind: o.kind.clone(),
                meta_json: meta.to_string(),
            });
            sizes.push(size as i64);
            infos.push(OutputInfo {
                name,
                kind: o.kind.clone(),
                path: store.objects.path(&sha),
                sha256: sha,
                value: o.value.clone(),
                meta,
            });
        }
        let outputs_json = Json::Array(
            infos
                .iter()
                .map(|i| json!({"name": i.name, "kind": i.kind, "sha256": i.sha256, "value": i.value, "meta": i.meta}))
                .collect(),
        );
        let entry = (self.vertex.props.cache).then(|| CacheEntry {
            cache_key: self.key.clone(),
            file: self.shared.opts.file.clone(),
            vertex: self.vertex.id.clone(),
            tool: self.vertex.tool.clone(),
            components_json: self.comps.to_json().to_string(),
            outputs_json: outputs_json.to_string(),
            execution_id: exec_id,
            created_at: now.to_string(),
        });
        store
            .db
            .commit_outputs(
                exec_id,
                &rows,
                &sizes,
                &self.parents,
                entry.as_ref(),
                now,
                &phx_store::Succeeded {
                    duration_ms: ms,
                    device: Some(&produced.device),
                    fallback: produced.fallback.as_deref().or(self.fallback.as_deref()),
                    exit_code: produced.exit_code.map(i64::from),
                },
            )
            .map_err(|e| format!("{e} ({})", e.hint()))?;
        Ok(infos)
    }
}
