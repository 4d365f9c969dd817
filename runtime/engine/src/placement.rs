//! Where each node runs, and why: the policies `local_first`,
//! `remote_first` and `auto`. The decision and its reason go into the
//! plan (`--dry-run`) and into every execution's provenance.

use phx_dag::Vertex;
use phx_sema::value::Value;

use phx_sema::enums::Device;

use crate::status::{BackendKind, Policy};

/// What this machine offers, for the decision.
#[derive(Clone, Debug)]
pub struct Machine {
    pub cpus: usize,
    pub mem_bytes: Option<u64>,
    /// The GPU's name, or why there is none.
    pub gpu: Result<String, String>,
}

impl Machine {
    /// This machine (the GPU as `gpu` says).
    pub fn here(gpu: Result<String, String>) -> Machine {
        Machine { cpus: std::thread::available_parallelism().map_or(1, |n| n.get()), mem_bytes: mem_total(), gpu }
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Where a node runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// `Local`, or the cluster it goes to.
    pub backend: BackendKind,
    /// The policy's reason, in words.
    pub reason: String,
}

impl Placement {
    fn local(reason: impl Into<String>) -> Placement {
        Placement { backend: BackendKind::Local, reason: reason.into() }
    }

    fn remote(cluster: BackendKind, reason: impl Into<String>) -> Placement {
        Placement { backend: cluster, reason: reason.into() }
    }

    /// Whether the node leaves this machine.
    pub fn is_remote(&self) -> bool {
        self.backend != BackendKind::Local
    }
}

/// Above this many estimated seconds of work here, `auto` sends a node
/// away: below it, a job's own overhead (seconds) would cost more.
pub const AUTO_THRESHOLD_S: f64 = 60.0;

/// A rough cost per point of work (grid points, samples × frames): what
/// the stdlib's kernels take per point, on one core.
const SECONDS_PER_POINT: f64 = 1e-7;

fn resource<'a>(v: &'a Vertex, name: &str) -> Option<&'a Value> {
    v.props.resources.iter().find(|(k, _)| k == name).map(|(_, x)| x)
}

fn si(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Quantity { si, .. } => Some(*si),
        _ => None,
    }
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
}

/// What the node needs that this machine lacks, if anything.
pub fn lacks(v: &Vertex, m: &Machine) -> Option<String> {
    let gpus = resource(v, "gpus").and_then(si).unwrap_or(0.0);
    // A node that can also run on the CPU prefers a GPU but does not need
    // one: it falls back here, with the reason recorded.
    let needs_gpu = gpus > 0.0 || (!v.props.device.is_empty() && v.props.device.iter().all(|d| *d == Device::Gpu));
    if needs_gpu && let Err(why) = &m.gpu {
        return Some(format!("a GPU ({why})"));
    }
    if let Some(cpus) = resource(v, "cpus").and_then(si)
        && cpus > m.cpus as f64
    {
        return Some(format!("{cpus} CPUs (this machine has {})", m.cpus));
    }
    if let (Some(mem), Some(have)) = (resource(v, "mem").and_then(si), m.mem_bytes)
        && mem > have as f64
    {
        return Some(format!("{} of memory (this machine has {})", gib(mem), gib(have as f64)));
    }
    None
}

/// A rough estimate of the node's time here, in seconds, and what it rests
/// on: the declared `resources.time`, else the size of its arguments.
pub fn estimate(v: &Vertex, m: &Machine) -> (f64, String) {
    if let Some(t) = resource(v, "time").and_then(si) {
        return (t, format!("its declared resources.time of {t:.0} s"));
    }
    let arg = |n: &str| v.args.iter().find(|(k, _)| k == n).and_then(|(_, x)| x.as_f64());
    let mut points = 1.0;
    let mut parts = Vec::new();
    if let Some(g) = arg("grid") {
        points *= g * g * g;
        parts.push(format!("{g}^3 grid points"));
    } else if let Some(r) = arg("resolution") {
        points *= r * r;
        parts.push(format!("{r}^2 pixels"));
    }
    if let Some(p) = arg("points") {
        points *= p;
        parts.push(format!("{p} points"));
    }
    if let Some(f) = arg("frames") {
        points *= f;
        parts.push(format!("{f} frames"));
    }
    if let Some(s) = arg("steps") {
        points *= s;
        parts.push(format!("{s} steps"));
    }
    if parts.is_empty() {
        return (0.0, "no size in its arguments".into());
    }
    let cores = resource(v, "cpus").and_then(si).unwrap_or(m.cpus as f64).clamp(1.0, m.cpus.max(1) as f64);
    (points * SECONDS_PER_POINT / cores, parts.join(" × "))
}

/// Decides where `v` runs under `policy` with `cluster` configured (or none).
pub fn place(v: &Vertex, policy: Policy, cluster: Option<BackendKind>, m: &Machine) -> Placement {
    match (v.props.backend, cluster) {
        (Some(BackendKind::Local), _) => return Placement::local("the node sets backend = local"),
        (Some(b), Some(c)) if b == c => {
            return Placement::remote(c, format!("the node sets backend = {b}"));
        }
        (Some(b), _) => {
            return Placement::local(format!(
                "the node sets backend = {b}, but no {b} cluster is configured (phx.toml [{b}], or --backend {b}); it runs here"
            ));
        }
        (None, None) | (None, Some(BackendKind::Local)) => {
            return Placement::local(match policy {
                Policy::LocalFirst => "local_first, and no cluster is configured".to_string(),
                p => format!("{p}, but no cluster is configured (phx.toml [slurm], or --backend slurm); it runs here"),
            });
        }
        (None, Some(_)) => {}
    }
    let cluster = cluster.unwrap_or(BackendKind::Local);
    let lack = lacks(v, m);
    match policy {
        Policy::RemoteFirst => Placement::remote(cluster, "remote_first"),
        Policy::Auto => {
            if let Some(l) = lack {
                return Placement::remote(cluster, format!("auto: it needs {l}"));
            }
            if v.tool.starts_with("ml.") && m.gpu.is_err() {
                return Placement::remote(cluster, "auto: an ML node, and this machine has no GPU");
            }
            let (secs, basis) = estimate(v, m);
            if secs >= AUTO_THRESHOLD_S {
                Placement::remote(
                    cluster,
                    format!(
                        "auto: about {secs:.0} s of work here ({basis}), above the {AUTO_THRESHOLD_S:.0} s threshold"
                    ),
                )
            } else {
                Placement::local(format!(
                    "auto: about {} here ({basis}), below the {AUTO_THRESHOLD_S:.0} s threshold",
                    if secs < 1.0 { "under a second".to_string() } else { format!("{secs:.0} s") }
                ))
            }
        }
        Policy::LocalFirst => match lack {
            Some(l) => Placement::remote(cluster, format!("local_first: it needs {l}")),
            None => Placement::local("local_first: this machine has what it needs"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vertex(tool: &str, args: Vec<(&str, Value)>, resources: Vec<(&str, Value)>) -> Vertex {
        let mut v = Vertex::lone("n", tool, args);
        v.props.device = vec![phx_sema::enums::Device::Cpu];
        v.props.resources = resources.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        v.info_mut().builtin = true;
        v
    }

    fn machine() -> Machine {
        Machine { cpus: 2, mem_bytes: Some(8 << 30), gpu: Err("no CUDA driver found".into()) }
    }

    #[test]
    fn local_first_sends_only_what_this_machine_cannot_run() {
        let m = machine();
        let light = vertex("quantum.orbital", vec![("grid", Value::Int(64))], vec![]);
        assert_eq!(place(&light, Policy::LocalFirst, Some(BackendKind::Slurm), &m).backend, BackendKind::Local);
        let gpu = vertex("shell.run", vec![], vec![("gpus", Value::Int(1))]);
        let p = place(&gpu, Policy::LocalFirst, Some(BackendKind::Slurm), &m);
        assert_eq!(p.backend, BackendKind::Slurm);
        assert!(p.reason.contains("a GPU (no CUDA driver found)"), "{}", p.reason);
        let mut prefers = vertex("quantum.orbital", vec![], vec![]);
        prefers.props.device = vec![Device::Gpu, Device::Cpu];
        assert_eq!(place(&prefers, Policy::LocalFirst, Some(BackendKind::Slurm), &m).backend, BackendKind::Local);
        prefers.props.device = vec![Device::Gpu];
        assert_eq!(place(&prefers, Policy::LocalFirst, Some(BackendKind::Slurm), &m).backend, BackendKind::Slurm);
        let wide = vertex("shell.run", vec![], vec![("cpus", Value::Int(32))]);
        assert!(
            place(&wide, Policy::LocalFirst, Some(BackendKind::Slurm), &m)
                .reason
                .contains("32 CPUs (this machine has 2)")
        );
        // Without a cluster it stays here and says why.
        let p = place(&gpu, Policy::RemoteFirst, None, &m);
        assert_eq!(p.backend, BackendKind::Local);
        assert!(p.reason.contains("no cluster is configured"), "{}", p.reason);
    }

    #[test]
    fn auto_weighs_the_work() {
        let m = machine();
        let small = vertex("field.evaluate", vec![("grid", Value::Int(128))], vec![]);
        let p = place(&small, Policy::Auto, Some(BackendKind::Slurm), &m);
        assert_eq!(p.backend, BackendKind::Local, "{}", p.reason);
        assert!(p.reason.contains("128^3 grid points"), "{}", p.reason);
        let big =
            vertex("quantum.wavepacket", vec![("points", Value::Int(16384)), ("frames", Value::Int(300))], vec![]);
        let huge = vertex("field.evaluate", vec![("grid", Value::Int(2048))], vec![]);
        assert_eq!(place(&huge, Policy::Auto, Some(BackendKind::Slurm), &m).backend, BackendKind::Slurm);
        assert_eq!(place(&big, Policy::Auto, Some(BackendKind::Slurm), &m).backend, BackendKind::Local);
        let declared = vertex("lab.md", vec![], vec![("time", Value::Float(1800.0))]);
        let p = place(&declared, Policy::Auto, Some(BackendKind::Slurm), &m);
        assert_eq!(p.backend, BackendKind::Slurm);
        assert!(p.reason.contains("declared resources.time of 1800 s"), "{}", p.reason);
        let ml = vertex("ml.pca", vec![], vec![]);
        assert_eq!(place(&ml, Policy::Auto, Some(BackendKind::Slurm), &m).backend, BackendKind::Slurm);
    }

    #[test]
    fn the_node_s_own_backend_wins() {
        let m = machine();
        let mut v = vertex("shell.run", vec![], vec![]);
        v.props.backend = Some(BackendKind::Slurm);
        assert_eq!(place(&v, Policy::LocalFirst, Some(BackendKind::Slurm), &m).backend, BackendKind::Slurm);
        let p = place(&v, Policy::LocalFirst, None, &m);
        assert_eq!(p.backend, BackendKind::Local);
        assert!(p.reason.contains("no slurm cluster is configured"));
        v.props.backend = Some(BackendKind::Local);
        assert_eq!(place(&v, Policy::RemoteFirst, Some(BackendKind::Slurm), &m).backend, BackendKind::Local);
        assert_eq!(
            place(&vertex("x", vec![], vec![]), Policy::RemoteFirst, Some(BackendKind::Slurm), &m).backend,
            BackendKind::Slurm
        );
    }
}
