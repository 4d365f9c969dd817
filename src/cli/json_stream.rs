//! `phx run --format json`, streamed: each vertex's entry is written as
//! soon as it is final (decided, in a plan; ended, and in a run its outputs
//! placed in `results/`), so a run or plan of a million instances is never
//! held whole. The document is the one printed whole elsewhere: `nodes`
//! (every vertex, in the order they became final), then the run's own
//! fields.

use std::io::{BufWriter, Stdout, Write};
use std::sync::Mutex;

use phx_app::AppError;
use phx_app::run::{NodeResult, RunResult};

/// A run's (or a plan's) JSON on its way to stdout.
pub struct RunStream {
    out: Mutex<Written>,
}

struct Written {
    out: BufWriter<Stdout>,
    /// Whether the document has begun (`{"nodes": [`).
    begun: bool,
    /// When the buffer last went out: entries wait in it at most
    /// [`FLUSH_EVERY`], so a reader sees a long run's entries as they come
    /// without a write per entry.
    flushed: std::time::Instant,
}

/// How long written entries may wait in the buffer.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

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

impl RunStream {
    /// A stream to stdout.
    pub fn new() -> RunStream {
        RunStream {
            out: Mutex::new(Written {
                out: BufWriter::with_capacity(256 * 1024, std::io::stdout()),
                begun: false,
                flushed: std::time::Instant::now(),
            }),
        }
    }

    /// Writes one vertex's entry.
    pub fn node(&self, entry: &NodeResult) {
        let Ok(mut w) = self.out.lock() else { return };
        w.begin();
        let _ = serde_json::to_writer(&mut w.out, entry);
        if w.flushed.elapsed() >= FLUSH_EVERY {
            let _ = w.out.flush();
            w.flushed = std::time::Instant::now();
        }
    }

    /// Ends the document with the run's own fields (its `nodes`, folded,
    /// were written one by one).
    pub fn finish(&self, mut result: RunResult) {
        let Ok(mut w) = self.out.lock() else { return };
        if !w.begun {
            let _ = w.out.write_all(b"{\n\"nodes\": [");
            w.begun = true;
        }
        let _ = w.out.write_all(b"\n]");
        // Without what was streamed (a cancelled sweep may list 100,000).
        super::common::release_at_exit(std::mem::take(&mut result.nodes));
        result.families = Vec::new();
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&result) {
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
