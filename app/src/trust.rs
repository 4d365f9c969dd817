//! What a caller may make phx do: the grants of a less trusted front end.
//!
//! The command line acts for the person who types it and has every grant.
//! An MCP client acts for a model, which a document or a web page it read
//! may have talked into anything, so `phx mcp` starts with none: programs
//! that run commands (command-backed tools, `shell.run`), anything sent to
//! a cluster, and files outside the experiment folder are refused with
//! `phx::not-granted` until the person who starts the server grants them
//! (`--allow-commands`, `--allow-cluster`, `--allow-path DIR`).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::BackendKind;
use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;
use crate::program::Checked;

/// The grants of a caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Grants {
    /// May run programs whose nodes run commands (command-backed tools,
    /// `shell.run`).
    pub commands: bool,
    /// May send work to a cluster (`job_submit`, a run with a cluster
    /// backend or a node that asks for one).
    pub cluster: bool,
    /// Folders outside the experiment folder whose files it may read.
    pub paths: Vec<PathBuf>,
}

impl Grants {
    /// Every grant: what the command line has.
    pub fn all() -> Grants {
        Grants { commands: true, cluster: true, paths: vec![PathBuf::from("/")] }
    }

    /// In words, for a client's instructions.
    pub fn describe(&self) -> String {
        let mut parts = vec![if self.commands {
            "programs may run commands (command-backed tools, shell.run)".to_string()
        } else {
            "programs that run commands (command-backed tools, shell.run) are refused (the server was not started with --allow-commands)".to_string()
        }];
        parts.push(if self.cluster {
            "work may go to the configured clusters".to_string()
        } else {
            "nothing goes to a cluster: job_submit and cluster backends are refused (no --allow-cluster)".to_string()
        });
        parts.push(if self.paths.is_empty() {
            "files are read only inside the experiment folder".to_string()
        } else {
            format!(
                "files are read inside the experiment folder and {}",
                self.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )
        });
        parts.join("; ")
    }

    fn refuse(what: &str, flag: &str) -> AppError {
        AppError::invalid("phx::not-granted", format!("{what}, and this server was not granted that"))
            .with_help(format!("the person who starts `phx mcp` can allow it with {flag}"))
    }

    /// Whether `path` (resolved, symbolic links followed) lies inside the
    /// experiment folder or a granted folder; the resolved path.
    pub fn readable(&self, exp: &Experiment, path: &Path) -> AppResult<PathBuf> {
        let full = exp.absolute(&path.to_string_lossy());
        let resolved = full.canonicalize().map_err(|e| {
            AppError::usage(format!("cannot read `{}`: {e}", path.display()))
                .with_help("give a file of the experiment folder")
        })?;
        let inside = std::iter::once(exp.dir.clone())
            .chain(self.paths.iter().map(|p| p.canonicalize().unwrap_or_else(|_| p.clone())))
            .any(|root| resolved.starts_with(root));
        if inside {
            Ok(resolved)
        } else {
            Err(Grants::refuse(
                &format!("`{}` is outside the experiment folder {}", path.display(), exp.dir.display()),
                "--allow-path DIR",
            ))
        }
    }

    /// Sending work to a cluster.
    pub fn cluster(&self, what: &str) -> AppResult<()> {
        if self.cluster { Ok(()) } else { Err(Grants::refuse(what, "--allow-cluster")) }
    }

    /// Whether a checked program may run under these grants, on `backend`:
    /// its commands, its clusters and every literal file it names.
    pub fn admit(&self, exp: &Experiment, checked: &Checked, backend: Option<BackendKind>) -> AppResult<()> {
        if let Some(b) = backend.filter(|b| *b != BackendKind::Local) {
            self.cluster(&format!("the run asks for the {b} backend"))?;
        }
        // By family, and a vertex built only where a file is named: a
        // sweep of a million instances is not built whole to be admitted.
        let dag = &checked.checked.dag;
        for (f, fam) in dag.families.iter().enumerate() {
            let (info, set) = (&fam.info, fam.instances());
            if fam.is_empty() {
                continue;
            }
            if !self.commands && (!info.builtin || info.tool == "shell.run") {
                return Err(Grants::refuse(
                    &format!("the node `{}` runs a command (`{}`)", set.id(0), info.tool),
                    "--allow-commands",
                ));
            }
            let names_files = info.param_types.iter().any(|(_, t)| phx_runtime::scheduler::names_files(t));
            for i in 0..fam.len() {
                if let Some(b) = set.props(i).backend.filter(|b| *b != BackendKind::Local) {
                    self.cluster(&format!("the node `{}` sets backend = {b}", set.id(i)))?;
                }
                if !names_files {
                    continue;
                }
                let v = dag.instance((f as u32, i as u32));
                for (arg, file) in phx_runtime::scheduler::literal_files(&v) {
                    self.readable(exp, Path::new(&file)).map_err(|mut e| {
                        e.message = format!("the node `{}` reads `{file}` as `{arg}`: {}", v.id, e.message);
                        e
                    })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{CompileOptions, Program};

    fn experiment(name: &str) -> Experiment {
        let dir = std::env::temp_dir().join(format!("phx-app-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Experiment::open_exact(&dir).unwrap()
    }

    fn checked(exp: &Experiment, text: &str) -> Checked {
        let p = Program::from_text(&exp.dir.join("p.phx"), text, &CompileOptions::default()).unwrap();
        let c = p.check();
        assert!(!c.has_errors(), "{:?}", c.report().diagnostics);
        c
    }

    #[test]
    fn without_grants_commands_clusters_and_outside_files_are_refused() {
        let exp = experiment("refuse");
        std::fs::write(exp.dir.join("in.csv"), "x,y\n1,2\n").unwrap();
        let none = Grants::default();
        let shell = checked(&exp, "node a = shell.run(command = \"id\")\n");
        let e = none.admit(&exp, &shell, None).unwrap_err();
        assert_eq!(e.code, "phx::not-granted");
        assert!(e.help.as_deref().unwrap().contains("--allow-commands"), "{e:?}");
        assert!(Grants { commands: true, ..Grants::default() }.admit(&exp, &shell, None).is_ok());

        let outside = checked(&exp, "node d = data.load_csv(path = \"/etc/passwd\") {\n  emit = [series]\n}\n");
        assert!(none.admit(&exp, &outside, None).unwrap_err().message.contains("/etc/passwd"));
        let sneaky = checked(&exp, "node d = data.load_csv(path = \"../../../etc/passwd\") {\n  emit = [series]\n}\n");
        assert_eq!(none.admit(&exp, &sneaky, None).unwrap_err().code, "phx::not-granted");
        std::os::unix::fs::symlink("/etc/passwd", exp.dir.join("link.csv")).unwrap();
        let linked = checked(&exp, "node d = data.load_csv(path = \"link.csv\") {\n  emit = [series]\n}\n");
        assert_eq!(
            none.admit(&exp, &linked, None).unwrap_err().code,
            "phx::not-granted",
            "symbolic links are followed"
        );
        let inside = checked(&exp, "node d = data.load_csv(path = \"in.csv\") {\n  emit = [series]\n}\n");
        assert!(none.admit(&exp, &inside, None).is_ok());
        assert!(Grants { paths: vec!["/etc".into()], ..Grants::default() }.admit(&exp, &outside, None).is_ok());

        let plain = checked(&exp, "node o = quantum.orbital(n = 1, l = 0, m = 0, grid = 8) {\n  emit = [series]\n}\n");
        assert!(none.admit(&exp, &plain, None).is_ok());
        assert_eq!(none.admit(&exp, &plain, Some(BackendKind::Slurm)).unwrap_err().code, "phx::not-granted");
        assert!(none.admit(&exp, &plain, Some(BackendKind::Local)).is_ok());
        assert!(Grants::all().admit(&exp, &shell, Some(BackendKind::K8s)).is_ok());
        std::fs::remove_dir_all(&exp.dir).unwrap();
    }
}
