//! What the end-to-end tests share: fresh folders, running the real `phx`
//! binary, and reading its run JSON.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

/// The pid in a test folder's name (`phx-SUITE-test-PID[-NAME]`).
fn pid_of_test_dir(name: &str) -> Option<u32> {
    let (_, rest) = name.strip_prefix("phx-")?.split_once("-test-")?;
    rest.split('-').next()?.parse().ok()
}

/// Removes the folders of test processes that have ended: a passing test
/// removes its own, but one that fails keeps it to look at, and those
/// added up to gigabytes over a day of runs.
fn sweep_ended_test_dirs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Only an hour after its last change: a folder whose pid this
            // process cannot see (another PID namespace sharing /tmp) may
            // still be in use.
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600));
            if let Some(pid) = pid_of_test_dir(&name)
                && old
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
}

/// An empty folder of this test process, `phx-SUITE-test-PID-NAME`.
pub fn fresh_dir(suite: &str, name: &str) -> PathBuf {
    sweep_ended_test_dirs();
    let d = std::env::temp_dir().join(format!("phx-{suite}-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

/// `phx ARGS` in `dir`.
pub fn phx_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phx")).args(args).current_dir(dir).output().expect("phx runs")
}

/// The JSON `phx` printed, or a panic showing what it printed instead.
pub fn json_of(o: &Output) -> Json {
    serde_json::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    })
}

/// A node of a run's JSON by id.
pub fn node<'a>(doc: &'a Json, id: &str) -> &'a Json {
    doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("no node {id} in {doc}"))
}

/// Every output hash of a run, by `node.output`.
pub fn hashes(doc: &Json) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for n in doc["nodes"].as_array().unwrap() {
        for (name, o) in n["outputs"].as_object().unwrap() {
            out.insert(format!("{}.{name}", n["id"].as_str().unwrap()), o["sha256"].as_str().unwrap().to_string());
        }
    }
    out
}

/// The Python of a virtual environment for a test: the folder named by
/// `env_var`, else `name` under the build's target folder, made on first
/// use when `probe` (a Python snippet) fails there: `python3 -m venv`, then
/// one `pip install` per entry of `installs`. It is made beside and renamed
/// into place, so a run beside this one never sees half an environment.
pub fn python_venv(env_var: &str, name: &str, probe: &str, installs: &[&[&str]]) -> PathBuf {
    let dir = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join(name));
    let ready = |py: &Path| Command::new(py).args(["-c", probe]).output().is_ok_and(|o| o.status.success());
    let python = dir.join("bin/python");
    if ready(&python) {
        return python;
    }
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let run = |cmd: &mut Command| {
        let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(
            o.status.success(),
            "{cmd:?}:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&tmp));
    for args in installs {
        run(Command::new(tmp.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(*args));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another run put its own in place first.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(ready(&python), "the virtual environment at {} fails `{probe}`", dir.display());
    python
}
