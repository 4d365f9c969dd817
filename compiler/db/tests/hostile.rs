//! The bar for a hostile `.phx` file: every input of the fuzz seed corpus
//! (the examples, mutated) and every finding of the trust review gives
//! diagnostics through the whole compiler (check, lowering, formatting,
//! export), never a panic and never a hang.

use std::sync::mpsc;
use std::time::Duration;

use phx_diagnostics::Code;

/// Runs the whole compiler on `bytes` in a thread; the codes it reported,
/// or a panic naming the input when it panicked or took over 10 s.
fn compile(name: &str, bytes: Vec<u8>) -> Vec<Code> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let (text, decode_error) = phx_syntax::decode(&bytes);
            let mut db = phx_db::Database::new();
            let f = db.set_file("hostile.phx", text.clone());
            let checked = db.check(f);
            for d in &checked.diagnostics {
                assert!(d.span.start <= d.span.end && d.span.end as usize <= text.len(), "span out of the text");
            }
            if let Ok(once) = phx_fmt::format_source(&text) {
                let twice = phx_fmt::format_source(&once).expect("formatted output parses");
                assert_eq!(once, twice, "formatting is idempotent");
            }
            let _ = phx_interchange::export(&text);
            let mut codes: Vec<Code> = checked.diagnostics.iter().map(|d| d.code).collect();
            if decode_error.is_some() {
                codes.push(Code::Syntax);
            }
            let _ = tx.send(codes);
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(codes) => codes,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = handle.join();
            panic!("{name}: the compiler panicked");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name}: the compiler hung (over 10 s)"),
    }
}

fn program(body: &str) -> Vec<u8> {
    body.as_bytes().to_vec()
}

/// The trust review's findings about values and sources, each with the
/// code it must get.
fn findings() -> Vec<(&'static str, Vec<u8>, Code)> {
    let node = |arg: &str| program(&format!("node a = quantum.orbital(n = 2, l = 1, m = 0, {arg})\n"));
    vec![
        ("int overflow", program("param big: Int = 9223372036854775807 + 1\n"), Code::Constraint),
        ("int overflow in a node", node("grid = 9223372036854775807 * 2"), Code::Constraint),
        ("negating i64::MIN", program("param x: Int = -(-9223372036854775807 - 1)\n"), Code::Constraint),
        ("int remainder by zero", program("param x: Int = 7 % 0\n"), Code::Constraint),
        ("int division by zero", program("param x: Int = 7 / 0\n"), Code::Constraint),
        ("float division by zero", node("extent = 1 bohr / 0"), Code::Constraint),
        ("zero over zero", program("param x: Float = 0.0 / 0.0\n"), Code::Constraint),
        ("unit exponent past 127", program("param x: Float = 1 [m^1000] / 1 [m^1001]\n"), Code::Constraint),
        ("invalid UTF-8", b"param a: Int = 1\n\xff\xfe\n".to_vec(), Code::Syntax),
        ("control bytes", program("param a: Int = 1 \u{1b}[31m\u{7}\n"), Code::Syntax),
    ]
}

#[test]
fn every_finding_gives_its_diagnostic() {
    for (name, bytes, code) in findings() {
        let codes = compile(name, bytes);
        assert!(codes.contains(&code), "{name}: expected {code:?}, got {codes:?}");
    }
}

#[test]
fn extreme_sizes_are_diagnosed_in_bounded_time() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("100k open parentheses", program(&format!("param x: Int = {}1", "(".repeat(100_000)))),
        ("100k open lists", program(&format!("param x: Int = {}1", "[".repeat(100_000)))),
        ("100k minus signs", program(&format!("param x: Int = {}1", "-".repeat(100_000)))),
        ("60k additions", program(&format!("param x: Int = 1{}", " + 1".repeat(60_000)))),
        ("a 2 MB string", program(&format!("param s: String = \"{}\"\n", "x".repeat(2 << 20)))),
        ("a 2 MB identifier", program(&format!("param {}: Int = 1\n", "a".repeat(2 << 20)))),
        (
            "a sweep of 10^12 instances",
            program("node a[i in 0..1000000, j in 0..1000000] = quantum.orbital(n = 2, l = 1, m = 0)\n"),
        ),
        ("NUL bytes", b"param a: Int = 1\n\0\0\0\nparam b: Int = 2\n".to_vec()),
        ("only a BOM", b"\xef\xbb\xbf".to_vec()),
    ];
    for (name, bytes) in cases {
        compile(name, bytes);
    }
}

#[test]
fn mutated_examples_never_panic_or_hang() {
    // The fuzz seed corpus: every example program, cut and spliced at
    // deterministic places (a fixed LCG, so a failure reproduces).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut seeds: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "phx"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap()))
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 8, "the examples are the seed corpus");
    let splices =
        ["", "(", ")", "{", "}", "[*]", "\"", "1e999", "[m^-200]", "% 0", "/ 0", "..", "\u{1b}", "\n", "node"];
    let mut state: u64 = 0x9e3779b97f4a7c15;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n.max(1)
    };
    for (name, text) in &seeds {
        let bytes = text.as_bytes();
        for round in 0..30 {
            let mut mutated = bytes.to_vec();
            for _ in 0..1 + next(4) {
                let at = next(mutated.len());
                let cut = next(8).min(mutated.len() - at);
                let with = splices[next(splices.len())].as_bytes();
                mutated.splice(at..at + cut, with.iter().copied());
            }
            compile(&format!("{name} mutation {round}"), mutated);
        }
    }
}
