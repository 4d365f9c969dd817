//! `plot.contact_sheet`: several images side by side on one page, each
//! labelled with the node output it came from (`slices[3].image`), as a
//! PNG and as an SVG that embeds the same pictures.

use image::{RgbImage, imageops};
use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};

use crate::common::arg;
use crate::figure::{Anchor, Figure, Rgb, Rich};

/// Room above each tile for its label, in pixels, at the least.
const LABEL: u32 = 24;
/// Space between tiles, in pixels.
const GAP: u32 = 8;
/// Tiles wider than this are scaled down, so a sheet stays a sane size.
const MAX_TILE: u32 = 480;

/// The labels' size for a sheet `width` pixels wide: a report sets a sheet
/// across the text (465 pt), where they print at 9 pt, the caption's size.
fn label_size(width: u32) -> f64 {
    (0.02 * f64::from(width)).max(15.0)
}

/// The layout: tile size and the sheet's size for `count` tiles, with
/// `label` pixels above each tile for its label.
fn layout(tiles: &[RgbImage], columns: u32, label: u32) -> (u32, u32, u32, u32) {
    let tile_w = tiles.iter().map(RgbImage::width).max().unwrap_or(1);
    let tile_h = tiles.iter().map(RgbImage::height).max().unwrap_or(1);
    let count = tiles.len() as u32;
    let cols = columns.min(count).max(1);
    let rows = count.div_ceil(cols);
    let width = GAP + cols * (tile_w + GAP);
    let height = GAP + rows * (tile_h + label + GAP);
    (tile_w, tile_h, width, height)
}

/// The sheet: each tile (label, raster, its PNG) under its label, in rows
/// of `columns`. One drawing: the SVG embeds the tiles, the PNG is that
/// SVG rasterised pixel for pixel, labels in the embedded font.
pub fn sheet_figure(tiles: &[(String, RgbImage, Vec<u8>)], columns: u32) -> Figure {
    let images: Vec<RgbImage> = tiles.iter().map(|t| t.1.clone()).collect();
    let (_, _, width, _) = layout(&images, columns, LABEL);
    let size = label_size(width);
    let band = ((size * 1.6).ceil() as u32).max(LABEL);
    let (tile_w, tile_h, width, height) = layout(&images, columns, band);
    let per_row = columns.min(tiles.len() as u32).max(1);
    let mut fig = Figure::new(f64::from(width), f64::from(height));
    for (k, (label, tile, png)) in tiles.iter().enumerate() {
        let (col, row) = (k as u32 % per_row, k as u32 / per_row);
        let (x, y) = (GAP + col * (tile_w + GAP), GAP + row * (tile_h + band + GAP));
        let baseline = f64::from(y) + f64::from(band) - size * 0.45;
        fig.text(f64::from(x + 2), baseline, &Rich::plain(label.clone()), size, Anchor::Start, 0.0, Rgb::INK);
        fig.image(f64::from(x), f64::from(y + band), f64::from(tile.width()), f64::from(tile.height()), png);
    }
    fig
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
            let labelled: Vec<(String, RgbImage, Vec<u8>)> = staged
                .iter()
                .zip(tiles.into_iter().zip(encoded))
                .map(|(s, (tile, png))| (s.reference.clone(), tile, png))
                .collect();
            let fig = sheet_figure(&labelled, columns);
            let (width, height) = (fig.width as u32, fig.height as u32);
            let mut outputs = crate::plot::figure_outputs_at(&inv, "image", &fig, 1.0)?;
            outputs[0].meta = serde_json::json!({"tiles": labelled.len(), "columns": columns, "mesh": [width, height], "dtype": "rgb8", "samples": (width * height) as u64});
            Ok(Produced { outputs, device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_tiles_in_three_columns_make_a_three_by_three_sheet() {
        let tiles = vec![RgbImage::new(100, 80); 9];
        let (w, h, width, height) = layout(&tiles, 3, LABEL);
        assert_eq!((w, h), (100, 80));
        assert_eq!(width, GAP + 3 * (100 + GAP));
        assert_eq!(height, GAP + 3 * (80 + LABEL + GAP));
        let (_, _, one_row, _) = layout(&tiles[..2], 4, LABEL);
        assert!(
            label_size(GAP + 3 * (480 + GAP)) * 465.0 / f64::from(GAP + 3 * (480 + GAP)) >= 9.0,
            "labels print at 9 pt"
        );
        assert_eq!(one_row, GAP + 2 * (100 + GAP), "fewer images than columns: no empty columns");
    }
}
