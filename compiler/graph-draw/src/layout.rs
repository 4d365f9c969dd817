//! A layered (Sugiyama-style) layout of the DAG, left to right: layers by
//! longest path, a dummy vertex wherever an edge skips a layer (so long
//! edges are ordered and routed like nodes, never through a box), and
//! crossings reduced by barycentre sweeps.

use std::collections::HashMap;

use phx_dag::{Dag, Edge};

/// Width of one character of label text, in pixels (monospace, 12 px).
pub const CHAR_W: f32 = 7.3;
/// Height of a node box.
pub const BOX_H: f32 = 44.0;
/// Height of the slot a long edge takes in a layer it passes through.
const DUMMY_H: f32 = 12.0;
const GAP_X: f32 = 70.0;
const GAP_Y: f32 = 22.0;
const MARGIN: f32 = 20.0;

/// One placed node.
#[derive(Clone, Debug)]
pub struct NodeBox {
    pub id: String,
    pub tool: String,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// One routed edge: the points it passes through, from the source's right
/// side to the target's left side.
#[derive(Clone, Debug)]
pub struct EdgePath {
    pub from: usize,
    pub to: usize,
    pub label: Option<String>,
    pub points: Vec<(f32, f32)>,
}

/// A placed graph.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub boxes: Vec<NodeBox>,
    pub edges: Vec<EdgePath>,
    pub width: f32,
    pub height: f32,
}

/// A place in a layer: a vertex, or a dummy that a long edge passes through.
struct Slot {
    layer: usize,
    w: f32,
    h: f32,
}

/// Places the vertices of `dag`.
pub fn layout(dag: &Dag) -> Layout {
    let vertices: Vec<(&str, &str)> = dag.vertices().iter().map(|v| (v.id.as_str(), v.tool.as_str())).collect();
    layout_graph(&vertices, &dag.edges())
}

/// Places boxes `(id, tool)`, given in topological order, joined by `edges`.
fn layout_graph(vertices: &[(&str, &str)], edges: &[Edge]) -> Layout {
    let n = vertices.len();
    let index: HashMap<&str, usize> = vertices.iter().enumerate().map(|(i, v)| (v.0, i)).collect();
    let mut edges_in: Vec<(usize, usize, Option<String>)> = Vec::new();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges {
        if let (Some(&a), Some(&b)) = (index.get(e.from.as_str()), index.get(e.to.as_str()))
            && a != b
        {
            preds[b].push(a);
            edges_in.push((a, b, e.output.clone()));
        }
    }
    // Vertices come in topological order, so one pass gives longest paths
    // (a back edge from a cycle is ignored for layering).
    let mut layer = vec![0usize; n];
    for i in 0..n {
        for &p in &preds[i] {
            if p < i {
                layer[i] = layer[i].max(layer[p] + 1);
            }
        }
    }
    let mut slots: Vec<Slot> = (0..n)
        .map(|i| {
            let (id, tool) = vertices[i];
            let w = (id.chars().count().max(tool.chars().count()) as f32 * CHAR_W + 24.0).max(90.0);
            Slot { layer: layer[i], w, h: BOX_H }
        })
        .collect();
    // Each edge becomes a chain of slots; long edges get dummies.
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(edges_in.len());
    for (a, b, _) in &edges_in {
        let mut chain = vec![*a];
        if layer[*b] > layer[*a] + 1 {
            for l in layer[*a] + 1..layer[*b] {
                slots.push(Slot { layer: l, w: 0.0, h: DUMMY_H });
                chain.push(slots.len() - 1);
            }
        }
        chain.push(*b);
        chains.push(chain);
    }
    let s = slots.len();
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); s];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); s];
    for chain in &chains {
        for w in chain.windows(2) {
            if slots[w[1]].layer == slots[w[0]].layer + 1 {
                down[w[0]].push(w[1]);
                up[w[1]].push(w[0]);
            }
        }
    }
    let layers_n = slots.iter().map(|x| x.layer).max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); layers_n];
    for (i, sl) in slots.iter().enumerate() {
        layers[sl.layer].push(i);
    }
    let mut pos = vec![0f32; s];
    for l in &layers {
        for (k, &v) in l.iter().enumerate() {
            pos[v] = k as f32;
        }
    }
    for sweep in 0..8 {
        let downward = sweep % 2 == 0;
        let order: Vec<usize> =
            if downward { (1..layers_n).collect() } else { (0..layers_n.saturating_sub(1)).rev().collect() };
        for li in order {
            let mut keyed: Vec<(f32, usize)> = layers[li]
                .iter()
                .map(|&v| {
                    let nb = if downward { &up[v] } else { &down[v] };
                    let key =
                        if nb.is_empty() { pos[v] } else { nb.iter().map(|&u| pos[u]).sum::<f32>() / nb.len() as f32 };
                    (key, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            layers[li] = keyed.iter().map(|(_, v)| *v).collect();
            for (k, &v) in layers[li].iter().enumerate() {
                pos[v] = k as f32;
            }
        }
    }
    // Coordinates: columns as wide as their widest box, centred vertically.
    let col_h = |l: &Vec<usize>| -> f32 {
        l.iter().map(|&v| slots[v].h).sum::<f32>() + (l.len() as f32 - 1.0).max(0.0) * GAP_Y
    };
    let height = layers.iter().map(col_h).fold(0.0, f32::max) + 2.0 * MARGIN;
    let layer_w: Vec<f32> = layers.iter().map(|l| l.iter().map(|&v| slots[v].w).fold(0.0, f32::max)).collect();
    let mut xy = vec![(0f32, 0f32); s];
    let mut x = MARGIN;
    for (li, l) in layers.iter().enumerate() {
        let mut y = (height - col_h(l)) / 2.0;
        for &v in l {
            xy[v] = (x + (layer_w[li] - slots[v].w) / 2.0, y);
            y += slots[v].h + GAP_Y;
        }
        x += layer_w[li] + GAP_X;
    }
    let width = if layers_n == 0 { MARGIN * 2.0 + 200.0 } else { x - GAP_X + MARGIN };
    let mut boxes: Vec<NodeBox> = Vec::with_capacity(n);
    for i in 0..n {
        let (id, tool) = vertices[i];
        boxes.push(NodeBox {
            id: id.to_string(),
            tool: tool.to_string(),
            x: xy[i].0,
            y: xy[i].1,
            w: slots[i].w,
            h: BOX_H,
        });
    }
    let mut edges = Vec::with_capacity(chains.len());
    for (chain, (a, b, label)) in chains.iter().zip(edges_in) {
        let mut points = Vec::with_capacity(chain.len());
        let (fa, fb) = (&boxes[a], &boxes[b]);
        points.push((fa.x + fa.w, fa.y + fa.h / 2.0));
        for &d in &chain[1..chain.len() - 1] {
            // A dummy's column is as wide as the layer; pass straight through it.
            let li = slots[d].layer;
            let col_x = xy[d].0 - (layer_w[li] - slots[d].w) / 2.0;
            let cy = xy[d].1 + DUMMY_H / 2.0;
            points.push((col_x, cy));
            points.push((col_x + layer_w[li], cy));
        }
        points.push((fb.x, fb.y + fb.h / 2.0));
        edges.push(EdgePath { from: a, to: b, label, points });
    }
    Layout { boxes, edges, width, height: height.max(80.0) }
}

/// How many pairs of edge segments cross between adjacent columns (a
/// measure of the layout that tests keep low).
pub fn crossings(l: &Layout) -> usize {
    let mut segs: Vec<((f32, f32), (f32, f32))> = Vec::new();
    for e in &l.edges {
        for w in e.points.windows(2) {
            if (w[1].0 - w[0].0).abs() > 1.0 {
                segs.push((w[0], w[1]));
            }
        }
    }
    let mut count = 0;
    for i in 0..segs.len() {
        for j in i + 1..segs.len() {
            let (a, b) = (segs[i], segs[j]);
            let same_span = (a.0.0 - b.0.0).abs() < 1.0 && (a.1.0 - b.1.0).abs() < 1.0;
            if same_span && (a.0.1 - b.0.1) * (a.1.1 - b.1.1) < 0.0 {
                count += 1;
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(ids: &[&str], edges: &[(&str, &str)]) -> Layout {
        let vertices: Vec<(&str, &str)> = ids.iter().map(|i| (*i, "plot.line")).collect();
        let edges: Vec<Edge> = edges
            .iter()
            .map(|(a, b)| Edge { from: a.to_string(), to: b.to_string(), output: Some("o".into()), arg: None })
            .collect();
        layout_graph(&vertices, &edges)
    }

    #[test]
    fn crossing_edges_are_untangled() {
        // Listed so that the first layer's order, taken as is, crosses every edge.
        let l = graph(&["a", "b", "c", "x", "y", "z"], &[("a", "z"), ("b", "y"), ("c", "x")]);
        assert_eq!(crossings(&l), 0);
    }

    #[test]
    fn long_edges_do_not_pass_through_boxes() {
        let l = graph(&["a", "b", "c", "d"], &[("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]);
        let long = l.edges.iter().find(|e| l.boxes[e.from].id == "a" && l.boxes[e.to].id == "d").unwrap();
        assert!(long.points.len() > 2, "the long edge is routed through dummies");
        for b in &l.boxes {
            for &(x, y) in &long.points[1..long.points.len() - 1] {
                let inside = x > b.x + 1.0 && x < b.x + b.w - 1.0 && y > b.y && y < b.y + b.h;
                assert!(!inside, "a waypoint lies inside `{}`", b.id);
            }
        }
    }

    #[test]
    fn every_box_fits_the_canvas() {
        let l = graph(&["a", "b", "c"], &[("a", "b"), ("a", "c")]);
        for b in &l.boxes {
            assert!(b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= l.width && b.y + b.h <= l.height);
        }
    }
}
