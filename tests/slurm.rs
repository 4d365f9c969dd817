//! End-to-end tests of the Slurm backend on a real one-node cluster
//! (slurmctld, slurmd and munge from Debian's packages, started by
//! `tests/slurm/cluster.sh`), and of the login-node layout against an
//! sshd on 127.0.0.1 (`tests/slurm/sshd.sh`). The real `phx` binary
//! submits with sbatch, polls with squeue and runs `phx worker` in the jobs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

mod common;

use common::{hashes, json_of, node, phx_in};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts the cluster (idempotent, one process at a time).
fn cluster_up() {
    let out = Command::new(repo().join("tests/slurm/cluster.sh")).arg("up").output().expect("cluster.sh runs");
    assert!(
        out.status.success(),
        "the one-node Slurm cluster did not start:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fresh_dir(name: &str) -> PathBuf {
    common::fresh_dir("slurm", name)
}

/// A sweep of command-backed nodes, their gather, and a stdlib node.
const SWEEP: &str = r#"experiment sweep_on_slurm {
  title = "a sweep and its gather on Slurm"
}

tool lab.square(x: Int) -> (table: Series) {
  run   = "echo x,y > {table}; echo {x},$(( {x} * {x} )) >> {table}; echo computing {x}"
  emits = [series]
}

tool lab.gather(tables: List[Series]) -> (table: Series) {
  run   = "awk 'FNR > 1 || NR == 1' {tables} > {table}"
  emits = [series]
}

node sq[x in [1, 2, 3, 4]] = lab.square(x = x) {
  emit = [series]
}

node all = lab.gather(tables = sq[*].table) {
  emit = [series]
}

node orbital = quantum.orbital(n = 2, l = 1, m = 0, grid = 24) {
  emit = [static, series]
}
"#;

#[test]
fn a_sweep_and_its_gather_run_on_slurm_with_the_same_hashes_as_here() {
    cluster_up();
    let dir = fresh_dir("sweep");
    std::fs::write(dir.join("sweep.phx"), SWEEP).unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\npartition = \"debug\"\npoll_ms = 200\n").unwrap();
    // squeue through a shim that logs each call: polling must be batched.
    let shim = dir.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v squeue"]).output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let log = dir.join("squeue.log");
    std::fs::write(shim.join("squeue"), format!("#!/bin/sh\necho \"$*\" >> {}\nexec {real} \"$@\"\n", log.display()))
        .unwrap();
    Command::new("chmod").arg("+x").arg(shim.join("squeue")).status().unwrap();
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap_or_default());
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "sweep.phx", "--backend", "slurm", "--format", "json"])
        .current_dir(&dir)
        .env("PATH", &path)
        .output()
        .unwrap();
    let wall = started.elapsed();
    let doc = json_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(doc["status"], "succeeded", "{doc}\n{stderr}");
    let mut job_ids = std::collections::BTreeSet::new();
    for n in doc["nodes"].as_array().unwrap() {
        assert_eq!(n["backend"], "slurm", "{n}");
        assert_eq!(n["placement"], "remote_first", "{n}");
        let id = n["job_id"].as_str().unwrap_or_else(|| panic!("no job id: {n}"));
        // The sweep's instances are tasks of one job array (`1234_2`).
        let want_task = n["id"].as_str().unwrap().starts_with("sq[");
        assert_eq!(id.contains('_'), want_task, "{n}");
        assert!(id.chars().all(|c| c.is_ascii_digit() || c == '_'), "{id}");
        job_ids.insert(id.to_string());
    }
    assert_eq!(job_ids.len(), 6, "a job or an array task per node");
    // The gather really gathered, and the jobs' output reached the log.
    let table =
        std::fs::read_to_string(dir.join(node(&doc, "all")["outputs"]["table"]["path"].as_str().unwrap())).unwrap();
    assert_eq!(table, "x,y\n1,1\n2,4\n3,9\n4,16\n");
    assert!(stderr.contains("sq[2] | computing 3"), "job output was not streamed:\n{stderr}");
    // Provenance keeps the backend and the job id.
    let run_id = doc["run_id"].as_str().unwrap();
    let shown = json_of(&phx_in(&dir, &["show", run_id, "--format", "json"]));
    let gather = shown["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "all").unwrap();
    assert_eq!(gather["backend"], "slurm");
    assert_eq!(gather["job_id"], node(&doc, "all")["job_id"]);
    // One squeue call per interval for every job, never one per job.
    let calls: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
    let most_ids = calls
        .iter()
        .map(|c| c.split(" -j ").nth(1).map_or(0, |r| r.split(' ').next().unwrap_or("").split(',').count()))
        .max()
        .unwrap_or(0);
    assert!(most_ids >= 4, "no squeue call asked for several jobs at once: {calls:?}");
    let intervals = (wall.as_millis() / 200) as usize + 2;
    assert!(calls.len() <= intervals, "{} squeue calls in {wall:?} (at most one per 200 ms interval)", calls.len());
    // The same program here gives byte-identical artifacts.
    let here = fresh_dir("sweep-here");
    std::fs::write(here.join("sweep.phx"), SWEEP).unwrap();
    let local = json_of(&phx_in(&here, &["run", "sweep.phx", "--format", "json"]));
    assert_eq!(local["status"], "succeeded");
    assert_eq!(node(&local, "all")["backend"], "local");
    assert_eq!(hashes(&local), hashes(&doc));
    // A second run on Slurm is served from the cache: no job is submitted.
    let again = json_of(&phx_in(&dir, &["run", "sweep.phx", "--backend", "slurm", "--format", "json"]));
    assert_eq!(again["cache_hits"], 6, "{again}");
}

#[test]
fn a_failing_job_reports_its_exit_code_and_stderr() {
    cluster_up();
    let dir = fresh_dir("fail");
    std::fs::write(
        dir.join("fail.phx"),
        r#"tool lab.doomed(x: Int) -> (out: File) {
  run = "echo working on {x}; echo the-doom-of-{x} >&2; exit 3"
}

node doomed = lab.doomed(x = 7)

node after = lab.doomed(x = 8) {
  after = [doomed]
}
"#,
    )
    .unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\n").unwrap();
    let out = phx_in(&dir, &["run", "fail.phx", "--backend", "slurm", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["status"], "failed");
    let n = node(&doc, "doomed");
    assert_eq!(n["status"], "failed");
    assert!(n["job_id"].is_string(), "{n}");
    let err = n["error"].as_str().unwrap();
    assert!(err.contains("exited with 3"), "{err}");
    assert!(err.contains("the-doom-of-7"), "{err}");
    assert_eq!(node(&doc, "after")["status"], "skipped");
}

#[test]
fn a_job_over_its_time_limit_ends_as_timeout() {
    cluster_up();
    let dir = fresh_dir("timeout");
    std::fs::write(
        dir.join("slow.phx"),
        r#"tool lab.slow() -> (out: File) {
  run = "sleep 300; touch {out}"
}

node slow = lab.slow() {
  resources = { time = 1 min }
}
"#,
    )
    .unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\n").unwrap();
    let started = Instant::now();
    let out = phx_in(&dir, &["run", "slow.phx", "--backend", "slurm", "--format", "json"]);
    let doc = json_of(&out);
    let n = node(&doc, "slow");
    assert_eq!(n["status"], "failed", "{doc}");
    let err = n["error"].as_str().unwrap();
    assert!(err.starts_with("TIMEOUT"), "{err}");
    assert!(err.contains("time limit of 1 min"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(200), "it took {:?}", started.elapsed());
}

fn queued(names: &[&str]) -> Vec<String> {
    let out = Command::new("squeue")
        .args(["-h", "-t", "pending,running,completing", "-o", "%j %T", "-n", &names.join(",")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn cancelling_a_run_leaves_no_job_in_the_queue() {
    cluster_up();
    let dir = fresh_dir("cancel");
    let tag = format!("hold{}", std::process::id());
    std::fs::write(
        dir.join("hold.phx"),
        format!(
            r#"tool lab.hold(x: Int) -> (out: File) {{
  run = "sleep 300; touch {{out}}"
}}

node {tag}_a = lab.hold(x = 1)

node {tag}_b = lab.hold(x = 2)
"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\npoll_ms = 200\n").unwrap();
    let names = [format!("phx-{tag}_a"), format!("phx-{tag}_b")];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let child = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "hold.phx", "--backend", "slurm", "--format", "json"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while queued(&names).iter().filter(|l| l.ends_with("RUNNING")).count() < 2 {
        assert!(Instant::now() < deadline, "the jobs never ran: {:?}", queued(&names));
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: sending SIGINT (Ctrl-C) to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let doc = json_of(&out);
    assert_eq!(doc["status"], "cancelled", "{doc}");
    for n in doc["nodes"].as_array().unwrap() {
        assert_eq!(n["status"], "cancelled", "{n}");
        assert!(n["job_id"].is_string(), "{n}");
    }
    assert!(queued(&names).is_empty(), "jobs left behind: {:?}", queued(&names));
}

#[test]
fn a_job_the_cluster_refuses_fails_with_sbatch_s_reason() {
    cluster_up();
    let dir = fresh_dir("reject");
    std::fs::write(
        dir.join("wide.phx"),
        r#"tool lab.wide() -> (out: File) {
  run = "touch {out}"
}

node wide = lab.wide() {
  resources = { cpus = 4096 }
}
"#,
    )
    .unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\n").unwrap();
    let doc = json_of(&phx_in(&dir, &["run", "wide.phx", "--format", "json"]));
    let n = node(&doc, "wide");
    assert_eq!(n["status"], "failed");
    // local_first sent it because this machine has too few CPUs.
    assert!(n["placement"].as_str().unwrap().contains("4096 CPUs"), "{n}");
    let err = n["error"].as_str().unwrap();
    assert!(err.starts_with("sbatch refused the job: sbatch: error:"), "{err}");
    assert!(err.contains("help: check the node's resources"), "{err}");
    assert!(n["job_id"].is_null());
}

#[test]
fn the_plan_says_where_each_node_would_run_and_why() {
    let dir = fresh_dir("plan");
    std::fs::write(
        dir.join("mixed.phx"),
        r#"tool lab.long() -> (out: File) {
  run = "touch {out}"
}

node long = lab.long() {
  resources = { time = 30 min }
}

node short = lab.long()

node gpu = lab.long() {
  resources = { gpus = 1 }
}
"#,
    )
    .unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\n").unwrap();
    let doc = json_of(&phx_in(&dir, &["run", "mixed.phx", "--dry-run", "--policy", "auto", "--format", "json"]));
    assert_eq!(node(&doc, "long")["backend"], "slurm");
    assert!(node(&doc, "long")["placement"].as_str().unwrap().contains("declared resources.time of 1800 s"));
    assert_eq!(node(&doc, "short")["backend"], "local");
    assert_eq!(node(&doc, "gpu")["backend"], "slurm");
    // Without a cluster everything stays here, and the plan says why.
    std::fs::write(dir.join("phx.toml"), "").unwrap();
    let doc = json_of(&phx_in(&dir, &["run", "mixed.phx", "--dry-run", "--policy", "auto", "--format", "json"]));
    assert_eq!(node(&doc, "long")["backend"], "local");
    assert!(node(&doc, "long")["placement"].as_str().unwrap().contains("no cluster is configured"));
    // A typo in phx.toml is a usage error that names it.
    std::fs::write(dir.join("phx.toml"), "[slurm]\npartiton = \"x\"\n").unwrap();
    let out = phx_in(&dir, &["run", "mixed.phx", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `partiton`"));
}

#[test]
fn a_cluster_that_cannot_be_reached_stops_the_run_before_anything_runs() {
    let dir = fresh_dir("unreachable");
    std::fs::write(dir.join("sweep.phx"), SWEEP).unwrap();
    // A login node on a port where nothing listens.
    std::fs::write(
        dir.join("phx.toml"),
        "[slurm]\nlogin = \"root@127.0.0.1\"\nssh_options = [\"-p\", \"9\", \"-o\", \"StrictHostKeyChecking=no\"]\n",
    )
    .unwrap();
    let out = phx_in(&dir, &["run", "sweep.phx", "--backend", "slurm"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Slurm cannot be reached (ssh root@127.0.0.1)"), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert!(!dir.join(".phx/runs").exists() || std::fs::read_dir(dir.join(".phx/runs")).unwrap().next().is_none());
}

/// Starts an sshd on 127.0.0.1 for this test; its folder and port.
fn sshd(name: &str) -> (PathBuf, u16) {
    let dir = fresh_dir(name).join("sshd");
    let port = 20000 + (std::process::id() % 20000) as u16;
    let out = Command::new(repo().join("tests/slurm/sshd.sh"))
        .arg("up")
        .arg(&dir)
        .arg(port.to_string())
        .output()
        .expect("sshd.sh runs");
    assert!(out.status.success(), "sshd did not start: {}", String::from_utf8_lossy(&out.stderr));
    (dir, port)
}

fn ssh_config(sshd: &Path, port: u16, remote: &Path, transfer: &str) -> String {
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    format!(
        "[slurm]\nlogin = \"{}@127.0.0.1\"\nssh_options = [\"-p\", \"{port}\", \"-i\", \"{}\", \"-o\", \"StrictHostKeyChecking=no\", \"-o\", \"UserKnownHostsFile=/dev/null\", \"-o\", \"LogLevel=ERROR\"]\nremote_dir = \"{}\"\nphx = \"{}\"\ntransfer = \"{transfer}\"\npoll_ms = 200\n",
        user.trim(),
        sshd.join("id_ed25519").display(),
        remote.display(),
        env!("CARGO_BIN_EXE_phx"),
    )
}

#[test]
fn the_login_node_layout_moves_files_over_ssh_with_rsync_and_with_scp() {
    cluster_up();
    let (sshd_dir, port) = sshd("ssh");
    let here = fresh_dir("ssh-here");
    std::fs::write(here.join("sweep.phx"), SWEEP).unwrap();
    let local = json_of(&phx_in(&here, &["run", "sweep.phx", "--format", "json"]));
    for transfer in ["rsync", "scp"] {
        let dir = fresh_dir(&format!("ssh-{transfer}"));
        // The cluster's side is another folder: nothing of the store is
        // visible there, so every input and output must travel.
        let remote = fresh_dir(&format!("ssh-{transfer}-remote"));
        std::fs::write(dir.join("sweep.phx"), SWEEP).unwrap();
        std::fs::write(dir.join("phx.toml"), ssh_config(&sshd_dir, port, &remote, transfer)).unwrap();
        let out = phx_in(&dir, &["run", "sweep.phx", "--backend", "slurm", "--format", "json"]);
        let doc = json_of(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(doc["status"], "succeeded", "{transfer}: {doc}\n{stderr}");
        assert!(stderr.contains(&format!("@127.0.0.1 ({transfer}) (files moved over ssh)")), "{stderr}");
        for n in doc["nodes"].as_array().unwrap() {
            assert_eq!(n["backend"], "slurm");
            assert!(n["job_id"].is_string());
        }
        assert_eq!(hashes(&doc), hashes(&local), "{transfer}");
        // The working folders on the cluster's side are cleaned up.
        let left: Vec<_> = walk_files(&remote);
        assert!(left.is_empty(), "{transfer} left {left:?}");
    }
    let _ = Command::new(repo().join("tests/slurm/sshd.sh")).arg("down").arg(&sshd_dir).status();
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn a_worker_refuses_damaged_inputs_and_a_changed_program() {
    cluster_up();
    let dir = fresh_dir("worker");
    std::fs::write(dir.join("sweep.phx"), SWEEP).unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\n").unwrap();
    let doc = json_of(&phx_in(&dir, &["run", "sweep.phx", "--backend", "slurm", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded");
    let work = dir.join(".phx/runs").join(doc["run_id"].as_str().unwrap()).join("work/all-1");
    let spec = work.join("spec.json");
    // Run again by hand: the same result.
    let out = phx_in(&work, &["worker", spec.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A damaged input: refused before anything runs.
    let input = std::fs::read_dir(work.join("in")).unwrap().next().unwrap().unwrap().path();
    let original = std::fs::read(&input).unwrap();
    std::fs::remove_file(&input).unwrap(); // a hard link into the store: replace, never edit
    std::fs::write(&input, b"x,y\n9,9\n").unwrap();
    let out = phx_in(&work, &["worker", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged in transit"));
    let result: Json = serde_json::from_slice(&std::fs::read(work.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["ok"], false);
    std::fs::remove_file(&input).unwrap();
    std::fs::write(&input, original).unwrap();
    // A spec whose static key does not match what this phx compiles.
    let mut s: Json = serde_json::from_slice(&std::fs::read(&spec).unwrap()).unwrap();
    s["static_key"] = Json::String("0".repeat(64));
    std::fs::write(&spec, serde_json::to_vec(&s).unwrap()).unwrap();
    let out = phx_in(&work, &["worker", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another static key"));
    // Not a spec at all.
    std::fs::write(&spec, b"{\"hello\": 1}").unwrap();
    let out = phx_in(&work, &["worker", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a phx node spec"));
}

/// `squeue` through a shim that logs each call's arguments with a time.
fn squeue_shim(dir: &Path) -> (String, PathBuf) {
    let shim = dir.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v squeue"]).output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let log = dir.join("squeue.log");
    std::fs::write(shim.join("squeue"), format!("#!/bin/sh\necho \"$*\" >> {}\nexec {real} \"$@\"\n", log.display()))
        .unwrap();
    Command::new("chmod").arg("+x").arg(shim.join("squeue")).status().unwrap();
    (format!("{}:{}", shim.display(), std::env::var("PATH").unwrap_or_default()), log)
}

/// `sbatch` through a shim that logs each call, beside [`squeue_shim`]'s.
fn sbatch_shim(dir: &Path) -> PathBuf {
    let shim = dir.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v sbatch"]).output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let log = dir.join("sbatch.log");
    std::fs::write(shim.join("sbatch"), format!("#!/bin/sh\necho \"$*\" >> {}\nexec {real} \"$@\"\n", log.display()))
        .unwrap();
    Command::new("chmod").arg("+x").arg(shim.join("sbatch")).status().unwrap();
    log
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The submissions an `sbatch` log holds (not the `--version` checks).
fn submissions(log: &Path) -> Vec<String> {
    lines_of(log).into_iter().filter(|l| l.contains("--parsable")).collect()
}

/// A trivial sweep of `n` instances and its gather.
fn wide_sweep(n: usize, props: &str) -> String {
    format!(
        r#"tool lab.one(i: Int) -> (row: Series) {{
  run   = "echo i,sq > {{row}}; echo {{i}},$(( {{i}} * {{i}} )) >> {{row}}"
  emits = [series]
}}

tool lab.gather(tables: List[Series]) -> (table: Series) {{
  run   = "awk 'FNR > 1 || NR == 1' {{tables}} > {{table}}"
  emits = [series]
}}

node one[i in 0..{n}] = lab.one(i = i) {{
  emit = [series]{props}
}}

node all = lab.gather(tables = one[*].row) {{
  emit = [series]
}}
"#
    )
}

#[test]
fn a_ten_thousand_instance_sweep_goes_out_as_a_few_job_arrays() {
    cluster_up();
    let dir = fresh_dir("ten-thousand");
    std::fs::write(dir.join("wide.phx"), wide_sweep(10_000, "")).unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\npoll_ms = 500\n").unwrap();
    let (path, squeue_log) = squeue_shim(&dir);
    let sbatch_log = sbatch_shim(&dir);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "wide.phx", "--backend", "slurm", "--format", "json"])
        .current_dir(&dir)
        .env("PATH", &path)
        .output()
        .unwrap();
    let wall = started.elapsed();
    let doc = json_of(&out);
    assert_eq!(doc["status"], "succeeded", "{}", String::from_utf8_lossy(&out.stderr));
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 10_001);
    // Every instance ran in an array task, and provenance names its task.
    for n in &nodes[..10_000] {
        assert_eq!(n["backend"], "slurm", "{n}");
        let id = n["job_id"].as_str().unwrap_or_else(|| panic!("no job id: {n}"));
        assert!(id.contains('_'), "not an array task: {n}");
    }
    // Nothing lost: the gather holds every row, once.
    let table =
        std::fs::read_to_string(dir.join(node(&doc, "all")["outputs"]["table"]["path"].as_str().unwrap())).unwrap();
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 10_000);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(*row, format!("{i},{}", i * i));
    }
    // A few arrays, not ten thousand jobs.
    let submits = submissions(&sbatch_log);
    assert!(submits.len() <= 50, "{} sbatch calls for 10,000 instances", submits.len());
    assert!(submits.iter().filter(|a| a.contains("--array=")).count() + 1 >= submits.len(), "{submits:?}");
    // One squeue call per interval, array tasks included.
    let calls = lines_of(&squeue_log);
    let intervals = (wall.as_millis() / 500) as usize + 2;
    assert!(calls.len() <= intervals, "{} squeue calls in {wall:?}: more than one per 500 ms interval", calls.len());
    eprintln!("10,001 nodes in {wall:?}: {} sbatch calls, {} squeue calls", submits.len(), calls.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_instance_in_a_batch_fails_alone_and_is_retried_alone() {
    cluster_up();
    let dir = fresh_dir("batch-fail");
    std::fs::write(
        dir.join("batch.phx"),
        r#"tool lab.maybe(i: Int) -> (row: Series) {
  run   = "if [ {i} = 7 ]; then echo instance-{i}-is-doomed >&2; exit 3; fi; echo i > {row}; echo {i} >> {row}"
  emits = [series]
}

tool lab.gather(tables: List[Series]) -> (table: Series) {
  run   = "awk 'FNR > 1 || NR == 1' {tables} > {table}"
  emits = [series]
}

node m[i in 0..20] = lab.maybe(i = i) {
  emit      = [series]
  resources = { batch = 5 }
  retries   = 1
}

node all = lab.gather(tables = m[*].row) {
  emit = [series]
}
"#,
    )
    .unwrap();
    std::fs::write(dir.join("phx.toml"), "[slurm]\npoll_ms = 200\n").unwrap();
    let sbatch_log = sbatch_shim(&dir);
    let path = format!("{}:{}", dir.join("shim").display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "batch.phx", "--backend", "slurm", "--format", "json"])
        .current_dir(&dir)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["status"], "failed");
    let doomed = node(&doc, "m[7]");
    assert_eq!(doomed["status"], "failed", "{doomed}");
    let err = doomed["error"].as_str().unwrap();
    assert!(err.contains("exited with 3"), "{err}");
    assert!(err.contains("instance-7-is-doomed"), "{err}");
    assert!(err.contains("(attempt 2 of 2)"), "retried: {err}");
    assert_eq!(doomed["attempts"], 2);
    // Its batch mates (m[5]..m[9], one task) and every other instance
    // succeeded, once each.
    let first_tasks: std::collections::BTreeSet<String> = (5..10)
        .filter(|i| *i != 7)
        .map(|i| node(&doc, &format!("m[{i}]"))["job_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first_tasks.len(), 1, "m[5..10] share one array task: {first_tasks:?}");
    for i in (0..20).filter(|i| *i != 7) {
        let n = node(&doc, &format!("m[{i}]"));
        assert_eq!(n["status"], "succeeded", "{n}");
        assert_eq!(n["attempts"], 1, "{n}");
    }
    assert_eq!(node(&doc, "all")["status"], "skipped");
    // Four tasks of five in one array, then the retry of m[7] by itself.
    let submits = submissions(&sbatch_log);
    assert_eq!(submits.len(), 2, "{submits:?}");
    assert!(submits[0].contains("--array=0-3"), "{submits:?}");
    assert!(submits[1].contains("--array=0-0"), "{submits:?}");
    // Provenance: the failed instance has its own executions, each failed.
    let run_id = doc["run_id"].as_str().unwrap();
    let shown = json_of(&phx_in(&dir, &["show", run_id, "--format", "json"]));
    let m7 = shown["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "m[7]").unwrap();
    assert_eq!(m7["status"], "failed", "{m7}");
    assert_eq!(m7["backend"], "slurm", "{m7}");
}
