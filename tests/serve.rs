//! `phx serve` and `phx share`: every route with good and bad tokens (none,
//! forged, tampered, expired, revoked, for another resource), path
//! traversal, oversized requests, write access, and a headless Chromium
//! (Debian's `chromium`) that opens a shared run's page.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value as Json;

mod common;
use common::{json_of, phx_in};

fn fresh_dir(name: &str) -> PathBuf {
    common::fresh_dir("serve", name)
}

const MAIN: &str = r#"experiment shared {
  title = "a shared run"
}

tool lab.table(n: Int) -> (table: Series) {
  run   = "echo n,sq > {table}; i=1; while [ $i -le {n} ]; do echo $i,$(( i * i )) >> {table}; i=$((i + 1)); done"
  emits = [series]
}

node table = lab.table(n = 5) {
  emit = [series]
}

node density = quantum.orbital(n = 2, l = 1, m = 0, grid = 24) {
  emit = [static, series]
}
"#;

const OTHER: &str = r#"tool lab.secret() -> (out: File) {
  run = "echo the-other-run-secret > {out}"
}

node hidden = lab.secret()
"#;

/// A running `phx serve` on a free port, stopped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Server {
    serve_with(dir, &[], None)
}

/// `phx serve` with more arguments, under an open-files limit when given.
fn serve_with(dir: &Path, extra: &[&str], max_files: Option<u32>) -> Server {
    let mut cmd = match max_files {
        // exec keeps the pid: the child is the server itself.
        Some(n) => {
            let mut c = Command::new("/bin/sh");
            c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_phx")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_phx")),
    };
    let mut child = cmd
        .args(["serve", "--addr", "127.0.0.1:0", "--key"])
        .arg(dir.join("notebook.key"))
        .args(extra)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "binds to this machine only: {base}");
    Server { child, base }
}

/// Status, headers we care about, and body.
fn get(url: &str) -> (u16, String, Vec<u8>) {
    let agent = ureq::AgentBuilder::new().redirects(0).timeout(Duration::from_secs(20)).build();
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = resp.status();
    let ctype = resp.header("content-type").unwrap_or("").to_string();
    let mut body = Vec::new();
    resp.into_reader().take(50_000_000).read_to_end(&mut body).unwrap();
    (status, ctype, body)
}

fn post(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    try_post(url, form).unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The status and body, or the transport error's text.
fn try_post(url: &str, form: &[(&str, &str)]) -> Result<(u16, String), String> {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    match agent.post(url).send_form(form) {
        Ok(r) => Ok((r.status(), r.into_string().unwrap_or_default())),
        Err(ureq::Error::Status(code, r)) => Ok((code, r.into_string().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn share(dir: &Path, args: &[&str], base: &str) -> Json {
    let mut all = vec!["share", "create", "--format", "json", "--base-url", base];
    all.extend_from_slice(args);
    let out = phx_in(dir, &all);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    json_of(&out)
}

struct Fixture {
    dir: PathBuf,
    run: String,
    other_run: String,
    image_sha: String,
    other_sha: String,
}

fn fixture(name: &str) -> Fixture {
    let dir = fresh_dir(name);
    std::fs::write(dir.join("main.phx"), MAIN).unwrap();
    std::fs::write(dir.join("other.phx"), OTHER).unwrap();
    let doc = json_of(&phx_in(&dir, &["run", "main.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let other = json_of(&phx_in(&dir, &["run", "other.phx", "--format", "json"]));
    let density = doc["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "density").unwrap();
    Fixture {
        run: doc["run_id"].as_str().unwrap().into(),
        other_run: other["run_id"].as_str().unwrap().into(),
        image_sha: density["outputs"]["density_view"]["sha256"].as_str().unwrap().into(),
        other_sha: other["nodes"][0]["outputs"]["out"]["sha256"].as_str().unwrap().into(),
        dir,
    }
}

#[test]
fn links_grant_exactly_what_they_say_and_nothing_else() {
    let f = fixture("routes");
    let server = serve(&f.dir);
    let base = server.base.clone();
    let read = share(&f.dir, &["--run", &f.run, "--access", "read", "--expires", "1h"], &base);
    let token = read["token"].as_str().unwrap().to_string();
    let url = read["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{base}/s/{token}"));

    // The page: the DAG, the figure, provenance, a CSV preview.
    let (code, ctype, body) = get(&url);
    assert_eq!(code, 200);
    assert!(ctype.starts_with("text/html"));
    let page = text(&body);
    assert!(page.contains("<svg") && page.contains(">density<"), "the DAG is drawn");
    assert!(page.contains(&format!("/s/{token}/a/{}", f.image_sha)), "the figure is on the page");
    assert!(page.contains("<td>4</td><td>16</td>"), "a CSV preview");
    assert!(page.contains("quantum.orbital") && page.contains("local_first"), "provenance");
    assert!(!page.contains(&f.other_run) && !page.contains("hidden"), "nothing of the other run");
    let (code, ctype, png) = get(&format!("{base}/s/{token}/a/{}", f.image_sha));
    assert_eq!((code, ctype.as_str()), (200, "image/png"));
    assert_eq!(png, std::fs::read(f.dir.join(".phx/objects").join(&f.image_sha[..2]).join(&f.image_sha)).unwrap());
    // Downloaded, it is named as in results/, by its extension.
    let r = ureq::get(&format!("{base}/s/{token}/a/{}?download=1", f.image_sha)).call().unwrap();
    assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"density.density_view.png\""));
    let (code, svg_type, svg) = get(&format!("{base}/s/{token}/run/{}/dag.svg", f.run));
    assert_eq!((code, svg_type.as_str()), (200, "image/svg+xml"));
    assert!(text(&svg).contains("table"));
    // A finished run's event stream says so and ends.
    let (code, ctype, events) = get(&format!("{base}/s/{token}/run/{}/events", f.run));
    assert_eq!(code, 200);
    assert!(ctype.starts_with("text/event-stream"));
    assert!(text(&events).contains("event: done\ndata: succeeded"), "{}", text(&events));

    // Every refusal shows no data.
    let refused = |u: &str, want: u16, words: &str| {
        let (code, _, body) = get(u);
        let b = text(&body);
        assert_eq!(code, want, "{u}: {b}");
        assert!(b.contains(words), "{u}: {b}");
        for secret in [f.run.as_str(), "density", f.image_sha.as_str(), "orbital"] {
            assert!(!b.contains(secret), "{u} leaked {secret}");
        }
    };
    refused(&format!("{base}/s/"), 404, "nothing here");
    refused(&format!("{base}/s/not-a-token"), 403, "not a valid phx share link");
    refused(&format!("{base}/s/{token}x"), 403, "not a valid");
    // Forged: a well-formed token signed with another secret.
    let forged = phx_app::share::token::sign(
        b"not-the-store-secret-not-the-sto",
        &phx_app::share::token::Grant {
            id: read["id"].as_str().unwrap().into(),
            kind: "run".into(),
            resource: f.run.clone(),
            access: "write".into(),
            expires: 4_000_000_000,
            to: vec![],
        },
    );
    refused(&format!("{base}/s/{forged}"), 403, "not a valid");
    // Tampered: the payload changed to grant write, the mac kept.
    let (head, mac) = token.rsplit_once('.').unwrap();
    let (prefix, payload) = head.split_once('.').unwrap();
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let changed = text(&raw).replace("\"read\"", "\"write\"");
    let tampered =
        format!("{prefix}.{}.{mac}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(changed.as_bytes()));
    refused(&format!("{base}/s/{tampered}"), 403, "not a valid");
    // Another run, its artifact, path traversal: not part of this share.
    refused(&format!("{base}/s/{token}/run/{}", f.other_run), 404, "not part of what this link shares");
    refused(&format!("{base}/s/{token}/a/{}", f.other_sha), 404, "not part of what this link shares");
    refused(&format!("{base}/s/{token}/a/..%2F..%2Fphx.db"), 400, "SHA-256");
    refused(&format!("{base}/s/{token}/a/{}", "A".repeat(64)), 400, "SHA-256");
    refused(&format!("{base}/s/{token}/run/..%2F..%2F..%2Fetc%2Fpasswd"), 404, "not part of");
    refused(&format!("{base}/s/{token}/run/{}/report.pdf", f.run), 404, "not part of");
    refused(&format!("{base}/s/{token}/bundle"), 404, "not part of");
    // A read link cannot write.
    let (code, body) = post(&format!("{base}/s/{token}/run/{}/comments", f.run), &[("body", "hi")]);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("read-only"));

    // Expired and revoked links.
    let short = share(&f.dir, &["--run", &f.run, "--expires", "1s"], &base);
    std::thread::sleep(Duration::from_millis(1100));
    refused(short["url"].as_str().unwrap(), 403, "expired");
    let gone = share(&f.dir, &["--run", &f.run], &base);
    let (code, _, _) = get(gone["url"].as_str().unwrap());
    assert_eq!(code, 200);
    assert!(phx_in(&f.dir, &["share", "revoke", gone["id"].as_str().unwrap()]).status.success());
    refused(gone["url"].as_str().unwrap(), 403, "revoked");
    refused(&format!("{}/a/{}", gone["url"].as_str().unwrap(), f.image_sha), 403, "revoked");
    let listed = json_of(&phx_in(&f.dir, &["share", "list", "--format", "json"]));
    let states: Vec<&str> = listed["shares"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["active", "expired", "revoked"]);
    // Bad requests to create a link.
    let out = phx_in(&f.dir, &["share", "create", "--run", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = phx_in(&f.dir, &["share", "create", "--run", &f.run, "--expires", "10y"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unit s, m, h or d"));
}

#[test]
fn write_links_add_comments_and_signed_notebook_entries() {
    let f = fixture("write");
    let server = serve(&f.dir);
    let base = server.base.clone();
    let link = share(&f.dir, &["--run", &f.run, "--access", "write", "--to", "Ada Lovelace"], &base);
    let token = link["token"].as_str().unwrap();
    let at = format!("{base}/s/{token}/run/{}", f.run);
    let (code, _) = post(&format!("{at}/comments"), &[("body", "Looks right <script>alert(1)</script>")]);
    assert_eq!(code, 201);
    let (code, _) =
        post(&format!("{at}/notebook"), &[("title", "Checked the 2p lobes"), ("markdown", "*Two* lobes along z.")]);
    assert_eq!(code, 201);
    let (_, _, body) = get(&at);
    let page = text(&body);
    assert!(page.contains("Looks right &lt;script&gt;alert(1)&lt;/script&gt;"), "escaped");
    assert!(!page.contains("<script>alert(1)"));
    assert!(page.contains("Ada Lovelace (via share link"));
    assert!(page.contains("Checked the 2p lobes"));
    // The entry is in the notebook, signed by the server's key, referring
    // to the run; the chain verifies when that key is trusted.
    let entry = json_of(&phx_in(&f.dir, &["notebook", "show", "1", "--format", "json"]));
    let body = entry["entry"].clone();
    assert_eq!(body["title"], "Checked the 2p lobes", "{entry}");
    assert_eq!(body["refs"][0]["run_id"], f.run.as_str(), "{entry}");
    let key = body["public_key"].as_str().unwrap();
    let v = phx_in(&f.dir, &["notebook", "verify", "--trust", key]);
    assert!(v.status.success(), "{}{}", text(&v.stdout), text(&v.stderr));
    // Oversized bodies and empty comments are refused; nothing is added.
    let big = "x".repeat(200 * 1024);
    match try_post(&format!("{at}/comments"), &[("body", &big)]) {
        Ok((code, _)) => assert_eq!(code, 413),
        // The server answers 413 after 64 KiB and closes the connection; a
        // client still writing the rest may see the close first. Either
        // way nothing may be added (counted below).
        Err(text) => assert!(text.contains("Broken pipe") || text.contains("reset"), "{text}"),
    }
    let (code, _) = post(&format!("{at}/comments"), &[("body", "   ")]);
    assert_eq!(code, 400);
    // A page on another site that learnt the link cannot post with it: the
    // browser names that site, and the server refuses.
    let host = base.trim_start_matches("http://").to_string();
    for (header, value) in [
        ("Origin", "http://evil.example".to_string()),
        ("Origin", "null".to_string()),
        ("Origin", format!("http://{host}.evil.example")),
        ("Sec-Fetch-Site", "cross-site".to_string()),
        ("Sec-Fetch-Site", "same-site".to_string()),
    ] {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let code = match agent.post(&format!("{at}/comments")).set(header, &value).send_form(&[("body", "forged")]) {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(code, 403, "{header}: {value}");
    }
    // The link's own page posts with its own origin: accepted.
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let r = agent
        .post(&format!("{at}/comments"))
        .set("Origin", &format!("http://{host}"))
        .set("Sec-Fetch-Site", "same-origin")
        .send_form(&[("body", "from the page")])
        .unwrap();
    assert_eq!(r.status(), 201);
    // A browser that sends only `Origin` (no Fetch metadata): its own host.
    let r = agent
        .post(&format!("{at}/comments"))
        .set("Origin", &format!("http://{host}"))
        .send_form(&[("body", "from an older browser")])
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, _, body) = get(&at);
    let page = text(&body);
    assert_eq!(page.matches("class=comment").count(), 3);
    assert!(!page.contains("forged"));
}

#[test]
fn sessions_and_bundles_can_be_shared() {
    let f = fixture("session");
    // A second run of the same program joins the session.
    let again = json_of(&phx_in(&f.dir, &["run", "main.phx", "--no-cache", "--format", "json"]));
    let server = serve(&f.dir);
    let base = server.base.clone();
    let s = share(&f.dir, &["--session", "main.phx"], &base);
    let (code, _, body) = get(s["url"].as_str().unwrap());
    assert_eq!(code, 200);
    let page = text(&body);
    assert!(page.contains(&f.run) && page.contains(again["run_id"].as_str().unwrap()));
    assert!(!page.contains(&f.other_run));
    let (code, _, _) = get(&format!("{}/run/{}", s["url"].as_str().unwrap(), f.run));
    assert_eq!(code, 200);
    let (code, _, _) = get(&format!("{}/run/{}", s["url"].as_str().unwrap(), f.other_run));
    assert_eq!(code, 404);
    // A bundle: its page and its bytes.
    let out = phx_in(&f.dir, &["bundle", "export", &f.run, "-o", "run.phxb", "--key", "notebook.key"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let b = share(&f.dir, &["--bundle", "run.phxb"], &base);
    let (code, _, body) = get(b["url"].as_str().unwrap());
    assert_eq!(code, 200);
    assert!(text(&body).contains("run.phxb"));
    let (code, _, bytes) = get(&format!("{}/bundle", b["url"].as_str().unwrap()));
    assert_eq!(code, 200);
    assert_eq!(bytes, std::fs::read(f.dir.join("run.phxb")).unwrap());
    // A bundle link opens no run.
    let (code, _, _) = get(&format!("{}/run/{}", b["url"].as_str().unwrap(), f.run));
    assert_eq!(code, 404);
    // A range of it, as a resumed download asks.
    let agent = ureq::AgentBuilder::new().build();
    let r = agent.get(&format!("{}/bundle", b["url"].as_str().unwrap())).set("Range", "bytes=0-10").call().unwrap();
    assert_eq!(r.status(), 206);
    let mut part = Vec::new();
    r.into_reader().read_to_end(&mut part).unwrap();
    assert_eq!(part, b"PHXBUNDLE 1");
    // Only signed bundles are shared: any other file is refused, and a
    // bundle replaced after its link was made is no longer served.
    for other in ["/etc/hostname", "main.phx"] {
        let out = phx_in(&f.dir, &["share", "create", "--bundle", other, "--base-url", &base]);
        assert_eq!(out.status.code(), Some(1), "{other}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("phx::bundle-corrupt"), "{}", text(&out.stderr));
    }
    let mut tampered = std::fs::read(f.dir.join("run.phxb")).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    std::fs::write(f.dir.join("run.phxb"), &tampered).unwrap();
    let out = phx_in(&f.dir, &["share", "create", "--bundle", "run.phxb", "--base-url", &base]);
    assert_eq!(out.status.code(), Some(1), "a bundle whose payload changed is not shared");
    let (code, _, _) = get(b["url"].as_str().unwrap());
    assert_eq!(code, 410);
    std::fs::write(f.dir.join("run.phxb"), std::fs::read("/etc/hostname").unwrap()).unwrap();
    let (code, _, body) = get(&format!("{}/bundle", b["url"].as_str().unwrap()));
    assert_eq!(code, 410);
    assert!(!text(&body).contains(text(&std::fs::read("/etc/hostname").unwrap()).trim()));
}

#[test]
fn headless_chromium_shows_the_dag_and_a_figure() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Debian's chromium is installed (.ci/run installs it)");
    let f = fixture("chromium");
    let server = serve(&f.dir);
    let link = share(&f.dir, &["--run", &f.run], &server.base);
    let url = link["url"].as_str().unwrap();
    let profile = f.dir.join("chromium-profile");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
    ];
    let dom = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    let dom = text(&dom.stdout);
    assert!(dom.contains("<svg"), "no DAG in the DOM:\n{dom}");
    assert!(dom.contains(">density<") && dom.contains(">table<"), "the DAG's nodes");
    assert!(dom.contains(&format!("/a/{}", f.image_sha)), "the figure's img");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-run-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,1600")
        .arg(url)
        .output()
        .unwrap();
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {}", text(&out.stderr)));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 30_000, "a real page, {} bytes", png.len());
}

#[test]
fn the_event_stream_follows_a_run_while_it_goes_on() {
    let dir = fresh_dir("live");
    std::fs::write(
        dir.join("live.phx"),
        r#"tool lab.wait(s: Int) -> (out: File) {
  run = "sleep {s}; echo done > {out}"
}

node first = lab.wait(s = 2)

node second = lab.wait(s = 1) {
  after = [first]
}
"#,
    )
    .unwrap();
    let server = serve(&dir);
    let mut run = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "live.phx", "--format", "json"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The run is in the store as soon as it starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let run_id = loop {
        let runs = json_of(&phx_in(&dir, &["runs", "--format", "json"]));
        if let Some(r) = runs["runs"].as_array().and_then(|a| a.first()) {
            assert_eq!(r["status"], "running");
            break r["run_id"].as_str().unwrap().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "the run never appeared");
        std::thread::sleep(Duration::from_millis(50));
    };
    let link = share(&dir, &["--run", &run_id], &server.base);
    let url = link["url"].as_str().unwrap();
    let (_, _, body) = get(url);
    assert!(text(&body).contains("new EventSource"), "a running run's page listens for events");
    let resp = ureq::get(&format!("{url}/run/{run_id}/events")).call().unwrap();
    assert!(resp.header("content-type").unwrap_or("").starts_with("text/event-stream"));
    let mut seen = Vec::new();
    for line in BufReader::new(resp.into_reader()).lines() {
        let line = line.unwrap();
        if line.starts_with("data:") {
            seen.push(line.clone());
        }
        if line.starts_with("data: succeeded") {
            break;
        }
    }
    run.wait().unwrap();
    // States arrive as they change: first running, then second running
    // after first succeeded, then the end of the run.
    let first_running = seen.iter().position(|l| l.contains("\"first\":\"running\"")).expect("first ran");
    let second_running = seen.iter().position(|l| l.contains("\"second\":\"running\"")).expect("second ran");
    assert!(first_running < second_running, "{seen:?}");
    assert!(seen[second_running].contains("\"first\":\"succeeded\""), "{seen:?}");
    assert_eq!(seen.last().unwrap(), "data: succeeded");
}

/// The server's peak resident memory, from /proc.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn slow_clients_cannot_starve_the_server() {
    use std::io::Write;
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = fresh_dir("slowloris");
    // The finding: under a 64-descriptor limit, 80 clients that send a
    // request line and one header held every connection for minutes.
    let server = serve_with(&dir, &["--header-timeout", "3"], Some(64));
    let addr = server.base.trim_start_matches("http://").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    // 200 slow clients, each sending a header byte every 200 ms and
    // reconnecting when the server drops it.
    let attacker = {
        let (stop, opened, addr) = (stop.clone(), opened.clone(), addr.clone());
        std::thread::spawn(move || {
            let mut socks: Vec<Option<TcpStream>> = (0..200).map(|_| None).collect();
            while !stop.load(Ordering::Relaxed) {
                for s in socks.iter_mut() {
                    if s.is_none() {
                        if let Ok(mut c) = TcpStream::connect(&addr) {
                            let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
                            opened.fetch_add(1, Ordering::Relaxed);
                            *s = Some(c);
                        }
                    } else if let Some(c) = s
                        && c.write_all(b"a").is_err()
                    {
                        *s = None;
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
    let mut worst = Duration::ZERO;
    for _ in 0..30 {
        let t = std::time::Instant::now();
        let r = agent.get(&format!("{}/healthz", server.base)).call().expect("a normal request is answered");
        assert_eq!(r.into_string().unwrap(), "ok");
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    attacker.join().unwrap();
    assert!(opened.load(Ordering::Relaxed) >= 200, "the slow clients connected");
    assert!(worst < Duration::from_secs(1), "normal requests answered within a second, worst {worst:?}");
    // A client that never finishes its request's head is let go after the
    // header timeout.
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(t.elapsed() < Duration::from_secs(8), "closed after the 3 s header timeout, took {:?}", t.elapsed());
}

#[test]
fn large_artifacts_stream_with_ranges_in_bounded_memory() {
    let dir = fresh_dir("large");
    std::fs::write(
        dir.join("big.phx"),
        "tool lab.big(mb: Int) -> (out: File) {\n  run = \"head -c {mb}000000 /dev/urandom > {out}\"\n}\n\nnode big = lab.big(mb = 100)\n",
    )
    .unwrap();
    let doc = json_of(&phx_in(&dir, &["run", "big.phx", "--format", "json"]));
    assert_eq!(doc["status"], "succeeded", "{doc}");
    let sha = doc["nodes"][0]["outputs"]["out"]["sha256"].as_str().unwrap().to_string();
    let object = dir.join(".phx/objects").join(&sha[..2]).join(&sha);
    let bytes = std::fs::read(&object).unwrap();
    assert_eq!(bytes.len(), 100_000_000);
    let server = serve(&dir);
    let run = doc["run_id"].as_str().unwrap();
    let link = share(&dir, &["--run", run], &server.base);
    let url = format!("{}/a/{sha}", link["url"].as_str().unwrap());
    // Six whole downloads at once.
    let downloads: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let r = ureq::get(&url).call().unwrap();
                assert_eq!(r.header("content-length"), Some("100000000"));
                assert_eq!(r.header("accept-ranges"), Some("bytes"));
                let mut reader = r.into_reader();
                let mut buf = vec![0u8; 1 << 20];
                let (mut n, mut sum) = (0usize, 0u64);
                loop {
                    let got = reader.read(&mut buf).unwrap();
                    if got == 0 {
                        break;
                    }
                    sum = buf[..got].iter().fold(sum, |a, &b| a.wrapping_mul(31).wrapping_add(b as u64));
                    n += got;
                }
                (n, sum)
            })
        })
        .collect();
    let expected = bytes.iter().fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(b as u64));
    for d in downloads {
        assert_eq!(d.join().unwrap(), (100_000_000, expected));
    }
    let peak = peak_rss_kb(server.child.id());
    assert!(peak < 100 * 1024, "phx serve peaked at {} MB serving 6 x 100 MB", peak / 1024);
    // Ranges: the middle, the tail, and one past the end.
    let agent = ureq::AgentBuilder::new().build();
    let r = agent.get(&url).set("Range", "bytes=50000000-50000099").call().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.header("content-range"), Some("bytes 50000000-50000099/100000000"));
    let mut part = Vec::new();
    r.into_reader().read_to_end(&mut part).unwrap();
    assert_eq!(part, &bytes[50_000_000..50_000_100]);
    let r = agent.get(&url).set("Range", "bytes=-16").call().unwrap();
    let mut part = Vec::new();
    r.into_reader().read_to_end(&mut part).unwrap();
    assert_eq!(part, &bytes[bytes.len() - 16..]);
    match agent.get(&url).set("Range", "bytes=100000000-").call() {
        Err(ureq::Error::Status(416, r)) => assert_eq!(r.header("content-range"), Some("bytes */100000000")),
        other => panic!("expected 416, got {:?}", other.map(|r| r.status())),
    }
}

#[test]
fn a_large_sweep_is_one_row_on_the_run_page() {
    let dir = fresh_dir("sweep");
    std::fs::write(
        dir.join("s.phx"),
        "tool lab.step(i: Int) -> (out: File) {\n  run = \"test {i} -ne 7 && echo {i} > {out}\"\n}\n\nnode s[i in 0..30] = lab.step(i = i)\n\nnode one = lab.step(i = 1)\n",
    )
    .unwrap();
    let doc = json_of(&phx_in(&dir, &["run", "s.phx", "--format", "json"]));
    let run_id = doc["run_id"].as_str().unwrap().to_string();
    let server = serve(&dir);
    let link = share(&dir, &["--run", &run_id], &server.base);
    let (status, _, page) = get(link["url"].as_str().unwrap());
    let page = text(&page);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<code>s[…]</code>"), "{page}");
    assert!(page.contains("30 instances: 1 failed, 29 succeeded"), "{page}");
    assert!(page.contains("<code>s[7]</code> failed"), "the failure is named: {page}");
    let rows = page.matches("data-vertex=\"s[").count();
    assert_eq!(rows, 0, "no row an instance: {rows}");
    assert!(page.contains("data-vertex=\"one\""), "a plain node keeps its row");
    assert!(page.contains("Of the 30 instances of <code>s</code>, the first 8 are shown"), "{page}");
    let figures = page.matches("<code>s[").count();
    assert!(figures <= 8 + 1, "the artifacts of the first instances only: {figures}");
}

#[test]
fn a_killed_run_is_shown_dead() {
    let dir = fresh_dir("killed");
    std::fs::write(
        dir.join("slow.phx"),
        "tool lab.wait(s: Int) -> (out: File) {\n  run = \"sleep {s}; echo done > {out}\"\n}\n\nnode slow = lab.wait(s = 20)\n",
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("run.log")).unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "slow.phx"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        let runs = json_of(&phx_in(&dir, &["runs", "--format", "json"]));
        let first = runs["runs"].as_array().and_then(|a| a.first()).cloned();
        if let Some(r) = first
            && std::fs::read_dir(dir.join(".phx/runs").join(r["run_id"].as_str().unwrap()).join("work"))
                .is_ok_and(|mut d| d.next().is_some())
        {
            assert_eq!(r["status"], "running", "a live run is not dead");
            break r["run_id"].as_str().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started its node: {runs}\n{}",
            std::fs::read_to_string(dir.join("run.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let server = serve(&dir);
    let link = share(&dir, &["--run", &run_id], &server.base);
    let url = link["url"].as_str().unwrap().to_string();
    let events = {
        let url = format!("{url}/run/{run_id}/events");
        std::thread::spawn(move || {
            let resp = ureq::get(&url).call().unwrap();
            BufReader::new(resp.into_reader()).lines().map_while(Result::ok).collect::<Vec<_>>()
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    run.kill().unwrap();
    run.wait().unwrap();
    // The stream ends by saying so, and every view reads `dead`.
    let lines = events.join().unwrap();
    assert!(lines.iter().any(|l| l == "event: done"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "data: dead"), "{lines:?}");
    let runs = json_of(&phx_in(&dir, &["runs", "--format", "json"]));
    assert_eq!(runs["runs"][0]["status"], "dead", "{runs}");
    let shown = json_of(&phx_in(&dir, &["show", &run_id, "--format", "json"]));
    assert_eq!(shown["status"], "dead", "{shown}");
    let (_, _, page) = get(&url);
    assert!(text(&page).contains("dead"), "the page shows the run dead");
}

#[test]
fn clients_that_answered_once_and_then_stall_give_their_place_up_first() {
    use std::io::Write;
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = fresh_dir("stall");
    let server = serve_with(&dir, &["--max-connections", "8"], None);
    let addr = server.base.trim_start_matches("http://").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    // 24 clients that each send one whole request (so they have been
    // answered) and then trickle the next request's head, reconnecting
    // when dropped: three times the server's connections.
    let attackers: Vec<_> = (0..24)
        .map(|_| {
            let (stop, addr) = (stop.clone(), addr.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut c) = TcpStream::connect(&addr) else { continue };
                    let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
                    let mut buf = [0u8; 256];
                    let _ = c.read(&mut buf);
                    let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
                    while !stop.load(Ordering::Relaxed) && c.write_all(b"a").is_ok() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(3)).build();
    let mut served = 0;
    for _ in 0..20 {
        if agent.get(&format!("{}/healthz", server.base)).call().is_ok_and(|r| r.status() == 200) {
            served += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.join().unwrap();
    }
    assert_eq!(served, 20, "every normal request is served while stalled clients hold the connections");
}
