//! Running a command where the cluster is: here (`sh -c`), or on a login
//! node over ssh; and moving a folder there and back (rsync, or scp where
//! rsync is missing).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::{BackendError, sh_quote};

/// What a command printed and how it ended.
#[derive(Clone, Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Whether it exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Where commands run.
#[derive(Clone, Debug)]
pub enum Runner {
    /// On this machine.
    Local,
    /// On `target` (`user@host`), with extra ssh options.
    Ssh { target: String, options: Vec<String> },
}

/// How long one command may take before it counts as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

impl Runner {
    /// Runs `script` with `/bin/sh` where the cluster is.
    pub async fn run(&self, script: &str) -> Result<Output, BackendError> {
        let mut cmd = match self {
            Runner::Local => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(script);
                c
            }
            Runner::Ssh { target, options } => {
                let mut c = Command::new("ssh");
                c.args(ssh_base_options()).args(options).arg(target).arg("--").arg(script);
                c
            }
        };
        run_command(&mut cmd, &self.describe()).await
    }

    /// `here` or `ssh user@host`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Runner::Local => "here".into(),
            Runner::Ssh { target, .. } => format!("ssh {target}"),
        }
    }

    /// Whether commands run on another machine.
    pub fn is_remote(&self) -> bool {
        matches!(self, Runner::Ssh { .. })
    }
}

/// Options every ssh and scp call gets: never prompt, fail fast, and
/// share one connection between the many short calls of a run (polls,
/// logs, transfers), which makes each call a round trip instead of a
/// handshake.
fn ssh_base_options() -> Vec<String> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let control = std::env::temp_dir().join(format!("phx-ssh-{uid}-%C"));
    vec![
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "ConnectTimeout=15".into(),
        "-o".into(),
        "ControlMaster=auto".into(),
        "-o".into(),
        format!("ControlPath={}", control.display()),
        "-o".into(),
        "ControlPersist=60".into(),
    ]
}

async fn run_command(cmd: &mut Command, place: &str) -> Result<Output, BackendError> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let child = cmd.spawn().map_err(|e| BackendError::Unreachable {
        message: format!("cannot start `{program}` ({place}): {e}"),
        hint: format!("install {program}, or check PATH"),
    })?;
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await.map_err(|_| {
        BackendError::Unreachable {
            message: format!("`{program}` ({place}) did not answer within {} s", COMMAND_TIMEOUT.as_secs()),
            hint: "check that the cluster (or the login node) is up and reachable".into(),
        }
    })?;
    let out = out.map_err(|e| BackendError::Unreachable {
        message: format!("`{program}` ({place}) failed: {e}"),
        hint: "check the cluster's tools".into(),
    })?;
    Ok(Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// How folders move between here and a login node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transfer {
    Rsync,
    Scp,
}

/// scp spells ssh's `-p PORT` as `-P PORT`.
fn scp_options(ssh_options: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = ssh_options.iter();
    while let Some(o) = it.next() {
        if o == "-p" {
            out.push("-P".to_string());
            if let Some(port) = it.next() {
                out.push(port.clone());
            }
        } else {
            out.push(o.clone());
        }
    }
    out
}

fn transfer_error(what: &str, out: &Output) -> BackendError {
    let tail: String =
        out.stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    BackendError::Transfer {
        message: format!(
            "{what} failed (exit {}): {}",
            out.code.map_or("signal".into(), |c| c.to_string()),
            tail.trim()
        ),
        hint: "check the ssh options in phx.toml [slurm] and the space on both ends".into(),
    }
}

/// Copies the folder `local` to `remote` (absolute, on `target`); `remote`
/// is replaced if it exists.
pub async fn push(
    how: Transfer,
    target: &str,
    options: &[String],
    local: &Path,
    remote: &str,
) -> Result<(), BackendError> {
    let runner = Runner::Ssh { target: target.into(), options: options.to_vec() };
    let parent = Path::new(remote).parent().map(|p| p.display().to_string()).unwrap_or_else(|| "/".into());
    let prep = runner.run(&format!("rm -rf {r} && mkdir -p {p}", r = sh_quote(remote), p = sh_quote(&parent))).await?;
    if !prep.ok() {
        return Err(transfer_error(&format!("preparing `{remote}` on {target}"), &prep));
    }
    let mut cmd = match how {
        Transfer::Rsync => {
            let mut c = Command::new("rsync");
            c.arg("-a").arg("-e").arg(rsync_shell(options));
            c.arg(format!("{}/", local.display())).arg(format!("{target}:{}/", remote));
            c
        }
        Transfer::Scp => {
            // `scp -r DIR host:PARENT/` makes PARENT/DIR's name; the local
            // folder has the same name as the remote one by construction.
            let mut c = Command::new("scp");
            c.arg("-r").arg("-q").args(ssh_base_options()).args(scp_options(options));
            c.arg(local).arg(format!("{target}:{parent}/"));
            c
        }
    };
    let out = run_command(&mut cmd, target).await?;
    if !out.ok() {
        return Err(transfer_error(&format!("copying `{}` to {target}:{remote}", local.display()), &out));
    }
    Ok(())
}

/// Copies what the job made in `remote` back into `local` (the inputs,
/// which are here already, stay behind).
pub async fn pull(
    how: Transfer,
    target: &str,
    options: &[String],
    remote: &str,
    local: &Path,
) -> Result<(), BackendError> {
    let mut cmd = match how {
        Transfer::Rsync => {
            let mut c = Command::new("rsync");
            c.arg("-a").arg("--exclude=/in/").arg("-e").arg(rsync_shell(options));
            c.arg(format!("{target}:{}/", remote)).arg(format!("{}/", local.display()));
            c
        }
        Transfer::Scp => {
            let staging = local.join(".pull");
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging).map_err(|e| BackendError::Transfer {
                message: format!("cannot create `{}`: {e}", staging.display()),
                hint: "check the space and permissions of the store".into(),
            })?;
            let mut c = Command::new("scp");
            c.arg("-r").arg("-q").args(ssh_base_options()).args(scp_options(options));
            c.arg(format!("{target}:{remote}")).arg(&staging);
            c
        }
    };
    let out = run_command(&mut cmd, target).await?;
    if !out.ok() {
        return Err(transfer_error(&format!("copying {target}:{remote} back"), &out));
    }
    if how == Transfer::Scp {
        merge_pulled(local).map_err(|e| BackendError::Transfer {
            message: format!("cannot move the job's files into `{}`: {e}", local.display()),
            hint: "check the space and permissions of the store".into(),
        })?;
    }
    Ok(())
}

/// Moves `local/.pull/NAME/*` (what scp brought) into `local`, leaving the
/// staged inputs as they are.
fn merge_pulled(local: &Path) -> std::io::Result<()> {
    let staging = local.join(".pull");
    let Some(brought) = std::fs::read_dir(&staging)?.flatten().next() else { return Ok(()) };
    for entry in std::fs::read_dir(brought.path())?.flatten() {
        let name = entry.file_name();
        if name == "in" {
            continue;
        }
        let dest = local.join(&name);
        if dest.is_dir() {
            std::fs::remove_dir_all(&dest)?;
        }
        std::fs::rename(entry.path(), dest)?;
    }
    std::fs::remove_dir_all(&staging)
}

/// `ssh -o ... OPTIONS` as one string for rsync's `-e`.
fn rsync_shell(options: &[String]) -> String {
    let mut parts = vec!["ssh".to_string()];
    parts.extend(ssh_base_options().iter().map(|s| sh_quote(s)));
    parts.extend(options.iter().map(|o| sh_quote(o)));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_takes_the_port_as_capital_p() {
        let o: Vec<String> = ["-p", "2222", "-i", "k", "-o", "X=y"].iter().map(|s| s.to_string()).collect();
        assert_eq!(scp_options(&o), vec!["-P", "2222", "-i", "k", "-o", "X=y"]);
    }

    #[tokio::test]
    async fn local_commands_report_their_exit_code() {
        let out = Runner::Local.run("echo hi; echo err >&2; exit 3").await.unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "err\n");
    }
}
