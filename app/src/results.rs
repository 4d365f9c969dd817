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
    match vertex.split_once('[') {
        Some((name, rest)) => {
            let index = rest.trim_end_matches(']');
            let mut p = PathBuf::from(name);
            for part in index.split(',') {
                p.push(part.trim());
            }
            p
        }
        None => PathBuf::from(vertex),
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
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::environment("phx::results", format!("cannot {what} `{}`: {e}", path.display()))
        .with_help("results/ is written by phx after each run; check the folder's permissions and free space")
}

/// Puts `object` at `dest`, atomically: a hard link (or a read-only copy)
/// made beside it, renamed over whatever was there.
fn place_file(object: &Path, dest: &Path) -> AppResult<()> {
    if same_file(object, dest) {
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.phx-{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("result"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(object, &tmp).is_err() {
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
    })
}

/// Places one vertex's outputs in `root/<vertex dir>/`, replacing what an
/// earlier run left there: files of outputs the vertex no longer has are
/// removed (folders, which hold a sweep's instances, are kept). Returns
/// each output's path.
pub fn place_vertex(root: &Path, vertex: &str, outputs: &[Placeable]) -> AppResult<BTreeMap<String, PathBuf>> {
    let dir = root.join(vertex_dir(vertex));
    std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
    let mut placed = BTreeMap::new();
    let mut names = BTreeSet::new();
    for o in outputs {
        let head = head_of(&o.object).map_err(|e| io_error("read", &o.object, e))?;
        let mut file = file_name(&o.name, &o.kind, &head);
        // Two outputs that would share a file name (`image` and `image_svg`
        // of the same extension) keep their own names.
        if names.contains(&file) {
            file = format!("{}.{}", o.name, extension(&o.kind, &head));
        }
        names.insert(file.clone());
        let dest = dir.join(&file);
        place_file(&o.object, &dest)?;
        placed.insert(o.name.clone(), dest);
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file() || t.is_symlink());
            if is_file && !names.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(placed)
}

/// Removes the instance folders of sweeps that a complete run no longer
/// has (a sweep shortened from 9 instances to 5 leaves no `5/` to `8/`).
fn prune_instances(root: &Path, vertices: &[&str]) {
    let mut by_family: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for v in vertices {
        if let Some((name, rest)) = v.split_once('[') {
            let first = rest.trim_end_matches(']').split(',').next().unwrap_or("").trim().to_string();
            by_family.entry(name).or_default().insert(first);
        }
    }
    for (family, kept) in by_family {
        let Ok(entries) = std::fs::read_dir(root.join(family)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let numeric = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
            if numeric && entry.file_type().is_ok_and(|t| t.is_dir()) && !kept.contains(&name) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// After a run: places the outputs of every vertex that succeeded (ran or
/// came from the cache) under the experiment's `results/`, and records
/// each output's result path in `run`. Failed vertices keep the results
/// of their last success.
pub fn materialize(exp: &Experiment, run: &mut RunResult, complete: bool) -> AppResult<()> {
    let root = exp.dir.join(RESULTS_DIR);
    for node in run.nodes.iter_mut().filter(|n| n.status == NodeStatus::Succeeded) {
        let outputs: Vec<Placeable> = node
            .outputs
            .iter()
            .map(|(name, o)| Placeable { name: name.clone(), kind: o.kind.clone(), object: exp.absolute(&o.path) })
            .filter(|p| p.object.is_file())
            .collect();
        let placed = place_vertex(&root, &node.id, &outputs)?;
        for (name, path) in placed {
            if let Some(o) = node.outputs.get_mut(&name) {
                o.result = Some(exp.shown(&path));
            }
        }
    }
    if let Some(pdf) = &run.report {
        std::fs::create_dir_all(&root).map_err(|e| io_error("create", &root, e))?;
        place_file(&exp.absolute(pdf), &root.join("report.pdf"))?;
    }
    if complete && run.status == crate::run::RunStatus::Succeeded {
        let ids: Vec<&str> = run.nodes.iter().map(|n| n.id.as_str()).collect();
        prune_instances(&root, &ids);
    }
    Ok(())
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
            placeable.push(Placeable { name: o.name.clone(), kind: o.kind.clone(), object });
        }
        let placed = place_vertex(&root, &e.vertex, &placeable)?;
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
        std::fs::create_dir_all(&root).map_err(|e| io_error("create", &root, e))?;
        let dest = root.join("report.pdf");
        place_file(&pdf, &dest)?;
        let sha = phx_store::hash_file(&pdf).map(|(s, _)| s).unwrap_or_default();
        files.push(ResultFile {
            vertex: "report".into(),
            output: "report".into(),
            kind: "Report".into(),
            sha256: sha,
            path: exp.shown(&dest),
        });
    }
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

    #[test]
    fn a_changed_result_replaces_the_link_and_leaves_the_old_object_alone() {
        let d = scratch("replace");
        let old = object(&d, "old", b"a,b\n1,2\n");
        let new = object(&d, "new", b"a,b\n3,4\n");
        let root = d.join("results");
        let p = place_vertex(
            &root,
            "fit",
            &[Placeable { name: "table".into(), kind: "Series".into(), object: old.clone() }],
        )
        .unwrap();
        assert_eq!(p["table"], root.join("fit/table.csv"));
        assert!(same_file(&old, &p["table"]));
        place_vertex(&root, "fit", &[Placeable { name: "table".into(), kind: "Series".into(), object: new.clone() }])
            .unwrap();
        assert_eq!(std::fs::read(root.join("fit/table.csv")).unwrap(), b"a,b\n3,4\n");
        assert_eq!(std::fs::read(&old).unwrap(), b"a,b\n1,2\n", "the old object is untouched");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn outputs_a_vertex_no_longer_has_are_removed_but_instance_folders_stay() {
        let d = scratch("stale");
        let png = object(&d, "png", b"\x89PNG....");
        let csv = object(&d, "csv", b"x\n1\n");
        let root = d.join("results");
        place_vertex(
            &root,
            "n",
            &[
                Placeable { name: "image".into(), kind: "Image".into(), object: png.clone() },
                Placeable { name: "table".into(), kind: "Series".into(), object: csv },
            ],
        )
        .unwrap();
        place_vertex(&root, "n[0]", &[Placeable { name: "image".into(), kind: "Image".into(), object: png.clone() }])
            .unwrap();
        place_vertex(&root, "n", &[Placeable { name: "image".into(), kind: "Image".into(), object: png }]).unwrap();
        assert!(root.join("n/image.png").is_file());
        assert!(!root.join("n/table.csv").exists());
        assert!(root.join("n/0/image.png").is_file());
        prune_instances(&root, &["m"]);
        assert!(root.join("n/0").is_dir(), "only families seen in the run are pruned");
        prune_instances(&root, &["n[1]"]);
        assert!(!root.join("n/0").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
