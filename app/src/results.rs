//! Results by name: after a run, `results/` in the experiment folder holds
//! each output of the latest successful run of each node under a readable
//! path with the right extension (`results/slice/image.png`,
//! `results/orbital/3/radial.csv`, and the report as `results/report.pdf`),
//! as Snakemake and Nextflow users expect to find them.
//!
//! Every file there is a hard link to the store's read-only object (a
//! read-only copy where a link cannot be made, e.g. across file systems),
//! so it costs no space and cannot drift from what provenance records.
//! phx never writes into a result file: a changed result is a new link
//! renamed over the old name, so a reader sees the old file or the new
//! one, never a mix.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::experiment::Experiment;
use crate::run::{NodeStatus, RunResult};

/// The folder results go to, inside the experiment folder.
pub const RESULTS_DIR: &str = "results";

/// One output to place: where its bytes are and what it is.
#[derive(Clone, Debug)]
pub struct Placeable {
    pub name: String,
    pub kind: String,
    pub object: PathBuf,
    /// The file's own name where the tool wrote it, when it had one.
    pub written: Option<String>,
}

/// One file placed under a results folder.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ResultFile {
    /// The vertex that produced it (`slice`, `orbital[3]`).
    pub vertex: String,
    /// The output's name.
    pub output: String,
    pub kind: String,
    pub sha256: String,
    /// Where it is: relative to the experiment folder when inside it.
    pub path: String,
}

/// What `phx results` placed.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ResultsListing {
    pub run_id: String,
    /// The folder the results are in.
    pub dir: String,
    pub files: Vec<ResultFile>,
    /// Vertices of the run with no results to place (failed, skipped,
    /// cancelled), so a reader knows what is missing and why.
    pub missing: Vec<MissingResult>,
}

/// A vertex whose outputs are not in the results folder.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MissingResult {
    pub vertex: String,
    pub status: NodeStatus,
}

/// The folder of a vertex's results, relative to the results folder: a
/// sweep's instance `orbital[3]` goes to `orbital/3`.
pub fn vertex_dir(vertex: &str) -> PathBuf {
    match phx_store::parse_vertex_id(vertex) {
        Some((name, Some(index))) => Path::new(name).join(index.to_string()),
        _ => PathBuf::from(vertex),
    }
}

/// The file name an output gets: its name with the extension its bytes
/// call for (`image` → `image.png`; a picture's SVG twin `image_svg` →
/// `image.svg`). A name that already has an extension keeps it.
pub fn file_name(name: &str, kind: &str, head: &[u8]) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    let ext = extension(kind, head);
    let base = match ext {
        "svg" => name.strip_suffix("_svg").unwrap_or(name),
        _ => name,
    };
    if ext.is_empty() { base.to_string() } else { format!("{base}.{ext}") }
}

/// The extension for an output, from its first bytes, then its kind.
pub fn extension(kind: &str, head: &[u8]) -> &'static str {
    let starts = |p: &[u8]| head.starts_with(p);
    let text = std::str::from_utf8(head).map(str::trim_start).unwrap_or("");
    if starts(b"\x89PNG") {
        "png"
    } else if starts(b"GIF8") {
        "gif"
    } else if head.len() >= 8 && &head[4..8] == b"ftyp" {
        "mp4"
    } else if starts(b"CDF\x01") || starts(b"CDF\x02") || starts(b"CDF\x05") {
        "nc"
    } else if starts(b"\x89HDF") {
        "h5"
    } else if starts(b"%PDF") {
        "pdf"
    } else if starts(b"glTF") {
        "glb"
    } else if starts(b"PHXFIELD") {
        "phxfield"
    } else if text.starts_with("<svg") || (text.starts_with("<?xml") && text.contains("<svg")) {
        "svg"
    } else if text.starts_with("# vtk") {
        "vtk"
    } else if text.starts_with('{') && text.contains("\"asset\"") {
        "gltf"
    } else {
        match kind {
            "Series" | "Table" => "csv",
            "Svg" => "svg",
            "Image" => "png",
            "Animation" => "gif",
            "Pdf" | "Report" => "pdf",
            _ if text.starts_with('{') || text.starts_with('[') => "json",
            _ if std::str::from_utf8(head).is_ok() => "txt",
            _ => "bin",
        }
    }
}

/// The file name an output stored at `object` gets (see [`file_name`]);
/// for downloads and anything else that names an object for people.
pub fn file_name_of(name: &str, kind: &str, object: &Path) -> String {
    let head = head_of(object).unwrap_or_default();
    file_name(name, kind, &head)
}

fn head_of(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 512];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    buf.truncate(n);
    // A cut inside a multi-byte character is still text.
    if let Err(e) = std::str::from_utf8(&buf)
        && e.error_len().is_none()
    {
        buf.truncate(e.valid_up_to());
    }
    Ok(buf)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Results a run could not place; `phx results` places them later.
fn not_placed(what: &str) -> AppError {
    AppError::environment("phx::results", what.to_string())
        .with_help("the run is recorded; `phx results` places its outputs in results/ again")
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::environment("phx::results", format!("cannot {what} `{}`: {e}", path.display()))
        .with_help("results/ is written by phx after each run; check the folder's permissions and free space")
}

fn refused(message: String) -> AppError {
    AppError::environment("phx::results", message).with_help(
        "results/ holds only what phx puts there: move your own files elsewhere, or use `phx results -o NEW_DIR`",
    )
}

/// Whether `id` is a vertex id a program can make (see
/// [`phx_store::is_vertex_id`]); ids come from the store and bundles, so a
/// path is never built from anything else.
pub use phx_store::is_vertex_id;

/// Whether `name` is one plain file name (no folder, not hidden, not `..`).
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).components().count() == 1
}

/// The name a file output had where the tool wrote it (`shell.run`'s
/// `outputs = ["sub/x.csv"]` gives `x.csv`), when it is a plain name.
pub fn written_name(meta: &serde_json::Value) -> Option<String> {
    let path = meta.get("path")?.as_str()?;
    let name = Path::new(path).file_name()?.to_str()?;
    is_plain_file_name(name).then(|| name.to_string())
}

/// The list of what phx placed in a results folder, one relative path a
/// line: only these files are ever replaced or removed, so a person's own
/// files there are never touched.
const MANIFEST: &str = ".phx-results";

/// A results folder: its root (never a symbolic link) and what phx placed
/// in it.
pub struct ResultsDir {
    root: PathBuf,
    placed: BTreeSet<String>,
    /// Folders already found to be real folders (`t/` once, not once per
    /// instance of `t`).
    folders: std::collections::HashSet<PathBuf>,
}

impl ResultsDir {
    /// Opens (making) the results folder `root`. With `claimed`, a folder
    /// that exists, is not empty and has no manifest is refused: it is not
    /// phx's to write into.
    pub fn open(root: &Path, claimed: bool) -> AppResult<ResultsDir> {
        match std::fs::symlink_metadata(root) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refused(format!(
                    "`{}` is a symbolic link; phx does not write results through links",
                    root.display()
                )));
            }
            Ok(m) if !m.is_dir() => {
                return Err(refused(format!("`{}` is a file, not a folder", root.display())));
            }
            Ok(_) => {}
            Err(_) => std::fs::create_dir_all(root).map_err(|e| io_error("create", root, e))?,
        }
        let manifest = root.join(MANIFEST);
        let placed: BTreeSet<String> = match std::fs::read_to_string(&manifest) {
            Ok(text) => text.lines().filter(|l| is_manifest_path(l)).map(str::to_string).collect(),
            Err(_) => {
                let empty = std::fs::read_dir(root).map(|mut d| d.next().is_none()).unwrap_or(true);
                if claimed && !empty {
                    return Err(refused(format!("`{}` is not empty and phx did not make it", root.display())));
                }
                BTreeSet::new()
            }
        };
        Ok(ResultsDir { root: root.to_path_buf(), placed, folders: std::collections::HashSet::new() })
    }

    /// The folder for a vertex, made inside the root; every part of it
    /// must be a real folder (never a link out of the results folder).
    fn vertex_folder(&mut self, vertex: &str) -> AppResult<PathBuf> {
        if !is_vertex_id(vertex) {
            return Err(refused(format!("`{vertex}` is not a vertex id; its outputs are not placed")));
        }
        let mut dir = self.root.clone();
        for part in vertex_dir(vertex).components() {
            dir.push(part);
            if self.folders.contains(&dir) {
                continue;
            }
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(refused(format!(
                        "`{}` is in the way (a file or a link where phx puts {vertex}'s results)",
                        dir.display()
                    )));
                }
                Err(_) => std::fs::create_dir(&dir).map_err(|e| io_error("create", &dir, e))?,
            }
            // Known to be a real folder only once it was found to be one.
            self.folders.insert(dir.clone());
        }
        Ok(dir)
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).map(|p| p.display().to_string()).unwrap_or_default()
    }

    /// Places one vertex's outputs in `<root>/<vertex dir>/`, replacing what
    /// an earlier run placed there: files phx placed for outputs the vertex
    /// no longer has are removed, nothing else. Returns each output's path.
    pub fn place_vertex(&mut self, vertex: &str, outputs: &[Placeable]) -> AppResult<BTreeMap<String, PathBuf>> {
        // Placed already, exactly as it is: neither the folder nor the
        // objects are looked at again (a re-run of 100,000 cached nodes).
        if let Some(placed) = self.unchanged(vertex, outputs) {
            return Ok(placed);
        }
        let dir = self.vertex_folder(vertex)?;
        let mut placed = BTreeMap::new();
        let mut names = BTreeSet::new();
        let mut changed = false;
        for o in outputs {
            if !o.object.is_file() {
                continue;
            }
            let head = head_of(&o.object).map_err(|e| io_error("read", &o.object, e))?;
            let mut file = match &o.written {
                Some(w) => w.clone(),
                None => file_name(&o.name, &o.kind, &head),
            };
            // Two outputs that would share a file name (`image` and
            // `image_svg` of the same extension, two files a command wrote
            // as `stdout.txt` in two folders) keep their own names: the
            // output's, else a numbered one (`stdout-2.txt`).
            if names.contains(&file) {
                file = format!("{}.{}", o.name, extension(&o.kind, &head));
            }
            if names.contains(&file) {
                let (stem, ext) = match file.rsplit_once('.') {
                    Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
                    _ => (file.clone(), String::new()),
                };
                if let Some(free) =
                    (2..=names.len() + 2).map(|k| format!("{stem}-{k}{ext}")).find(|f| !names.contains(f))
                {
                    file = free;
                }
            }
            if !is_plain_file_name(&file) || names.contains(&file) {
                return Err(AppError::environment(
                    "phx::results",
                    format!("`{vertex}.{}` has no usable file name (`{file}`)", o.name),
                )
                .with_help(
                    "the output is in the store (`phx show RUN` names it); name the file it is written to plainly",
                ));
            }
            names.insert(file.clone());
            let dest = dir.join(&file);
            changed |= place_file(&o.object, &dest, true)?;
            self.placed.insert(self.relative(&dest));
            placed.insert(o.name.clone(), dest);
        }
        // What phx placed here before and this run did not: removed.
        let stale = self.stale_in(&dir, &names);
        changed |= !stale.is_empty();
        for rel in stale {
            if self.through_real_folders(&rel) {
                let _ = std::fs::remove_file(self.root.join(&rel));
            }
            self.placed.remove(&rel);
        }
        // A folder this run left as it was has no temporaries of its own to
        // clear (those of a killed run go when the folder next changes).
        if changed {
            remove_dead_temporaries(&dir);
        }
        Ok(placed)
    }

    /// Where `vertex`'s outputs are, when an earlier run placed each of
    /// them exactly as they are now (each file the very object) and
    /// nothing else: then placing them changes nothing. Reads only.
    pub fn unchanged(&self, vertex: &str, outputs: &[Placeable]) -> Option<BTreeMap<String, PathBuf>> {
        if !is_vertex_id(vertex) {
            return None;
        }
        let dir = self.root.join(vertex_dir(vertex));
        let mut placed = BTreeMap::new();
        let mut names = BTreeSet::new();
        for o in outputs {
            let file = self.placed_as(&dir, o)?;
            if !names.insert(file.clone()) {
                return None;
            }
            placed.insert(o.name.clone(), dir.join(&file));
        }
        self.stale_in(&dir, &names).is_empty().then_some(placed)
    }

    /// What phx placed in `dir` before that is not among `names` (the
    /// manifest is sorted: a folder's entries are one run of it).
    fn stale_in(&self, dir: &Path, names: &BTreeSet<String>) -> Vec<String> {
        let prefix = format!("{}/", self.relative(dir));
        self.placed
            .range::<str, _>((std::ops::Bound::Included(prefix.as_str()), std::ops::Bound::Unbounded))
            .take_while(|p| p.starts_with(&prefix))
            .filter(|p| p.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/') && !names.contains(rest)))
            .cloned()
            .collect()
    }

    /// The file name phx placed in `dir` for output `o` (`NAME.EXT`, or
    /// `STEM.svg` for a picture's SVG twin `STEM_svg`), when that file is
    /// `o`'s object itself (a hard link to it) and the tool gave it no name
    /// of its own. Of the names placed with that stem (`image.png` and
    /// `image.svg` for `image` and `image_svg`), the one that is the object.
    fn placed_as(&self, dir: &Path, o: &Placeable) -> Option<String> {
        if o.written.is_some() {
            return None;
        }
        let (name, object) = (&o.name, &o.object);
        let folder = self.relative(dir);
        let stems = [Some(name.as_str()), name.strip_suffix("_svg")];
        stems.into_iter().flatten().find_map(|stem| {
            let prefix = format!("{folder}/{stem}.");
            self.placed
                .range::<str, _>((std::ops::Bound::Included(prefix.as_str()), std::ops::Bound::Unbounded))
                .take_while(|p| p.starts_with(&prefix))
                .filter(|p| !p[prefix.len()..].contains(['/', '.']))
                .filter_map(|p| p.rsplit('/').next())
                .find(|file| same_file(object, &dir.join(file)))
                .map(str::to_string)
        })
    }

    /// Places a run's report as `report.pdf`: a read-only copy (the run's
    /// own report stays as it was written, whatever is done to this one).
    pub fn place_report(&mut self, pdf: &Path) -> AppResult<PathBuf> {
        let dest = self.root.join("report.pdf");
        place_file(pdf, &dest, false)?;
        self.placed.insert("report.pdf".into());
        remove_dead_temporaries(&self.root);
        Ok(dest)
    }

    /// Removes what phx placed for sweep instances that a complete run no
    /// longer has (a sweep shortened from 9 instances to 5 leaves no `5/`
    /// to `8/`), and the folders that leaves empty. `sweeps`: each sweep of
    /// the program with its number of instances; other folders are left.
    pub fn prune_instances(&mut self, sweeps: &BTreeMap<&str, usize>) {
        let mut emptied = BTreeSet::new();
        let stale: Vec<String> = self
            .placed
            .iter()
            .filter(|p| {
                let mut parts = p.split('/');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some(family), Some(index), Some(_), None) => {
                        index.bytes().all(|b| b.is_ascii_digit())
                            && sweeps.get(family).is_some_and(|len| index.parse::<usize>().is_ok_and(|i| i >= *len))
                    }
                    _ => false,
                }
            })
            .cloned()
            .collect();
        for rel in stale {
            let path = self.root.join(&rel);
            // Never through a link someone put in place of a folder: what
            // it leads to is not phx's (the entry is forgotten).
            if self.through_real_folders(&rel) {
                let _ = std::fs::remove_file(&path);
                if let Some(parent) = path.parent() {
                    emptied.insert(parent.to_path_buf());
                }
            }
            self.placed.remove(&rel);
        }
        for dir in emptied {
            // Only if nothing else is left in it.
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// Whether every folder between the root and `rel` is a real folder,
    /// not a link to one (removing `rel` then removes nothing outside).
    fn through_real_folders(&self, rel: &str) -> bool {
        let mut at = self.root.clone();
        let mut folders: Vec<&str> = rel.split('/').collect();
        folders.pop();
        folders.into_iter().all(|part| {
            at.push(part);
            std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir())
        })
    }

    /// Writes the manifest (atomically).
    pub fn save(&self) -> AppResult<()> {
        let mut text = String::new();
        for p in &self.placed {
            text.push_str(p);
            text.push('\n');
        }
        let path = self.root.join(MANIFEST);
        phx_store::write_atomic(&path, text.as_bytes()).map_err(|e| io_error("write", &path, e))
    }
}

/// A manifest line phx could have written: a relative path of plain parts.
fn is_manifest_path(line: &str) -> bool {
    !line.is_empty()
        && !line.starts_with('/')
        && line.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Removes the temporary links of placements whose phx was killed
/// (`.NAME.phx-PID` of a process that is gone).
fn remove_dead_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix('.').and_then(|n| n.rsplit_once(".phx-")).map(|(_, pid)| pid) else {
            continue;
        };
        let alive =
            pid.parse::<u32>().is_ok_and(|p| p == std::process::id() || Path::new(&format!("/proc/{p}")).exists());
        if !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Puts `object` at `dest`, atomically: a hard link (`link`) or a
/// read-only copy made beside it, renamed over whatever file was there.
fn place_file(object: &Path, dest: &Path, link: bool) -> AppResult<bool> {
    if link && same_file(object, dest) {
        return Ok(false);
    }
    if std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        return Err(refused(format!("`{}` is a folder where phx puts a file", dest.display())));
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.phx-{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("result"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    if !link || std::fs::hard_link(object, &tmp).is_err() {
        std::fs::copy(object, &tmp).map_err(|e| io_error("copy into", &tmp, e))?;
        if let Ok(m) = std::fs::metadata(&tmp) {
            let mut perms = m.permissions();
            perms.set_readonly(true);
            let _ = std::fs::set_permissions(&tmp, perms);
        }
    }
    std::fs::rename(&tmp, dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("rename into", dest, e)
    })?;
    Ok(true)
}

/// Places outputs in the experiment's `results/` while a run goes: each
/// vertex as it succeeds, on a thread of its own beside the scheduler (a
/// re-run of 100,000 cached nodes changes nothing there, but each must be
/// looked at); [`Placing::finish`] then names the places in the result,
/// places the report, prunes and saves the manifest.
pub struct Placing {
    vertices: Option<std::sync::mpsc::Sender<ToPlace>>,
    thread: Option<std::thread::JoinHandle<Placed>>,
    /// What could not be sent (no thread): placed by `finish`.
    unsent: std::sync::Mutex<Vec<ToPlace>>,
    /// Takes each vertex's entry once its places are named in it.
    sink: Option<crate::run::ResultSink>,
}

/// A vertex's outputs to place, and whether its places are named in the
/// run's result (an instance folded into its sweep's count is not listed).
struct ToPlace {
    vertex: String,
    outputs: Vec<Placeable>,
    listed: bool,
    /// Its entry, for the sink (its places filled in once made).
    entry: Option<crate::run::NodeResult>,
}

impl ToPlace {
    /// Hands its entry (if it still has one) to `sink` as it is, without
    /// places: it could not be placed.
    fn hand_on_unplaced(&mut self, sink: Option<&crate::run::ResultSink>, exp_dir: &Path) {
        if let (Some(sink), Some(entry)) = (sink, self.entry.take()) {
            hand_on(sink, exp_dir, entry, None);
        }
    }
}

/// Hands `entry` to `sink`, with the places `paths` (under `exp_dir`)
/// named in its outputs.
fn hand_on(
    sink: &crate::run::ResultSink,
    exp_dir: &Path,
    mut entry: crate::run::NodeResult,
    paths: Option<&BTreeMap<String, PathBuf>>,
) {
    for (name, path) in paths.into_iter().flatten() {
        if let Some(o) = entry.outputs.get_mut(name) {
            o.result = Some(path.strip_prefix(exp_dir).unwrap_or(path).display().to_string());
        }
    }
    sink(entry);
}

/// What the placing thread did.
#[derive(Default)]
struct Placed {
    dir: Option<ResultsDir>,
    /// Where each listed vertex's outputs were placed.
    paths: std::collections::HashMap<String, BTreeMap<String, PathBuf>>,
    /// Files placed (or found in place), listed or not.
    files: usize,
    /// Vertices that could not be placed: `finish` tries them once more
    /// and says why if that fails too.
    retry: Vec<ToPlace>,
    /// Vertices that could not be placed beyond those kept to retry.
    given_up: usize,
    errors: Vec<AppError>,
}

impl Placed {
    /// Vertices kept to place again, at most.
    const MAX_RETRIES: usize = 1000;

    /// Places `p` (and hands its entry to `sink` once placed), or gives it
    /// back, its entry still in it, with the reason it could not be placed.
    fn place(
        &mut self,
        dir: &mut ResultsDir,
        mut p: ToPlace,
        sink: Option<&crate::run::ResultSink>,
        exp_dir: &Path,
    ) -> Result<(), Box<(AppError, ToPlace)>> {
        let placed = dir.place_vertex(&p.vertex, &p.outputs);
        if let (Some(sink), Ok(paths)) = (sink, &placed)
            && let Some(entry) = p.entry.take()
        {
            hand_on(sink, exp_dir, entry, Some(paths));
        }
        match placed {
            Ok(paths) => {
                self.files += paths.len();
                if p.listed {
                    self.paths.insert(p.vertex, paths);
                }
                Ok(())
            }
            Err(e) => Err(Box::new((e, p))),
        }
    }
}

impl Placing {
    /// Opens `results/` and starts placing; each placed vertex's entry, if
    /// it comes with one, goes on to `sink`.
    pub fn start(exp: &Experiment, sink: Option<crate::run::ResultSink>) -> Placing {
        let root = exp.dir.join(RESULTS_DIR);
        let exp_dir = exp.dir.clone();
        let (tx, rx) = std::sync::mpsc::channel::<ToPlace>();
        let thread_sink = sink.clone();
        let thread = std::thread::Builder::new().name("phx-results".into()).spawn(move || {
            let sink = thread_sink.as_ref();
            let mut placed = Placed::default();
            let mut dir = match ResultsDir::open(&root, false) {
                Ok(d) => d,
                Err(e) => {
                    placed.errors.push(e);
                    // Received (their entries handed on unplaced), so that
                    // the run never waits.
                    for mut p in rx {
                        p.hand_on_unplaced(sink, &exp_dir);
                    }
                    return placed;
                }
            };
            for p in rx {
                if let Err(failed) = placed.place(&mut dir, p, sink, &exp_dir) {
                    // Kept for another try up to a bound (a results/ that
                    // cannot be written fails every vertex alike); the
                    // entry of one given up goes on without its places.
                    let (_, mut p) = *failed;
                    if placed.retry.len() < Placed::MAX_RETRIES {
                        placed.retry.push(p);
                    } else {
                        placed.given_up += 1;
                        p.hand_on_unplaced(sink, &exp_dir);
                    }
                }
            }
            placed.dir = Some(dir);
            placed
        });
        let unsent = std::sync::Mutex::new(Vec::new());
        match thread {
            Ok(t) => Placing { vertices: Some(tx), thread: Some(t), unsent, sink },
            // Without a thread, `finish` places everything itself.
            Err(_) => Placing { vertices: None, thread: None, unsent, sink },
        }
    }

    /// Places a vertex that succeeded: its outputs (objects of the store).
    /// `listed`: whether the run's result lists the vertex (and so names
    /// where its outputs were placed).
    /// `entry`: the vertex's entry, handed to the sink once placed.
    pub fn place(
        &self,
        vertex: &str,
        outputs: &[phx_runtime::scheduler::OutputInfo],
        listed: bool,
        entry: Option<crate::run::NodeResult>,
    ) {
        let mut outputs: Vec<Placeable> = outputs
            .iter()
            .map(|o| Placeable {
                name: o.name.clone(),
                kind: o.kind.clone(),
                object: o.path.clone(),
                written: written_name(&o.meta),
            })
            .collect();
        // In name order, as `phx results` places them (which output keeps
        // a shared file name depends on it).
        outputs.sort_by(|a, b| a.name.cmp(&b.name));
        let p = ToPlace { vertex: vertex.to_string(), outputs, listed, entry };
        let unsent = match &self.vertices {
            Some(tx) => tx.send(p).err().map(|e| e.0),
            None => Some(p),
        };
        if let Some(p) = unsent {
            // Placed by `finish`, which hands its entry on then.
            if let Ok(mut list) = self.unsent.lock() {
                list.push(p);
            }
        }
    }

    /// Waits for what was sent, places what could not be (every node that
    /// succeeded is placed once), names each listed output's place in
    /// `run`, places the report and, for a `complete` run, prunes
    /// instances the program's sweeps (`sweeps`, with their sizes) no
    /// longer have; saves the manifest.
    pub fn finish(
        mut self,
        exp: &Experiment,
        run: &mut RunResult,
        complete: bool,
        sweeps: &BTreeMap<&str, usize>,
    ) -> Vec<AppError> {
        self.vertices.take();
        let mut errors = Vec::new();
        let mut placed = match self.thread.take().map(|t| t.join()) {
            Some(Ok(placed)) => placed,
            Some(Err(_)) => {
                errors.push(not_placed("the thread placing results stopped"));
                Placed::default()
            }
            None => Placed::default(),
        };
        errors.append(&mut placed.errors);
        let unsent = self.unsent.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
        let pending: Vec<ToPlace> = std::mem::take(&mut placed.retry).into_iter().chain(unsent).collect();
        let opened = match placed.dir.take() {
            Some(d) => Ok(d),
            None if !errors.is_empty() => Err(Vec::new()),
            None => ResultsDir::open(&exp.dir.join(RESULTS_DIR), false).map_err(|e| vec![e]),
        };
        let mut dir = match opened {
            Ok(d) => d,
            Err(mut more) => {
                // Nowhere to place them: their entries go on as they are.
                for mut p in pending {
                    p.hand_on_unplaced(self.sink.as_ref(), &exp.dir);
                }
                errors.append(&mut more);
                return errors;
            }
        };
        let mut failed_again: usize = 0;
        for p in pending {
            if let Err(failed) = placed.place(&mut dir, p, self.sink.as_ref(), &exp.dir) {
                let (e, mut p) = *failed;
                // Its entry goes on without its places.
                p.hand_on_unplaced(self.sink.as_ref(), &exp.dir);
                failed_again += 1;
                if failed_again <= 10 {
                    errors.push(e);
                }
            }
        }
        let more = failed_again.saturating_sub(10) + placed.given_up;
        if more > 0 {
            let vertices = if more == 1 { "vertex" } else { "vertices" };
            errors.push(not_placed(&format!("{more} more {vertices} could not be placed")));
        }
        for node in run.nodes.iter_mut().filter(|n| n.status == NodeStatus::Succeeded) {
            for (name, path) in placed.paths.remove(&node.id).into_iter().flatten() {
                if let Some(o) = node.outputs.get_mut(&name) {
                    o.result = Some(exp.shown(&path));
                }
            }
        }
        run.placed_results = placed.files;
        if let Some(pdf) = &run.report
            && let Err(e) = dir.place_report(&exp.absolute(pdf))
        {
            errors.push(e);
        }
        if complete && run.status == crate::run::RunStatus::Succeeded {
            dir.prune_instances(sweeps);
        }
        if let Err(e) = dir.save() {
            errors.push(e);
        }
        errors
    }
}

impl Drop for Placing {
    /// Unfinished (the run ended in an error): what was placed is kept in
    /// the manifest, so that later runs know those files as phx's.
    fn drop(&mut self) {
        self.vertices.take();
        if let Some(Ok(placed)) = self.thread.take().map(|t| t.join())
            && let Some(dir) = placed.dir
        {
            let _ = dir.save();
        }
    }
}

/// `phx results [RUN] [-o DIR]`: places the outputs of run `run_id` (the
/// latest run when `None`) in `dir` (the experiment's `results/` when
/// `None`), by the same names a run gives them.
pub fn results(exp: &Experiment, run_id: Option<&str>, dir: Option<&Path>) -> AppResult<ResultsListing> {
    let run = match run_id {
        Some(id) => exp.run(id)?,
        None => {
            exp.settle_dead_runs();
            exp.store.db.runs()?.into_iter().next().ok_or_else(|| {
                AppError::usage(format!("no runs in {}", exp.dir.display()))
                    .with_help("run a program first: phx run FILE")
            })?
        }
    };
    let root = match dir {
        Some(d) if d.is_absolute() => d.to_path_buf(),
        Some(d) => std::env::current_dir().map(|c| c.join(d)).unwrap_or_else(|_| d.to_path_buf()),
        None => exp.dir.join(RESULTS_DIR),
    };
    let own = root == exp.dir.join(RESULTS_DIR);
    // The experiment's own results/ is written by runs: not while one is.
    let _lock = if own {
        Some(exp.store.try_lock()?.ok_or_else(|| {
            AppError::environment("phx::results", "a run is placing results in results/ now")
                .with_help("wait for it to finish, or place these elsewhere with -o DIR")
        })?)
    } else {
        None
    };
    let mut dir = ResultsDir::open(&root, !own)?;
    let record = crate::history::record(exp, &run.id)?;
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for (e, outputs) in &record.nodes {
        let status = NodeStatus::parse(&e.status).unwrap_or(NodeStatus::Failed);
        if status != NodeStatus::Succeeded {
            missing.push(MissingResult { vertex: e.vertex.clone(), status });
            continue;
        }
        let mut placeable = Vec::new();
        for o in outputs {
            let object = exp.store.objects.path(&o.sha256);
            if !object.is_file() {
                return Err(AppError::environment(
                    "phx::missing-object",
                    format!(
                        "the store no longer holds `{}.{}` ({})",
                        e.vertex,
                        o.name,
                        &o.sha256[..12.min(o.sha256.len())]
                    ),
                )
                .with_help("it was removed (phx store gc?); run the program again to recompute it"));
            }
            let meta = serde_json::from_str(&o.meta_json).unwrap_or(serde_json::Value::Null);
            placeable.push(Placeable {
                name: o.name.clone(),
                kind: o.kind.clone(),
                object,
                written: written_name(&meta),
            });
        }
        let placed = dir.place_vertex(&e.vertex, &placeable)?;
        for o in outputs {
            if let Some(path) = placed.get(&o.name) {
                files.push(ResultFile {
                    vertex: e.vertex.clone(),
                    output: o.name.clone(),
                    kind: o.kind.clone(),
                    sha256: o.sha256.clone(),
                    path: exp.shown(path),
                });
            }
        }
    }
    let pdf = exp.store.run_dir(&run.id).join("report.pdf");
    if pdf.is_file() {
        let dest = dir.place_report(&pdf)?;
        let sha = phx_store::hash_file(&pdf).map(|(s, _)| s).unwrap_or_default();
        files.push(ResultFile {
            vertex: "report".into(),
            output: "report".into(),
            kind: "Report".into(),
            sha256: sha,
            path: exp.shown(&dest),
        });
    }
    dir.save()?;
    Ok(ResultsListing { run_id: run.id, dir: exp.shown(&root), files, missing })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_get_a_folder_each() {
        assert_eq!(vertex_dir("slice"), PathBuf::from("slice"));
        assert_eq!(vertex_dir("orbital[3]"), PathBuf::from("orbital/3"));
    }

    #[test]
    fn extensions_come_from_the_bytes_then_the_kind() {
        assert_eq!(file_name("image", "Image", b"\x89PNG\r\n"), "image.png");
        assert_eq!(file_name("image_svg", "Svg", b"<svg xmlns"), "image.svg");
        assert_eq!(file_name("animation", "Animation", b"GIF89a"), "animation.gif");
        assert_eq!(file_name("movie", "Animation", b"\0\0\0\x18ftypisom"), "movie.mp4");
        assert_eq!(file_name("density", "Field3D", b"CDF\x02\0\0"), "density.nc");
        assert_eq!(file_name("radial", "Series", b"r,value\n0,1\n"), "radial.csv");
        assert_eq!(file_name("file", "File", b"# vtk DataFile Version 3.0"), "file.vtk");
        assert_eq!(file_name("file", "File", b"{\"asset\":{\"version\":\"2.0\"}}"), "file.gltf");
        assert_eq!(file_name("out.dat", "File", b"1 2 3"), "out.dat");
        assert_eq!(file_name("stdout", "String", b"hello"), "stdout.txt");
        assert_eq!(file_name("blob", "File", &[0xff, 0xfe, 0x00]), "blob.bin");
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("phx-results-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn object(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let mut perms = std::fs::metadata(&p).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&p, perms).unwrap();
        p
    }

    fn placeable(name: &str, kind: &str, object: &Path) -> Placeable {
        Placeable { name: name.into(), kind: kind.into(), object: object.to_path_buf(), written: None }
    }

    #[test]
    fn a_picture_and_its_svg_twin_placed_before_are_known_without_reading_them() {
        let d = scratch("twins");
        let png = object(&d, "png", b"\x89PNG....");
        let svg = object(&d, "svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>");
        let csv = object(&d, "csv", b"x\n1\n");
        let root = d.join("results");
        let mut dir = ResultsDir::open(&root, false).unwrap();
        let outputs = [
            placeable("image", "Image", &png),
            placeable("image_svg", "Svg", &svg),
            placeable("table", "Series", &csv),
        ];
        let placed = dir.place_vertex("p", &outputs).unwrap();
        assert_eq!(placed["image"], root.join("p/image.png"));
        assert_eq!(placed["image_svg"], root.join("p/image.svg"));
        // Known as placed, each to its own file, without reading an object.
        assert_eq!(dir.unchanged("p", &outputs), Some(placed.clone()));
        // A changed picture is not.
        let other = object(&d, "png2", b"\x89PNG....2");
        let changed = [placeable("image", "Image", &other), placeable("image_svg", "Svg", &svg)];
        assert_eq!(dir.unchanged("p", &changed), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_changed_result_replaces_the_link_and_leaves_the_old_object_alone() {
        let d = scratch("replace");
        let old = object(&d, "old", b"a,b\n1,2\n");
        let new = object(&d, "new", b"a,b\n3,4\n");
        let root = d.join("results");
        let mut dir = ResultsDir::open(&root, false).unwrap();
        let p = dir.place_vertex("fit", &[placeable("table", "Series", &old)]).unwrap();
        assert_eq!(p["table"], root.join("fit/table.csv"));
        assert!(same_file(&old, &p["table"]));
        dir.place_vertex("fit", &[placeable("table", "Series", &new)]).unwrap();
        assert_eq!(std::fs::read(root.join("fit/table.csv")).unwrap(), b"a,b\n3,4\n");
        assert_eq!(std::fs::read(&old).unwrap(), b"a,b\n1,2\n", "the old object is untouched");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn only_what_phx_placed_is_ever_removed() {
        let d = scratch("stale");
        let png = object(&d, "png", b"\x89PNG....");
        let csv = object(&d, "csv", b"x\n1\n");
        let root = d.join("results");
        let mut dir = ResultsDir::open(&root, false).unwrap();
        dir.place_vertex("n", &[placeable("image", "Image", &png), placeable("table", "Series", &csv)]).unwrap();
        dir.place_vertex("n[0]", &[placeable("image", "Image", &png)]).unwrap();
        std::fs::write(root.join("n/notes.txt"), "mine").unwrap();
        std::fs::write(root.join("n/0/notes.txt"), "mine too").unwrap();
        dir.place_vertex("n", &[placeable("image", "Image", &png)]).unwrap();
        assert!(root.join("n/image.png").is_file());
        assert!(!root.join("n/table.csv").exists(), "a stale output phx placed is removed");
        assert!(root.join("n/notes.txt").is_file(), "a person's file is not");
        dir.prune_instances(&BTreeMap::from([("m", 0)]));
        assert!(root.join("n/0/image.png").is_file(), "only the program's sweeps are pruned");
        dir.prune_instances(&BTreeMap::from([("n", 1)]));
        assert!(root.join("n/0/image.png").is_file(), "instances the sweep still has are kept");
        dir.prune_instances(&BTreeMap::from([("n", 0)]));
        assert!(!root.join("n/0/image.png").exists());
        assert!(root.join("n/0/notes.txt").is_file(), "and the folder stays while it holds a person's file");
        dir.save().unwrap();
        // The manifest carries this over to the next run.
        let mut again = ResultsDir::open(&root, false).unwrap();
        again.place_vertex("n", &[]).unwrap();
        assert!(!root.join("n/image.png").exists());
        assert!(root.join("n/notes.txt").is_file());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn files_written_under_one_name_each_keep_a_place() {
        let d = scratch("same-name");
        let a = object(&d, "a", b"first\n");
        let b = object(&d, "b", b"second\n");
        let c = object(&d, "c", b"third\n");
        let written = |name: &str, object: &Path, as_: &str| Placeable {
            written: Some(as_.to_string()),
            ..placeable(name, "File", object)
        };
        let root = d.join("results");
        let mut dir = ResultsDir::open(&root, false).unwrap();
        // Three outputs a command wrote as `stdout.txt` (in three folders);
        // the second's own name gives the same file name again.
        let outputs = [
            written("files#0", &a, "stdout.txt"),
            written("stdout", &b, "stdout.txt"),
            written("files#1", &c, "stdout.txt"),
        ];
        let placed = dir.place_vertex("s", &outputs).unwrap();
        let file = |name: &str| placed[name].file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            (file("files#0"), file("stdout"), file("files#1")),
            ("stdout.txt".into(), "stdout-2.txt".into(), "files#1.txt".into())
        );
        for (name, object) in [("files#0", &a), ("stdout", &b), ("files#1", &c)] {
            assert_eq!(std::fs::read(&placed[name]).unwrap(), std::fs::read(object).unwrap());
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn pruning_never_removes_through_a_link() {
        let d = scratch("prune-link");
        let png = object(&d, "png", b"\x89PNG....");
        let root = d.join("results");
        let mut dir = ResultsDir::open(&root, false).unwrap();
        for i in 0..3 {
            dir.place_vertex(&format!("n[{i}]"), &[placeable("image", "Image", &png)]).unwrap();
        }
        // Someone's folder put in place of instance 2's.
        let victim = d.join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("image.png"), "precious").unwrap();
        std::fs::remove_dir_all(root.join("n/2")).unwrap();
        std::os::unix::fs::symlink(&victim, root.join("n/2")).unwrap();
        dir.prune_instances(&BTreeMap::from([("n", 1)]));
        assert_eq!(std::fs::read_to_string(victim.join("image.png")).unwrap(), "precious");
        assert!(!root.join("n/1").exists(), "a real instance folder is pruned");
        assert!(root.join("n/0/image.png").is_file());
        dir.save().unwrap();
        let manifest = std::fs::read_to_string(root.join(MANIFEST)).unwrap();
        assert!(!manifest.contains("n/2/"), "and the link's entry is forgotten: {manifest}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn links_names_and_folders_that_are_not_phx_s_are_refused() {
        let d = scratch("refused");
        let png = object(&d, "png", b"\x89PNG....");
        let elsewhere = d.join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("thesis.tex"), "precious").unwrap();
        // A folder of someone else's, as -o: refused.
        assert!(ResultsDir::open(&elsewhere, true).is_err());
        // A link where a node's folder goes: refused, nothing written there.
        let root = d.join("results");
        std::os::unix::fs::symlink(&elsewhere, d.join("linked")).unwrap();
        assert!(ResultsDir::open(&d.join("linked"), false).is_err(), "results/ itself a link");
        let mut dir = ResultsDir::open(&root, false).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("a")).unwrap();
        assert!(dir.place_vertex("a", &[placeable("image", "Image", &png)]).is_err());
        // Nor a second time, nor for the instances of a sweep there.
        assert!(dir.place_vertex("a", &[placeable("image", "Image", &png)]).is_err());
        for i in 0..3 {
            assert!(dir.place_vertex(&format!("a[{i}]"), &[placeable("image", "Image", &png)]).is_err());
        }
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 1);
        // Ids and names from a store or a bundle that would leave the folder.
        for bad in ["../../x", "a/b", "a[../1]", "a[1]/..", ""] {
            assert!(dir.place_vertex(bad, &[placeable("image", "Image", &png)]).is_err(), "{bad}");
        }
        let sneaky = Placeable { written: Some("../escaped.sh".into()), ..placeable("files#0", "File", &png) };
        assert!(dir.place_vertex("b", &[sneaky]).is_err());
        assert!(!d.join("escaped.sh").exists());
        assert_eq!(written_name(&serde_json::json!({"path": "sub/x.csv"})).as_deref(), Some("x.csv"));
        assert_eq!(written_name(&serde_json::json!({"path": "sub/.."})), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
