//! The typst `World` of one report: the generated main source and the
//! files it names (figures, the bibliography), all in memory. Fonts are the
//! ones embedded in typst-assets; nothing is read from the disk or fetched.

use std::collections::HashMap;
use std::sync::OnceLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_kit::fonts::FontStore;

/// The embedded fonts, loaded once per process (parsing them takes tens of
/// milliseconds, and every report uses the same ones).
fn fonts() -> &'static FontStore {
    static FONTS: OnceLock<FontStore> = OnceLock::new();
    FONTS.get_or_init(|| {
        let mut store = FontStore::new();
        store.extend(typst_kit::fonts::embedded());
        store
    })
}

fn library() -> &'static LazyHash<Library> {
    static LIBRARY: OnceLock<LazyHash<Library>> = OnceLock::new();
    LIBRARY.get_or_init(|| LazyHash::new(Library::default()))
}

/// The file id of a project path such as `figures/slice.svg`.
pub fn file_id(path: &str) -> Option<FileId> {
    VirtualPath::new(path).ok().map(|vp| RootedPath::new(VirtualRoot::Project, vp).intern())
}

/// A document's sources and files, in memory.
pub struct ReportWorld {
    main: Source,
    files: HashMap<FileId, Bytes>,
    today: Option<(i32, u8, u8)>,
}

impl ReportWorld {
    /// A world whose main file is `main.typ` with `source`, and `files` at
    /// their project paths. `today` is the date the document prints.
    pub fn new(source: String, files: Vec<(String, Vec<u8>)>, today: Option<(i32, u8, u8)>) -> ReportWorld {
        let main_id = file_id("main.typ").expect("`main.typ` is a valid path");
        let files = files.into_iter().filter_map(|(path, bytes)| Some((file_id(&path)?, Bytes::new(bytes)))).collect();
        ReportWorld { main: Source::new(main_id, source), files, today }
    }

    /// The main source (for mapping a diagnostic's span to a line).
    pub fn main_source(&self) -> &Source {
        &self.main
    }
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        library()
    }

    fn book(&self) -> &LazyHash<FontBook> {
        fonts().book()
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            return Ok(self.main.clone());
        }
        let bytes = self.file(id)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| FileError::InvalidUtf8)?;
        Ok(Source::new(id, text.to_string()))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.clone()));
        }
        self.files.get(&id).cloned().ok_or_else(|| FileError::NotFound(id.vpath().get_without_slash().into()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        fonts().font(index)
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        let (y, m, d) = self.today?;
        Datetime::from_ymd(y, m, d)
    }
}
