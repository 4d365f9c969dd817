//! One description of a picture, two files: every plot is drawn once as
//! SVG (shapes, rich text, embedded rasters) and the PNG is that same SVG
//! rasterised by resvg, with the font phx ships (Libertinus Serif, the
//! report's own face: proportional, kerned, with Greek and super- and
//! subscripts), never the machine's fonts. So the PNG shows exactly what
//! the SVG says, and the same bytes come out on every machine.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use resvg::tiny_skia;
use resvg::usvg;

/// The family every picture's text asks for; the SVG falls back to any
/// serif face where it is opened without it.
pub const FAMILY: &str = "Libertinus Serif";

/// A colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const WHITE: Rgb = Rgb(255, 255, 255);
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    /// The text and frame colour: near black, softer on screen.
    pub const INK: Rgb = Rgb(0x22, 0x22, 0x22);
    pub const GREY: Rgb = Rgb(0x99, 0x99, 0x99);

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// The colour mixed with `other` (t = 0: self, t = 1: other).
    pub fn mix(self, other: Rgb, t: f64) -> Rgb {
        let m = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t.clamp(0.0, 1.0)).round() as u8;
        Rgb(m(self.0, other.0), m(self.1, other.1), m(self.2, other.2))
    }
}

/// Where a piece of text sits relative to its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    Normal,
    Super,
    Sub,
}

/// A run of text in one style.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub text: String,
    pub italic: bool,
    pub shift: Shift,
}

/// Text with math: italic variables, raised and lowered runs.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Rich(pub Vec<Span>);

/// How much smaller a raised or lowered run is than its line.
const SCRIPT: f64 = 0.7;

impl Rich {
    /// Upright text as it is.
    pub fn plain(text: impl Into<String>) -> Rich {
        Rich(vec![Span { text: text.into(), italic: false, shift: Shift::Normal }])
    }

    /// Appends a run.
    pub fn push(&mut self, text: impl Into<String>, italic: bool, shift: Shift) {
        let text = text.into();
        if text.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.italic == italic && last.shift == shift => last.text.push_str(&text),
            _ => self.0.push(Span { text, italic, shift }),
        }
    }

    /// Appends another rich text.
    pub fn append(&mut self, other: &Rich) {
        for s in &other.0 {
            self.push(s.text.clone(), s.italic, s.shift);
        }
    }

    /// The characters without styles (what a search in the SVG finds).
    pub fn text(&self) -> String {
        self.0.iter().map(|s| s.text.as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|s| s.text.is_empty())
    }

    /// The advance width at `size`, from the embedded faces' metrics.
    pub fn width(&self, size: f64) -> f64 {
        let m = metrics();
        self.0
            .iter()
            .map(|s| {
                let scale = if s.shift == Shift::Normal { size } else { size * SCRIPT };
                s.text.chars().map(|c| m.advance(c, s.italic)).sum::<f64>() * scale
            })
            .sum()
    }
}

/// The embedded faces: regular and italic, with their metrics.
struct Metrics {
    regular: ttf_parser::Face<'static>,
    italic: ttf_parser::Face<'static>,
    db: Arc<usvg::fontdb::Database>,
}

impl Metrics {
    /// A character's advance in ems (half an em for what the face lacks).
    fn advance(&self, c: char, italic: bool) -> f64 {
        let face = if italic { &self.italic } else { &self.regular };
        let per_em = f64::from(face.units_per_em().max(1));
        face.glyph_index(c).and_then(|g| face.glyph_hor_advance(g)).map_or(0.5, |a| f64::from(a) / per_em)
    }
}

/// The face of `typst_assets` whose PostScript name is `name`.
fn face_named(name: &str) -> Option<&'static [u8]> {
    typst_assets::fonts().find(|data| {
        ttf_parser::Face::parse(data, 0).is_ok_and(|f| {
            f.names()
                .into_iter()
                .any(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME && n.to_string().is_some_and(|s| s == name))
        })
    })
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        // Both faces ship inside phx (typst-assets); their absence would be
        // a broken build, not a user's mistake.
        let regular = face_named("LibertinusSerif-Regular").expect("typst-assets ships Libertinus Serif");
        let italic = face_named("LibertinusSerif-Italic").unwrap_or(regular);
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(regular.to_vec());
        db.load_font_data(italic.to_vec());
        // Generic names resolve to the same face, never to the machine's.
        db.set_serif_family(FAMILY);
        db.set_sans_serif_family(FAMILY);
        db.set_monospace_family(FAMILY);
        Metrics {
            regular: ttf_parser::Face::parse(regular, 0).expect("Libertinus Serif parses"),
            italic: ttf_parser::Face::parse(italic, 0).expect("Libertinus Serif Italic parses"),
            db: Arc::new(db),
        }
    })
}

/// How a text is aligned on its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// Escapes text for SVG.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Short decimal text for coordinates (two decimals, no trailing zeros).
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// A picture being drawn: its size in SVG units and its elements.
pub struct Figure {
    pub width: f64,
    pub height: f64,
    defs: String,
    body: String,
    ids: usize,
}

impl Figure {
    /// An empty white picture.
    pub fn new(width: f64, height: f64) -> Figure {
        let mut f = Figure { width, height, defs: String::new(), body: String::new(), ids: 0 };
        f.rect(0.0, 0.0, width, height, Some(Rgb::WHITE), None);
        f
    }

    fn id(&mut self, what: &str) -> String {
        self.ids += 1;
        format!("{what}{}", self.ids)
    }

    /// A rectangle, filled and/or outlined.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: Option<Rgb>, stroke: Option<(Rgb, f64)>) {
        let _ = writeln!(
            self.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"{}/>",
            n(x),
            n(y),
            n(w),
            n(h),
            paint(fill, stroke)
        );
    }

    /// An open line through `points`; `dash` is an SVG dash array.
    pub fn polyline(&mut self, points: &[(f64, f64)], color: Rgb, width: f64, dash: Option<&str>) {
        if points.len() < 2 {
            return;
        }
        let dash = dash.map(|d| format!(" stroke-dasharray=\"{d}\"")).unwrap_or_default();
        let _ = writeln!(
            self.body,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\" stroke-linecap=\"round\"{dash}/>",
            points_text(points),
            color.hex(),
            n(width)
        );
    }

    /// A straight segment.
    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), color: Rgb, width: f64) {
        let _ = writeln!(
            self.body,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>",
            n(a.0),
            n(a.1),
            n(b.0),
            n(b.1),
            color.hex(),
            n(width)
        );
    }

    /// A closed polygon.
    pub fn polygon(&mut self, points: &[(f64, f64)], fill: Option<Rgb>, stroke: Option<(Rgb, f64)>) {
        let _ = writeln!(
            self.body,
            "<polygon points=\"{}\"{} stroke-linejoin=\"round\"/>",
            points_text(points),
            paint(fill, stroke)
        );
    }

    /// A circle.
    pub fn circle(&mut self, c: (f64, f64), r: f64, fill: Option<Rgb>, stroke: Option<(Rgb, f64)>) {
        let _ =
            writeln!(self.body, "<circle cx=\"{}\" cy=\"{}\" r=\"{}\"{}/>", n(c.0), n(c.1), n(r), paint(fill, stroke));
    }

    /// Text whose baseline starts (or centres, or ends) at `(x, y)`, turned
    /// by `rotate` degrees about that point.
    #[allow(clippy::too_many_arguments)]
    pub fn text(&mut self, x: f64, y: f64, text: &Rich, size: f64, anchor: Anchor, rotate: f64, color: Rgb) {
        if text.is_empty() {
            return;
        }
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let turn = if rotate != 0.0 {
            format!(" transform=\"rotate({} {} {})\"", n(rotate), n(x), n(y))
        } else {
            String::new()
        };
        let _ = write!(
            self.body,
            "<text x=\"{}\" y=\"{}\" font-family=\"{FAMILY}, serif\" font-size=\"{}\" text-anchor=\"{anchor}\" fill=\"{}\" xml:space=\"preserve\"{turn}>",
            n(x),
            n(y),
            n(size),
            color.hex()
        );
        // Raised and lowered runs move the baseline by dy, which is
        // relative: the run after one moves it back.
        let mut back = 0.0;
        for s in &text.0 {
            let dy = match s.shift {
                Shift::Normal => 0.0,
                Shift::Super => -0.36 * size,
                Shift::Sub => 0.2 * size,
            };
            let mut attrs = String::new();
            if s.italic {
                attrs.push_str(" font-style=\"italic\"");
            }
            if back + dy != 0.0 {
                let _ = write!(attrs, " dy=\"{}\"", n(back + dy));
            }
            if s.shift != Shift::Normal {
                let _ = write!(attrs, " font-size=\"{}\"", n(size * SCRIPT));
            }
            back = -dy;
            if attrs.is_empty() {
                self.body.push_str(&escape(&s.text));
            } else {
                let _ = write!(self.body, "<tspan{attrs}>{}</tspan>", escape(&s.text));
            }
        }
        self.body.push_str("</text>\n");
    }

    /// An RGB raster stretched over a rectangle (smoothly interpolated).
    pub fn image(&mut self, x: f64, y: f64, w: f64, h: f64, png: &[u8]) {
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let _ = writeln!(
            self.body,
            "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"none\" href=\"data:image/png;base64,{data}\"/>",
            n(x),
            n(y),
            n(w),
            n(h)
        );
    }

    /// A rectangle filled with a gradient: `stops` (offset in [0, 1],
    /// colour) from the bottom up when `vertical`, else left to right.
    pub fn gradient_rect(&mut self, x: f64, y: f64, w: f64, h: f64, stops: &[(f64, Rgb)], vertical: bool) {
        let id = self.id("g");
        let (x2, y1) = if vertical { ("0", "1") } else { ("1", "0") };
        let _ = write!(self.defs, "<linearGradient id=\"{id}\" x1=\"0\" y1=\"{y1}\" x2=\"{x2}\" y2=\"0\">");
        for (t, c) in stops {
            let _ = write!(self.defs, "<stop offset=\"{}\" stop-color=\"{}\"/>", n(*t), c.hex());
        }
        self.defs.push_str("</linearGradient>\n");
        let _ = writeln!(
            self.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#{id})\"/>",
            n(x),
            n(y),
            n(w),
            n(h)
        );
    }

    /// What is drawn until [`Figure::end_clip`] shows only inside the rectangle.
    pub fn begin_clip(&mut self, x: f64, y: f64, w: f64, h: f64) {
        let id = self.id("c");
        let _ = writeln!(
            self.defs,
            "<clipPath id=\"{id}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
            n(x),
            n(y),
            n(w),
            n(h)
        );
        let _ = writeln!(self.body, "<g clip-path=\"url(#{id})\">");
    }

    /// Ends the innermost clip.
    pub fn end_clip(&mut self) {
        self.body.push_str("</g>\n");
    }

    /// Opens a group with an opacity (closed by [`Figure::end_group`]).
    pub fn begin_group(&mut self, opacity: f64) {
        let _ = writeln!(self.body, "<g opacity=\"{}\">", n(opacity));
    }

    /// Ends a group.
    pub fn end_group(&mut self) {
        self.body.push_str("</g>\n");
    }

    /// The SVG document.
    pub fn svg(&self) -> String {
        let (w, h) = (n(self.width), n(self.height));
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n<defs>\n{}</defs>\n{}</svg>\n",
            self.defs, self.body
        )
    }

    /// The same picture as PNG (RGB), `scale` pixels per SVG unit.
    pub fn png(&self, scale: f64) -> Result<Vec<u8>, String> {
        svg_to_png(&self.svg(), scale)
    }
}

/// Rasterises an SVG with the embedded fonts: `scale` pixels per unit;
/// RGB on white, encoded deterministically.
pub fn svg_to_png(svg: &str, scale: f64) -> Result<Vec<u8>, String> {
    let m = metrics();
    let options = usvg::Options { fontdb: m.db.clone(), font_family: FAMILY.to_string(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("cannot read the SVG: {e}"))?;
    let size = tree.size();
    let (w, h) = (
        ((f64::from(size.width()) * scale).round() as u32).max(1),
        ((f64::from(size.height()) * scale).round() as u32).max(1),
    );
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or_else(|| format!("cannot make a {w} by {h} picture"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale as f32, scale as f32), &mut pixmap.as_mut());
    // Opaque on white: premultiplied RGBA is RGB with alpha 255.
    let rgb: Vec<u8> = pixmap.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    encode_png(w, h, rgb)
}

/// PNG bytes of an RGB raster.
pub fn encode_png(w: u32, h: u32, rgb: Vec<u8>) -> Result<Vec<u8>, String> {
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or("the raster has the wrong size")?;
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageOutputFormat::Png)
        .map_err(|e| format!("cannot encode the PNG: {e}"))?;
    Ok(out)
}

fn paint(fill: Option<Rgb>, stroke: Option<(Rgb, f64)>) -> String {
    let mut s = match fill {
        Some(c) => format!(" fill=\"{}\"", c.hex()),
        None => " fill=\"none\"".to_string(),
    };
    if let Some((c, w)) = stroke {
        let _ = write!(s, " stroke=\"{}\" stroke-width=\"{}\"", c.hex(), n(w));
    }
    s
}

fn points_text(points: &[(f64, f64)]) -> String {
    points.iter().map(|(x, y)| format!("{},{}", n(*x), n(*y))).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_faces_are_proportional() {
        let narrow = Rich::plain("iiii").width(10.0);
        let wide = Rich::plain("MMMM").width(10.0);
        assert!(wide > 2.0 * narrow, "{narrow} {wide}");
        assert!(Rich::plain("ψ").width(10.0) > 0.0);
    }

    #[test]
    fn a_picture_rasterises_the_same_every_time() {
        let mut f = Figure::new(60.0, 30.0);
        f.text(4.0, 20.0, &Rich::plain("20.0 ψ"), 14.0, Anchor::Start, 0.0, Rgb::INK);
        let a = f.png(1.0).unwrap();
        assert_eq!(a, f.png(1.0).unwrap());
        let img = image::load_from_memory(&a).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (60, 30));
        assert!(img.pixels().any(|p| p.0[0] < 100), "the text is drawn");
        assert!(f.svg().contains("20.0 ψ"));
    }
}
