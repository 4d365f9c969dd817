//! The layering invariants of ARCHITECTURE.md, checked on the sources: the
//! front ends call the application layer in their own process, and nothing
//! below the application layer depends on it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// No front end runs `phx` as a child process for its own work: the only
/// place the binary names itself is where a cluster job must run it as a
/// worker.
#[test]
fn only_cluster_code_names_the_phx_binary() {
    let mut files = Vec::new();
    for dir in ["src", "mcp/src", "serve/src", "app/src", "lsp/src", "runtime", "stdlib/impls/src", "compiler"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.contains("current_exe()") {
                found.push(format!("{}:{}", f.strip_prefix(root()).unwrap().display(), i + 1));
            }
        }
    }
    assert!(
        found.len() == 1 && found[0].starts_with("app/src/cluster.rs:"),
        "current_exe outside cluster code: {found:?}"
    );
    // The MCP server and the viewer never spawn processes for their work.
    for dir in ["mcp/src", "serve/src"] {
        let mut files = Vec::new();
        rust_files(&root().join(dir), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(!text.contains("Command::new"), "{} spawns a process", f.display());
        }
    }
}

/// The MCP server (the `phx-mcp` crate) does its work through the
/// application layer alone: it names no crate of the runtime or the
/// compiler (bar the diagnostics' did-you-mean), in its sources or its
/// manifest.
#[test]
fn the_mcp_server_goes_through_the_application_layer() {
    let manifest = std::fs::read_to_string(root().join("mcp/Cargo.toml")).unwrap();
    let mut deps: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("phx-"))
        .map(|l| l.split([' ', '.', '=']).next().unwrap_or(""))
        .collect();
    deps.sort_unstable();
    assert_eq!(deps, ["app", "diagnostics"], "mcp/Cargo.toml names crates below phx-app");
    let mut files = Vec::new();
    rust_files(&root().join("mcp/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("phx_") {
                let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                assert!(
                    name == "phx_app" || name == "phx_diagnostics",
                    "{}:{}: `{name}` below the application layer: {line}",
                    f.display(),
                    i + 1
                );
                rest = &rest[at + name.len()..];
            }
        }
    }
}

/// The compiler, the runtime and the standard library never depend on the
/// application layer or the front ends.
#[test]
fn nothing_below_the_application_layer_depends_on_it() {
    let mut manifests = Vec::new();
    for dir in ["compiler", "runtime", "stdlib"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap().flatten() {
            let m = entry.path().join("Cargo.toml");
            if m.is_file() {
                manifests.push(m);
            }
        }
    }
    assert!(manifests.len() > 15, "found {} crates", manifests.len());
    for m in manifests {
        let text = std::fs::read_to_string(&m).unwrap();
        for upper in ["phx-app", "phx-serve", "phx-lsp", "phx-mcp"] {
            assert!(
                !text.lines().any(|l| l.trim_start().starts_with(&format!("{upper} "))
                    || l.trim_start().starts_with(&format!("{upper}."))),
                "{} depends on {upper}",
                m.display()
            );
        }
    }
}
