//! End-to-end tests of artifact versioning: `phx artifact log`, `lineage`
//! (with the parameters and code versions along the way) and `diff`
//! between two runs of one program.

use std::path::PathBuf;
use std::process::Output;

mod common;
use common::phx_in;

fn fresh_dir(name: &str) -> PathBuf {
    common::fresh_dir("versioning", name)
}

/// The JSON of a command that must succeed.
fn json_of(o: &Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    common::json_of(o)
}

const PROGRAM: &str = r#"param n: Int = 3

tool lab.squares(n: Int) -> (table: Series) {
  run   = "echo x,y > {table}; i=1; while [ $i -le {n} ]; do echo $i,$(( i * i )) >> {table}; i=$((i + 1)); done"
  emits = [series]
}

tool lab.total(table: Series) -> (sum: Series) {
  run   = "awk -F, 'NR > 1 {{ s += $2 }} END {{ print \"sum\"; print s }}' {table} > {sum}"
  emits = [series]
}

node sq = lab.squares(n = n) { emit = [series] }
node fixed = lab.squares(n = 2) { emit = [series] }
node total = lab.total(table = sq.table) { emit = [series] }
"#;

#[test]
fn diff_names_the_changed_argument_input_and_outputs_and_lineage_carries_parameters() {
    let d = fresh_dir("diff");
    std::fs::write(d.join("p.phx"), PROGRAM).unwrap();
    let a = json_of(&phx_in(&d, &["run", "p.phx", "--format", "json"]));
    let b = json_of(&phx_in(&d, &["run", "p.phx", "--set", "n=4", "--format", "json"]));
    let (ra, rb) = (a["run_id"].as_str().unwrap(), b["run_id"].as_str().unwrap());

    let diff = json_of(&phx_in(&d, &["artifact", "diff", ra, rb, "--format", "json"]));
    let node = |v: &str| diff["nodes"].as_array().unwrap().iter().find(|n| n["vertex"] == v).unwrap().clone();
    assert_eq!(node("fixed")["status"], "unchanged");
    let sq = node("sq");
    assert_eq!(sq["status"], "changed");
    let changes = sq["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["what"] == "argument" && c["name"] == "n" && c["before"] == "3" && c["after"] == "4"),
        "{sq}"
    );
    assert!(changes.iter().any(|c| c["what"] == "output" && c["name"] == "table"), "{sq}");
    let total = node("total");
    let changes = total["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["what"] == "input" && c["name"] == "table <- sq.table"), "{total}");
    assert!(!changes.iter().any(|c| c["what"] == "argument"), "total's own arguments did not change: {total}");
    let text = String::from_utf8_lossy(&phx_in(&d, &["artifact", "diff", ra, rb]).stdout).into_owned();
    assert!(text.contains("argument n: 3 -> 4"), "{text}");
    assert!(text.contains("1 node(s) unchanged"), "{text}");

    // The history of an artifact name across the two runs.
    let log = json_of(&phx_in(&d, &["artifact", "log", "sq.table", "--format", "json"]));
    let rows = log["artifacts"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{log}");
    assert_ne!(rows[0]["sha256"], rows[1]["sha256"]);

    // Lineage of the newest total: its ancestor with the parameter and the
    // code version of the tool that made it.
    let sum = b["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "total").unwrap()["outputs"]["sum"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let lineage = json_of(&phx_in(&d, &["artifact", "lineage", &sum, "--format", "json"]));
    let ancestor = lineage["ancestors"][0].as_str().unwrap();
    let p = &lineage["producers"][ancestor];
    assert_eq!(p["vertex"], "sq");
    assert_eq!(p["args"]["n"], "4");
    // A command-backed tool's code version is the hash of its command.
    assert_eq!(p["code_version"].as_str().unwrap().len(), 64, "{p}");
    for format in ["dot", "mermaid", "text"] {
        let out = String::from_utf8_lossy(&phx_in(&d, &["artifact", "lineage", &sum, "--format", format]).stdout)
            .into_owned();
        assert!(out.contains("n = 4") && out.contains("lab.squares"), "{format}: {out}");
    }

    let o = phx_in(&d, &["artifact", "diff", ra, "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no run `nope`"));
}
