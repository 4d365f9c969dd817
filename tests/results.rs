//! Results by name: `results/` after a run, replaced node by node, never
//! touching the store's objects; `phx results` for any run.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{json_of, phx_in};
use sha2::{Digest, Sha256};

fn fresh_dir(name: &str) -> PathBuf {
    common::fresh_dir("results", name)
}

fn sha_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Every file under `results/`, with its inode, relative to the folder.
fn inodes(dir: &Path) -> BTreeMap<String, u64> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::metadata(&p).unwrap().ino());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &dir.join("results"), &mut out);
    out
}

fn hydrogen(dir: &Path, title: &str) {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hydrogen_2p.phx")).unwrap();
    assert!(src.contains("title = \"|psi_2p|^2\""), "the example's slice title moved");
    std::fs::write(dir.join("hydrogen_2p.phx"), src.replace("title = \"|psi_2p|^2\"", &format!("title = \"{title}\"")))
        .unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/refs.bib"), dir.join("refs.bib")).unwrap();
}

#[test]
fn results_hold_each_output_by_name_and_a_change_replaces_only_its_node() {
    let d = fresh_dir("hydrogen");
    hydrogen(&d, "|psi_2p|^2");
    let run = ["run", "hydrogen_2p.phx", "--set", "grid=32", "--format", "json"];
    let first = json_of(&phx_in(&d, &run));
    assert_eq!(first["status"], "succeeded", "{first}");
    for want in [
        "results/slice/image.png",
        "results/slice/image.svg",
        "results/density/radial.csv",
        "results/density/density_view.png",
        "results/spin/animation.gif",
        "results/spin/animation_thumbnails.png",
        "results/wave/values_profiles.csv",
        "results/report.pdf",
    ] {
        assert!(d.join(want).is_file(), "no {want}: {:?}", inodes(&d).keys().collect::<Vec<_>>());
    }
    // Each output's result path is in the run JSON, beside its store path,
    // and is the same bytes: a read-only hard link to the object.
    let mut outputs = 0;
    for n in first["nodes"].as_array().unwrap() {
        for (name, o) in n["outputs"].as_object().unwrap() {
            let result = o["result"].as_str().unwrap_or_else(|| panic!("{}.{name} has no result path: {o}", n["id"]));
            let stem = name.strip_suffix("_svg").unwrap_or(name);
            assert!(result.starts_with(&format!("results/{}/{stem}.", n["id"].as_str().unwrap())), "{result}");
            let (r, object) = (d.join(result), d.join(o["path"].as_str().unwrap()));
            assert_eq!(sha_of(&r), o["sha256"].as_str().unwrap(), "{result}");
            assert_eq!(std::fs::metadata(&r).unwrap().ino(), std::fs::metadata(&object).unwrap().ino(), "{result}");
            assert!(std::fs::metadata(&r).unwrap().permissions().readonly(), "{result} is writable");
            outputs += 1;
        }
    }
    assert!(outputs >= 12, "{first}");
    // A field is stored in a format with an extension people recognise.
    let field = first["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "density").unwrap()["outputs"]["density"]
        ["result"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(field.starts_with("results/density/density."), "{field}");

    // The slice's title changes: only the slice runs, only its files change.
    let before = inodes(&d);
    hydrogen(&d, "Density |psi_2p|^2");
    let second = json_of(&phx_in(&d, &run));
    assert_eq!(second["status"], "succeeded", "{second}");
    let ran: Vec<&str> = second["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["cached"] == false)
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["slice"], "{second}");
    let after = inodes(&d);
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    let changed: Vec<&String> = after.iter().filter(|(k, ino)| before[*k] != **ino).map(|(k, _)| k).collect();
    assert_eq!(
        changed,
        ["results/report.pdf", "results/slice/image.png", "results/slice/image.svg"],
        "exactly the changed node's files (and the run's report) are new"
    );
    // Nothing reached the store's objects through a link.
    let verify = phx_in(&d, &["store", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("0 corrupt or unreadable, 0 missing"));

    // Any run's results can be placed elsewhere: the first run's picture.
    let out = phx_in(&d, &["results", first["run_id"].as_str().unwrap(), "-o", "first", "--format", "json"]);
    let listing = json_of(&out);
    assert_eq!(listing["run_id"], first["run_id"]);
    assert_eq!(
        sha_of(&d.join("first/slice/image.png")),
        first["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "slice").unwrap()["outputs"]["image"]["sha256"]
            .as_str()
            .unwrap()
    );
    assert!(d.join("first/report.pdf").is_file());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_sweep_gets_a_folder_per_instance_and_a_shorter_sweep_leaves_none_behind() {
    let d = fresh_dir("sweep");
    let program = |n: usize| {
        format!(
            "tool lab.square(k: Int) -> (out: File) {{\n  run = \"echo {{k}} > {{out}}\"\n}}\n\nnode sq[k in 1..={n}] = lab.square(k = k)\n\ntool lab.sum(parts: List[File]) -> (total: Int) {{\n  run = \"cat {{parts}} | awk '{{{{ t += $1 }}}} END {{{{ print t }}}}' > {{total}}\"\n}}\n\nnode total = lab.sum(parts = sq[*].out)\n"
        )
    };
    std::fs::write(d.join("s.phx"), program(4)).unwrap();
    let out = phx_in(&d, &["run", "s.phx", "--format", "json"]);
    let doc = json_of(&out);
    if doc["status"] != "succeeded" {
        panic!("{doc}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    for k in 0..4 {
        assert!(d.join(format!("results/sq/{k}")).is_dir(), "{:?}", inodes(&d));
    }
    assert!(d.join("results/total").is_dir());
    std::fs::write(d.join("s.phx"), program(2)).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "s.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    assert!(d.join("results/sq/1").is_dir());
    assert!(!d.join("results/sq/2").exists() && !d.join("results/sq/3").exists(), "{:?}", inodes(&d));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_failed_node_keeps_the_results_of_its_last_success() {
    let d = fresh_dir("failed");
    let program =
        |cmd: &str| format!("tool lab.write() -> (out: File) {{\n  run = \"{cmd}\"\n}}\n\nnode c = lab.write()\n");
    std::fs::write(d.join("c.phx"), program("echo one > {out}")).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "c.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let listed: Vec<String> = inodes(&d).into_keys().collect();
    let out = listed.iter().find(|p| p.contains("out")).unwrap_or_else(|| panic!("{listed:?}")).clone();
    assert_eq!(std::fs::read_to_string(d.join(&out)).unwrap(), "one\n");
    std::fs::write(d.join("c.phx"), program("exit 3")).unwrap();
    let doc = json_of(&phx_in(&d, &["run", "c.phx", "--format", "json"]));
    assert_eq!(doc["status"], "failed", "{doc}");
    assert_eq!(std::fs::read_to_string(d.join(&out)).unwrap(), "one\n");
    let _ = std::fs::remove_dir_all(&d);
}
