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
