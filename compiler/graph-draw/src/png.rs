//! The layout rasterised to PNG with tiny-skia; text drawn with an
//! embedded font (DejaVu Sans Mono from typst-assets), so nothing depends
//! on the machine's fonts.

use std::collections::HashMap;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use phx_dag::Dag;
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, StrokeDash, Transform};

use crate::layout::{Layout, layout};
use crate::{namespace_color, state_color};

const SCALE: f32 = 2.0;

fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let mut fallback = None;
        for data in typst_assets::fonts() {
            if let Ok(f) = FontRef::try_from_slice(data) {
                let is_mono = f.glyph_id('m') != ab_glyph::GlyphId(0) && {
                    let s = f.as_scaled(PxScale::from(10.0));
                    (s.h_advance(f.glyph_id('i')) - s.h_advance(f.glyph_id('m'))).abs() < 0.01
                };
                if is_mono {
                    return Some(f);
                }
                fallback.get_or_insert(f);
            }
        }
        fallback
    })
    .as_ref()
}

fn paint(rgb: (u8, u8, u8)) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(rgb.0, rgb.1, rgb.2, 255);
    p.anti_alias = true;
    p
}

fn rounded_rect(x: f32, y: f32, w: f32, h: f32, r: f32) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    pb.move_to(x + r, y);
    pb.line_to(x + w - r, y);
    pb.quad_to(x + w, y, x + w, y + r);
    pb.line_to(x + w, y + h - r);
    pb.quad_to(x + w, y + h, x + w - r, y + h);
    pb.line_to(x + r, y + h);
    pb.quad_to(x, y + h, x, y + h - r);
    pb.line_to(x, y + r);
    pb.quad_to(x, y, x + r, y);
    pb.close();
    pb.finish()
}

fn text_width(text: &str, size: f32) -> f32 {
    let Some(f) = font() else { return 0.0 };
    let scaled = f.as_scaled(PxScale::from(size));
    text.chars().map(|c| scaled.h_advance(f.glyph_id(c))).sum()
}

fn draw_text(pm: &mut Pixmap, text: &str, cx: f32, baseline: f32, size: f32, rgb: (u8, u8, u8)) {
    let Some(f) = font() else { return };
    let scaled = f.as_scaled(PxScale::from(size));
    let width: f32 = text.chars().map(|c| scaled.h_advance(f.glyph_id(c))).sum();
    let mut x = cx - width / 2.0;
    let (w, h) = (pm.width() as i32, pm.height() as i32);
    let data = pm.data_mut();
    for c in text.chars() {
        let gid = f.glyph_id(c);
        let glyph = gid.with_scale_and_position(PxScale::from(size), ab_glyph::point(x, baseline));
        x += scaled.h_advance(gid);
        if let Some(outlined) = f.outline_glyph(glyph) {
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, cov| {
                let px = bounds.min.x as i32 + gx as i32;
                let py = bounds.min.y as i32 + gy as i32;
                if px < 0 || py < 0 || px >= w || py >= h {
                    return;
                }
                let i = ((py * w + px) * 4) as usize;
                let a = cov.clamp(0.0, 1.0);
                for (k, c) in [rgb.0, rgb.1, rgb.2].into_iter().enumerate() {
                    let old = f32::from(data[i + k]);
                    data[i + k] = (old * (1.0 - a) + f32::from(c) * a).round() as u8;
                }
                data[i + 3] = 255;
            });
        }
    }
}

/// The longest side of a PNG, in pixels.
pub const MAX_SIDE: f32 = 8_000.0;

/// The DAG as PNG bytes, every node `planned`.
pub fn to_png(dag: &Dag) -> Result<Vec<u8>, String> {
    to_png_with_states(dag, &HashMap::new())
}

/// The DAG as PNG bytes, each node filled by its state. A graph too large
/// to draw legibly is refused with the reason.
pub fn to_png_with_states(dag: &Dag, states: &HashMap<String, String>) -> Result<Vec<u8>, String> {
    let l = layout(dag);
    render(&l, states)
}

fn render(l: &Layout, states: &HashMap<String, String>) -> Result<Vec<u8>, String> {
    // Large graphs are drawn smaller, down to a quarter of full size.
    let scale = SCALE.min(MAX_SIDE / l.width.max(1.0)).min(MAX_SIDE / l.height.max(1.0));
    if scale < 0.25 {
        return Err(format!(
            "the graph ({} nodes, {:.0} by {:.0} points) is too large for a legible PNG; draw it as SVG",
            l.boxes.len(),
            l.width,
            l.height
        ));
    }
    let mut pm = Pixmap::new((l.width * scale).ceil().max(1.0) as u32, (l.height * scale).ceil().max(1.0) as u32)
        .ok_or_else(|| "cannot allocate the image".to_string())?;
    pm.fill(Color::WHITE);
    let t = Transform::from_scale(scale, scale);
    let edge_paint = paint((0x66, 0x66, 0x77));
    for e in &l.edges {
        let mut pb = PathBuilder::new();
        let (sx, sy) = e.points[0];
        pb.move_to(sx, sy);
        let last = e.points.len() - 1;
        for (i, w) in e.points.windows(2).enumerate() {
            let ((x1, y1), (x2, y2)) = (w[0], w[1]);
            // Stop short of the arrow head on the last piece.
            let x2 = if i + 1 == last { x2 - 6.0 } else { x2 };
            if (y1 - y2).abs() < 0.1 {
                pb.line_to(x2, y2);
            } else {
                let dx = (x2 - x1) / 2.0;
                pb.cubic_to(x1 + dx, y1, x2 - dx, y2, x2, y2);
            }
        }
        if let Some(path) = pb.finish() {
            let mut stroke = Stroke { width: 1.4, ..Stroke::default() };
            if e.label.is_none() {
                stroke.dash = StrokeDash::new(vec![5.0, 4.0], 0.0);
            }
            pm.stroke_path(&path, &edge_paint, &stroke, t, None);
        }
        let (x2, y2) = e.points[last];
        let mut head = PathBuilder::new();
        head.move_to(x2, y2);
        head.line_to(x2 - 8.0, y2 - 4.0);
        head.line_to(x2 - 8.0, y2 + 4.0);
        head.close();
        if let Some(path) = head.finish() {
            pm.fill_path(&path, &edge_paint, FillRule::Winding, t, None);
        }
        if let Some(label) = &e.label {
            // Just right of the source, above the line, as in the SVG.
            let (x1, y1) = e.points[0];
            let half = text_width(label, 10.0 * scale) / 2.0;
            draw_text(&mut pm, label, (x1 + 6.0) * scale + half, (y1 - 5.0) * scale, 10.0 * scale, (0x55, 0x55, 0x66));
        }
    }
    for b in &l.boxes {
        let state = states.get(&b.id).map_or("planned", String::as_str);
        let accent = namespace_color(&b.tool);
        if let Some(path) = rounded_rect(b.x, b.y, b.w, b.h, 7.0) {
            pm.fill_path(&path, &paint(state_color(state)), FillRule::Winding, t, None);
            pm.stroke_path(&path, &paint(accent), &Stroke { width: 1.6, ..Stroke::default() }, t, None);
        }
        if let Some(r) = Rect::from_xywh(b.x + 1.0, b.y + 6.0, 5.0, b.h - 12.0) {
            pm.fill_rect(r, &paint(accent), t, None);
        }
        draw_text(&mut pm, &b.id, (b.x + b.w / 2.0) * scale, (b.y + 19.0) * scale, 12.0 * scale, (0x22, 0x22, 0x22));
        draw_text(&mut pm, &b.tool, (b.x + b.w / 2.0) * scale, (b.y + 35.0) * scale, 11.0 * scale, accent);
    }
    pm.encode_png().map_err(|e| format!("cannot encode the PNG: {e}"))
}
