//! The graphics contract's metadata, completed from the bytes: whatever a
//! tool recorded of an output, a picture says its size (`mesh`, `samples`,
//! `dtype`), an animation its frame size, a table its rows and columns. A
//! tool that forgot one of them cannot break the contract.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value as Json, json};

/// Adds the keys `meta` lacks for an output of `kind` at `path`; keys the
/// tool set are kept.
pub fn complete(kind: &str, path: &Path, meta: &mut Map<String, Json>) {
    match kind {
        "Image" | "Animation" => {
            let Some(head) = head(path, 32) else { return };
            if let Some((w, h, dtype)) = png_size(&head) {
                add(meta, "dtype", json!(dtype));
                add(meta, "mesh", json!([w, h]));
                add(meta, "samples", json!(u64::from(w) * u64::from(h)));
            } else if let Some((w, h)) = gif_size(&head) {
                add(meta, "dtype", json!("rgb8"));
                add(meta, "mesh", json!([w, h]));
                let frames = meta.get("frames").and_then(Json::as_u64).unwrap_or(1);
                let samples = (u64::from(w) * u64::from(h)).saturating_mul(frames);
                meta.entry("samples".to_string()).or_insert(json!(samples));
            }
        }
        "Svg" => add(meta, "dtype", json!("svg")),
        "Series" => {
            if meta.contains_key("samples") && meta.contains_key("dtype") {
                return;
            }
            if let Some((columns, rows)) = table_shape(path) {
                add(meta, "dtype", json!("csv"));
                add(meta, "samples", json!(rows));
                add(meta, "columns", json!(columns));
            }
        }
        _ => {}
    }
}

/// A CSV table's columns and number of non-empty rows, read in bounded
/// pieces (a table may be gigabytes; only its header is kept).
fn table_shape(path: &Path) -> Option<(Vec<String>, u64)> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).ok()?);
    let mut header = Vec::new();
    // At most 64 KiB of header: a longer first line is not a table's.
    (&mut reader).take(1 << 16).read_until(b'\n', &mut header).ok()?;
    if header.last() != Some(&b'\n') && header.len() == 1 << 16 {
        return None;
    }
    let header = std::str::from_utf8(&header).ok()?.trim();
    let columns = header.split(',').map(|c| c.trim().to_string()).collect();
    let (mut rows, mut blank_line) = (0u64, true);
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        for b in buf {
            match b {
                b'\n' => {
                    rows += u64::from(!blank_line);
                    blank_line = true;
                }
                b' ' | b'\t' | b'\r' => {}
                _ => blank_line = false,
            }
        }
        let n = buf.len();
        reader.consume(n);
    }
    Some((columns, rows + u64::from(!blank_line)))
}

fn add(meta: &mut Map<String, Json>, key: &str, value: Json) {
    meta.entry(key.to_string()).or_insert(value);
}

fn head(path: &Path, n: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    std::fs::File::open(path).ok()?.take(n as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// Width, height and sample type from a PNG's IHDR chunk.
fn png_size(b: &[u8]) -> Option<(u32, u32, &'static str)> {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") || b.len() < 26 || &b[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(b[20..24].try_into().ok()?);
    let dtype = match (b[24], b[25]) {
        (8, 0) => "gray8",
        (8, 2) => "rgb8",
        (8, 4) => "graya8",
        (8, 6) => "rgba8",
        (16, 2) => "rgb16",
        (16, 6) => "rgba16",
        (_, 3) => "indexed",
        _ => "png",
    };
    Some((w, h, dtype))
}

/// The logical screen size of a GIF.
fn gif_size(b: &[u8]) -> Option<(u16, u16)> {
    if !b.starts_with(b"GIF8") || b.len() < 10 {
        return None;
    }
    Some((u16::from_le_bytes([b[6], b[7]]), u16::from_le_bytes([b[8], b[9]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_tables_and_animations_say_their_size() {
        let dir = std::env::temp_dir().join(format!("phx-contract-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("a.png");
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend_from_slice(&640u32.to_be_bytes());
        bytes.extend_from_slice(&480u32.to_be_bytes());
        bytes.extend_from_slice(&[8, 2, 0, 0, 0]);
        std::fs::write(&png, &bytes).unwrap();
        let mut m = Map::new();
        complete("Image", &png, &mut m);
        assert_eq!(Json::Object(m), json!({"dtype": "rgb8", "mesh": [640, 480], "samples": 307200}));

        let gif = dir.join("a.gif");
        std::fs::write(&gif, b"GIF89a\x80\0\x40\0rest").unwrap();
        let mut m = Map::new();
        m.insert("frames".into(), json!(10));
        complete("Animation", &gif, &mut m);
        assert_eq!(m["mesh"], json!([128, 64]));
        assert_eq!(m["samples"], json!(128 * 64 * 10));

        let csv = dir.join("t.csv");
        std::fs::write(&csv, "x,y\n1,2\n3,4\n\n").unwrap();
        let mut m = Map::new();
        m.insert("samples".into(), json!(99));
        complete("Series", &csv, &mut m);
        assert_eq!(m["samples"], json!(99), "what the tool said is kept");
        assert_eq!(m["columns"], json!(["x", "y"]));

        // Bytes that are not what the kind says: nothing is made up.
        std::fs::write(&png, b"not a png").unwrap();
        let mut m = Map::new();
        complete("Image", &png, &mut m);
        assert!(m.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
