//! `phx mcp`, tested with the official MCP Python SDK as the client (the
//! script creates its virtual environment on first use).

use std::process::Command;

#[test]
fn the_official_mcp_sdk_drives_every_method() {
    let root = env!("CARGO_MANIFEST_DIR");
    // job_submit runs on the real one-node Slurm cluster.
    let up = Command::new(format!("{root}/tests/slurm/cluster.sh")).arg("up").output().expect("cluster.sh runs");
    assert!(up.status.success(), "the Slurm cluster did not start: {}", String::from_utf8_lossy(&up.stderr));
    let out = Command::new("bash")
        .arg(format!("{root}/tests/mcp/run.sh"))
        .env("PHX_BIN", env!("CARGO_BIN_EXE_phx"))
        .output()
        .expect("bash runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tests/mcp/run.sh failed:\n{text}");
}
