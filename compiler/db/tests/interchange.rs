//! `phx import (phx export --json f)` checks to the same DAG and keys.

use std::collections::HashMap;

fn dag_keys(files: &HashMap<String, String>, root: &str) -> (Vec<(String, String)>, usize) {
    let mut db = phx_db::Database::new();
    let f = db.load_with_imports(root, &Loader(files.clone()));
    let checked = db.check(f);
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    let mut keys: Vec<(String, String)> =
        checked.dag.vertices().iter().map(|v| (v.id.clone(), v.static_key.clone())).collect();
    keys.sort();
    (keys, errors)
}

struct Loader(HashMap<String, String>);

impl phx_db::FileLoader for Loader {
    fn load(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0.get(path).map(|s| s.clone().into_bytes()).ok_or_else(|| format!("no {path}"))
    }
}

#[test]
fn every_example_round_trips_through_json() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let lib = std::fs::read_to_string(format!("{dir}/lib/potentials.phx")).unwrap();
    for name in ["hydrogen_2p", "harmonic_scan", "wavepacket", "md_lab", "constants_units", "orbitals_sweep"] {
        let text = std::fs::read_to_string(format!("{dir}/{name}.phx")).unwrap();
        let json = phx_interchange::export(&text).unwrap();
        let back = phx_interchange::import(&json.to_string()).unwrap();
        let mut files = HashMap::from([("lib/potentials.phx".to_string(), lib.clone())]);
        files.insert("main.phx".into(), text.clone());
        let (before, e1) = dag_keys(&files, "main.phx");
        files.insert("main.phx".into(), back.clone());
        let (after, e2) = dag_keys(&files, "main.phx");
        assert_eq!((e1, e2), (0, 0), "{name}");
        assert!(!before.is_empty());
        assert_eq!(before, after, "{name}: the DAG changed through JSON:\n{back}");
        // And the JSON of the imported program is the same JSON.
        assert_eq!(phx_interchange::export(&back).unwrap(), json, "{name}");
    }
}
