//! Arbitrary bytes through the whole compiler: decode, parse, check, lower,
//! format and export. Nothing may panic or hang; formatting output must
//! parse and be a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, _) = phx_syntax::decode(data);
    let mut db = phx_db::Database::new();
    let f = db.set_file("fuzz.phx", text.clone());
    let checked = db.check(f);
    for d in &checked.diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end as usize <= text.len());
    }
    if let Ok(once) = phx_fmt::format_source(&text) {
        let twice = phx_fmt::format_source(&once).expect("formatted output parses");
        assert_eq!(once, twice, "formatting is idempotent");
    }
    let _ = phx_interchange::export(&text);
});
