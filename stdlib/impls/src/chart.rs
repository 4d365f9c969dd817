//! 2D charts on a [`Figure`]: round ticks with one shared exponent, axis
//! labels with units, a colour bar and a legend, laid out so that every
//! word stays inside the picture; and the colour maps.
//!
//! Sizes are for the page: a figure is [`WIDTH`] units wide and the report
//! sets it 72% of A4's text width (335 pt), so a unit is 0.7 pt and the
//! smallest text ([`TICK`], 13.5 units) prints at 9.4 pt, no smaller than
//! the caption under it (9 pt).

use crate::figure::{Anchor, Figure, Rgb, Rich, Shift};
use crate::typeset;

/// The width of a chart, in SVG units.
pub const WIDTH: f64 = 480.0;
/// The width of a chart drawn as one panel of a sweep: narrower, so that
/// set two across the report's page its text still prints at the
/// caption's size.
pub const PANEL_WIDTH: f64 = 300.0;

/// The width to draw at: [`PANEL_WIDTH`] for an instance of a sweep (shown
/// beside its siblings), else [`WIDTH`].
pub fn width_for(sweep_instance: bool) -> f64 {
    if sweep_instance { PANEL_WIDTH } else { WIDTH }
}

/// Tick labels and legend entries.
pub const TICK: f64 = 13.5;
/// Axis labels.
pub const LABEL: f64 = 14.5;
/// Titles.
pub const TITLE: f64 = 16.0;
/// PNG pixels per SVG unit: crisp on screens, and still a small file.
pub const PNG_SCALE: f64 = 2.0;
/// Space around everything.
const PAD: f64 = 8.0;

/// Matplotlib's default cycle (tab10), which readers know.
pub const LINE_COLORS: [Rgb; 8] = [
    Rgb(0x1f, 0x77, 0xb4),
    Rgb(0xd6, 0x27, 0x28),
    Rgb(0x2c, 0xa0, 0x2c),
    Rgb(0xff, 0x7f, 0x0e),
    Rgb(0x94, 0x67, 0xbd),
    Rgb(0x8c, 0x56, 0x4b),
    Rgb(0xe3, 0x77, 0xc2),
    Rgb(0x17, 0xbe, 0xcf),
];

/// Viridis at 33 evenly spaced points (matplotlib's table, CC0).
const VIRIDIS: [(u8, u8, u8); 33] = [
    (68, 1, 84),
    (71, 13, 96),
    (72, 24, 106),
    (72, 35, 116),
    (71, 45, 123),
    (69, 55, 129),
    (66, 64, 134),
    (62, 73, 137),
    (59, 82, 139),
    (55, 91, 141),
    (51, 99, 141),
    (47, 107, 142),
    (44, 114, 142),
    (41, 122, 142),
    (38, 130, 142),
    (35, 137, 142),
    (33, 145, 140),
    (31, 152, 139),
    (31, 160, 136),
    (34, 167, 133),
    (40, 174, 128),
    (50, 182, 122),
    (63, 188, 115),
    (78, 195, 107),
    (94, 201, 98),
    (112, 207, 87),
    (132, 212, 75),
    (152, 216, 62),
    (173, 220, 48),
    (194, 223, 35),
    (216, 226, 25),
    (236, 229, 27),
    (253, 231, 37),
];

/// A diverging blue-white-red map (ColorBrewer's RdBu, reversed): white
/// is zero, blue negative, red positive.
const RDBU: [(u8, u8, u8); 17] = [
    (5, 48, 97),
    (23, 82, 144),
    (42, 113, 178),
    (63, 142, 192),
    (107, 172, 209),
    (155, 201, 224),
    (194, 221, 236),
    (224, 236, 243),
    (247, 246, 246),
    (251, 229, 216),
    (251, 204, 180),
    (245, 170, 137),
    (228, 128, 102),
    (208, 85, 72),
    (186, 40, 50),
    (147, 14, 38),
    (103, 0, 31),
];

fn interpolate(table: &[(u8, u8, u8)], t: f64) -> Rgb {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let f = t * (table.len() - 1) as f64;
    let i = (f.floor() as usize).min(table.len() - 2);
    let (a, b) = (table[i], table[i + 1]);
    Rgb(a.0, a.1, a.2).mix(Rgb(b.0, b.1, b.2), f - i as f64)
}

/// Viridis at t in [0, 1].
pub fn viridis(t: f64) -> Rgb {
    interpolate(&VIRIDIS, t)
}

/// The diverging map at t in [0, 1] (0.5 is white).
pub fn diverging(t: f64) -> Rgb {
    interpolate(&RDBU, t)
}

/// How values become colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorScale {
    pub lo: f64,
    pub hi: f64,
    /// Logarithmic: colours by decades of the magnitude.
    pub log: bool,
    /// Blue-white-red about zero, with symmetric limits.
    pub signed: bool,
}

impl ColorScale {
    /// The scale for these values: diverging about zero when they have
    /// both signs (beyond rounding), viridis otherwise; `log` colours the
    /// magnitude by decades, down to eight decades below the largest.
    pub fn auto(values: &[f64], log: bool) -> ColorScale {
        let (lo, hi) = range(values.iter().copied());
        if !lo.is_finite() {
            return ColorScale { lo: 0.0, hi: 1.0, log: false, signed: false };
        }
        if log {
            let top = values.iter().map(|v| v.abs()).filter(|v| v.is_finite()).fold(0.0, f64::max);
            if top > 0.0 {
                let smallest =
                    values.iter().map(|v| v.abs()).filter(|v| v.is_finite() && *v > 0.0).fold(f64::INFINITY, f64::min);
                let lo = smallest.max(top * 1e-8);
                let hi = if lo < top { top } else { top * 10.0 };
                return ColorScale { lo, hi, log: true, signed: false };
            }
        }
        let size = lo.abs().max(hi.abs());
        if lo < 0.0 && hi > 0.0 && lo.abs().min(hi) > 1e-6 * size {
            return ColorScale { lo: -size, hi: size, log: false, signed: true };
        }
        let hi = if hi > lo { hi } else { lo + if lo == 0.0 { 1.0 } else { lo.abs() * 1e-3 } };
        ColorScale { lo, hi, log: false, signed: false }
    }

    /// Where `v` falls, from 0 to 1.
    pub fn t(&self, v: f64) -> f64 {
        if self.log {
            let v = v.abs().max(self.lo);
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    /// The colour of `v`.
    pub fn color(&self, v: f64) -> Rgb {
        let t = self.t(v);
        if self.signed { diverging(t) } else { viridis(t) }
    }

    /// Gradient stops for the colour bar.
    pub fn stops(&self) -> Vec<(f64, Rgb)> {
        (0..=32)
            .map(|k| f64::from(k) / 32.0)
            .map(|t| (t, if self.signed { diverging(t) } else { viridis(t) }))
            .collect()
    }

    /// The axis the colour bar shows.
    pub fn scale(&self) -> Scale {
        Scale { lo: self.lo, hi: self.hi, log: self.log }
    }
}

/// The finite minimum and maximum (infinities when there is none).
pub fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)))
}

/// A data range mapped onto an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
}

impl Scale {
    /// A linear scale.
    pub fn linear(lo: f64, hi: f64) -> Scale {
        Scale { lo, hi, log: false }
    }

    /// Where `v` falls from lo (0) to hi (1).
    pub fn t(&self, v: f64) -> f64 {
        if self.log {
            (v.max(f64::MIN_POSITIVE).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    fn ticks(&self, target: usize) -> Ticks {
        if self.log { log_ticks(self.lo, self.hi) } else { linear_ticks(self.lo, self.hi, target) }
    }
}

/// A labelled tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub at: f64,
    pub label: Rich,
}

/// An axis's ticks: labelled ones, minor ones, and the power of ten their
/// labels share (shown once, at the axis's end).
#[derive(Clone, Debug, PartialEq)]
pub struct Ticks {
    pub major: Vec<Tick>,
    pub minor: Vec<f64>,
    pub exponent: Option<i32>,
}

/// `×10⁻³`.
pub fn times_ten(e: i32) -> Rich {
    let mut r = Rich::plain("×10");
    r.push(typeset::minus(&e.to_string()).chars().map(superscript_char).collect::<String>(), false, Shift::Normal);
    r
}

/// `10⁻³`.
fn power_of_ten(e: i32) -> Rich {
    let mut r = Rich::plain("10");
    r.push(typeset::minus(&e.to_string()).chars().map(superscript_char).collect::<String>(), false, Shift::Normal);
    r
}

fn superscript_char(c: char) -> char {
    typeset::superscript(c).unwrap_or(c)
}

/// Ticks at round numbers (steps of 1, 2 or 5 times a power of ten), about
/// `target` of them; labels with the same number of decimals, a true minus
/// sign, and a shared power of ten when the numbers are very small or large.
pub fn linear_ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    let raw = (hi - lo) / target.max(2) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    // The 1-2-5 step whose tick count is nearest `target` + 1 (the larger
    // step on a tie: fewer, calmer numbers).
    let count = |s: f64| ((hi / s + 1e-9).floor() - (lo / s - 1e-9).ceil() + 1.0).max(0.0);
    let want = (target + 1) as f64;
    let step = [0.5, 1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .min_by(|a, b| (count(*a) - want).abs().total_cmp(&(count(*b) - want).abs()).then(b.total_cmp(a)))
        .unwrap_or(mag);
    let mag = if step < mag { mag / 10.0 } else { mag };
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let values: Vec<f64> = (first..=last).map(|k| k as f64 * step).collect();
    let top = values.iter().fold(0f64, |a, v| a.max(v.abs()));
    let exponent = if top > 0.0 && !(1e-2..1e4).contains(&top) { Some(top.log10().floor() as i32) } else { None };
    let unit = 10f64.powi(exponent.unwrap_or(0));
    let decimals = (-((step / unit).log10() + 1e-9).floor()).max(0.0) as usize;
    let major = values
        .iter()
        .map(|v| {
            let text = format!("{:.decimals$}", v / unit);
            // -0.0 prints as "-0": zero has no sign.
            let text = if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
                text.trim_start_matches('-').to_string()
            } else {
                text
            };
            Tick { at: *v, label: Rich::plain(typeset::minus(&text)) }
        })
        .collect();
    // Minor ticks: a step of 1 or 5 in fifths, a step of 2 in quarters.
    let per = if (step / mag - 2.0).abs() < 1e-9 { 4.0 } else { 5.0 };
    let minor_step = step / per;
    let m_first = (lo / minor_step - 1e-9).ceil() as i64;
    let m_last = (hi / minor_step + 1e-9).floor() as i64;
    let minor = (m_first..=m_last)
        .map(|k| k as f64 * minor_step)
        .filter(|m| values.iter().all(|v| (v - m).abs() > minor_step * 1e-6))
        .collect();
    Ticks { major, minor, exponent }
}

/// Ticks of a logarithmic axis: every decade as 10ⁿ (thinned to at most
/// eight), minor ticks at 2..9; inside one decade, 1-2-5 numbers instead.
pub fn log_ticks(lo: f64, hi: f64) -> Ticks {
    let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
    if b - a < 1 {
        // Less than two decade ticks: round numbers read better.
        let mut t = linear_ticks(lo, hi, 4);
        t.minor.clear();
        t.major.retain(|tick| tick.at > 0.0);
        return t;
    }
    let every = ((b - a) / 7 + 1).max(1);
    let major =
        (a..=b).filter(|e| (e - a) % every == 0).map(|e| Tick { at: 10f64.powi(e), label: power_of_ten(e) }).collect();
    let mut minor = Vec::new();
    if every == 1 {
        for e in (a - 1)..=b {
            for m in 2..10 {
                let v = f64::from(m) * 10f64.powi(e);
                if v >= lo && v <= hi {
                    minor.push(v);
                }
            }
        }
    }
    Ticks { major, minor, exponent: None }
}

/// What a chart shows along one axis.
#[derive(Clone, Debug)]
pub struct AxisSpec {
    pub scale: Scale,
    pub label: Rich,
}

/// What is to be laid out.
pub struct ChartSpec {
    pub title: Option<Rich>,
    pub x: AxisSpec,
    pub y: AxisSpec,
    /// Height over width of the plotting area (a map keeps its shape);
    /// `None` makes a 4:3 picture.
    pub aspect: Option<f64>,
    /// A colour bar on the right.
    pub colorbar: Option<(ColorScale, Rich)>,
    /// Ticks point out of the frame (over a heat map) rather than in.
    pub ticks_out: bool,
    /// The picture's width in SVG units ([`WIDTH`], or [`PANEL_WIDTH`]).
    pub width: f64,
}

/// A laid-out chart: the picture, its plotting area and its ticks.
pub struct Chart {
    pub fig: Figure,
    /// The plotting area: left, top, right, bottom.
    pub area: (f64, f64, f64, f64),
    pub x: Scale,
    pub y: Scale,
    xt: Ticks,
    yt: Ticks,
    spec: ChartSpec,
    bar: Option<(f64, Ticks)>,
}

/// Where a legend entry's sample is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample {
    Line(Rgb),
    Marker(Rgb),
    LineMarker(Rgb),
    /// Text only (a fitted parameter).
    None,
}

/// Half the height of digits above the baseline: text centred on a tick.
fn middle(size: f64) -> f64 {
    0.33 * size
}

fn widest(ticks: &Ticks, size: f64) -> f64 {
    ticks.major.iter().map(|t| t.label.width(size)).fold(0.0, f64::max)
}

impl Chart {
    /// Lays a chart out: margins from the widths of its labels.
    pub fn new(spec: ChartSpec) -> Chart {
        let yt = spec.y.scale.ticks(6);
        let bar = spec.colorbar.as_ref().map(|(cs, _)| cs.scale().ticks(6));
        let tick_gap = if spec.ticks_out { 8.0 } else { 6.0 };
        let left = PAD + LABEL * 1.05 + 8.0 + widest(&yt, TICK) + tick_gap;
        let bar_band = bar.as_ref().map_or(0.0, |t| {
            let exponent = t.exponent.map_or(0.0, |e| times_ten(e).width(TICK) - 14.0 - 5.0);
            18.0 + 14.0 + 5.0 + widest(t, TICK).max(exponent) + 10.0 + LABEL * 1.05 + PAD
        });
        let top = match &spec.title {
            Some(_) => PAD + TITLE * 1.25 + 12.0,
            None => PAD + 14.0,
        }
        .max(if yt.exponent.is_some() || bar.as_ref().is_some_and(|b| b.exponent.is_some()) {
            30.0
        } else {
            0.0
        });
        let bottom = tick_gap + TICK * 0.9 + 10.0 + LABEL * 1.05 + PAD;
        // The x ticks need the plotting width; a first guess, then fewer
        // ticks while their labels would touch.
        let right_guess = if bar_band > 0.0 { bar_band } else { PAD + 12.0 };
        let width = spec.width;
        let plot_w = width - left - right_guess;
        let mut target = 6;
        let mut xt = spec.x.scale.ticks(target);
        while target > 2 && !spec.x.scale.log {
            let need: f64 = xt.major.iter().map(|t| t.label.width(TICK) + 24.0).sum();
            if need <= plot_w {
                break;
            }
            target -= 1;
            xt = spec.x.scale.ticks(target);
        }
        // The last x label is centred on its tick: room for its right half.
        let last_half = xt.major.last().map_or(0.0, |t| {
            let at = spec.x.scale.t(t.at);
            (t.label.width(TICK) / 2.0 - (1.0 - at) * plot_w).max(0.0)
        });
        let right = if bar_band > 0.0 { bar_band } else { (PAD + 12.0).max(last_half + PAD) };
        let plot_w = width - left - right;
        let plot_h = match spec.aspect {
            Some(a) => plot_w * a.clamp(0.35, 1.6),
            None => width * 0.75 - top - bottom,
        };
        let height = top + plot_h + bottom;
        let area = (left, top, left + plot_w, top + plot_h);
        let (x, y) = (spec.x.scale, spec.y.scale);
        let bar = bar.map(|t| (left + plot_w + 18.0, t));
        Chart { fig: Figure::new(width, height), area, x, y, xt, yt, spec, bar }
    }

    /// A data point's position in the picture.
    pub fn px(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let (l, t, r, b) = self.area;
        (l + self.x.t(x) * (r - l), b - self.y.t(y) * (b - t))
    }

    /// Whether a data point lies inside the axes' ranges.
    pub fn inside(&self, (x, y): (f64, f64)) -> bool {
        let (tx, ty) = (self.x.t(x), self.y.t(y));
        (-1e-9..=1.0 + 1e-9).contains(&tx) && (-1e-9..=1.0 + 1e-9).contains(&ty)
    }

    /// What is drawn until [`Chart::end_clip`] stays inside the plotting area.
    pub fn clip(&mut self) {
        let (l, t, r, b) = self.area;
        self.fig.begin_clip(l, t, r - l, b - t);
    }

    pub fn end_clip(&mut self) {
        self.fig.end_clip();
    }

    /// The frame, ticks, tick labels, axis labels, shared exponents, title
    /// and colour bar: drawn last, over the data.
    pub fn finish(mut self) -> Figure {
        let (l, t, r, b) = self.area;
        let ink = Rgb::INK;
        let out = self.spec.ticks_out;
        let (major, minor) = if out { (-5.0, -2.5) } else { (5.0, 2.5) };
        // x ticks on the bottom (and mirrored on top when inward).
        for tick in &self.xt.major {
            let x = l + self.x.t(tick.at) * (r - l);
            self.fig.line((x, b), (x, b - major), ink, 0.8);
            if !out {
                self.fig.line((x, t), (x, t + major), ink, 0.8);
            }
            let gap = if out { 8.0 } else { 6.0 };
            self.fig.text(x, b + gap + TICK * 0.72, &tick.label, TICK, Anchor::Middle, 0.0, ink);
        }
        for m in &self.xt.minor {
            let x = l + self.x.t(*m) * (r - l);
            self.fig.line((x, b), (x, b - minor), ink, 0.6);
            if !out {
                self.fig.line((x, t), (x, t + minor), ink, 0.6);
            }
        }
        for tick in &self.yt.major {
            let y = b - self.y.t(tick.at) * (b - t);
            self.fig.line((l, y), (l + major, y), ink, 0.8);
            if !out {
                self.fig.line((r, y), (r - major, y), ink, 0.8);
            }
            let gap = if out { 8.0 } else { 6.0 };
            self.fig.text(l - gap, y + middle(TICK), &tick.label, TICK, Anchor::End, 0.0, ink);
        }
        for m in &self.yt.minor {
            let y = b - self.y.t(*m) * (b - t);
            self.fig.line((l, y), (l + minor, y), ink, 0.6);
            if !out {
                self.fig.line((r, y), (r - minor, y), ink, 0.6);
            }
        }
        self.fig.rect(l, t, r - l, b - t, None, Some((ink, 0.9)));
        // Axis labels: x centred under the ticks, y turned, reading upwards.
        let gap = if out { 8.0 } else { 6.0 };
        let x_label_y = b + gap + TICK * 0.9 + 10.0 + LABEL * 0.75;
        self.fig.text((l + r) / 2.0, x_label_y, &self.spec.x.label, LABEL, Anchor::Middle, 0.0, ink);
        if let Some(e) = self.xt.exponent {
            self.fig.text(r, x_label_y, &times_ten(e), TICK, Anchor::End, 0.0, ink);
        }
        let y_label_x = PAD + LABEL * 0.8;
        self.fig.text(y_label_x, (t + b) / 2.0, &self.spec.y.label, LABEL, Anchor::Middle, -90.0, ink);
        if let Some(e) = self.yt.exponent {
            self.fig.text(l, t - 7.0, &times_ten(e), TICK, Anchor::Start, 0.0, ink);
        }
        if let Some(title) = &self.spec.title {
            let title = title.clone();
            // Centred on the plotting area, or on the picture when that
            // would push it past an edge.
            let w = title.width(TITLE);
            let centre = ((l + r) / 2.0).clamp(PAD + w / 2.0, self.spec.width - PAD - w / 2.0);
            self.fig.text(centre, PAD + TITLE * 0.95, &title, TITLE, Anchor::Middle, 0.0, ink);
        }
        if let (Some((x0, ticks)), Some((cs, label))) = (self.bar.take(), self.spec.colorbar.clone()) {
            let w = 14.0;
            self.fig.gradient_rect(x0, t, w, b - t, &cs.stops(), true);
            self.fig.rect(x0, t, w, b - t, None, Some((ink, 0.8)));
            let s = cs.scale();
            for tick in &ticks.major {
                let y = b - s.t(tick.at) * (b - t);
                self.fig.line((x0 + w, y), (x0 + w - 4.0, y), ink, 0.8);
                self.fig.text(x0 + w + 5.0, y + middle(TICK), &tick.label, TICK, Anchor::Start, 0.0, ink);
            }
            for m in &ticks.minor {
                let y = b - s.t(*m) * (b - t);
                self.fig.line((x0 + w, y), (x0 + w - 2.0, y), ink, 0.6);
            }
            if let Some(e) = ticks.exponent {
                self.fig.text(x0, t - 7.0, &times_ten(e), TICK, Anchor::Start, 0.0, ink);
            }
            // The bar's label, turned like the y label, right of the numbers,
            // shrunk if it would be longer than the bar.
            let label_x = x0 + w + 5.0 + widest(&ticks, TICK) + 10.0 + LABEL * 0.8;
            let size = LABEL.min(LABEL * (b - t) / label.width(LABEL).max(1.0));
            self.fig.text(
                label_x.min(self.spec.width - PAD - LABEL * 0.25),
                (t + b) / 2.0,
                &label,
                size,
                Anchor::Middle,
                -90.0,
                ink,
            );
        }
        self.fig
    }

    /// A legend in the corner of the plotting area that covers the fewest
    /// of `avoid` (data points, in picture coordinates).
    pub fn legend(&mut self, entries: &[(Rich, Sample)], avoid: &[(f64, f64)]) {
        if entries.is_empty() {
            return;
        }
        let (l, t, r, b) = self.area;
        let row = TICK * 1.4;
        let has_sample = entries.iter().any(|(_, s)| *s != Sample::None);
        let sample_w = if has_sample { 26.0 } else { 0.0 };
        let text_w = entries.iter().map(|(label, _)| label.width(TICK)).fold(0.0, f64::max);
        let (w, h) = (8.0 + sample_w + text_w + 8.0, 6.0 + row * entries.len() as f64 + 2.0);
        let inset = 8.0;
        let corners = [
            (r - inset - w, t + inset),
            (l + inset, t + inset),
            (l + inset, b - inset - h),
            (r - inset - w, b - inset - h),
        ];
        let covered = |(x, y): (f64, f64)| {
            avoid
                .iter()
                .filter(|(px, py)| *px >= x - 4.0 && *px <= x + w + 4.0 && *py >= y - 4.0 && *py <= y + h + 4.0)
                .count()
        };
        let (x, y) = corners.iter().copied().min_by_key(|c| covered(*c)).unwrap_or(corners[0]);
        self.fig.begin_group(0.9);
        self.fig.rect(x, y, w, h, Some(Rgb::WHITE), Some((Rgb(0xcc, 0xcc, 0xcc), 0.8)));
        self.fig.end_group();
        for (k, (label, sample)) in entries.iter().enumerate() {
            let mid = y + 6.0 + row * (k as f64 + 0.5);
            let (sx, ex) = (x + 8.0, x + 8.0 + sample_w - 8.0);
            match sample {
                Sample::Line(c) => self.fig.line((sx, mid), (ex, mid), *c, 2.0),
                Sample::Marker(c) => self.fig.circle(((sx + ex) / 2.0, mid), 3.2, Some(*c), Some((Rgb::WHITE, 0.6))),
                Sample::LineMarker(c) => {
                    self.fig.line((sx, mid), (ex, mid), *c, 2.0);
                    self.fig.circle(((sx + ex) / 2.0, mid), 3.0, Some(*c), None);
                }
                Sample::None => {}
            }
            self.fig.text(x + 8.0 + sample_w, mid + middle(TICK), label, TICK, Anchor::Start, 0.0, Rgb::INK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(t: &Ticks) -> Vec<String> {
        t.major.iter().map(|t| t.label.text()).collect()
    }

    #[test]
    fn ticks_are_round_numbers_without_gaps() {
        let t = linear_ticks(-24.0, 24.0, 6);
        assert_eq!(labels(&t), ["−20", "−10", "0", "10", "20"]);
        assert_eq!(t.exponent, None);
        let t = linear_ticks(0.0, 1.0, 5);
        assert_eq!(labels(&t), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(labels(&linear_ticks(-1.0, 1.0, 4)), ["−1.0", "−0.5", "0.0", "0.5", "1.0"]);
    }

    #[test]
    fn small_numbers_share_one_exponent() {
        let t = linear_ticks(0.0, 5.1e-3, 5);
        assert_eq!(t.exponent, Some(-3));
        assert_eq!(labels(&t), ["0", "1", "2", "3", "4", "5"]);
        assert_eq!(times_ten(-3).text(), "×10⁻³");
        let t = linear_ticks(0.0, 2.5e5, 5);
        assert_eq!(t.exponent, Some(5));
        assert_eq!(labels(&t), ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"]);
    }

    #[test]
    fn log_ticks_are_decades() {
        let t = log_ticks(1e-6, 1.0);
        assert_eq!(labels(&t), ["10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰"]);
        assert_eq!(t.minor.len(), 6 * 8);
    }

    #[test]
    fn signed_data_gets_a_diverging_map_centred_on_zero() {
        let cs = ColorScale::auto(&[-1.0, 0.5, 3.0], false);
        assert!(cs.signed && cs.lo == -3.0 && cs.hi == 3.0);
        assert_eq!(cs.color(0.0), diverging(0.5));
        let cs = ColorScale::auto(&[-1e-20, 0.5, 3.0], false);
        assert!(!cs.signed, "rounding below zero is not a sign");
        let cs = ColorScale::auto(&[0.0, 1e-9, 1.0], true);
        assert!(cs.log && cs.lo == 1e-8 && cs.hi == 1.0);
    }

    #[test]
    fn a_sweep_panel_keeps_its_labels_inside_and_room_to_plot() {
        let cs = ColorScale::auto(&[-2.0e-3, 5.1e-3], false);
        let chart = Chart::new(orbital_heatmap(cs, width_for(true)));
        let (l, _, r, _) = chart.area;
        assert!(r - l > 110.0, "a plotting area people can read: {:?}", chart.area);
        let fig = chart.finish();
        assert_eq!(fig.width, PANEL_WIDTH);
        assert_eq!(width_for(false), WIDTH);
    }

    /// The hydrogen example's slice: a square heat map with a colour bar.
    fn orbital_heatmap(cs: ColorScale, width: f64) -> ChartSpec {
        ChartSpec {
            title: Some(typeset::math("|psi_2p|^2")),
            x: AxisSpec { scale: Scale::linear(-24.0, 24.0), label: typeset::quantity("x", Some("bohr")) },
            y: AxisSpec { scale: Scale::linear(-24.0, 24.0), label: typeset::quantity("z", Some("bohr")) },
            aspect: Some(1.0),
            colorbar: Some((cs, typeset::quantity("|psi|^2", Some("bohr^-3")))),
            ticks_out: true,
            width,
        }
    }

    #[test]
    fn every_label_lies_inside_the_picture() {
        let cs = ColorScale::auto(&[0.0, 5.1e-3], false);
        let chart = Chart::new(orbital_heatmap(cs, WIDTH));
        let (l, t, r, b) = chart.area;
        assert!(l > 30.0 && t > 20.0 && r < WIDTH - 60.0 && b > t + 200.0, "{:?}", chart.area);
        let fig = chart.finish();
        assert!(fig.height > 300.0 && fig.height < 520.0, "{}", fig.height);
    }
}
