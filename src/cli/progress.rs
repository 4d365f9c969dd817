//! What a person sees while a run goes: a live line on a terminal (nodes
//! done, running, cached, failed, elapsed, the node running longest), plain
//! log lines elsewhere, and a table at the end.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use phx_app::run::{Event, NodeOutcome, NodeStatus};

struct Counts {
    done: usize,
    cached: usize,
    failed: usize,
    running: HashMap<String, Instant>,
    /// Plain log lines. Cache hits wait in it up to [`LOG_FLUSH`] (a write
    /// a line was a system call per node: 100,000 of them in a re-run);
    /// any other line goes out at once, so a log shows what runs now.
    log: std::io::BufWriter<std::io::Stderr>,
    flushed: Instant,
}

/// How long plain log lines may wait in the buffer.
const LOG_FLUSH: Duration = Duration::from_millis(100);

impl Counts {
    /// Logs a plain line (without a live display); `urgent` ones go out
    /// at once.
    fn log(&mut self, text: &str, urgent: bool) {
        let _ = writeln!(self.log, "{text}");
        if urgent || self.flushed.elapsed() >= LOG_FLUSH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let _ = self.log.flush();
        self.flushed = Instant::now();
    }
}

/// The progress display of one run.
pub struct Progress {
    total: usize,
    counts: Arc<Mutex<Counts>>,
    bar: Option<ProgressBar>,
    started: Instant,
    ticker: Option<std::thread::JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

fn status_line(total: usize, c: &Counts, started: Instant) -> String {
    let longest = c
        .running
        .iter()
        .min_by_key(|(_, t)| **t)
        .map(|(id, t)| format!(" · longest: {id} {:.1}s", t.elapsed().as_secs_f64()))
        .unwrap_or_default();
    format!(
        "{}/{total} done · {} running · {} cached · {} failed · {:.1}s{longest}",
        c.done,
        c.running.len(),
        c.cached,
        c.failed,
        started.elapsed().as_secs_f64()
    )
}

impl Progress {
    /// A live display when `live`, plain lines otherwise.
    pub fn new(total: usize, live: bool) -> Progress {
        let counts = Arc::new(Mutex::new(Counts {
            done: 0,
            cached: 0,
            failed: 0,
            running: HashMap::new(),
            log: std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()),
            flushed: Instant::now(),
        }));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = Instant::now();
        let (bar, ticker) = if live {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let (b, c, s) = (bar.clone(), counts.clone(), stop.clone());
            // Elapsed times move even when no node finishes.
            let ticker = std::thread::spawn(move || {
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(c) = c.lock() {
                        b.set_message(status_line(total, &c, started));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            (Some(bar), Some(ticker))
        } else {
            (None, None)
        };
        Progress { total, counts, bar, started, ticker, stop }
    }

    /// Takes one scheduler event.
    pub fn event(&self, e: Event, line: impl Fn(&NodeOutcome) -> String) {
        let Ok(mut c) = self.counts.lock() else { return };
        match e {
            Event::Started { id, tool } => {
                c.running.insert(id.clone(), Instant::now());
                if self.bar.is_none() {
                    c.log(&format!("start     {id} ({tool})"), true);
                }
            }
            Event::Finished(o) => {
                c.running.remove(&o.id);
                c.done += 1;
                c.cached += usize::from(o.cached);
                c.failed += usize::from(o.status == NodeStatus::Failed);
                let text = format!("[{}/{}] {}", c.done, self.total, line(&o));
                match &self.bar {
                    // Finished nodes scroll above the live line; cache hits
                    // only count, so a re-run of thousands stays quiet.
                    Some(bar) => {
                        bar.set_position(c.done as u64);
                        if !o.cached {
                            bar.println(text);
                        }
                        bar.set_message(status_line(self.total, &c, self.started));
                    }
                    None => c.log(&text, !o.cached),
                }
            }
            Event::Log(l) => {
                let text =
                    format!("          {} | {}{}", l.vertex, if l.stream == "stderr" { "! " } else { "" }, l.line);
                match &self.bar {
                    Some(bar) => bar.println(text),
                    None => c.log(&text, true),
                }
            }
        }
    }

    /// A line a person should read (a cluster connected, a warning), above
    /// the live line.
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                if let Ok(mut c) = self.counts.lock() {
                    c.log(text, true);
                }
            }
        }
    }

    /// Ends the live line.
    pub fn finish(mut self) {
        if let Ok(mut c) = self.counts.lock() {
            c.flush();
        }
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The table at the end of a run: one row per node.
pub fn summary_table(r: &phx_app::RunResult) -> String {
    let width = r.nodes.iter().map(|n| n.id.chars().count()).max().unwrap_or(4).max(4);
    let tool_w = r.nodes.iter().map(|n| n.tool.chars().count()).max().unwrap_or(4).max(4);
    let mut t =
        format!("{:<width$}  {:<tool_w$}  {:<9}  {:<6}  {:>9}  note\n", "node", "tool", "status", "device", "time");
    for n in &r.nodes {
        let status = if n.cached { "cached" } else { n.status.as_str() };
        let time =
            if n.cached || n.status == NodeStatus::Skipped { "-".to_string() } else { format!("{} ms", n.duration_ms) };
        let note = n
            .error
            .as_deref()
            .and_then(|e| e.lines().next())
            .map(str::to_string)
            .or_else(|| n.fallback.as_ref().map(|f| format!("ran on the CPU: {f}")))
            .unwrap_or_default();
        t.push_str(&format!(
            "{:<width$}  {:<tool_w$}  {:<9}  {:<6}  {:>9}  {note}\n",
            n.id,
            n.tool,
            status,
            n.device.as_deref().unwrap_or("-"),
            time
        ));
    }
    t
}
