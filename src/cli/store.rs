//! `phx store verify` and `phx store gc`.

use phx_store::Verified;

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
    let store = match dir.open() {
        Ok(e) => e.store,
        Err(code) => return code,
    };
    let objects = match store.objects.list() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ENVIRONMENT;
        }
    };
    match c {
        StoreCommand::Verify { .. } => {
            let mut bad = 0;
            for sha in &objects {
                match store.objects.verify(sha) {
                    Verified::Ok => {}
                    Verified::Corrupt { actual } => {
                        bad += 1;
                        eprintln!("corrupt: {sha} (its bytes hash to {actual})");
                    }
                    Verified::Unreadable(e) => {
                        bad += 1;
                        eprintln!("unreadable: {sha}: {e}");
                    }
                }
            }
            let referenced = store.db.referenced_objects().unwrap_or_default();
            let present: std::collections::BTreeSet<&String> = objects.iter().collect();
            let mut missing = 0;
            for sha in &referenced {
                if !present.contains(sha) {
                    missing += 1;
                    eprintln!("missing: {sha} (recorded, but not in the store; the next run recomputes it)");
                }
            }
            common::out(&format!(
                "{} objects checked: {} corrupt or unreadable, {missing} missing\n",
                objects.len(),
                bad
            ));
            if bad > 0 { exit::INVALID } else { exit::OK }
        }
        StoreCommand::Gc { .. } => {
            let referenced = store.db.referenced_objects().unwrap_or_default();
            let mut removed = 0;
            for sha in &objects {
                if !referenced.contains(sha) && store.objects.remove(sha).is_ok() {
                    removed += 1;
                }
            }
            let temp = store.objects.clean_temp();
            common::out(&format!("removed {removed} unreferenced objects and {temp} leftover temporary files\n"));
            exit::OK
        }
    }
}
