//! The experiment folder: where a program's store, config and results
//! live. Every front end finds it the same way (CLI spec, "Where things
//! live"): the nearest folder holding `phx.toml`, from the given folder
//! upwards; else the given folder itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use phx_store::Store;

use crate::error::{AppError, AppResult};

/// An experiment folder and its store, opened once and shared.
#[derive(Clone)]
pub struct Experiment {
    /// The folder, absolute.
    pub dir: PathBuf,
    /// Its store (`.phx/` inside it).
    pub store: Arc<Store>,
}

impl std::fmt::Debug for Experiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Experiment").field("dir", &self.dir).finish()
    }
}

/// The experiment folder that `start` belongs to: the nearest folder
/// holding `phx.toml` from `start` upwards, else `start` (made absolute).
pub fn discover(start: &Path) -> PathBuf {
    let start = if start.as_os_str().is_empty() { Path::new(".") } else { start };
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    let mut dir = start.as_path();
    loop {
        if dir.join("phx.toml").is_file() {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return start,
        }
    }
}

/// The experiment folder of a program file: discovered from its folder.
pub fn dir_of_program(file: &Path) -> PathBuf {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    discover(parent)
}

impl Experiment {
    /// Opens the experiment that `start` (a folder) belongs to, creating
    /// its store on first use.
    pub fn open(start: &Path) -> AppResult<Experiment> {
        Experiment::open_exact(&discover(start))
    }

    /// Opens the experiment a program file belongs to.
    pub fn of_program(file: &Path) -> AppResult<Experiment> {
        Experiment::open_exact(&dir_of_program(file))
    }

    /// Opens exactly this folder as the experiment (no discovery).
    pub fn open_exact(dir: &Path) -> AppResult<Experiment> {
        if !dir.is_dir() {
            return Err(AppError::usage(format!("`{}` is not a folder", dir.display()))
                .with_help("give an experiment folder (`phx init DIR` makes one)"));
        }
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let store = Store::open(&dir)?;
        Ok(Experiment { dir, store: Arc::new(store) })
    }

    /// `file` as runs record it: relative to the experiment folder when it
    /// is inside it, else absolute.
    pub fn relative(&self, file: &Path) -> String {
        let abs = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        abs.strip_prefix(&self.dir).map(|p| p.display().to_string()).unwrap_or_else(|_| abs.display().to_string())
    }

    /// A path as results show it: relative to the experiment folder when
    /// inside it.
    pub fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir).map(|x| x.display().to_string()).unwrap_or_else(|_| path.display().to_string())
    }

    /// A path under the folder, absolute.
    pub fn absolute(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() { p.to_path_buf() } else { self.dir.join(p) }
    }

    /// The run that `id` names (a full id or a unique prefix); a run
    /// whose process was killed reads `dead`.
    pub fn run(&self, id: &str) -> AppResult<phx_store::RunRow> {
        self.settle_dead_runs();
        self.store.db.run(id)?.ok_or_else(|| AppError::no_run(id, &self.store.root))
    }

    /// Marks runs whose process is gone `dead` (see
    /// `phx_store::Store::settle_dead_runs`); a store that cannot be
    /// written is read as it is.
    pub fn settle_dead_runs(&self) {
        let _ = self.store.settle_dead_runs(&crate::clock::now_rfc3339(), &phx_runtime::provenance::host());
    }

    /// The cluster settings of `phx.toml`.
    pub fn cluster_config(&self) -> AppResult<phx_backends::ClusterConfig> {
        phx_backends::ClusterConfig::load(&self.dir)
            .map_err(|e| AppError::usage(e.to_string()).with_help("see the comments `phx init` writes into phx.toml"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_below_phx_toml_belongs_to_the_experiment_above() {
        let root = std::env::temp_dir().join(format!("phx-app-discover-{}", std::process::id()));
        let sub = root.join("a").join("b");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(root.join("phx.toml"), "").unwrap();
        let want = root.canonicalize().unwrap();
        assert_eq!(discover(&sub), want);
        assert_eq!(dir_of_program(&sub.join("x.phx")), want);
        let exp = Experiment::open(&sub).unwrap();
        assert_eq!(exp.dir, want);
        assert_eq!(exp.relative(&sub.join("x.phx")), "a/b/x.phx");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn without_phx_toml_the_folder_itself_is_the_experiment() {
        let root = std::env::temp_dir().join(format!("phx-app-plain-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        assert_eq!(discover(&root), root.canonicalize().unwrap());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
