//! `phx worker SPEC`: runs one node from a node spec file, as a job on a
//! cluster does. It compiles the program carried in the spec, finds the
//! vertex (its static key must match the run's), checks the staged inputs'
//! hashes, runs the tool in the spec's folder and writes `result.json`
//! there. The exit code is 0 when the node succeeded, the tool's own exit
//! code (or 1) when it failed, and 3 when the spec cannot be used.

use std::path::{Path, PathBuf};

use phx_db::{Database, MapLoader};
use phx_runtime::worker::{self, NodeSpec, WorkerResult};

use super::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The node spec (`spec.json` in the node's working folder).
    spec: PathBuf,
}

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

/// Compiles the spec's program and returns the vertex it names.
fn vertex_of(spec: &NodeSpec) -> Result<phx_dag::Vertex, String> {
    let mut db = Database::new();
    db.set_overrides(spec.program.overrides.clone());
    db.set_allow_large(spec.program.allow_large);
    let file = db.load_with_imports(&spec.program.path, &MapLoader(&spec.program.sources));
    if let Some(e) = file.load_error(&db) {
        return Err(format!("the program cannot be loaded from the spec: {e}"));
    }
    let checked = db.check(file);
    if checked.has_errors() {
        let first = checked.diagnostics.iter().find(|d| d.is_error()).map(|d| d.message.clone()).unwrap_or_default();
        return Err(format!("the program in the spec does not check here: {first}"));
    }
    let v =
        checked.dag.vertex(&spec.vertex).ok_or_else(|| format!("the program has no node `{}`", spec.vertex))?.clone();
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
    let spec = match worker::read_spec(&a.spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ENVIRONMENT;
        }
    };
    let spec_path = a.spec.canonicalize().unwrap_or(a.spec.clone());
    let dir = spec_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    eprintln!("phx worker: node {} of run {} on {}", spec.vertex, spec.run_id, phx_runtime::provenance::host());
    let prepared = worker::verify_inputs(&spec, &dir).and_then(|_| vertex_of(&spec)).and_then(|v| {
        let tool = phx_stdlib::registry().for_vertex(&v)?;
        Ok((v, tool))
    });
    let (vertex, tool) = match prepared {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            write_result(&dir, &WorkerResult::failure(e));
            return exit::ENVIRONMENT;
        }
    };
    // What the node starts ends with it, and with the worker if it is killed.
    let _watchdog = phx_app::processes::watchdog(&|note| eprintln!("{note}"));
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            write_result(&dir, &WorkerResult::failure(format!("cannot start: {e}")));
            return exit::ENVIRONMENT;
        }
    };
    // scancel sends SIGTERM: the tool is stopped and the result says so.
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
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let echo = echo_command_output(dir.clone(), stop.clone());
    let result = rt.block_on(worker::execute(&spec, &vertex, tool.as_ref(), &dir, cancel));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = echo.join();
    if let Some(e) = &result.error {
        eprintln!("error: {e}");
    }
    let code = if result.ok { exit::OK } else { result.exit_code.map_or(exit::INVALID, |c| c.clamp(1, 255) as u8) };
    if !write_result(&dir, &result) {
        return exit::ENVIRONMENT;
    }
    eprintln!(
        "phx worker: {} in {} ms",
        if result.ok {
            "succeeded"
        } else if result.cancelled {
            "cancelled"
        } else {
            "failed"
        },
        result.duration_ms
    );
    code
}

/// Copies what a command-backed tool writes to its output files
/// (`.phx-stdout`, `.phx-stderr`) to the worker's own stdout and stderr
/// as it grows: the job's output files are what the scheduler streams.
fn echo_command_output(
    dir: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
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
                    if i == 0 {
                        let _ = std::io::stdout().write_all(&buf);
                        let _ = std::io::stdout().flush();
                    } else {
                        let _ = std::io::stderr().write_all(&buf);
                    }
                }
            }
            if last {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    })
}
