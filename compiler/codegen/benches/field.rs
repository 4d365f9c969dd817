//! `field.evaluate`'s kernel on 128^3 and 160^3 grids: the JIT against a hand-written
//! Rust loop (same two threads, the standard `exp`) and the interpreter.
//! numpy's figure comes from bench/field_evaluate_numpy.py.

use criterion::{Criterion, criterion_group, criterion_main};
use phx_db::Database;

const LO: f64 = -12.0;

fn step(g: usize) -> f64 {
    2.0 * 12.0 / (g - 1) as f64
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
    for g in [128usize, 160] {
        let mut out = vec![0.0f64; g * g * g];
        let mut group = c.benchmark_group(format!("field_evaluate_2p_{g}cubed_2_threads"));
        group.sample_size(20);
        group.bench_function("jit", |b| {
            b.iter(|| parallel(&mut out, &|chunk, start| jit.fill_grid(chunk, start, g, LO, step(g))))
        });
        group.bench_function("hand_written_rust_loop", |b| {
            b.iter(|| {
                parallel(&mut out, &|chunk, start| {
                    let s = step(g);
                    for (k, v) in chunk.iter_mut().enumerate() {
                        let idx = start + k;
                        let (x, y, z) = (
                            LO + (idx % g) as f64 * s,
                            LO + ((idx / g) % g) as f64 * s,
                            LO + (idx / (g * g)) as f64 * s,
                        );
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
                    let s = step(g);
                    for (k, v) in chunk.iter_mut().enumerate() {
                        let idx = start + k;
                        *v = ir.eval_f64(&[
                            LO + (idx % g) as f64 * s,
                            LO + ((idx / g) % g) as f64 * s,
                            LO + (idx / (g * g)) as f64 * s,
                        ]);
                    }
                })
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
