//! Thumbnails of image attachments.

use phx_store::Store;

/// The longest side of a thumbnail, in pixels.
const SIDE: u32 = 160;

/// A PNG thumbnail of the image object `sha256`, stored, by hash; `None`
/// when the object is not an image this can read.
pub fn of(store: &Store, sha256: &str) -> Option<String> {
    // Objects have no file extension: read the format from the bytes.
    let img = image::io::Reader::open(store.objects.path(sha256)).ok()?.with_guessed_format().ok()?.decode().ok()?;
    let thumb = img.thumbnail(SIDE, SIDE);
    let mut bytes = Vec::new();
    thumb.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageOutputFormat::Png).ok()?;
    store.objects.put_bytes(&bytes).ok()
}

/// A PNG thumbnail of PNG (or other image) bytes, the longest side at most
/// `side` pixels; `None` when the bytes are not an image this can read.
pub fn thumbnail_png(bytes: &[u8], side: u32) -> Option<Vec<u8>> {
    let img = image::load_from_memory(bytes).ok()?;
    let thumb = if img.width() <= side && img.height() <= side { img } else { img.thumbnail(side, side) };
    let mut out = Vec::new();
    thumb.write_to(&mut std::io::Cursor::new(&mut out), image::ImageOutputFormat::Png).ok()?;
    Some(out)
}
