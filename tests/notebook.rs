//! End-to-end tests of the lab notebook: the real binary writes entries,
//! then the store is tampered with the way someone with access to the
//! files could, and `phx notebook verify` must name the entry and the kind
//! of tampering every time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("phx-notebook-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// phx in `dir`, with its config folder (and so the default key) inside
/// the test's folder.
fn phx(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("PHX_AUTHOR", "A. Physicist")
        .output()
        .expect("phx runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A notebook of three entries; the second attaches a PNG file.
fn notebook(name: &str) -> PathBuf {
    let d = fresh_dir(name);
    std::fs::write(d.join("notes.md"), "# Calibration\n\nThe *detector* was cooled to $4\\,\\mathrm{K}$.\n").unwrap();
    // A real PNG (1x1, red) so the notebook makes a thumbnail of it.
    let png: [u8; 69] = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00,
        0x0c, 0x49, 0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0x18,
        0xdd, 0x8d, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    std::fs::write(d.join("beam.png"), png).unwrap();
    ok(phx(&d, &["notebook", "add", "--title", "Calibration", "--file", "notes.md"]));
    ok(phx(
        &d,
        &["notebook", "add", "--title", "Beam profile", "--message", "See the picture.", "--attach", "beam.png"],
    ));
    ok(phx(&d, &["notebook", "add", "--title", "Conclusion", "--message", "All good."]));
    d
}

fn verify(d: &Path) -> (i32, String) {
    let o = phx(d, &["notebook", "verify"]);
    (o.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o)))
}

fn sql(d: &Path, statement: &str) {
    let store = phx_store::Store::open(d).unwrap();
    store.db.execute_raw(statement).unwrap();
}

#[test]
fn a_clean_notebook_verifies_lists_shows_and_exports() {
    let d = notebook("clean");
    let (code, out) = verify(&d);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 entries, 1 attachments"), "{out}");
    let list = ok(phx(&d, &["notebook", "list"]));
    assert!(list.contains("Calibration") && list.contains("Beam profile") && list.contains("A. Physicist"), "{list}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(phx(&d, &["notebook", "show", "2", "--format", "json"]))).unwrap();
    let entry = &shown["entry"];
    assert_eq!(entry["seq"], 2);
    assert_eq!(entry["attachments"][0]["name"], "beam.png");
    assert_eq!(entry["attachments"][0]["kind"], "Image");
    assert!(entry["attachments"][0]["thumbnail"].is_string(), "an image attachment gets a thumbnail: {entry}");
    assert_eq!(entry["public_key"].as_str().unwrap().len(), 64);
    let first: serde_json::Value =
        serde_json::from_str(&ok(phx(&d, &["notebook", "show", "1", "--format", "json"]))).unwrap();
    assert_eq!(entry["prev"], first["hash"], "entry 2 names the hash of entry 1");

    // The key was made on first use, readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    let key = d.join("config/phx/notebook_ed25519");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    // Garbage collection keeps what the notebook holds on to.
    ok(phx(&d, &["store", "gc"]));
    let (code, out) = verify(&d);
    assert_eq!(code, 0, "after `phx store gc`: {out}");

    // The PDF holds every entry, its markdown rendered, and the chain.
    ok(phx(&d, &["notebook", "export", "--pdf", "nb.pdf"]));
    let text = Command::new("pdftotext").args(["nb.pdf", "-"]).current_dir(&d).output().expect("pdftotext");
    let text = String::from_utf8_lossy(&text.stdout);
    for phrase in ["Calibration", "Beam profile", "Conclusion", "verified", "detector", first["hash"].as_str().unwrap()]
    {
        assert!(text.contains(phrase), "the PDF lacks {phrase:?}:\n{text}");
    }
    assert!(!text.contains("*detector*"), "markdown is rendered:\n{text}");
}

#[test]
fn an_edited_entry_is_caught() {
    let d = notebook("edited");
    sql(&d, "UPDATE notebook_entries SET body_json = replace(body_json, 'All good.', 'All great.') WHERE seq = 3");
    let (code, out) = verify(&d);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 3 was edited"), "{out}");
}

#[test]
fn an_edited_entry_with_its_hash_recomputed_still_fails_its_signature_and_the_chain() {
    let d = notebook("rehashed");
    // Change entry 1 and fix up its recorded hash as a careful forger would:
    // the signature no longer verifies, and entry 2 no longer follows it.
    let store = phx_store::Store::open(&d).unwrap();
    let rows = store.db.notebook_entries().unwrap();
    let body = rows[0].body_json.replace("Calibration", "Kalibrierung");
    let hash = {
        use std::io::Write;
        let mut child = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()[..64].to_string()
    };
    store
        .db
        .execute_raw(&format!(
            "UPDATE notebook_entries SET body_json = '{}', hash = '{hash}' WHERE seq = 1",
            body.replace('\'', "''")
        ))
        .unwrap();
    let (code, out) = verify(&d);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 1: its signature does not verify"), "{out}");
    assert!(out.contains("entry 2 does not follow the entry before it"), "{out}");
}

#[test]
fn a_removed_entry_is_caught_in_the_middle_and_at_the_end() {
    let d = notebook("removed");
    sql(&d, "DELETE FROM notebook_entries WHERE seq = 2");
    let (code, out) = verify(&d);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 2 is missing"), "{out}");

    let d = notebook("truncated");
    sql(&d, "DELETE FROM notebook_entries WHERE seq = 3");
    let (code, out) = verify(&d);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entries 3..=3 were removed"), "{out}");
}

#[test]
fn reordered_entries_are_caught() {
    let d = notebook("reordered");
    // Swap entries 2 and 3 wholesale (text, hash and signature travel together).
    sql(
        &d,
        "UPDATE notebook_entries SET seq = -2 WHERE seq = 2;
         UPDATE notebook_entries SET seq = 2 WHERE seq = 3;
         UPDATE notebook_entries SET seq = 3 WHERE seq = -2;",
    );
    let (code, out) = verify(&d);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 2 was written as entry 3: entries were reordered"), "{out}");
    assert!(out.contains("entry 3 was written as entry 2"), "{out}");
}

#[test]
fn a_swapped_attachment_is_caught() {
    let d = notebook("swapped");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(phx(&d, &["notebook", "show", "2", "--format", "json"]))).unwrap();
    let path = PathBuf::from(shown["attachment_paths"][0]["path"].as_str().unwrap());
    let path = if path.is_absolute() { path } else { d.join(path) };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&path, b"not the picture that was attached").unwrap();
    let (code, out) = verify(&d);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 2's attachment `beam.png`") && out.contains("the file was swapped"), "{out}");
}

#[test]
fn a_signature_from_another_key_is_caught() {
    // Another key signs the same text: the signature does not verify with
    // the key the entry names.
    let d = notebook("otherkey");
    let other = fresh_dir("otherkey-scratch");
    std::fs::create_dir_all(other.join("k")).unwrap();
    ok(phx(&other, &["notebook", "add", "--title", "x", "--message", "y", "--key", "k/other"]));
    let theirs = phx_store::Store::open(&other).unwrap().db.notebook_entries().unwrap()[0].signature.clone();
    sql(&d, &format!("UPDATE notebook_entries SET signature = '{theirs}' WHERE seq = 2"));
    let (code, out) = verify(&d);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 2: its signature does not verify"), "{out}");

    // A forger copies the store, appends an entry with their own key, and
    // puts the result back: chain and signature hold, the key is unknown.
    let d = notebook("forged");
    let copy = fresh_dir("forged-copy");
    Command::new("cp").arg("-a").arg(d.join(".phx")).arg(&copy).status().unwrap();
    std::fs::create_dir_all(copy.join("k")).unwrap();
    ok(phx(&copy, &["notebook", "add", "--title", "Forged", "--message", "trust me", "--key", "k/forger"]));
    let forged = phx_store::Store::open(&copy).unwrap().db.notebook_entries().unwrap()[3].clone();
    sql(
        &d,
        &format!(
            "INSERT INTO notebook_entries (seq, body_json, hash, signature) VALUES (4, '{}', '{}', '{}')",
            forged.body_json.replace('\'', "''"),
            forged.hash,
            forged.signature
        ),
    );
    std::fs::copy(copy.join(".phx/notebook_head.json"), d.join(".phx/notebook_head.json")).unwrap();
    let (code, out) = verify(&d);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 4 is signed by key") && out.contains("does not trust"), "{out}");
    // Trusting the key on purpose clears it.
    let key = std::fs::read_to_string(copy.join("k/forger.pub")).unwrap();
    let o = phx(&d, &["notebook", "verify", "--trust", key.trim()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn bad_input_gets_clear_errors() {
    let d = fresh_dir("bad");
    let o = phx(&d, &["notebook", "add", "--title", "t", "--attach", "no-such-thing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("phx::notebook-attach"), "{}", stderr(&o));
    let o = phx(&d, &["notebook", "add", "--title", "t"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("the entry is empty"), "{}", stderr(&o));
    std::fs::write(d.join("badkey"), "zz").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("badkey"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = phx(&d, &["notebook", "add", "--title", "t", "--message", "m", "--key", "badkey"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("phx::notebook-key") && stderr(&o).contains("not a hex-encoded"), "{}", stderr(&o));
    std::fs::set_permissions(d.join("badkey"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = phx(&d, &["notebook", "add", "--title", "t", "--message", "m", "--key", "badkey"]);
    assert!(stderr(&o).contains("readable by others"), "{}", stderr(&o));
    let o = phx(&d, &["notebook", "show", "9"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no notebook entry 9"), "{}", stderr(&o));
}
