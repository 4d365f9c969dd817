//! Compiler benchmarks: checking and lowering large programs, and
//! re-checking after a one-node edit (the incremental path the LSP uses).

use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use phx_db::Database;

fn generate(kind: &str, n: usize) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/gen.py");
    let out =
        Command::new("python3").arg(script).arg(kind).arg(n.to_string()).output().expect("python3 runs bench/gen.py");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8")
}

fn check_fresh(text: &str) -> usize {
    let mut db = Database::new();
    let f = db.set_file("bench.phx", text.to_string());
    let c = db.check(f);
    assert!(!c.has_errors());
    c.dag.vertex_count()
}

fn bench(c: &mut Criterion) {
    let sweep = generate("sweep", 50_000);
    let explicit = generate("explicit", 10_000);
    let mut group = c.benchmark_group("check_and_lower");
    group.sample_size(10);
    group.bench_function("sweep_50k_instances", |b| b.iter(|| check_fresh(&sweep)));
    group.bench_function("explicit_10k_nodes", |b| b.iter(|| check_fresh(&explicit)));
    group.finish();

    // A 5,000-line file, then one node's argument edited back and forth.
    let base = generate("lines", 5_000);
    assert!(base.lines().count() >= 5_000);
    let edited = base.replacen("columns = 3)", "columns = 4)", 1);
    assert_ne!(base, edited);
    let mut db = Database::new();
    let f = db.set_file("bench.phx", base.clone());
    db.check(f);
    let mut flip = false;
    let mut group = c.benchmark_group("incremental");
    group.bench_function("recheck_after_one_node_edit_5000_lines", |b| {
        b.iter(|| {
            flip = !flip;
            db.set_file("bench.phx", if flip { edited.clone() } else { base.clone() });
            db.check(f).dag.vertex_count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
