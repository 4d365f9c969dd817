//! Files streamed from disk, whole or by byte range (RFC 9110 §14): a
//! download holds one small buffer, never the file.

use std::io::SeekFrom;
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The bytes a download sends at a time.
const CHUNK: usize = 64 * 1024;

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Wanted {
    /// The whole file (no range, or one this server does not take: several
    /// ranges or another unit, which the RFC allows a server to ignore).
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// A range that lies outside the file (416).
    Unsatisfiable,
}

/// Reads the `Range` header.
pub fn wanted(range: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else { return Wanted::Whole };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Wanted::Whole };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    match (first.is_empty(), last.is_empty()) {
        // `-N`: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(n) if len > 0 => Wanted::Part { start: len.saturating_sub(n), end: len - 1 },
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::Whole,
        },
        // `A-`: from A to the end.
        (false, true) => match number(first) {
            Some(a) if a < len => Wanted::Part { start: a, end: len - 1 },
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::Whole,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a <= b && a < len => Wanted::Part { start: a, end: b.min(len - 1) },
            (Some(a), Some(b)) if a <= b => Wanted::Unsatisfiable,
            _ => Wanted::Whole,
        },
        (true, true) => Wanted::Whole,
    }
}

/// The content type of a file from its first bytes (and, for a table, its
/// kind).
pub fn sniff(kind: &str, head: &[u8]) -> &'static str {
    let head = &head[..head.len().min(64)];
    if head.starts_with(b"\x89PNG") {
        "image/png"
    } else if head.starts_with(b"GIF8") {
        "image/gif"
    } else if head.len() > 8 && &head[4..8] == b"ftyp" {
        "video/mp4"
    } else if head.starts_with(b"<svg") || head.starts_with(b"<?xml") {
        "image/svg+xml"
    } else if head.starts_with(b"%PDF") {
        "application/pdf"
    } else if head.starts_with(b"CDF\x01") || head.starts_with(b"CDF\x02") {
        // NetCDF classic and 64-bit offset: the files of fields.
        "application/x-netcdf"
    } else if kind == "Series" {
        "text/csv; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// Streams the file at `path` as the request's `Range` asks; the content
/// type is `content_type` or, when `None`, sniffed from the first bytes
/// (`kind` is the artifact's kind). `None` when the file cannot be opened.
pub async fn stream(
    path: &Path,
    request: &HeaderMap,
    content_type: Option<&'static str>,
    kind: &str,
) -> Option<Response> {
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let len = meta.len();
    let content_type = match content_type {
        Some(t) => t,
        None => {
            let mut head = [0u8; 64];
            let mut got = 0;
            while got < head.len() {
                match file.read(&mut head[got..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            file.seek(SeekFrom::Start(0)).await.ok()?;
            sniff(kind, &head[..got])
        }
    };
    let range = request.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, count) = match wanted(range, len) {
        Wanted::Whole => (StatusCode::OK, 0, len),
        Wanted::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Wanted::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Some(r);
        }
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await.ok()?;
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file.take(count), CHUNK));
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&count.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_the_rfc_says() {
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-9"), 100), Wanted::Part { start: 0, end: 9 });
        assert_eq!(wanted(Some("bytes=90-"), 100), Wanted::Part { start: 90, end: 99 });
        assert_eq!(wanted(Some("bytes=-10"), 100), Wanted::Part { start: 90, end: 99 });
        assert_eq!(wanted(Some("bytes=-500"), 100), Wanted::Part { start: 0, end: 99 });
        assert_eq!(wanted(Some("bytes=50-5000"), 100), Wanted::Part { start: 50, end: 99 });
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=200-300"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
        // Forms a server may ignore: served whole.
        assert_eq!(wanted(Some("bytes=0-1,5-6"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("items=0-1"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=9-1"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=+1-2"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=99999999999999999999-"), 100), Wanted::Whole);
    }

    #[test]
    fn content_types_come_from_the_bytes() {
        assert_eq!(sniff("", b"\x89PNG\r\n"), "image/png");
        assert_eq!(sniff("", b"%PDF-1.7"), "application/pdf");
        assert_eq!(sniff("Series", b"x,y\n1,2"), "text/csv; charset=utf-8");
        assert_eq!(sniff("Field3D", b"CDF\x01\x00\x00\x00\x00"), "application/x-netcdf");
        assert_eq!(sniff("Field2D", b"CDF\x02\x00\x00\x00\x00"), "application/x-netcdf");
        assert_eq!(sniff("Field", b"PHXFIELD 1"), "application/octet-stream");
    }
}
