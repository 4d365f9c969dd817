//! End-to-end tests of reports: `phx run` on programs with a `report`
//! block, and `phx report RUN`, read back with poppler's tools (pdftotext,
//! pdfimages), the way a person would check the PDF.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{json_of, phx_in};

fn fresh_dir(name: &str) -> PathBuf {
    common::fresh_dir("report", name)
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The PDF's text, in reading order (pdftotext without layout).
fn pdf_text(pdf: &Path) -> String {
    let o = Command::new("pdftotext").arg(pdf).arg("-").output().expect("pdftotext (poppler-utils) is installed");
    assert!(o.status.success(), "pdftotext failed on {}: {}", pdf.display(), stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// How many raster images `pdfimages -list` finds.
fn pdf_images(pdf: &Path) -> usize {
    let o = Command::new("pdfimages").arg("-list").arg(pdf).output().expect("pdfimages (poppler-utils) is installed");
    assert!(o.status.success());
    // Two header lines, then one line per image.
    String::from_utf8_lossy(&o.stdout).lines().skip(2).filter(|l| !l.trim().is_empty()).count()
}

/// Text with hyphenation and line breaks undone, for phrase matching.
fn flat(text: &str) -> String {
    text.replace("-\n", "").replace('\u{ad}', "").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn hydrogen_2p_report_has_every_part_and_every_hash() {
    let d = fresh_dir("h2p");
    for f in ["hydrogen_2p.phx", "refs.bib"] {
        std::fs::copy(examples().join(f), d.join(f)).unwrap();
    }
    let o = phx_in(&d, &["run", "hydrogen_2p.phx", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = json_of(&o);
    let pdf = d.join(doc["report"].as_str().expect("the run JSON names the report"));
    assert!(pdf.is_file(), "{}", pdf.display());
    let text = pdf_text(&pdf);
    let words = flat(&text);
    for phrase in [
        "The hydrogen 2p orbital",
        "A. Physicist",
        "Results",
        "The density has a node in the xy-plane [1]",
        // The written caption names the tool and its arguments.
        "Figure 1: plot.heatmap of node slice with field = density.density, plane = \"xz\"",
        "Figure 2: Rotating view of the density.",
        "GIF animation",
        "Table 1:",
        "density.radial",
        "extent = 24 bohr",
        "References",
        "Introduction to Quantum Mechanics",
        "Feit",
        "CODATA Recommended Values",
        "Appendix: provenance",
    ] {
        assert!(words.contains(phrase), "the report lacks {phrase:?}:\n{text}");
    }
    // Every artifact of the run is listed with its full hash.
    let mut hashes = 0;
    for n in doc["nodes"].as_array().unwrap() {
        for (name, out) in n["outputs"].as_object().unwrap() {
            let sha = out["sha256"].as_str().unwrap();
            assert!(text.contains(sha), "the appendix lacks {}.{name} ({sha})", n["id"]);
            hashes += 1;
        }
    }
    assert!(hashes >= 8, "{hashes}");
    // The heatmap and the animation's frames are pictures in the PDF.
    assert!(pdf_images(&pdf) >= 2, "pdfimages found {} images", pdf_images(&pdf));

    // `phx report` writes it again from the run alone.
    let again = d.join("again.pdf");
    let run_id = doc["run_id"].as_str().unwrap();
    let o = phx_in(&d, &["report", run_id, "-o", again.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(flat(&pdf_text(&again)), words);
}

const SWEEP: &str = r#"experiment sweep_report {
  title   = "Orbital sweep"
  authors = ["B. Tester", "C. Checker"]
}

node orb[n in 1..=3] = quantum.orbital(n = n, l = 0, m = 0, grid = 24, extent = 16 bohr) {
  emit = [static, series]
}

report main {
  abstract = "Three *s* orbitals, $E_n = -\\frac{{1}}{{2n^2}}$ hartree."
  section "Method" {
    text """
      We evaluate:

      - the **density** on a grid,
      - the radial series `R_nl`,

      $$\int_0^\infty P(r)\, dr = 1$$

      See [the docs](https://example.org/phx).
      """
  }
  section "Results" {
    figure orb
    table orb[2].radial { rows = 5 }
  }
}
"#;

#[test]
fn a_sweep_figure_is_a_contact_sheet_and_markdown_renders() {
    let d = fresh_dir("sweep");
    std::fs::write(d.join("sweep.phx"), SWEEP).unwrap();
    let o = phx_in(&d, &["run", "sweep.phx", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = json_of(&o);
    let pdf = d.join(doc["report"].as_str().unwrap());
    let text = pdf_text(&pdf);
    let words = flat(&text);
    for phrase in [
        "Orbital sweep",
        "B. Tester, C. Checker",
        "Abstract.",
        "Method",
        "density",
        "R_nl",
        "See the docs.",
        "over the 3 instances of the sweep orb",
        "The first 5 of",
    ] {
        assert!(words.contains(phrase), "the report lacks {phrase:?}:\n{text}");
    }
    // One label per instance under the contact sheet, from the argument
    // that varies (pdftotext drops the spaces of small text).
    let squeezed = words.replace(' ', "");
    for label in ["n=1", "n=2", "n=3"] {
        assert!(squeezed.contains(label), "the contact sheet lacks the label {label:?}:\n{text}");
    }
    assert!(!text.contains("**"), "markdown emphasis marks leaked into the PDF:\n{text}");
    assert!(!text.contains("$$"), "display math was not typeset:\n{text}");
    assert!(pdf_images(&pdf) >= 3, "one picture per instance");
}

#[test]
fn a_bad_bibliography_stops_the_run_before_anything_runs() {
    let d = fresh_dir("badbib");
    std::fs::copy(examples().join("hydrogen_2p.phx"), d.join("hydrogen_2p.phx")).unwrap();
    std::fs::write(d.join("refs.bib"), "@book{griffiths2018,\n  title = {unclosed\n").unwrap();
    let o = phx_in(&d, &["run", "hydrogen_2p.phx"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("phx::report-bibliography"), "{err}");
    assert!(err.contains("refs.bib"), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!d.join(".phx/runs").exists() || std::fs::read_dir(d.join(".phx/runs")).unwrap().next().is_none());

    // A missing file, and a key the file does not define.
    std::fs::remove_file(d.join("refs.bib")).unwrap();
    let err = stderr(&phx_in(&d, &["run", "hydrogen_2p.phx"]));
    assert!(err.contains("phx::report-bibliography") && err.contains("cannot read"), "{err}");
    std::fs::write(d.join("refs.bib"), "@book{other2020, title = {T}, author = {A, B}, year = {2020}}\n").unwrap();
    let err = stderr(&phx_in(&d, &["run", "hydrogen_2p.phx"]));
    assert!(err.contains("phx::report-citation") && err.contains("griffiths2018"), "{err}");
    assert!(err.contains("other2020"), "the error lists the keys it has: {err}");
}

#[test]
fn a_figure_of_a_node_that_drew_nothing_is_a_clear_error() {
    let d = fresh_dir("notvisual");
    std::fs::write(
        d.join("p.phx"),
        r#"tool lab.count(n: Int) -> (table: Series) {
  run   = "echo i > {table}; seq 1 {n} >> {table}"
  emits = [series, static]
}

node c = lab.count(n = 3) {
  emit = [static]
}

report r {
  section "S" {
    figure c
  }
}
"#,
    )
    .unwrap();
    let o = phx_in(&d, &["run", "p.phx"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("phx::not-visual") && err.contains("`c`"), "{err}");
    assert!(err.contains("table (Series)"), "the error lists what the node made: {err}");
    // The run's results are kept; only the report is missing.
    let runs = phx_in(&d, &["runs", "--format", "json"]);
    assert!(String::from_utf8_lossy(&runs.stdout).contains("succeeded"));
}

#[test]
fn report_of_an_unknown_run_or_a_run_without_report_says_so() {
    let d = fresh_dir("norun");
    let o = phx_in(&d, &["report", "20990101T000000-000000"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no run"), "{}", stderr(&o));
    std::fs::write(d.join("p.phx"), "node k = constants.get(name = \"c\")\n").unwrap();
    let o = phx_in(&d, &["run", "p.phx", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = json_of(&o);
    assert!(doc["report"].is_null());
    let o = phx_in(&d, &["report", doc["run_id"].as_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("had no `report` block"), "{}", stderr(&o));
}
