//! Editor support, tested through clients that nobody here wrote:
//! pytest-lsp (with the capability sets of VS Code and Neovim) and headless
//! Neovim. The scripts create their virtual environment on first use.

use std::process::Command;

fn run_script(script: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/{script}"))
        .env("PHX_BIN", env!("CARGO_BIN_EXE_phx"))
        .output()
        .expect("bash runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed:\n{text}");
    println!("{text}");
}

#[test]
fn pytest_lsp_with_vscode_and_neovim_capabilities() {
    run_script("tests/lsp/run.sh");
}

#[test]
fn the_vscode_extension_builds_its_grammar_passes_and_it_packages() {
    run_script("editors/vscode/build.sh");
    let vsix = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode/phx.vsix");
    assert!(std::fs::metadata(&vsix).map(|m| m.len() > 10_000).unwrap_or(false), "{} was not written", vsix.display());
}

#[test]
fn the_stdio_latency_script_drives_the_real_server() {
    // bench/lsp_stdio.py measures the release build; here it runs briefly
    // against this build so that the script keeps working.
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .arg(format!("{root}/bench/lsp_stdio.py"))
        .args(["--phx", env!("CARGO_BIN_EXE_phx"), "--edits", "6", "--sizes", "300"])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let row = text.lines().find(|l| l.starts_with("| 3")).unwrap_or_else(|| panic!("no row in\n{text}"));
    assert!(row.matches(" ms (p90 ").count() == 3, "{row}");
}
