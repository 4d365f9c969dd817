//! `field.evaluate`'s kernel on a 160^3 grid: the JIT against a hand-written
//! Rust loop (same two threads, the standard `exp`) and the interpreter.
//! numpy's figure comes from bench/field_evaluate_numpy.py.

use criterion::{Criterion, criterion_group, criterion_main};
use phx_db::Database;

const G: usize = 160;
const LO: f64 = -12.0;

fn step() -> f64 {
    2.0 * 12.0 / (G - 1) as f64
}

fn parallel(out: &mut [f64], f: &(dyn Fn(&mut [f64], usize) + Sync)) {
    let per = out.len().div_ceil(2);
    std::thread::scope(|s| {
        for (c, chunk) in out.chunks_mut(per).enumerate() {
            s.spawn(move || f(chunk, c * per));
        }
    });
}

fn bench(c: &mut Criterion) {
    let mut db = Database::new();
    let file = db.set_file(
        "f.phx",
        "fn psi(x: Float, y: Float, z: Float) -> Float {\n  let r = sqrt(x * x + y * y + z * z)\n  z * exp(-r / 2)\n}\n".into(),
    );
    let ir = db.fn_ir(file, "psi").expect("lowers");
    let jit = phx_codegen::compile(&ir).expect("compiles");
    let mut out = vec![0.0f64; G * G * G];
    let mut group = c.benchmark_group("field_evaluate_2p_160cubed_2_threads");
    group.sample_size(20);
    group.bench_function("jit", |b| {
        b.iter(|| parallel(&mut out, &|chunk, start| jit.fill_grid(chunk, start, G, LO, step())))
    });
    group.bench_function("hand_written_rust_loop", |b| {
        b.iter(|| {
            parallel(&mut out, &|chunk, start| {
                let s = step();
                for (k, v) in chunk.iter_mut().enumerate() {
                    let idx = start + k;
                    let (x, y, z) =
                        (LO + (idx % G) as f64 * s, LO + ((idx / G) % G) as f64 * s, LO + (idx / (G * G)) as f64 * s);
                    let r = (x * x + y * y + z * z).sqrt();
                    *v = z * (-r / 2.0).exp();
                }
            })
        })
    });
    group.sample_size(10);
    group.bench_function("interpreter", |b| {
        b.iter(|| {
            parallel(&mut out, &|chunk, start| {
                let s = step();
                for (k, v) in chunk.iter_mut().enumerate() {
                    let idx = start + k;
                    *v = ir.eval_f64(&[
                        LO + (idx % G) as f64 * s,
                        LO + ((idx / G) % G) as f64 * s,
                        LO + (idx / (G * G)) as f64 * s,
                    ]);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
