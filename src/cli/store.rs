//! `phx store verify` and `phx store gc`.

use phx_app::maintenance::{self, ObjectProblem};

use super::common::{self, DirArg};
use super::exit;

#[derive(clap::Subcommand)]
pub enum StoreCommand {
    /// Re-hash every stored object; exit 1 on any mismatch, naming it.
    Verify {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Remove objects that no run output refers to.
    Gc {
        #[command(flatten)]
        dir: DirArg,
    },
}

pub fn run(c: StoreCommand) -> u8 {
    let (StoreCommand::Verify { dir } | StoreCommand::Gc { dir }) = &c;
    let exp = match dir.open() {
        Ok(e) => e,
        Err(code) => return code,
    };
    match c {
        StoreCommand::Verify { .. } => {
            let check = match maintenance::verify(&exp) {
                Ok(c) => c,
                Err(e) => return common::fail(&e),
            };
            let mut missing = 0;
            for p in &check.problems {
                match &p.problem {
                    ObjectProblem::Corrupt { actual } => {
                        eprintln!("corrupt: {} (its bytes hash to {actual})", p.sha256)
                    }
                    ObjectProblem::Unreadable { error } => eprintln!("unreadable: {}: {error}", p.sha256),
                    ObjectProblem::Missing => {
                        missing += 1;
                        eprintln!("missing: {} (recorded, but not in the store; the next run recomputes it)", p.sha256)
                    }
                }
            }
            common::out(&format!(
                "{} objects checked: {} corrupt or unreadable, {missing} missing\n",
                check.checked,
                check.damaged()
            ));
            if check.damaged() > 0 { exit::INVALID } else { exit::OK }
        }
        StoreCommand::Gc { .. } => match maintenance::gc(&exp) {
            Ok(c) => {
                common::out(&format!(
                    "removed {} unreferenced objects and {} leftover temporary files; emptied {} working folders of finished runs ({:.1} MB)\n",
                    c.removed,
                    c.temporary,
                    c.work_folders,
                    c.work_bytes as f64 / 1e6
                ));
                exit::OK
            }
            Err(e) => common::fail(&e),
        },
    }
}
