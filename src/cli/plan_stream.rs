//! `phx run --dry-run --format json`, streamed: each vertex's entry is
//! written as the scheduler decides it, so a plan of a million instances
//! is never held whole. The document is the one printed whole elsewhere:
//! `nodes` (every vertex, in order), then the run's own fields.

use std::io::{BufWriter, Stdout, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use phx_app::AppError;
use phx_app::run::{NodeOutcome, RunResult};

/// A plan's JSON on its way to stdout.
pub struct PlanStream {
    exp_dir: PathBuf,
    out: Mutex<Written>,
}

struct Written {
    out: BufWriter<Stdout>,
    /// Whether the document has begun (`{"nodes": [`).
    begun: bool,
}

impl Written {
    fn begin(&mut self) {
        if !self.begun {
            let _ = self.out.write_all(b"{\n\"nodes\": [\n");
            self.begun = true;
        } else {
            let _ = self.out.write_all(b",\n");
        }
    }
}

impl PlanStream {
    /// A stream for a plan of the experiment in `exp_dir` (paths in the
    /// entries are relative to it).
    pub fn new(exp_dir: PathBuf) -> PlanStream {
        PlanStream {
            exp_dir,
            out: Mutex::new(Written { out: BufWriter::with_capacity(256 * 1024, std::io::stdout()), begun: false }),
        }
    }

    /// Writes one vertex's entry.
    pub fn node(&self, o: &NodeOutcome) {
        let entry = phx_app::run::node_result(&self.exp_dir, o.clone());
        let Ok(mut w) = self.out.lock() else { return };
        w.begin();
        let _ = serde_json::to_writer(&mut w.out, &entry);
    }

    /// Ends the document with the run's own fields (its `nodes`, folded,
    /// were written one by one).
    pub fn finish(&self, result: &RunResult) {
        let Ok(mut w) = self.out.lock() else { return };
        if !w.begun {
            let _ = w.out.write_all(b"{\n\"nodes\": [");
            w.begun = true;
        }
        let _ = w.out.write_all(b"\n]");
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(result) {
            for (k, v) in fields.iter().filter(|(k, _)| *k != "nodes" && *k != "families") {
                let _ = write!(w.out, ",\n{}: {}", serde_json::Value::from(k.as_str()), v);
            }
        }
        let _ = w.out.write_all(b"\n}\n");
        let _ = w.out.flush();
    }

    /// After an error: stdout stays empty if nothing was written, else the
    /// document is closed with the error, so that it still parses.
    pub fn abort(&self, e: &AppError) {
        let Ok(mut w) = self.out.lock() else { return };
        if w.begun {
            let error = serde_json::json!({"code": e.code, "message": e.message});
            let _ = write!(w.out, "\n],\n\"error\": {error}\n}}\n");
        }
        let _ = w.out.flush();
    }
}
