//! Bundles: a run exported from one store and imported into another, and
//! refused (with nothing added) when a byte is flipped, when another key
//! signed it, or when it is not a bundle.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("phx-bundle-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn phx(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", config)
        .env("PHX_AUTHOR", "A")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const PROGRAM: &str = "tool lab.squares(n: Int) -> (table: Series) {\n  run   = \"echo x,y > {table}; for i in $(seq 1 {n}); do echo $i,$((i*i)) >> {table}; done\"\n  emits = [series]\n}\n\nnode sq = lab.squares(n = 4) {\n  emit = [series]\n}\n";

/// A store with one run and a notebook entry about it; the bundle's path
/// and the run id.
fn exported(name: &str) -> (PathBuf, PathBuf, String) {
    let src = fresh_dir(&format!("{name}-src"));
    let config = src.join("config");
    std::fs::write(src.join("p.phx"), PROGRAM).unwrap();
    let run: serde_json::Value =
        serde_json::from_slice(&phx(&src, &config, &["run", "p.phx", "--format", "json"]).stdout).unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    assert!(
        phx(&src, &config, &["notebook", "add", "--title", "squares", "--message", "ok", "--attach", &run_id])
            .status
            .success()
    );
    let bundle = src.join("run.phxbundle");
    let o = phx(&src, &config, &["bundle", "export", &run_id, "-o", bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    (bundle, config, run_id)
}

fn runs(dir: &Path, config: &Path) -> String {
    String::from_utf8_lossy(&phx(dir, config, &["runs", "--format", "json"]).stdout).into_owned()
}

#[test]
fn a_bundle_moves_a_run_with_its_artifacts_report_and_provenance() {
    let (bundle, config, run_id) = exported("good");
    let dst = fresh_dir("good-dst");
    // The recipient trusts the sender's key (here: the same config folder).
    let o = phx(&dst, &config, &["bundle", "import", bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let show: serde_json::Value =
        serde_json::from_slice(&phx(&dst, &config, &["show", &run_id, "--format", "json"]).stdout).unwrap();
    let sha = show["nodes"][0]["outputs"]["table"]["sha256"].as_str().unwrap().to_string();
    assert!(phx(&dst, &config, &["artifact", "verify", &sha]).status.success());
    assert!(dst.join(format!(".phx/runs/{run_id}/bundle/p.phx")).is_file());
    assert!(dst.join(format!(".phx/runs/{run_id}/bundle/dag.json")).is_file());
    assert!(dst.join(format!(".phx/runs/{run_id}/bundle/notebook.json")).is_file());
    // Importing it twice is refused, and changes nothing.
    let again = phx(&dst, &config, &["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already in this store"), "{}", stderr(&again));
}

#[test]
fn a_flipped_byte_another_key_or_a_non_bundle_is_refused_and_nothing_enters() {
    let (bundle, config, _) = exported("bad");
    let bytes = std::fs::read(&bundle).unwrap();

    // One flipped byte in the last payload.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 0x01;
    let f = bundle.with_extension("flipped");
    std::fs::write(&f, &flipped).unwrap();
    let dst = fresh_dir("bad-dst1");
    let o = phx(&dst, &config, &["bundle", "import", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("phx::bundle-corrupt") && stderr(&o).contains("is corrupt"), "{}", stderr(&o));
    assert!(
        runs(&dst, &config).contains("\"runs\": []") || !runs(&dst, &config).contains("run_id"),
        "{}",
        runs(&dst, &config)
    );
    let objects = std::fs::read_dir(dst.join(".phx/objects")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(objects, 0, "nothing of a refused bundle enters the store");

    // A flipped byte in the manifest breaks the signature.
    let mut signed = bytes.clone();
    // A value inside the manifest (the program's name), so it still parses.
    let at = bytes.windows(7).position(|w| w == b"\"p.phx\"").unwrap() + 1;
    signed[at] = b'q';
    let g = bundle.with_extension("manifest");
    std::fs::write(&g, &signed).unwrap();
    let o = phx(&fresh_dir("bad-dst2"), &config, &["bundle", "import", g.to_str().unwrap()]);
    assert!(stderr(&o).contains("signature does not verify"), "{}", stderr(&o));

    // A recipient who does not know the key refuses it, and says how to accept it.
    let stranger = fresh_dir("stranger");
    let o = phx(&stranger, &stranger.join("config"), &["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not trust") && stderr(&o).contains("--trust"), "{}", stderr(&o));
    assert!(!runs(&stranger, &stranger.join("config")).contains("succeeded"));

    // Cut short: the payloads do not fill what the manifest claims.
    let cut = bundle.with_extension("cut");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let o = phx(&fresh_dir("bad-dst4"), &config, &["bundle", "import", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("lists") && stderr(&o).contains("bytes of payloads"), "{}", stderr(&o));

    // Not a bundle at all.
    let h = bundle.with_extension("txt");
    std::fs::write(&h, "hello\n").unwrap();
    let o = phx(&fresh_dir("bad-dst3"), &config, &["bundle", "import", h.to_str().unwrap()]);
    assert!(stderr(&o).contains("not a phx bundle"), "{}", stderr(&o));
}

#[test]
fn a_signed_bundle_naming_paths_instead_of_vertices_is_refused() {
    // The finding: `phx results` builds folders from the recorded vertex
    // and output names, and a bundle's records were imported as given.
    let src = fresh_dir("paths-src");
    let config = src.join("config");
    std::fs::write(src.join("p.phx"), PROGRAM).unwrap();
    let run: serde_json::Value =
        serde_json::from_slice(&phx(&src, &config, &["run", "p.phx", "--format", "json"]).stdout).unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_string();
    // The sender's own store says something else (as a hostile sender's would).
    let db = phx_store::Db::open(&src.join(".phx/phx.db")).unwrap();
    db.execute_raw("UPDATE executions SET vertex = '../../escaped'").unwrap();
    drop(db);
    let bundle = src.join("run.phxbundle");
    let o = phx(&src, &config, &["bundle", "export", &run_id, "-o", bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dst = fresh_dir("paths-dst");
    let o = phx(&dst, &config, &["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("`../../escaped`, which is not a vertex or output name"), "{}", stderr(&o));
    assert_eq!(runs(&dst, &config).matches(&run_id).count(), 0, "nothing entered");
}
