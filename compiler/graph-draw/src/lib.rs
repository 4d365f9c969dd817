//! Drawings of the DAG, made by phx itself (no Graphviz needed): a layered
//! layout (layers by longest path, crossings reduced by barycentre sweeps),
//! rendered as SVG or rasterised to PNG with an embedded font.

mod layout;
mod png;
mod svg;

pub use layout::{Layout, NodeBox, crossings, layout};
pub use png::{to_png, to_png_with_states};
pub use svg::{to_svg, to_svg_with_states};

/// The fill colour of a node in a given run state (`planned` before any
/// run).
pub fn state_color(state: &str) -> (u8, u8, u8) {
    match state {
        "succeeded" => (0xd9, 0xf2, 0xd9),
        "cached" => (0xdd, 0xe8, 0xf7),
        "running" => (0xff, 0xf1, 0xc7),
        "failed" => (0xf7, 0xd4, 0xd4),
        "skipped" | "cancelled" => (0xe6, 0xe6, 0xe6),
        _ => (0xfa, 0xfa, 0xfc),
    }
}

/// The accent colour of a tool's namespace, so families of tools read apart.
pub fn namespace_color(tool: &str) -> (u8, u8, u8) {
    match tool.split('.').next().unwrap_or("") {
        "quantum" => (0x5b, 0x4b, 0xb7),
        "plot" => (0x1f, 0x8a, 0x70),
        "field" => (0x2a, 0x6f, 0xb5),
        "data" | "ml" => (0xc2, 0x6b, 0x1a),
        "cas" | "units" | "constants" => (0x8a, 0x3b, 0x8f),
        "export" | "shell" => (0x55, 0x55, 0x55),
        _ => (0xb0, 0x3a, 0x48),
    }
}
