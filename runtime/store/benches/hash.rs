//! Hashing throughput of the store (compare with `openssl speed -evp
//! sha256`, one core): streaming a file through SHA-256, as `put_file` and
//! `verify` do.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let size: usize = 256 << 20;
    let path = std::env::temp_dir().join(format!("phx-hash-bench-{}", std::process::id()));
    let block: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).expect("temp file");
        for _ in 0..(size >> 20) {
            f.write_all(&block).expect("write");
        }
    }
    let mut group = c.benchmark_group("sha256");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(10);
    group.bench_function("hash_file_256MiB", |b| b.iter(|| phx_store::hash_file(&path).expect("hash")));
    let data = std::fs::read(&path).expect("read");
    group.bench_function("digest_in_memory_256MiB", |b| {
        b.iter(|| {
            use sha2::Digest;
            sha2::Sha256::digest(&data)
        })
    });
    group.finish();
    // As `openssl speed -evp sha256 -bytes 1048576` measures: one 1 MiB
    // buffer, hashed again and again (it stays in cache).
    let mut group = c.benchmark_group("sha256_like_openssl_speed");
    group.throughput(Throughput::Bytes(1 << 20));
    group.bench_function("digest_1MiB", |b| {
        b.iter(|| {
            use sha2::Digest;
            sha2::Sha256::digest(&block)
        })
    });
    group.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, bench);
criterion_main!(benches);
