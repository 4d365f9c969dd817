//! What a person sees while a run goes: a live line on a terminal (nodes
//! done, running, cached, failed, elapsed, the node running longest), plain
//! log lines elsewhere, and a table at the end. A large run counts each
//! sweep's instances instead of a line for each: a failed one still gets
//! its line at once, and a log gets a line per sweep every few seconds.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use phx_app::run::{Event, NodeOutcome, NodeStatus, thousands};

struct Counts {
    done: usize,
    cached: usize,
    failed: usize,
    running: HashMap<String, Instant>,
    /// The sweeps counted rather than logged an instance at a time, by
    /// name (none when every instance gets its lines).
    sweeps: HashMap<String, SweepProgress>,
    /// When sweep lines were last logged.
    sweeps_logged: Instant,
    /// Plain log lines. Cache hits wait in it up to [`LOG_FLUSH`] (a write
    /// a line was a system call per node: 100,000 of them in a re-run);
    /// any other line goes out at once, so a log shows what runs now.
    log: std::io::BufWriter<std::io::Stderr>,
    flushed: Instant,
}

/// How long plain log lines may wait in the buffer.
const LOG_FLUSH: Duration = Duration::from_millis(100);

/// How often a log gets a line for each sweep that moved.
const SWEEP_LOG_EVERY: Duration = Duration::from_secs(5);

/// One sweep's instances so far.
#[derive(Clone, Copy, Default)]
struct SweepProgress {
    total: usize,
    done: usize,
    cached: usize,
    failed: usize,
    /// Skipped or cancelled.
    skipped: usize,
    /// `done` when its line was last logged.
    logged: usize,
    /// Instances of it given a line of their own (what went wrong).
    shown: usize,
    /// Whether an instance that fell back to the CPU was shown.
    fallback_shown: bool,
}

/// Instances of one sweep that went wrong shown one by one, at most; the
/// rest are counted (a cancelled sweep of 100,000 is one line, not 100,000).
const SHOWN_PER_SWEEP: usize = 20;

impl SweepProgress {
    fn line(&self, name: &str) -> String {
        let skipped = if self.skipped > 0 {
            format!(", {} skipped or cancelled", thousands(self.skipped))
        } else {
            String::new()
        };
        format!(
            "{name}[*]: {} of {} done ({} cached, {} failed{skipped})",
            thousands(self.done),
            thousands(self.total),
            thousands(self.cached),
            thousands(self.failed)
        )
    }
}

/// The sweep of a vertex id (`t` of `t[42]`).
fn sweep_of(id: &str) -> Option<&str> {
    phx_store::parse_vertex_id(id).and_then(|(name, index)| index.map(|_| name))
}

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

    /// Logs a line for each sweep that moved since its last one, at most
    /// every [`SWEEP_LOG_EVERY`] (or now, with `now`).
    fn log_sweeps(&mut self, now: bool) {
        if !now && self.sweeps_logged.elapsed() < SWEEP_LOG_EVERY {
            return;
        }
        self.sweeps_logged = Instant::now();
        let mut moved: Vec<(String, SweepProgress)> =
            self.sweeps.iter().filter(|(_, p)| p.done > p.logged).map(|(n, p)| (n.clone(), *p)).collect();
        moved.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, p) in moved {
            self.log(&p.line(&name), true);
            if let Some(p) = self.sweeps.get_mut(&name) {
                p.logged = p.done;
            }
        }
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
    // The sweeps under way (started, not finished), by name.
    let mut sweeps: Vec<(&String, &SweepProgress)> =
        c.sweeps.iter().filter(|(_, p)| p.done > 0 && p.done < p.total).collect();
    sweeps.sort_by(|a, b| a.0.cmp(b.0));
    let sweeps: String = sweeps
        .iter()
        .take(3)
        .map(|(name, p)| format!(" · {name}[*] {}/{}", thousands(p.done), thousands(p.total)))
        .collect();
    format!(
        "{}/{total} done · {} running · {} cached · {} failed{sweeps} · {:.1}s{longest}",
        c.done,
        c.running.len(),
        c.cached,
        c.failed,
        started.elapsed().as_secs_f64()
    )
}

impl Progress {
    /// A live display when `live`, plain lines otherwise. The instances
    /// of `sweeps` (name and number of instances) are counted, not each
    /// shown, unless they fail.
    pub fn new(total: usize, live: bool, sweeps: &[(String, usize)]) -> Progress {
        let counts = Arc::new(Mutex::new(Counts {
            done: 0,
            cached: 0,
            failed: 0,
            running: HashMap::new(),
            sweeps: sweeps
                .iter()
                .map(|(name, total)| (name.clone(), SweepProgress { total: *total, ..SweepProgress::default() }))
                .collect(),
            sweeps_logged: Instant::now(),
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
                let counted = sweep_of(&id).is_some_and(|name| c.sweeps.contains_key(name));
                c.running.insert(id.clone(), Instant::now());
                if self.bar.is_none() && !counted {
                    c.log(&format!("start     {id} ({tool})"), true);
                }
            }
            Event::Finished(o) => {
                c.running.remove(&o.id);
                c.done += 1;
                c.cached += usize::from(o.cached);
                c.failed += usize::from(o.status == NodeStatus::Failed);
                let mut last_note = None;
                let mut sweep_complete = None;
                if let Some(p) = sweep_of(&o.id).and_then(|name| c.sweeps.get_mut(name)) {
                    p.done += 1;
                    p.cached += usize::from(o.cached);
                    p.failed += usize::from(o.status == NodeStatus::Failed);
                    p.skipped += usize::from(matches!(o.status, NodeStatus::Skipped | NodeStatus::Cancelled));
                    // What went wrong gets its line (up to a bound), and
                    // so does the first fallback to the CPU.
                    let went_well = o.status == NodeStatus::Succeeded;
                    let worth_a_line = if went_well {
                        o.fallback.is_some() && !std::mem::replace(&mut p.fallback_shown, true)
                    } else {
                        p.shown += 1;
                        p.shown <= SHOWN_PER_SWEEP
                    };
                    let last_shown = !went_well && p.shown == SHOWN_PER_SWEEP;
                    sweep_complete = Some(p.done == p.total);
                    if !worth_a_line {
                        match &self.bar {
                            Some(bar) => bar.set_position(c.done as u64),
                            None => c.log_sweeps(sweep_complete == Some(true)),
                        }
                        return;
                    }
                    if last_shown {
                        last_note = Some(format!(
                            "(more of {}[*] that did not succeed are counted, not listed)",
                            sweep_of(&o.id).unwrap_or("")
                        ));
                    }
                }
                let mut text = format!("[{}/{}] {}", c.done, self.total, line(&o));
                if let Some(note) = last_note {
                    text.push('\n');
                    text.push_str(&note);
                }
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
                    None => {
                        c.log(&text, !o.cached);
                        // The sweep's line after the instance's own.
                        if let Some(complete) = sweep_complete {
                            c.log_sweeps(complete);
                        }
                    }
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
            if self.bar.is_none() {
                c.log_sweeps(true);
            }
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
