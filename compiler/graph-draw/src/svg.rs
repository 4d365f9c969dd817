//! The layout as SVG.

use std::collections::HashMap;
use std::fmt::Write as _;

use phx_dag::Dag;

use crate::layout::layout;
use crate::{namespace_color, state_color};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An SVG path through `points`: straight runs through dummy columns,
/// S-curves with horizontal tangents between columns.
fn path_data(points: &[(f32, f32)]) -> String {
    let mut d = String::new();
    let _ = write!(d, "M {:.1} {:.1}", points[0].0, points[0].1);
    for w in points.windows(2) {
        let ((x1, y1), (x2, y2)) = (w[0], w[1]);
        if (y1 - y2).abs() < 0.1 {
            let _ = write!(d, " L {x2:.1} {y2:.1}");
        } else {
            let dx = (x2 - x1) / 2.0;
            let _ = write!(d, " C {:.1} {y1:.1}, {:.1} {y2:.1}, {x2:.1} {y2:.1}", x1 + dx, x2 - dx);
        }
    }
    d
}

/// The DAG as SVG, every node `planned`.
pub fn to_svg(dag: &Dag) -> String {
    to_svg_with_states(dag, &HashMap::new())
}

/// The DAG as SVG, each node filled by its state (`succeeded`, `cached`,
/// `running`, `failed`, `skipped`; `planned` when absent).
pub fn to_svg_with_states(dag: &Dag, states: &HashMap<String, String>) -> String {
    let l = layout(dag);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" viewBox="0 0 {:.0} {:.0}" font-family="DejaVu Sans Mono, Menlo, monospace">"#,
        l.width, l.height, l.width, l.height
    );
    s.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#667"/></marker></defs>"##);
    s.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    for e in &l.edges {
        let dash = if e.label.is_none() { r#" stroke-dasharray="5 4""# } else { "" };
        let _ = write!(
            s,
            r##"<path d="{}" fill="none" stroke="#667" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>"##,
            path_data(&e.points)
        );
        if let Some(label) = &e.label {
            // Just right of the source, above the line: labels never pile up mid-air.
            let (x1, y1) = e.points[0];
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#556">{}</text>"##,
                x1 + 6.0,
                y1 - 5.0,
                esc(label)
            );
        }
    }
    for b in &l.boxes {
        let state = states.get(&b.id).map_or("planned", String::as_str);
        let (r, g, bl) = state_color(state);
        let (ar, ag, ab) = namespace_color(&b.tool);
        let _ = write!(
            s,
            r##"<g><title>{} ({}): {}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="7" fill="#{r:02x}{g:02x}{bl:02x}" stroke="#{ar:02x}{ag:02x}{ab:02x}" stroke-width="1.6"/><rect x="{:.1}" y="{:.1}" width="5" height="{:.1}" rx="2" fill="#{ar:02x}{ag:02x}{ab:02x}"/><text x="{:.1}" y="{:.1}" font-size="12" font-weight="bold" fill="#222" text-anchor="middle">{}</text><text x="{:.1}" y="{:.1}" font-size="11" fill="#{ar:02x}{ag:02x}{ab:02x}" text-anchor="middle">{}</text></g>"##,
            esc(&b.id),
            esc(&b.tool),
            state,
            b.x,
            b.y,
            b.w,
            b.h,
            b.x + 1.0,
            b.y + 6.0,
            b.h - 12.0,
            b.x + b.w / 2.0,
            b.y + 19.0,
            esc(&b.id),
            b.x + b.w / 2.0,
            b.y + 35.0,
            esc(&b.tool)
        );
    }
    s.push_str("</svg>\n");
    s
}
