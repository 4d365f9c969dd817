//! Verifying a clean chain of 1,000 entries (goal: under a second).

use criterion::{Criterion, criterion_group, criterion_main};
use phx_notebook::NewEntry;

fn verify_1000(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("phx-notebook-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let store = phx_store::Store::open(&dir).expect("a store");
    let key = phx_notebook::keys::load(&dir.join("key"), true).expect("a key");
    for i in 0..1000 {
        let entry = NewEntry {
            title: format!("entry {i}"),
            markdown: format!("Measured *{i}* things; see $E = mc^2$.\n\n- one\n- two\n"),
            author: "bench".into(),
            attach: Vec::new(),
        };
        phx_notebook::add(&store, &key, entry).expect("an entry");
    }
    c.bench_function("notebook verify 1000 entries", |b| {
        b.iter(|| {
            let v = phx_notebook::verify(&store, &[]).expect("verify runs");
            assert!(v.problems.is_empty() && v.entries == 1000);
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! { name = benches; config = Criterion::default().sample_size(10); targets = verify_1000 }
criterion_main!(benches);
