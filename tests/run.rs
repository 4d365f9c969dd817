//! End-to-end tests of `phx run` and the store: the real binary, real
//! commands, a real SQLite database.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{json_of, phx_in};

fn fresh_dir(name: &str) -> PathBuf {
    common::fresh_dir("run", name)
}

fn statuses(doc: &serde_json::Value) -> Vec<(String, String, bool)> {
    doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_string(),
                n["status"].as_str().unwrap().to_string(),
                n["cached"].as_bool().unwrap(),
            )
        })
        .collect()
}

const PIPE: &str = r#"experiment pipe {
  title = "command pipeline"
}

param rows: Int = 3

/// x and x^2 for x = 1..n; the width only goes to stderr.
tool lab.squares(n: Int, width: Length = 1 nm) -> (table: Series) {
  run   = "echo x,y > {table}; i=1; while [ $i -le {n} ]; do echo $i,$(( i * i )) >> {table}; i=$((i + 1)); done; echo width={width:nm} >&2"
  emits = [series]
}

tool lab.gather(tables: List[Series]) -> (table: Series, count: Int) {
  run   = "awk 'FNR > 1 || NR == 1' {tables} > {table}; echo {tables} | wc -w > {count}"
  emits = [series]
}

node sq[w in [1, 2, 3]] = lab.squares(n = rows + w, width = w * 1 nm) {
  emit = [series]
}

node other = lab.squares(n = 2) {
  emit = [series]
}

node all = lab.gather(tables = sq[*].table) {
  emit = [series]
}
"#;

#[test]
fn runs_then_hits_the_cache_then_reruns_only_what_changed() {
    let d = fresh_dir("cache");
    std::fs::write(d.join("pipe.phx"), PIPE).unwrap();
    let first = phx_in(&d, &["run", "pipe.phx", "--format", "json"]);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let doc = json_of(&first);
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["cache_hits"], 0);
    let all = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "all").unwrap().clone();
    assert_eq!(all["outputs"]["count"]["value"], 3, "a scalar output carries its value");
    let table = std::fs::read_to_string(d.join(all["outputs"]["table"]["path"].as_str().unwrap())).unwrap();
    assert_eq!(table.lines().count(), 1 + 4 + 5 + 6, "{table}");

    // The second run runs nothing.
    let second = json_of(&phx_in(&d, &["run", "pipe.phx", "--format", "json"]));
    assert_eq!(second["cache_hits"], 5);
    assert!(statuses(&second).iter().all(|(_, s, cached)| s == "succeeded" && *cached));

    // One --set re-runs exactly the nodes it reaches, and explain says why.
    let why =
        String::from_utf8_lossy(&phx_in(&d, &["explain", "pipe.phx", "sq", "--set", "rows=4"]).stdout).into_owned();
    assert!(why.contains("argument n changed from 4 to 5"), "{why}");
    let third = json_of(&phx_in(&d, &["run", "pipe.phx", "--set", "rows=4", "--format", "json"]));
    // (Listed as each ended: among those that succeeded, an input before
    // what reads it.)
    let ran: Vec<String> = statuses(&third).into_iter().filter(|(_, _, c)| !c).map(|(id, _, _)| id).collect();
    assert_eq!(ran.last().map(String::as_str), Some("all"), "{ran:?}");
    let mut ran = ran;
    ran.sort();
    assert_eq!(ran, vec!["all", "sq[0]", "sq[1]", "sq[2]"]);

    // Runs are recorded with their nodes.
    let runs = json_of(&phx_in(&d, &["runs", "--format", "json"]));
    assert_eq!(runs["runs"].as_array().unwrap().len(), 3);
    let id = third["run_id"].as_str().unwrap();
    let show = json_of(&phx_in(&d, &["show", id, "--format", "json"]));
    assert_eq!(show["nodes"].as_array().unwrap().len(), 5);
}

#[test]
fn a_failing_node_skips_its_descendants_and_independent_nodes_finish() {
    let d = fresh_dir("fail");
    let prog = PIPE.replace(
        "node all = lab.gather(tables = sq[*].table)",
        "tool lab.broken(t: Series) -> (out: Series) {\n  run = \"echo something went wrong >&2; exit 3\"\n}\n\nnode bad = lab.broken(t = other.table)\n\nnode after_bad = lab.gather(tables = [bad.out]) {\n  emit = [series]\n}\n\nnode all = lab.gather(tables = sq[*].table)",
    );
    std::fs::write(d.join("pipe.phx"), prog).unwrap();
    let o = phx_in(&d, &["run", "pipe.phx", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc = json_of(&o);
    let st: std::collections::HashMap<String, String> = statuses(&doc).into_iter().map(|(id, s, _)| (id, s)).collect();
    assert_eq!(st["bad"], "failed");
    assert_eq!(st["after_bad"], "skipped");
    assert_eq!(st["all"], "succeeded");
    let bad = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "bad").unwrap().clone();
    let err = bad["error"].as_str().unwrap();
    assert!(err.contains("exited with 3") && err.contains("something went wrong"), "{err}");
}

#[test]
fn bad_commands_fail_clearly() {
    let d = fresh_dir("bad");
    let prog = r#"tool lab.missing() -> (out: File) {
  run = "no-such-program-phx --flag > {out}"
}

tool lab.silent() -> (out: Series) {
  run = "true"
}

tool lab.escape() -> (out: File) {
  run = "ln -s /etc/hostname {out}"
}

node a = lab.missing()

node b = lab.silent()

node c = lab.escape()
"#;
    std::fs::write(d.join("bad.phx"), prog).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "bad.phx", "--format", "json"]));
    let err = |id: &str| {
        doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap()["error"].as_str().unwrap().to_string()
    };
    assert!(err("a").contains("127") && err("a").contains("not found"), "{}", err("a"));
    assert!(err("b").contains("wrote no output `out`"), "{}", err("b"));
    assert!(err("c").contains("escapes the working folder"), "{}", err("c"));
}

#[test]
fn a_corrupt_object_is_found_and_never_served() {
    let d = fresh_dir("corrupt");
    std::fs::write(d.join("pipe.phx"), PIPE).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "pipe.phx", "--format", "json"]));
    // A second run serves hits and records the objects' fingerprints, so
    // the corruption below must be seen through that shortcut.
    assert_eq!(json_of(&phx_in(&d, &["run", "pipe.phx", "--format", "json"]))["cache_hits"], 5);
    let other = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "other").unwrap().clone();
    let rel = other["outputs"]["table"]["path"].as_str().unwrap();
    let obj = d.join(rel);
    let mut perms = std::fs::metadata(&obj).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&obj, perms).unwrap();
    let mut bytes = std::fs::read(&obj).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&obj, &bytes).unwrap();

    let verify = phx_in(&d, &["store", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stderr).contains(other["outputs"]["table"]["sha256"].as_str().unwrap()));

    let again = json_of(&phx_in(&d, &["run", "pipe.phx", "--format", "json"]));
    let st: std::collections::HashMap<String, (String, bool)> =
        statuses(&again).into_iter().map(|(id, s, c)| (id, (s, c))).collect();
    assert_eq!(st["other"], ("succeeded".to_string(), false), "recomputed, not served");
    assert_eq!(phx_in(&d, &["store", "verify"]).status.code(), Some(0));
}

#[test]
fn ctrl_c_ends_running_children_and_keeps_finished_results() {
    let d = fresh_dir("sigint");
    let marker = format!("phx-sleep-marker-{}", std::process::id());
    let prog = format!(
        "tool lab.quick() -> (out: File) {{\n  run = \"echo done > {{out}}\"\n}}\n\ntool lab.slow() -> (out: File) {{\n  run = \"sh -c 'sleep 30; echo {marker}' > {{out}}\"\n}}\n\nnode fast = lab.quick()\n\nnode slow = lab.slow()\n"
    );
    std::fs::write(d.join("s.phx"), prog).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "s.phx", "--format", "json"])
        .current_dir(&d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let start = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed().as_secs() < 10, "the run stops promptly");
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["status"], "cancelled");
    let st: std::collections::HashMap<String, String> = statuses(&doc).into_iter().map(|(id, s, _)| (id, s)).collect();
    assert_eq!(st["fast"], "succeeded");
    assert_eq!(st["slow"], "cancelled");
    // The sleeping grandchild is gone: its whole process group was ended.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&ps.stdout).lines().any(|l| l.contains(&marker) && l.contains("sleep")),
        "a child survived"
    );
    // The finished node is kept: the next run reuses it.
    let again = json_of(&phx_in(&d, &["run", "s.phx", "--format", "json", "--target", "fast"]));
    assert_eq!(again["cache_hits"], 1);
}

#[test]
fn killed_at_any_moment_a_run_resumes_without_redoing_finished_nodes() {
    let d = fresh_dir("sigkill");
    let prog = "tool lab.step(i: Int) -> (out: File) {\n  run = \"sleep 0.02; echo {i} > {out}\"\n}\n\nnode s[i in 0..24] = lab.step(i = i)\n\ntool lab.sum(parts: List[File]) -> (total: Int) {\n  run = \"cat {parts} | awk '{{ t += $1 }} END {{ print t }}' > {total}\"\n}\n\nnode total = lab.sum(parts = s[*].out)\n";
    std::fs::write(d.join("k.phx"), prog).unwrap();
    for attempt in 0..20u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_phx"))
            .args(["run", "k.phx", "--jobs", "2"])
            .current_dir(&d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // A different moment each time: from start-up to the middle of the run.
        std::thread::sleep(std::time::Duration::from_millis(5 + attempt * 13 % 170));
        let _ = child.kill();
        let _ = child.wait();
    }
    let done = json_of(&phx_in(&d, &["run", "k.phx", "--format", "json"]));
    assert_eq!(done["status"], "succeeded", "{done}");
    let total =
        done["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "total").unwrap()["outputs"]["total"]["value"]
            .clone();
    assert_eq!(total, serde_json::json!((0..24).sum::<i64>()));
    assert_eq!(phx_in(&d, &["store", "verify"]).status.code(), Some(0), "no corrupt or partial object");
    // No node finished twice: once a node's outputs are committed, later
    // runs take them from the cache.
    let db = completions_per_node(&d.join(".phx/phx.db"));
    assert!(db.iter().all(|(_, n)| *n == 1), "a node ran to completion twice: {db:?}");
    assert_eq!(db.len(), 25);
}

/// Completed, uncached executions per vertex, over every recorded run
/// (read through `phx runs` and `phx show`).
fn completions_per_node(db: &Path) -> Vec<(String, usize)> {
    let dir = db.parent().unwrap().parent().unwrap();
    let runs = json_of(&phx_in(dir, &["runs", "--format", "json"]));
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for r in runs["runs"].as_array().unwrap() {
        let show = json_of(&phx_in(dir, &["show", r["run_id"].as_str().unwrap(), "--format", "json"]));
        for n in show["nodes"].as_array().unwrap() {
            if n["status"] == "succeeded" && n["cached"] == false {
                *counts.entry(n["id"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
    }
    counts.into_iter().collect()
}

#[test]
fn the_command_pipeline_example_runs_end_to_end() {
    let d = fresh_dir("example");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/command_pipeline.phx");
    std::fs::copy(&src, d.join("command_pipeline.phx")).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "command_pipeline.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let summary = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "summary").unwrap().clone();
    assert_eq!(summary["outputs"]["count"]["value"], 120);
    let table = std::fs::read_to_string(d.join(summary["outputs"]["summary"]["path"].as_str().unwrap())).unwrap();
    // Three frequencies; a damped cosine never exceeds 1 after t = 0.
    let rows: Vec<f64> = table.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|x| *x > 0.5 && *x < 1.0), "{table}");
    // A different damping re-runs the sweep and what reads it.
    let again = json_of(&phx_in(&d, &["run", "command_pipeline.phx", "--set", "damping=0.5", "--format", "json"]));
    assert_eq!(again["cache_hits"], 0);
    let same = json_of(&phx_in(&d, &["run", "command_pipeline.phx", "--set", "damping=0.5", "--format", "json"]));
    assert_eq!(same["cache_hits"], 5);
}

#[test]
fn artifacts_have_provenance_and_lineage() {
    let d = fresh_dir("lineage");
    std::fs::write(d.join("pipe.phx"), PIPE).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "pipe.phx", "--format", "json"]));
    let all = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "all").unwrap().clone();
    let table = all["outputs"]["table"]["sha256"].as_str().unwrap().to_string();
    let lineage = json_of(&phx_in(&d, &["artifact", "lineage", &table[..10], "--format", "json"]));
    assert_eq!(lineage["ancestors"].as_array().unwrap().len(), 3, "the three sq tables");
    let sq0 =
        doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "sq[0]").unwrap()["outputs"]["table"]["sha256"]
            .as_str()
            .unwrap()
            .to_string();
    let down = json_of(&phx_in(&d, &["artifact", "lineage", &sq0, "--format", "json"]));
    assert!(down["descendants"].as_array().unwrap().iter().any(|x| x == &serde_json::json!(table)));
    let show = json_of(&phx_in(&d, &["artifact", "show", &table, "--format", "json"]));
    let p = &show["produced_by"][0];
    assert_eq!(p["tool"], "lab.gather");
    assert_eq!(p["backend"], "local");
    assert!(p["host"].as_str().is_some_and(|h| !h.is_empty()));
    assert_eq!(p["phx_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(phx_in(&d, &["artifact", "verify", &table]).status.code(), Some(0));
    let dot =
        String::from_utf8_lossy(&phx_in(&d, &["artifact", "lineage", &table, "--format", "dot"]).stdout).into_owned();
    assert!(dot.starts_with("digraph lineage") && dot.matches("->").count() == 3, "{dot}");
    let log = json_of(&phx_in(&d, &["artifact", "log", "sq", "--format", "json"]));
    assert_eq!(log["artifacts"].as_array().unwrap().len(), 3);
    // Lineage is deterministic: the same run elsewhere gives the same ids.
    let d2 = fresh_dir("lineage2");
    std::fs::write(d2.join("pipe.phx"), PIPE).unwrap();
    let doc2 = json_of(&phx_in(&d2, &["run", "pipe.phx", "--format", "json"]));
    let all2 = doc2["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "all").unwrap().clone();
    assert_eq!(all2["outputs"]["table"]["sha256"].as_str().unwrap(), table);
}

#[test]
fn init_makes_a_runnable_folder_and_doctor_reports() {
    let d = fresh_dir("init");
    let target = d.join("new-experiment");
    let o = phx_in(&d, &["init", target.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(target.join("phx.toml").is_file());
    let run = json_of(&phx_in(&d, &["run", target.join("experiment.phx").to_str().unwrap(), "--format", "json"]));
    assert_eq!(run["status"], "succeeded");
    assert!(target.join(".phx/phx.db").is_file(), "the store lives beside phx.toml");
    assert_eq!(phx_in(&d, &["init", target.to_str().unwrap()]).status.code(), Some(2), "never overwrites");
    let doc = json_of(&phx_in(&target, &["doctor", "--format", "json"]));
    assert!(doc["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(doc["gpus"].as_array().unwrap().is_empty(), doc["no_gpu_reason"].is_string(), "{doc}");
    assert!(doc["store"].as_str().unwrap().contains("1 runs"), "{doc}");
}

#[test]
fn a_node_that_asks_for_a_gpu_records_why_it_ran_on_the_cpu() {
    let d = fresh_dir("fallback");
    let prog = "tool lab.gpu_job() -> (out: File) {\n  run    = \"echo $PHX_DEVICE > {out}\"\n  device = [gpu, cpu]\n}\n\nnode g = lab.gpu_job() {\n  device = [gpu, cpu]\n}\n";
    std::fs::write(d.join("g.phx"), prog).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "g.phx", "--format", "json"]));
    let g = &doc["nodes"][0];
    let doctor = json_of(&phx_in(&d, &["doctor", "--format", "json"]));
    if doctor["gpus"].as_array().unwrap().is_empty() {
        assert_eq!(g["device"], "cpu");
        assert_eq!(g["fallback"], doctor["no_gpu_reason"], "the reason goes into provenance");
        let run_id = doc["run_id"].as_str().unwrap();
        let show = json_of(&phx_in(&d, &["show", run_id, "--format", "json"]));
        assert_eq!(show["nodes"][0]["fallback"], doctor["no_gpu_reason"]);
    } else {
        assert_eq!(g["device"], "gpu");
    }
}

#[test]
fn a_full_disk_fails_the_node_clearly_and_loses_nothing() {
    let d = fresh_dir("full");
    let prog = "tool lab.big() -> (out: File) {\n  run = \"head -c 3000000 /dev/zero > {out}\"\n}\n\ntool lab.small() -> (out: File) {\n  run = \"echo small > {out}\"\n}\n\nnode small = lab.small()\n\nnode big = lab.big() {\n  after = [small]\n}\n";
    std::fs::write(d.join("f.phx"), prog).unwrap();
    let store = d.join(".phx");
    std::fs::create_dir_all(&store).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&store)
        .status()
        .is_ok_and(|s| s.success());
    let out = if mounted {
        phx_in(&d, &["run", "f.phx"])
    } else {
        // No mount allowed here: a file-size limit fails the same write.
        Command::new("prlimit")
            .args(["--fsize=1000000", env!("CARGO_BIN_EXE_phx"), "run", "f.phx"])
            .current_dir(&d)
            .output()
            .unwrap()
    };
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code();
    assert!(code == Some(1) || code == Some(3), "{code:?}: {err}");
    assert!(err.contains("full") || err.contains("too large"), "the message says why: {err}");
    assert!(!err.contains("panicked"), "{err}");
    if mounted {
        // More room: the run completes and nothing is corrupt.
        assert!(Command::new("mount").args(["-o", "remount,size=64m"]).arg(&store).status().unwrap().success());
    }
    let again = json_of(&phx_in(&d, &["run", "f.phx", "--format", "json"]));
    let verify = phx_in(&d, &["store", "verify"]).status.code();
    if mounted {
        let _ = Command::new("umount").arg(&store).status();
    }
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(verify, Some(0), "nothing half-written");
}

#[test]
fn an_unusable_store_is_an_environment_error() {
    let d = fresh_dir("unwritable");
    std::fs::write(d.join("pipe.phx"), PIPE).unwrap();
    // `.phx` is a file, so the store cannot be made (root ignores modes).
    std::fs::write(d.join(".phx"), "not a folder").unwrap();
    let o = phx_in(&d, &["run", "pipe.phx"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(".phx") && err.contains("help:"), "{err}");
}

#[test]
fn a_command_longer_than_one_argument_may_be_still_runs() {
    // 20,000 words: far past the kernel's 128 KiB limit for one argument,
    // since the command runs from a script file.
    let d = fresh_dir("long");
    let words: Vec<String> = (0..20_000).map(|i| format!("\"word-number-{i}\"")).collect();
    let prog = format!(
        "tool lab.count(words: List[String]) -> (n: Int) {{\n  run = \"echo {{words}} | wc -w > {{n}}\"\n}}\n\nnode c = lab.count(words = [{}])\n",
        words.join(", ")
    );
    std::fs::write(d.join("long.phx"), prog).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "long.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    assert_eq!(doc["nodes"][0]["outputs"]["n"]["value"], 20_000);
}

#[test]
fn retries_timeouts_targets_and_jobs() {
    let d = fresh_dir("sched");
    let log = d.join("order.log");
    let flaky = d.join("flaky-marker");
    let prog = format!(
        r#"tool lab.flaky(marker: String) -> (out: File) {{
  run = "if [ -f {{marker}} ]; then echo ok > {{out}}; else touch {{marker}}; echo first try fails >&2; exit 1; fi"
}}

tool lab.sleepy() -> (out: File) {{
  run = "sleep 37; echo never > {{out}}"
}}

tool lab.mark(i: Int, log: String) -> (out: File) {{
  run = "echo start {{i}} >> {{log}}; sleep 0.2; echo end {{i}} >> {{log}}; echo {{i}} > {{out}}"
}}

node flaky = lab.flaky(marker = "{}") {{
  retries = 1
}}

node stuck = lab.sleepy() {{
  timeout = 1 s
}}

node m[i in 0..3] = lab.mark(i = i, log = "{}")

node unrelated = lab.mark(i = 9, log = "{}")
"#,
        flaky.display(),
        log.display(),
        d.join("unrelated.log").display()
    );
    std::fs::write(d.join("s.phx"), prog).unwrap();
    let start = std::time::Instant::now();
    let doc = json_of(&phx_in(
        &d,
        &["run", "s.phx", "--jobs", "1", "--format", "json", "--target", "flaky", "--target", "stuck", "--target", "m"],
    ));
    assert!(start.elapsed().as_secs() < 20, "the timeout ended the sleeping node");
    let node = |id: &str| doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).cloned();
    assert_eq!(node("flaky").unwrap()["status"], "succeeded");
    assert_eq!(node("flaky").unwrap()["attempts"], 2, "one retry");
    let stuck = node("stuck").unwrap();
    assert_eq!(stuck["status"], "failed");
    assert!(stuck["error"].as_str().unwrap().contains("timed out"), "{stuck}");
    assert!(node("unrelated").is_none(), "--target runs only the targets and their ancestors");
    // --jobs 1: the sweep's nodes never overlap.
    let order = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines.len(), 6, "{order}");
    for pair in lines.chunks(2) {
        assert!(
            pair[0].starts_with("start") && pair[1].starts_with("end") && pair[0][6..] == pair[1][4..],
            "overlap: {order}"
        );
    }
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&ps.stdout).lines().any(|l| l.trim() == "sleep 37"),
        "the timed-out command's group is gone"
    );
}

#[test]
fn two_runs_in_one_folder_wait_for_each_other() {
    let d = fresh_dir("lock");
    let prog = "tool lab.slow(i: Int) -> (out: File) {\n  run = \"sleep 1; echo {i} > {out}\"\n}\n\nnode a = lab.slow(i = 1)\n\nnode b = lab.slow(i = 2)\n";
    std::fs::write(d.join("l.phx"), prog).unwrap();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_phx"))
            .args(["run", "l.phx", "--format", "json"])
            .current_dir(&d)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = spawn();
    let (o1, o2) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    let (j1, j2) = (json_of(&o1), json_of(&o2));
    assert_eq!(j1["status"], "succeeded");
    assert_eq!(j2["status"], "succeeded");
    assert!(String::from_utf8_lossy(&o2.stderr).contains("waiting"), "the second run says it waits");
    assert_eq!(j2["cache_hits"], 2, "the second run finds the first one's results");
    assert_eq!(phx_in(&d, &["store", "verify"]).status.code(), Some(0));
}

#[test]
fn gc_removes_only_what_nothing_references() {
    let d = fresh_dir("gc");
    std::fs::write(d.join("pipe.phx"), PIPE).unwrap();
    json_of(&phx_in(&d, &["run", "pipe.phx", "--format", "json"]));
    // An orphan: a well-formed object that no run refers to.
    let orphan = "0000000000000000000000000000000000000000000000000000000000000000";
    let dir = d.join(".phx/objects/00");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(orphan), b"orphan").unwrap();
    let o = phx_in(&d, &["store", "gc"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("removed 1 unreferenced"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!dir.join(orphan).exists());
    // Everything a run produced is still there and still served.
    assert_eq!(phx_in(&d, &["store", "verify"]).status.code(), Some(0));
    assert_eq!(json_of(&phx_in(&d, &["run", "pipe.phx", "--format", "json"]))["cache_hits"], 5);
    // And explain lists every component, marking the changed one.
    let why =
        String::from_utf8_lossy(&phx_in(&d, &["explain", "pipe.phx", "other", "--set", "rows=9"]).stdout).into_owned();
    assert!(why.contains("cached; every key component is unchanged"), "{why}");
    // n = 4 would be a hit: sq[0] computed exactly that. 11 is new.
    let prog2 = PIPE.replace("node other = lab.squares(n = 2)", "node other = lab.squares(n = 11)");
    std::fs::write(d.join("pipe.phx"), prog2).unwrap();
    let why = String::from_utf8_lossy(&phx_in(&d, &["explain", "pipe.phx", "other"]).stdout).into_owned();
    assert!(
        why.contains("* argument n = 11")
            && why.contains("  argument width = 1 nm")
            && why.contains("tool lab.squares"),
        "{why}"
    );
}

#[test]
fn a_node_asking_for_all_cpus_runs_alone() {
    let d = fresh_dir("cpus");
    let log = d.join("order.log");
    let prog = format!(
        "tool lab.mark(i: Int, log: String) -> (out: File) {{\n  run = \"echo start {{i}} >> {{log}}; sleep 0.3; echo end {{i}} >> {{log}}; echo {{i}} > {{out}}\"\n}}\n\nnode small[i in 0..2] = lab.mark(i = i, log = \"{0}\")\n\nnode wide = lab.mark(i = 7, log = \"{0}\") {{\n  resources = {{ cpus = 2 }}\n}}\n",
        log.display()
    );
    std::fs::write(d.join("c.phx"), prog).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "c.phx", "--jobs", "2", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded");
    let order = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = order.lines().collect();
    let s7 = lines.iter().position(|l| *l == "start 7").unwrap();
    let e7 = lines.iter().position(|l| *l == "end 7").unwrap();
    assert_eq!(e7, s7 + 1, "nothing starts or ends while the 2-cpu node runs:\n{order}");
    // The two 1-cpu nodes may overlap each other.
    assert_eq!(lines.len(), 6);
}

#[test]
fn stdlib_scalar_tools_run_and_give_exact_values() {
    let d = fresh_dir("stdlib");
    std::fs::write(d.join("data.csv"), "x,y\n1,2\n3,4\n").unwrap();
    let prog = r#"fn s(x: Float) -> Float {
  sin(x)
}

fn p(x: Float) -> Float {
  x ^ 2 - 2
}

node area = cas.integrate(f = s, from = 0.0, to = pi, tol = 1e-12)

node root = cas.solve(f = p, lo = 0.0, hi = 2.0)

node hbar = constants.get(name = "hbar")

node ang = units.convert(value = 24 bohr, to = "angstrom")

node table = data.load_csv(path = "data.csv") {
  emit = [series]
}

node both = data.stack(inputs = [table.table, table.table]) {
  emit = [series]
}

node out = export.csv(data = both.table)
"#;
    std::fs::write(d.join("s.phx"), prog).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "s.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let value = |id: &str, out: &str| -> serde_json::Value {
        doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap()["outputs"][out]["value"].clone()
    };
    assert!((value("area", "value").as_f64().unwrap() - 2.0).abs() < 1e-10);
    assert!((value("root", "root").as_f64().unwrap() - std::f64::consts::SQRT_2).abs() < 1e-12);
    assert_eq!(value("hbar", "value").as_f64().unwrap(), 6.62607015e-34 / (2.0 * std::f64::consts::PI));
    assert_eq!(value("hbar", "unit"), "J*s");
    assert!((value("ang", "value").as_f64().unwrap() - 24.0 * 0.529177210544).abs() < 1e-12);
    let out = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "out").unwrap().clone();
    let text = std::fs::read_to_string(d.join(out["outputs"]["file"]["path"].as_str().unwrap())).unwrap();
    // Stacked rows say which table they came from.
    assert_eq!(text, "x,y,instance\n1,2,table #1\n3,4,table #1\n1,2,table #2\n3,4,table #2\n");
    // Editing the data file re-runs what reads it, and explain says so.
    std::fs::write(d.join("data.csv"), "x,y\n5,6\n").unwrap();
    let why = String::from_utf8_lossy(&phx_in(&d, &["explain", "s.phx", "table"]).stdout).into_owned();
    assert!(why.contains("input \"data.csv\" changed"), "{why}");
    let again = json_of(&phx_in(&d, &["run", "s.phx", "--format", "json"]));
    let ran: Vec<String> = statuses(&again).into_iter().filter(|(_, _, c)| !c).map(|(id, _, _)| id).collect();
    assert_eq!(ran, vec!["table", "both", "out"]);
}

#[test]
fn the_hydrogen_example_runs_end_to_end() {
    let d = fresh_dir("h2p");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for f in ["hydrogen_2p.phx", "refs.bib"] {
        std::fs::copy(root.join(f), d.join(f)).unwrap();
    }
    let doc = json_of(&phx_in(&d, &["run", "hydrogen_2p.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let node = |id: &str| doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 4);

    // The density: a Field3D, a NetCDF file of 96^3 f64.
    let density = node("density");
    let bytes = std::fs::read(d.join(density["outputs"]["density"]["path"].as_str().unwrap())).unwrap();
    assert!(bytes.starts_with(b"CDF\x01"), "NetCDF classic");
    let field = phx_stdlib::field::Field::from_bytes(&bytes).unwrap();
    assert_eq!(field.shape, [96, 96, 96]);
    let step = 48.0 / 95.0;
    let total: f64 = field.values.iter().sum::<f64>() * step * step * step;
    assert!((total - 1.0).abs() < 1e-3, "the 2p density integrates to {total}");
    assert!(density["fallback"].is_string() || density["device"] == "gpu");
    // `emit = [static, ...]` on a data tool: a PNG and an SVG of each output.
    let views = density["visuals"]["static"].as_array().unwrap();
    assert_eq!(views.len(), 2, "the density's slice and the radial series: {views:?}");
    for v in views {
        let png = std::fs::read(d.join(v["png"].as_str().unwrap())).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(std::fs::read_to_string(d.join(v["svg"].as_str().unwrap())).unwrap().contains("<svg"));
    }

    // The radial series: P(r) = r^2 R^2 integrates to 1 over the box's radius.
    let csv = std::fs::read_to_string(d.join(density["outputs"]["radial"]["path"].as_str().unwrap())).unwrap();
    let rows: Vec<(f64, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            (c[0], c[2])
        })
        .collect();
    let area: f64 = rows.windows(2).map(|w| 0.5 * (w[1].0 - w[0].0) * (w[0].1 + w[1].1)).sum();
    assert!((area - 1.0).abs() < 1e-3, "{area}");

    // The xz slice: a PNG and an SVG (the graphics contract for `static`).
    let slice = node("slice");
    let png = std::fs::read(d.join(slice["outputs"]["image"]["path"].as_str().unwrap())).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(d.join(slice["outputs"]["image_svg"]["path"].as_str().unwrap())).unwrap();
    assert!(svg.contains("<svg") && svg.contains("bohr"), "axes carry units");
    assert_eq!(slice["visuals"]["static"][0]["png"], slice["outputs"]["image"]["path"]);
    assert_eq!(slice["visuals"]["static"][0]["svg"], slice["outputs"]["image_svg"]["path"]);

    // The animation: MP4 where ffmpeg exists, else an animated GIF; a strip of thumbnails always.
    let spin = node("spin");
    let anim = std::fs::read(d.join(spin["outputs"]["animation"]["path"].as_str().unwrap())).unwrap();
    let format = spin["visuals"]["animation"][0]["format"].as_str().unwrap().to_string();
    match format.as_str() {
        "gif" => assert!(anim.starts_with(b"GIF89a")),
        "mp4" => assert_eq!(&anim[4..8], b"ftyp"),
        other => panic!("unknown animation format {other}"),
    }
    let thumbs = std::fs::read(d.join(spin["outputs"]["animation_thumbnails"]["path"].as_str().unwrap())).unwrap();
    assert_eq!(&thumbs[..4], b"\x89PNG");
    assert_eq!(spin["visuals"]["animation"][0]["thumbnails"], spin["outputs"]["animation_thumbnails"]["path"]);
    assert_eq!(spin["visuals"]["static"], serde_json::json!([]), "static pictures come as PNG and SVG pairs");

    // A second run is all cache hits.
    let again = json_of(&phx_in(&d, &["run", "hydrogen_2p.phx", "--format", "json"]));
    assert_eq!(again["cache_hits"], 4);
}

#[test]
fn in_process_tools_stop_at_their_timeout() {
    let d = fresh_dir("inproc-timeout");
    // 40 terms of sin, exp and cos per point on 250^3 points: many seconds
    // of work, so only the timeout can end it early.
    let prog = "fn f(x: Float, y: Float, z: Float) -> Float {\n  TERMS\n}\n\nnode big = field.evaluate(f = f, grid = 250) {\n  emit        = [static]\n  allow_large = true\n  timeout     = 300 ms\n}\n".replace("TERMS", "sin(x * 1.1) * exp(-y * 1.3) * cos(z + 1.7) + sin(x * 2.1) * exp(-y * 2.3) * cos(z + 2.7) + sin(x * 3.1) * exp(-y * 3.3) * cos(z + 3.7) + sin(x * 4.1) * exp(-y * 4.3) * cos(z + 4.7) + sin(x * 5.1) * exp(-y * 5.3) * cos(z + 5.7) + sin(x * 6.1) * exp(-y * 6.3) * cos(z + 6.7) + sin(x * 7.1) * exp(-y * 7.3) * cos(z + 7.7) + sin(x * 8.1) * exp(-y * 8.3) * cos(z + 8.7) + sin(x * 9.1) * exp(-y * 9.3) * cos(z + 9.7) + sin(x * 10.1) * exp(-y * 10.3) * cos(z + 10.7) + sin(x * 11.1) * exp(-y * 11.3) * cos(z + 11.7) + sin(x * 12.1) * exp(-y * 12.3) * cos(z + 12.7) + sin(x * 13.1) * exp(-y * 13.3) * cos(z + 13.7) + sin(x * 14.1) * exp(-y * 14.3) * cos(z + 14.7) + sin(x * 15.1) * exp(-y * 15.3) * cos(z + 15.7) + sin(x * 16.1) * exp(-y * 16.3) * cos(z + 16.7) + sin(x * 17.1) * exp(-y * 17.3) * cos(z + 17.7) + sin(x * 18.1) * exp(-y * 18.3) * cos(z + 18.7) + sin(x * 19.1) * exp(-y * 19.3) * cos(z + 19.7) + sin(x * 20.1) * exp(-y * 20.3) * cos(z + 20.7) + sin(x * 21.1) * exp(-y * 21.3) * cos(z + 21.7) + sin(x * 22.1) * exp(-y * 22.3) * cos(z + 22.7) + sin(x * 23.1) * exp(-y * 23.3) * cos(z + 23.7) + sin(x * 24.1) * exp(-y * 24.3) * cos(z + 24.7) + sin(x * 25.1) * exp(-y * 25.3) * cos(z + 25.7) + sin(x * 26.1) * exp(-y * 26.3) * cos(z + 26.7) + sin(x * 27.1) * exp(-y * 27.3) * cos(z + 27.7) + sin(x * 28.1) * exp(-y * 28.3) * cos(z + 28.7) + sin(x * 29.1) * exp(-y * 29.3) * cos(z + 29.7) + sin(x * 30.1) * exp(-y * 30.3) * cos(z + 30.7) + sin(x * 31.1) * exp(-y * 31.3) * cos(z + 31.7) + sin(x * 32.1) * exp(-y * 32.3) * cos(z + 32.7) + sin(x * 33.1) * exp(-y * 33.3) * cos(z + 33.7) + sin(x * 34.1) * exp(-y * 34.3) * cos(z + 34.7) + sin(x * 35.1) * exp(-y * 35.3) * cos(z + 35.7) + sin(x * 36.1) * exp(-y * 36.3) * cos(z + 36.7) + sin(x * 37.1) * exp(-y * 37.3) * cos(z + 37.7) + sin(x * 38.1) * exp(-y * 38.3) * cos(z + 38.7) + sin(x * 39.1) * exp(-y * 39.3) * cos(z + 39.7) + sin(x * 40.1) * exp(-y * 40.3) * cos(z + 40.7)");
    std::fs::write(d.join("t.phx"), prog).unwrap();
    let start = std::time::Instant::now();
    let doc = json_of(&phx_in(&d, &["run", "t.phx", "--format", "json"]));
    let elapsed = start.elapsed();
    let big = &doc["nodes"][0];
    assert_eq!(big["status"], "failed", "{doc}");
    assert!(big["error"].as_str().unwrap().contains("timed out"), "{big}");
    assert!(elapsed.as_secs() < 10, "it stopped near its deadline, not after the whole grid: {elapsed:?}");
    // The abandoned grid is large: leave no gigabytes behind in /tmp.
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_harmonic_scan_finds_the_analytic_levels_and_plots_one_line_per_well() {
    let d = fresh_dir("harmonic");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::copy(root.join("harmonic_scan.phx"), d.join("harmonic_scan.phx")).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "harmonic_scan.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let node = |id: &str| doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();

    // The stacked table: omega = 1 then omega = 2, E_n = (n + 1/2) omega.
    let stacked = node("all_levels");
    let csv = std::fs::read_to_string(d.join(stacked["outputs"]["table"]["path"].as_str().unwrap())).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("n,E [hartree],instance"));
    let rows: Vec<(f64, f64)> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells[2], if l.ends_with("levels[0]") { "levels[0]" } else { "levels[1]" });
            (cells[0].parse().unwrap(), cells[1].parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), 12, "{csv}");
    for (i, (n, e)) in rows.iter().enumerate() {
        let omega = if i < 6 { 1.0 } else { 2.0 };
        let exact = (n + 0.5) * omega;
        assert!((e - exact).abs() < 1e-4 * exact, "E_{n} for omega {omega}: {e} against {exact}");
    }

    // The plot: a PNG and an SVG whose legend names one curve per well.
    let spectrum = node("spectrum");
    let png = std::fs::read(d.join(spectrum["outputs"]["image"]["path"].as_str().unwrap())).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(d.join(spectrum["outputs"]["image_svg"]["path"].as_str().unwrap())).unwrap();
    assert!(svg.contains("levels[0]") && svg.contains("levels[1]"), "one legend entry per instance");
    assert!(svg.contains("[hartree]"), "the y axis carries the energy's unit");
}

#[test]
fn the_wavepacket_example_conserves_the_norm_and_animates_the_density() {
    let d = fresh_dir("wavepacket");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::create_dir_all(d.join("lib")).unwrap();
    for f in ["wavepacket.phx", "lib/potentials.phx", "refs.bib"] {
        std::fs::copy(root.join(f), d.join(f)).unwrap();
    }
    let doc = json_of(&phx_in(&d, &["run", "wavepacket.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let node = |id: &str| doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
    let read =
        |n: &serde_json::Value, out: &str| std::fs::read(d.join(n["outputs"][out]["path"].as_str().unwrap())).unwrap();

    // 400 frames of split-operator steps: the norm stays 1 to 1e-10.
    let packet = node("packet");
    let norms = String::from_utf8(read(&packet, "norm")).unwrap();
    let rows: Vec<Vec<f64>> =
        norms.lines().skip(1).map(|l| l.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 400);
    assert!(rows.iter().all(|r| (r[1] - 1.0).abs() < 1e-10), "the norm drifts");
    let (density, meta) = phx_stdlib::field::Field::read_netcdf(&read(&packet, "density")).unwrap();
    assert_eq!(density.shape, [2048, 400], "x by t");
    let axes: Vec<(&str, &str)> = meta.axes.iter().map(|a| (a.name.as_str(), a.unit.as_str())).collect();
    assert_eq!(axes, [("x", "bohr"), ("t", "hbar/Eh")]);

    // The density animates as profiles over time.
    let movie = node("movie");
    let anim = read(&movie, "animation");
    match movie["visuals"]["animation"][0]["format"].as_str().unwrap() {
        "gif" => assert!(anim.starts_with(b"GIF89a")),
        "mp4" => assert_eq!(&anim[4..8], b"ftyp"),
        other => panic!("unknown animation format {other}"),
    }

    // The analytic transmission above the barrier: T(E0 = 1.125, V = 0.5, a = 1).
    let t = String::from_utf8(read(&node("analytic"), "transmission")).unwrap();
    let at_e0 = t.lines().find(|l| l.starts_with("1.125,")).expect("E0 is a row");
    let value: f64 = at_e0.split(',').nth(1).unwrap().parse().unwrap();
    let k = (2.0f64 * (1.125 - 0.5)).sqrt();
    let exact = 1.0 / (1.0 + 0.25 * k.sin().powi(2) / (4.0 * 1.125 * 0.625));
    assert!((value - exact).abs() < 1e-9, "{value} against {exact}");
}

#[test]
fn the_constants_example_computes_exact_values_and_symbolic_derivatives() {
    let d = fresh_dir("constants");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::copy(root.join("constants_units.phx"), d.join("constants_units.phx")).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "constants_units.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let out = |id: &str, name: &str| {
        doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap()["outputs"][name]["value"].clone()
    };
    // (x^2 sin x)'' by the product and chain rules, simplified; its text feeds cas.simplify.
    assert_eq!(out("derivative", "expr"), "2 * sin(x) + 4 * x * cos(x) - x ^ 2 * sin(x)");
    assert_eq!(out("simplified", "expr"), out("derivative", "expr"));
    // hbar = h / 2 pi with the exact SI value of h.
    assert_eq!(out("hbar", "value").as_f64().unwrap(), 6.626_070_15e-34 / (2.0 * std::f64::consts::PI));
    assert!((out("root2", "root").as_f64().unwrap() - 2f64.sqrt()).abs() < 1e-12);
    let area = out("gauss_area", "value").as_f64().unwrap();
    assert!((area - std::f64::consts::PI.sqrt()).abs() < 1e-10, "{area}");
}

#[test]
fn the_orbital_sweep_makes_a_contact_sheet_and_a_vtk_file() {
    let d = fresh_dir("orbitals");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::copy(root.join("orbitals_sweep.phx"), d.join("orbitals_sweep.phx")).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "orbitals_sweep.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let node = |id: &str| doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
    let read =
        |n: &serde_json::Value, out: &str| std::fs::read(d.join(n["outputs"][out]["path"].as_str().unwrap())).unwrap();

    let sheet = node("sheet");
    assert_eq!(&read(&sheet, "image")[..8], b"\x89PNG\r\n\x1a\n");
    let svg = String::from_utf8(read(&sheet, "image_svg")).unwrap();
    assert_eq!(svg.matches("<image ").count(), 9, "one tile per slice");
    assert!(svg.contains("slices[8].image"), "tiles are labelled with their source");

    let vtk = read(&node("export"), "file");
    let text = String::from_utf8_lossy(&vtk[..300]);
    assert!(text.starts_with("# vtk DataFile Version 3.0\n"), "{text}");
    assert!(text.contains("DATASET STRUCTURED_POINTS\nDIMENSIONS 64 64 64\n"), "{text}");
    assert!(vtk.len() > 64 * 64 * 64 * 8);

    // The 2p isosurface as GLB: the container's header, and a mesh of many triangles.
    let glb = read(&node("mesh"), "file");
    assert_eq!(&glb[..4], b"glTF");
    assert_eq!(u32::from_le_bytes(glb[8..12].try_into().unwrap()) as usize, glb.len());
    let json_len = u32::from_le_bytes(glb[12..16].try_into().unwrap()) as usize;
    let doc: serde_json::Value = serde_json::from_slice(&glb[20..20 + json_len]).unwrap();
    assert_eq!(doc["asset"]["version"], "2.0");
    assert!(doc["accessors"][0]["count"].as_u64().unwrap() > 3 * 500, "{doc}");
}

#[test]
fn data_fit_recovers_a_decay_rate_from_a_command_table() {
    let d = fresh_dir("fit");
    let prog = r#"tool lab.decay() -> (table: Series) {
  run = "awk 'BEGIN {{ print \"t,counts\"; for (i = 0; i < 30; i++) printf \"%g,%.12g\\n\", i * 0.2, 40 * exp(-0.7 * i * 0.2) }}' > {table}"
}

fn decay(t: Float, amplitude: Float, rate: Float) -> Float {
  amplitude * exp(-rate * t)
}

node measured = lab.decay()

node fit = data.fit(data = measured.table, model = decay, x = "t", y = "counts", initial = [10.0, 0.1]) {
  emit = [series]
}
"#;
    std::fs::write(d.join("fit.phx"), prog).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "fit.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let fit = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "fit").unwrap().clone();
    let params = std::fs::read_to_string(d.join(fit["outputs"]["params"]["path"].as_str().unwrap())).unwrap();
    let mut lines = params.lines();
    assert_eq!(lines.next(), Some("name,value,error"));
    let value = |line: Option<&str>| -> (String, f64) {
        let cells: Vec<&str> = line.unwrap().split(',').collect();
        (cells[0].to_string(), cells[1].parse().unwrap())
    };
    let (a_name, a) = value(lines.next());
    let (r_name, r) = value(lines.next());
    assert_eq!((a_name.as_str(), r_name.as_str()), ("amplitude", "rate"));
    assert!((a - 40.0).abs() < 1e-6 && (r - 0.7).abs() < 1e-8, "{params}");
    let fitted = std::fs::read_to_string(d.join(fit["outputs"]["fitted"]["path"].as_str().unwrap())).unwrap();
    assert!(fitted.starts_with("t,counts,fit\n") && fitted.lines().count() == 31, "{fitted}");
}

#[test]
fn fft_and_pca_of_a_command_table() {
    let d = fresh_dir("fft-pca");
    // t, a 4 Hz cosine, and a column that is 2 * signal + 1: one principal component.
    let prog = r#"tool lab.signal() -> (table: Series) {
  run = "awk 'BEGIN {{ print \"t,signal,echo\"; for (i = 0; i < 200; i++) {{ t = i * 0.01; s = cos(2 * 3.141592653589793 * 4 * t); printf \"%.2f,%.15g,%.15g\\n\", t, s, 2 * s + 1 }} }}' > {table}"
}

node measured = lab.signal()

node spectrum = data.fft(data = measured.table, column = "signal") {
  emit = [series]
}

node pca = ml.pca(data = measured.table, components = 2) {
  emit = [series]
}
"#;
    std::fs::write(d.join("a.phx"), prog).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "a.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let path = |id: &str, out: &str| {
        let n = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
        d.join(n["outputs"][out]["path"].as_str().unwrap())
    };
    let rows = |p: std::path::PathBuf| -> Vec<Vec<f64>> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
            .collect()
    };
    let spectrum = rows(path("spectrum", "spectrum"));
    let peak = spectrum.iter().max_by(|a, b| a[1].total_cmp(&b[1])).unwrap();
    assert!((peak[0] - 4.0).abs() < 1e-9 && (peak[1] - 1.0).abs() < 1e-9, "{peak:?}");
    // pca: three columns, t and two perfectly correlated ones.
    let comps = rows(path("pca", "components"));
    assert_eq!(comps.len(), 2);
    let ratios: f64 = comps.iter().map(|r| r[2]).sum();
    assert!((ratios - 1.0).abs() < 1e-9, "two components explain everything: {comps:?}");
    let projected = rows(path("pca", "projected"));
    assert_eq!(projected.len(), 200);
    assert!(projected.iter().all(|r| r.len() == 2));
}

#[test]
fn the_dipole_example_draws_its_vector_field() {
    let d = fresh_dir("dipole");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::copy(root.join("dipole_field.phx"), d.join("dipole_field.phx")).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "dipole_field.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let node = |id: &str| doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
    let arrows = &node("arrows");
    let png = std::fs::read(d.join(arrows["outputs"]["image"]["path"].as_str().unwrap())).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(d.join(arrows["outputs"]["image_svg"]["path"].as_str().unwrap())).unwrap();
    assert!(svg.matches(" [bohr]").count() >= 2, "axes carry units");
    // 20 x 20 arrows, each a shaft and a head.
    assert!(svg.matches("<polyline").count() >= 2 * 400, "{}", svg.matches("<polyline").count());
    // The surface: 63 x 63 shaded quads of the potential.
    let relief = node("relief");
    let svg = std::fs::read_to_string(d.join(relief["outputs"]["image_svg"]["path"].as_str().unwrap())).unwrap();
    assert!(svg.matches("<polygon").count() >= 63 * 63, "{}", svg.matches("<polygon").count());
    assert!(svg.matches(" [bohr]").count() >= 2, "the axes are named with their units");
}

#[test]
fn the_md_lab_example_measures_a_heat_capacity_of_one() {
    let d = fresh_dir("md-lab");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::copy(root.join("md_lab.phx"), d.join("md_lab.phx")).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "md_lab.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let node = |id: &str| doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
    // Equipartition: <E> = k_B T per oscillator, so the fitted slope is 1.
    let params = std::fs::read_to_string(d.join(node("fit")["outputs"]["params"]["path"].as_str().unwrap())).unwrap();
    let slope: Vec<f64> =
        params.lines().find(|l| l.starts_with("b,")).unwrap().split(',').skip(1).map(|x| x.parse().unwrap()).collect();
    assert!((slope[0] - 1.0).abs() < 4.0 * slope[1].max(0.005), "heat capacity {} +- {}", slope[0], slope[1]);
    // The archive holds the four trajectories.
    let archive = node("archive");
    let tgz = d.join(archive["outputs"]["files#0"]["path"].as_str().unwrap());
    let listing = Command::new("tar").arg("tzf").arg(&tgz).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&listing.stdout).lines().count(), 4);
}

/// A String given to a command-backed tool is one shell word: hostile text
/// from `--set` or a program reaches the command as text, never as shell
/// code; `{s:raw}` is the one way to ask otherwise, and `phx check` says so.
#[test]
fn string_arguments_cannot_inject_shell_code() {
    let dir = fresh_dir("quoting");
    std::fs::write(
        dir.join("say.phx"),
        "tool lab.say(s: String) -> (said: File) {\n  run = \"printf '%s' {s} > {said}\"\n}\n\nparam s: String = \"hello\"\n\nnode a = lab.say(s = s)\n",
    )
    .unwrap();
    for hostile in ["x; id > pwned; echo", "Bob's", "$(touch pwned)", "`touch pwned`", "a\nb", "-n"] {
        let set = format!("s={}", serde_json::to_string(hostile).unwrap());
        let out = phx_in(&dir, &["run", "say.phx", "--set", &set, "--format", "json"]);
        assert!(out.status.success(), "{hostile:?}: {}", String::from_utf8_lossy(&out.stderr));
        let doc = json_of(&out);
        let said = doc["nodes"][0]["outputs"]["said"]["path"].as_str().unwrap().to_string();
        assert_eq!(std::fs::read_to_string(dir.join(said)).unwrap(), hostile);
        assert!(
            !dir.join("pwned").exists()
                && !dir.join(".phx/runs").read_dir().unwrap().any(|r| {
                    r.unwrap()
                        .path()
                        .join("work")
                        .read_dir()
                        .into_iter()
                        .flatten()
                        .any(|w| w.unwrap().path().join("pwned").exists())
                }),
            "{hostile:?} ran as shell code"
        );
    }
    std::fs::write(
        dir.join("raw.phx"),
        "tool lab.say(s: String) -> (said: File) {\n  run = \"printf '%s' {s:raw} > {said}\"\n}\n\nnode a = lab.say(s = \"a b\")\n",
    )
    .unwrap();
    let out = phx_in(&dir, &["check", "raw.phx"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("phx::raw-placeholder"));
}

/// Sleeps a test's commands started (their pid files) and the `phx` it
/// runs: all killed when the test ends, passed or not.
struct Leftovers {
    pid_files: Vec<PathBuf>,
    phx: Option<std::process::Child>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if let Some(mut phx) = self.phx.take() {
            let _ = phx.kill();
            let _ = phx.wait();
        }
        for f in &self.pid_files {
            if let Some(pid) = pid_in(f).filter(|p| sleeping(*p)) {
                // SAFETY: a sleep this test's commands started (`sleeping`
                // checked its command line).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn pid_in(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Whether `pid` is a `sleep 30..` that has not ended (a zombie has).
fn sleeping(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
    state.is_some_and(|s| s != "Z") && cmd.starts_with(b"sleep\x0030")
}

/// Whether `pid` ends within a few seconds.
fn ends_soon(pid: i32) -> bool {
    let start = std::time::Instant::now();
    while sleeping(pid) {
        if start.elapsed().as_secs() >= 5 {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

/// A command's `setsid` child (a session of its own, out of reach of the
/// node's process group) does not outlive the node.
#[test]
fn a_setsid_child_ends_with_its_node() {
    let d = fresh_dir("setsid");
    let pid_file = d.join("daemon.pid");
    let _leftovers = Leftovers { pid_files: vec![pid_file.clone()], phx: None };
    let prog = format!(
        "tool lab.daemon() -> (out: File) {{\n  run = \"setsid sh -c 'echo $$ > {p}; exec sleep 3031' & while [ ! -s {p} ]; do sleep 0.01; done; echo started > {{out}}\"\n}}\n\nnode d = lab.daemon()\n",
        p = pid_file.display()
    );
    std::fs::write(d.join("d.phx"), prog).unwrap();
    let phx = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "d.phx", "--format", "json"])
        .current_dir(&d)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let phx_pid = phx.id();
    let doc = json_of(&phx.wait_with_output().unwrap());
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let pid = pid_in(&pid_file).expect("the command started its child");
    assert!(ends_soon(pid), "the setsid child {pid} outlived its node");
    // The run's watchdog left with it.
    let watchdog = format!("watchdog\0{phx_pid}_");
    let start = std::time::Instant::now();
    while std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("cmdline"))
            .is_ok_and(|c| c.windows(watchdog.len()).any(|w| w == watchdog.as_bytes()))
    }) {
        assert!(start.elapsed().as_secs() < 5, "the watchdog outlived its run");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `kill -9` of `phx run`: the run's watchdog ends what its commands
/// started, a `setsid` child as well as the nodes' own sleeps.
#[test]
fn a_killed_phx_takes_its_commands_processes_with_it() {
    let d = fresh_dir("kill9-children");
    let (daemon, own, slow) = (d.join("daemon.pid"), d.join("own.pid"), d.join("slow.pid"));
    let mut leftovers = Leftovers { pid_files: vec![daemon.clone(), own.clone(), slow.clone()], phx: None };
    let prog = format!(
        "tool lab.daemon() -> (out: File) {{\n  run = \"setsid sh -c 'echo $$ > {daemon}; exec sleep 3032' & sleep 3033 & echo $! > {own}; wait; echo x > {{out}}\"\n}}\n\ntool lab.slow() -> (out: File) {{\n  run = \"echo $$ > {slow}; exec sleep 3034\"\n}}\n\nnode d = lab.daemon()\n\nnode s = lab.slow()\n",
        daemon = daemon.display(),
        own = own.display(),
        slow = slow.display()
    );
    std::fs::write(d.join("k.phx"), prog).unwrap();
    leftovers.phx = Some(
        Command::new(env!("CARGO_BIN_EXE_phx"))
            .args(["run", "k.phx", "--jobs", "2"])
            .current_dir(&d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = std::time::Instant::now();
    let pids = loop {
        if let (Some(a), Some(b), Some(c)) = (pid_in(&daemon), pid_in(&own), pid_in(&slow)) {
            break [a, b, c];
        }
        assert!(start.elapsed().as_secs() < 30, "the commands did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // The pid files are written just before `exec sleep`: wait for the exec.
    while !pids.iter().all(|p| sleeping(*p)) {
        assert!(start.elapsed().as_secs() < 30, "the commands did not reach their sleep");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut phx = leftovers.phx.take().unwrap();
    phx.kill().unwrap(); // SIGKILL: phx ends nothing itself
    phx.wait().unwrap();
    for (pid, what) in pids.iter().zip(["the setsid child", "the node's sleep", "the other node's sleep"]) {
        assert!(ends_soon(*pid), "{what} ({pid}) outlived the killed phx");
    }
}

#[test]
fn a_field_asked_for_series_gets_its_profiles_as_csv() {
    // The finding: `field.evaluate(...) { emit = [series] }` ran with an
    // empty `visuals.series`.
    let d = fresh_dir("field-series");
    std::fs::write(
        d.join("f.phx"),
        "fn g(x: Float, y: Float, z: Float) -> Float {\n  x + 10 * y + 100 * z\n}\n\nnode f = field.evaluate(f = g, grid = 5, extent = 2 bohr) {\n  emit = [series]\n}\n",
    )
    .unwrap();
    let doc = json_of(&phx_in(&d, &["run", "f.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let series = doc["nodes"][0]["visuals"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{doc}");
    let csv = std::fs::read_to_string(d.join(series[0].as_str().unwrap())).unwrap();
    let rows: Vec<Vec<f64>> = csv.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert!(csv.starts_with("coordinate [bohr],along_x"), "{csv}");
    assert_eq!(rows.len(), 5);
    // Through the centre (0, 0, 0): along x the value is x, along y 10 y,
    // along z 100 z (coordinates in bohr, values as g computes them in SI
    // lengths or bohr: compare ratios, which do not depend on the unit).
    for r in &rows {
        assert!((r[2] - 10.0 * r[1]).abs() <= 1e-9 * r[2].abs().max(1.0), "{csv}");
        assert!((r[3] - 100.0 * r[1]).abs() <= 1e-9 * r[3].abs().max(1.0), "{csv}");
    }
    assert!(rows[0][0] < 0.0 && rows[4][0] > 0.0 && rows[2][0] == 0.0, "{csv}");
}

#[test]
fn a_data_tool_asked_for_animation_animates_its_field() {
    // The finding: quantum.orbital declares `animation` and accepted
    // `emit = [animation]`, then produced nothing.
    let d = fresh_dir("orbital-animation");
    std::fs::write(
        d.join("o.phx"),
        "node o = quantum.orbital(n = 2, l = 1, m = 0, grid = 16) {\n  emit = [animation]\n}\n",
    )
    .unwrap();
    let doc = json_of(&phx_in(&d, &["run", "o.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let anims = doc["nodes"][0]["visuals"]["animation"].as_array().unwrap();
    assert_eq!(anims.len(), 1, "{doc}");
    let file = std::fs::read(d.join(anims[0]["file"].as_str().unwrap())).unwrap();
    assert!(file.starts_with(b"GIF8") || &file[4..8] == b"ftyp", "an animated GIF or an MP4");
    let strip = std::fs::read(d.join(anims[0]["thumbnails"].as_str().unwrap())).unwrap();
    assert!(strip.starts_with(b"\x89PNG"));
    let meta = &doc["nodes"][0]["outputs"]["density_animation"]["meta"];
    assert_eq!(meta["frames"], 48, "{meta}");
    assert_eq!(meta["motion"], "rotate");
    // Nothing else was asked for: no static pictures.
    assert_eq!(doc["nodes"][0]["visuals"]["static"].as_array().map_or(0, Vec::len), 0, "{doc}");
    // The metadata of the graphics contract, in the run's JSON.
    let density = &doc["nodes"][0]["outputs"]["density"]["meta"];
    assert_eq!(density["device"], "cpu", "{density}");
    assert_eq!(density["cached"], false);
    assert_eq!(density["sha256"], doc["nodes"][0]["outputs"]["density"]["sha256"]);
    let again = json_of(&phx_in(&d, &["run", "o.phx", "--format", "json"]));
    assert_eq!(again["nodes"][0]["outputs"]["density_animation"]["meta"]["cached"], true, "{again}");
}
