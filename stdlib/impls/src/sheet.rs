//! `plot.contact_sheet`: several images side by side on one page, each
//! labelled with the node output it came from (`slices[3].image`), as a
//! PNG and as an SVG that embeds the same pictures.

use std::fmt::Write as _;

use image::{RgbImage, imageops};
use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use plotters::prelude::*;

use crate::common::arg;

/// Room above each tile for its label, in pixels.
const LABEL: u32 = 24;
/// Space between tiles, in pixels.
const GAP: u32 = 8;
/// Tiles wider than this are scaled down, so a sheet stays a sane size.
const MAX_TILE: u32 = 480;

/// Standard base64 (RFC 4648), for images embedded in the SVG.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The layout: tile size and the sheet's size for `count` tiles.
fn layout(tiles: &[RgbImage], columns: u32) -> (u32, u32, u32, u32) {
    let tile_w = tiles.iter().map(RgbImage::width).max().unwrap_or(1);
    let tile_h = tiles.iter().map(RgbImage::height).max().unwrap_or(1);
    let count = tiles.len() as u32;
    let cols = columns.min(count).max(1);
    let rows = count.div_ceil(cols);
    let width = GAP + cols * (tile_w + GAP);
    let height = GAP + rows * (tile_h + LABEL + GAP);
    (tile_w, tile_h, width, height)
}

/// `plot.contact_sheet(images, columns)`.
pub struct ContactSheet;

impl Tool for ContactSheet {
    fn code_version(&self) -> String {
        crate::code_version("plot.contact_sheet")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let staged = inv.inputs.get("images").map(Vec::as_slice).unwrap_or_default();
            if staged.is_empty() {
                return Err(ToolError::failed("the contact sheet has no images"));
            }
            let columns = arg(&inv, "columns")?.as_int().unwrap_or(4).clamp(1, 64) as u32;
            let mut tiles = Vec::with_capacity(staged.len());
            let mut encoded = Vec::with_capacity(staged.len());
            for s in staged {
                let bytes = std::fs::read(inv.work_dir.join(&s.path))
                    .map_err(|e| ToolError::failed(format!("cannot read `{}`: {e}", s.reference)))?;
                let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
                    .map_err(|e| ToolError::failed(format!("`{}` is not a PNG image: {e}", s.reference)))?
                    .to_rgb8();
                let img = if img.width() > MAX_TILE {
                    let h = (img.height() as u64 * MAX_TILE as u64 / img.width() as u64).max(1) as u32;
                    imageops::resize(&img, MAX_TILE, h, imageops::FilterType::Triangle)
                } else {
                    img
                };
                let mut png = Vec::new();
                img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                    .map_err(|e| ToolError::failed(format!("cannot encode a tile: {e}")))?;
                encoded.push(png);
                tiles.push(img);
            }
            let (tile_w, tile_h, width, height) = layout(&tiles, columns);
            let origin = |k: usize| {
                let (col, row) =
                    (k as u32 % columns.min(tiles.len() as u32), k as u32 / columns.min(tiles.len() as u32));
                (GAP + col * (tile_w + GAP), GAP + row * (tile_h + LABEL + GAP))
            };
            let mut sheet = RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
            for (k, tile) in tiles.iter().enumerate() {
                let (x, y) = origin(k);
                imageops::replace(&mut sheet, tile, x as i64, (y + LABEL) as i64);
            }
            // Labels drawn with the embedded font, on the composed pixels.
            crate::plot::fonts();
            {
                let buffer: &mut [u8] = &mut sheet;
                let root = BitMapBackend::with_buffer(buffer, (width, height)).into_drawing_area();
                for (k, s) in staged.iter().enumerate() {
                    let (x, y) = origin(k);
                    root.draw(&Text::new(
                        s.reference.clone(),
                        (x as i32 + 2, y as i32 + 4),
                        ("sans-serif", 15).into_font(),
                    ))
                    .map_err(|e| ToolError::failed(format!("cannot draw a label: {e}")))?;
                }
                root.present().map_err(|e| ToolError::failed(format!("cannot draw the labels: {e}")))?;
            }
            let png_path = inv.work_dir.join("sheet.png");
            sheet.save(&png_path).map_err(|e| ToolError::failed(format!("cannot write the sheet: {e}")))?;
            let mut svg = format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            );
            for (k, (s, (png, tile))) in staged.iter().zip(encoded.iter().zip(&tiles)).enumerate() {
                let (x, y) = origin(k);
                let label = s.reference.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
                let _ = writeln!(
                    svg,
                    "<text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"15\">{label}</text>\n<image x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\" href=\"data:image/png;base64,{}\"/>",
                    x + 2,
                    y + 17,
                    y + LABEL,
                    tile.width(),
                    tile.height(),
                    base64(png)
                );
            }
            svg.push_str("</svg>\n");
            let svg_path = inv.work_dir.join("sheet.svg");
            std::fs::write(&svg_path, svg).map_err(|e| ToolError::failed(format!("cannot write the SVG: {e}")))?;
            let mut outputs = crate::plot::image_output(&inv, "image", &png_path, Some(&svg_path))?;
            outputs[0].meta = serde_json::json!({"tiles": tiles.len(), "columns": columns, "mesh": [width, height], "dtype": "rgb8", "samples": (width * height) as u64});
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn nine_tiles_in_three_columns_make_a_three_by_three_sheet() {
        let tiles = vec![RgbImage::new(100, 80); 9];
        let (w, h, width, height) = layout(&tiles, 3);
        assert_eq!((w, h), (100, 80));
        assert_eq!(width, GAP + 3 * (100 + GAP));
        assert_eq!(height, GAP + 3 * (80 + LABEL + GAP));
        let (_, _, one_row, _) = layout(&tiles[..2], 4);
        assert_eq!(one_row, GAP + 2 * (100 + GAP), "fewer images than columns: no empty columns");
    }
}
