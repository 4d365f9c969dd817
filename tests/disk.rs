//! What a run leaves on disk: one copy of each output (the working folder
//! links to the store object and keeps only the command's logs), and what
//! `phx store gc` reclaims from failed, finished and killed runs.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{json_of, phx_in};

/// Bytes allocated on disk under `dir`, each inode counted once (as `du`).
fn disk_use(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        if m.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if seen.insert(m.ino()) {
            total += m.blocks() * 512;
        }
    }
    total
}

const BIG: &str = r#"tool lab.big(mb: Int) -> (out: File) {
  run = "head -c {mb}000000 /dev/urandom > {out}; echo wrote {mb} MB"
}

tool lab.fail(mb: Int) -> (out: File) {
  run = "head -c {mb}000000 /dev/urandom > scratch.bin; echo giving up >&2; exit 3"
}

node big = lab.big(mb = 50)
"#;

#[test]
fn an_output_is_stored_once_and_the_work_folder_keeps_its_logs() {
    let d = common::fresh_dir("disk", "once");
    std::fs::write(d.join("big.phx"), BIG).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "big.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    // The finding: a 100 MB output took 192 MB (the store's copy and the
    // working folder's). Now the store holds it once.
    let used = disk_use(&d.join(".phx"));
    assert!(used < 55_000_000, "50 MB of output uses {:.1} MB of .phx", used as f64 / 1e6);
    let run = doc["run_id"].as_str().unwrap();
    let work = d.join(".phx/runs").join(run).join("work").join("big-1");
    let kept: Vec<String> =
        std::fs::read_dir(&work).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(kept.iter().all(|k| k.starts_with(".phx-")), "only logs and the script stay: {kept:?}");
    assert!(!work.join("out").exists());
    assert_eq!(std::fs::read_to_string(work.join(".phx-stdout")).unwrap(), "wrote 50 MB\n");
    // The object is whole and read-only.
    assert_eq!(phx_in(&d, &["store", "verify"]).status.code(), Some(0));
    let sha = doc["nodes"][0]["outputs"]["out"]["sha256"].as_str().unwrap();
    let object = d.join(".phx/objects").join(&sha[..2]).join(sha);
    assert!(std::fs::metadata(&object).unwrap().permissions().readonly());
}

#[test]
fn gc_reclaims_the_work_folders_of_failed_and_killed_runs() {
    let d = common::fresh_dir("disk", "gc");
    std::fs::write(d.join("big.phx"), BIG.replace("node big = lab.big(mb = 50)", "node bad = lab.fail(mb = 20)"))
        .unwrap();
    // A failed node keeps its working folder, for a person to look at.
    let doc = json_of(&phx_in(&d, &["run", "big.phx", "--format", "json"]));
    assert_eq!(doc["status"], "failed", "{doc}");
    let failed = d.join(".phx/runs").join(doc["run_id"].as_str().unwrap()).join("work").join("bad-1");
    assert!(failed.join("scratch.bin").exists());
    // A killed run leaves its working folder too.
    std::fs::write(
        d.join("slow.phx"),
        "tool lab.slow() -> (out: File) {\n  run = \"head -c 10000000 /dev/urandom > part.bin; sleep 30; echo > {out}\"\n}\n\nnode slow = lab.slow()\n",
    )
    .unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "slow.phx"])
        .current_dir(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let part = loop {
        let found = std::fs::read_dir(d.join(".phx/runs"))
            .unwrap()
            .flatten()
            .map(|r| r.path().join("work/slow-1/part.bin"))
            .find(|p| p.metadata().is_ok_and(|m| m.len() == 10_000_000));
        if let Some(p) = found {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "the slow node never wrote its part");
        std::thread::sleep(Duration::from_millis(50));
    };
    run.kill().unwrap();
    run.wait().unwrap();
    let o = phx_in(&d, &["store", "gc"]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&o.stderr));
    assert!(said.contains("emptied 2 working folders"), "{said}");
    assert!(!failed.join("scratch.bin").exists() && !part.exists(), "{said}");
    // Their logs stay.
    assert!(std::fs::read_to_string(failed.join(".phx-stderr")).unwrap().contains("giving up"));
    assert!(disk_use(&d.join(".phx")) < 5_000_000, "{} bytes left", disk_use(&d.join(".phx")));
    // The killed run reads dead.
    let runs = json_of(&phx_in(&d, &["runs", "--format", "json"]));
    assert_eq!(runs["runs"][0]["status"], "dead", "{runs}");
}
