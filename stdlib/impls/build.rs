//! Hashes this crate's source, and the code that evaluates `fn` items for
//! it (the JIT, the shared math, the reference interpreter), so that every
//! tool's code version (part of every cache key) changes whenever its
//! implementation could have changed.

use std::path::Path;

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                visit(&p, files);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
}

fn main() {
    let mut files = Vec::new();
    for dir in ["src", "../../compiler/codegen/src", "../../compiler/math/src"] {
        visit(Path::new(dir), &mut files);
    }
    files.push("../../compiler/sema/src/fnir.rs".into());
    files.sort();
    // FNV-1a, 64 bits: enough to tell versions apart, no build dependency.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        for b in f.to_string_lossy().bytes().chain(std::fs::read(f).unwrap_or_default()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rustc-env=PHX_STDLIB_SOURCE_HASH={h:016x}");
}
