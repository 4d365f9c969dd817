//! `phx worker SPEC`: runs one node from a node spec file, as a job on a
//! cluster does. It compiles the program carried in the spec, finds the
//! vertex (its static key must match the run's), checks the staged inputs'
//! hashes, runs the tool in the spec's folder and writes `result.json`
//! there. The exit code is 0 when the node succeeded, the tool's own exit
//! code (or 1) when it failed, and 3 when the spec cannot be used.
//!
//! `phx worker --batch MANIFEST --task I`: one task of a job array runs
//! the instances the manifest lists for it, one after another, compiling
//! the program once. Each instance is run exactly as a single worker runs
//! it and writes its own `result.json`, `job.out` and `job.err` in its own
//! folder, so a failed instance fails alone. The exit code is 0 once every
//! instance has its result (whatever it says), 3 when the manifest cannot
//! be used.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use phx_runtime::worker::{self, NodeSpec, ProgramSource, WorkerResult};

use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The node spec (`spec.json` in the node's working folder).
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    spec: Option<PathBuf>,
    /// A job array's manifest: run the instances of one of its tasks.
    #[arg(long, value_name = "MANIFEST")]
    batch: Option<PathBuf>,
    /// The array task whose instances to run (default: `$SLURM_ARRAY_TASK_ID`).
    #[arg(long, requires = "batch")]
    task: Option<usize>,
}

/// Where a worker's own lines and a command's output go: its stdout and
/// stderr (one node per job), or the instance's `job.out` / `job.err`
/// (a batch, where the job's files are shared by many instances).
enum Sink {
    Std,
    Files(PathBuf),
}

impl Sink {
    fn write(&self, stderr: bool, bytes: &[u8]) {
        match self {
            Sink::Std if stderr => {
                let _ = std::io::stderr().write_all(bytes);
            }
            Sink::Std => {
                let _ = std::io::stdout().write_all(bytes);
                let _ = std::io::stdout().flush();
            }
            Sink::Files(dir) => {
                let name = if stderr { "job.err" } else { "job.out" };
                if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)) {
                    let _ = f.write_all(bytes);
                }
            }
        }
    }

    fn line(&self, text: &str) {
        self.write(true, format!("{text}\n").as_bytes());
    }
}

/// The last program compiled, so that a batch compiles it once.
type Compiled = Option<(ProgramSource, Arc<phx_dag::Dag>)>;

fn write_result(dir: &Path, r: &WorkerResult) -> bool {
    let text = match serde_json::to_vec_pretty(r) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("phx worker: cannot encode the result: {e}");
            return false;
        }
    };
    match phx_store::write_atomic(&dir.join("result.json"), &text) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("phx worker: cannot write `{}`: {e}", dir.join("result.json").display());
            false
        }
    }
}

/// Compiles the spec's program (unless `compiled` holds it) and returns the
/// vertex it names.
fn vertex_of(spec: &NodeSpec, compiled: &mut Compiled) -> Result<phx_dag::Vertex, String> {
    let dag = match compiled {
        Some((program, dag)) if *program == spec.program => dag.clone(),
        _ => {
            let dag = phx_app::program::dag_of_source(&spec.program).map_err(|e| format!("in the spec: {e}"))?;
            *compiled = Some((spec.program.clone(), dag.clone()));
            dag
        }
    };
    let v = dag.vertex(&spec.vertex).ok_or_else(|| format!("the program has no node `{}`", spec.vertex))?.clone();
    if v.static_key != spec.static_key {
        return Err(format!(
            "node `{}` compiles to another static key here ({} instead of {}): this phx differs from the one that planned the run",
            spec.vertex,
            &v.static_key[..12.min(v.static_key.len())],
            &spec.static_key[..12.min(spec.static_key.len())]
        ));
    }
    Ok(v)
}

pub fn run(a: Args) -> u8 {
    match (&a.spec, &a.batch) {
        (_, Some(manifest)) => run_batch(manifest, a.task),
        (Some(spec), None) => run_single(spec),
        (None, None) => {
            eprintln!("error: give a node spec, or --batch MANIFEST");
            exit::ENVIRONMENT
        }
    }
}

/// A runtime, stopped by SIGINT or SIGTERM (scancel): the tool is stopped
/// and the result says so.
fn runtime() -> Result<(tokio::runtime::Runtime, tokio::sync::watch::Receiver<bool>), String> {
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("cannot start: {e}"))?;
    let (tx, cancel) = tokio::sync::watch::channel(false);
    rt.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        let _ = tx.send(true);
    });
    Ok((rt, cancel))
}

fn run_single(spec_path: &Path) -> u8 {
    // What the node starts ends with it, and with the worker if it is killed.
    let _watchdog = phx_app::processes::watchdog(&|note| eprintln!("{note}"));
    let (rt, cancel) = match runtime() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(dir) = spec_path.parent() {
                write_result(dir, &WorkerResult::failure(e));
            }
            return exit::ENVIRONMENT;
        }
    };
    let sink = Arc::new(Sink::Std);
    run_instance(&rt, spec_path, &sink, cancel, &mut None).0
}

fn run_batch(manifest_path: &Path, task: Option<usize>) -> u8 {
    let task = task.or_else(|| std::env::var("SLURM_ARRAY_TASK_ID").ok().and_then(|t| t.trim().parse().ok()));
    let manifest = match worker::read_manifest(manifest_path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ENVIRONMENT;
        }
    };
    let Some(specs) = task.and_then(|t| manifest.tasks.get(t)) else {
        eprintln!(
            "error: the manifest `{}` has {} tasks; give --task (or $SLURM_ARRAY_TASK_ID) below that",
            manifest_path.display(),
            manifest.tasks.len()
        );
        return exit::ENVIRONMENT;
    };
    eprintln!(
        "phx worker: task {} of run {}: {} instances on {}",
        task.unwrap_or(0),
        manifest.run_id,
        specs.len(),
        phx_runtime::provenance::host()
    );
    let _watchdog = phx_app::processes::watchdog(&|note| eprintln!("{note}"));
    let (rt, cancel) = match runtime() {
        Ok(x) => x,
        Err(e) => {
            // No instance can run: each says why, so none waits for nothing.
            for spec in specs {
                if let Some(dir) = Path::new(spec).parent() {
                    write_result(dir, &WorkerResult::failure(e.clone()));
                }
            }
            eprintln!("error: {e}");
            return exit::ENVIRONMENT;
        }
    };
    let mut compiled: Compiled = None;
    let (mut ok, mut failed) = (0usize, 0usize);
    for spec in specs {
        if *cancel.borrow() {
            // The rest never start: their results stay missing, and the
            // run that cancelled the array knows why.
            break;
        }
        let dir = Path::new(spec).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let sink = Arc::new(Sink::Files(dir));
        let (_, succeeded) = run_instance(&rt, Path::new(spec), &sink, cancel.clone(), &mut compiled);
        if succeeded {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    eprintln!("phx worker: task done: {ok} succeeded, {failed} failed");
    exit::OK
}

/// Runs one node spec, its lines and the command's output into `sink`;
/// the exit code a single worker gives, and whether the node succeeded.
fn run_instance(
    rt: &tokio::runtime::Runtime,
    spec_path: &Path,
    sink: &Arc<Sink>,
    cancel: tokio::sync::watch::Receiver<bool>,
    compiled: &mut Compiled,
) -> (u8, bool) {
    let spec_path = spec_path.canonicalize().unwrap_or(spec_path.to_path_buf());
    let dir = spec_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let spec = match worker::read_spec(&spec_path) {
        Ok(s) => s,
        Err(e) => {
            sink.line(&format!("error: {e}"));
            write_result(&dir, &WorkerResult::failure(e));
            return (exit::ENVIRONMENT, false);
        }
    };
    sink.line(&format!(
        "phx worker: node {} of run {} on {}",
        spec.vertex,
        spec.run_id,
        phx_runtime::provenance::host()
    ));
    let prepared = worker::verify_inputs(&spec, &dir).and_then(|_| vertex_of(&spec, compiled)).and_then(|v| {
        let tool = phx_stdlib::registry().for_vertex(&v)?;
        Ok((v, tool))
    });
    let (vertex, tool) = match prepared {
        Ok(x) => x,
        Err(e) => {
            sink.line(&format!("error: {e}"));
            write_result(&dir, &WorkerResult::failure(e));
            return (exit::ENVIRONMENT, false);
        }
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let echo = echo_command_output(dir.clone(), stop.clone(), sink.clone());
    let result = rt.block_on(worker::execute(&spec, &vertex, tool.as_ref(), &dir, cancel));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Wake it for its last pass now: a batch runs many nodes in a row.
    echo.thread().unpark();
    let _ = echo.join();
    if let Some(e) = &result.error {
        sink.line(&format!("error: {e}"));
    }
    let code = if result.ok { exit::OK } else { result.exit_code.map_or(exit::INVALID, |c| c.clamp(1, 255) as u8) };
    if !write_result(&dir, &result) {
        return (exit::ENVIRONMENT, false);
    }
    sink.line(&format!(
        "phx worker: {} in {} ms",
        if result.ok {
            "succeeded"
        } else if result.cancelled {
            "cancelled"
        } else {
            "failed"
        },
        result.duration_ms
    ));
    (code, result.ok)
}

/// Copies what a command-backed tool writes to its output files
/// (`.phx-stdout`, `.phx-stderr`) to the worker's own stdout and stderr
/// as it grows: the job's output files are what the scheduler streams.
fn echo_command_output(
    dir: PathBuf,
    stop: Arc<std::sync::atomic::AtomicBool>,
    sink: Arc<Sink>,
) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Seek, SeekFrom};
    std::thread::spawn(move || {
        let mut offsets = [0u64; 2];
        loop {
            let last = stop.load(std::sync::atomic::Ordering::Relaxed);
            for (i, name) in [".phx-stdout", ".phx-stderr"].iter().enumerate() {
                let Ok(mut f) = std::fs::File::open(dir.join(name)) else { continue };
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if len < offsets[i] {
                    offsets[i] = 0; // a retry started the file again
                }
                if len == offsets[i] || f.seek(SeekFrom::Start(offsets[i])).is_err() {
                    continue;
                }
                let mut buf = Vec::new();
                if f.take(len - offsets[i]).read_to_end(&mut buf).is_ok() {
                    offsets[i] += buf.len() as u64;
                    sink.write(i == 1, &buf);
                }
            }
            if last {
                return;
            }
            std::thread::park_timeout(std::time::Duration::from_millis(200));
        }
    })
}
