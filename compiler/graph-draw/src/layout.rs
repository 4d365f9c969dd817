//! A layered layout of the DAG, left to right.

use std::collections::HashMap;

use phx_dag::Dag;

/// Width of one character of label text, in pixels (monospace, 12 px).
pub const CHAR_W: f32 = 7.3;
/// Height of a node box.
pub const BOX_H: f32 = 44.0;
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

/// A placed graph.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub boxes: Vec<NodeBox>,
    /// `(from box, to box, label)`.
    pub edges: Vec<(usize, usize, Option<String>)>,
    pub width: f32,
    pub height: f32,
}

/// Places the vertices of `dag`: layer by longest path from the sources,
/// order within a layer by four barycentre sweeps.
pub fn layout(dag: &Dag) -> Layout {
    let n = dag.vertices.len();
    let index: HashMap<&str, usize> = dag.vertices.iter().enumerate().map(|(i, v)| (v.id.as_str(), i)).collect();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut edges = Vec::new();
    for e in &dag.edges {
        if let (Some(&a), Some(&b)) = (index.get(e.from.as_str()), index.get(e.to.as_str()))
            && a != b
        {
            preds[b].push(a);
            succs[a].push(b);
            edges.push((a, b, e.output.clone()));
        }
    }
    // Vertices come in topological order, so one pass gives longest paths
    // (a back edge from a cycle is simply ignored).
    let mut layer = vec![0usize; n];
    for i in 0..n {
        for &p in &preds[i] {
            if p < i {
                layer[i] = layer[i].max(layer[p] + 1);
            }
        }
    }
    let layers_n = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); layers_n];
    for (i, l) in layer.iter().enumerate() {
        layers[*l].push(i);
    }
    let mut pos = vec![0f32; n];
    for l in &layers {
        for (k, &v) in l.iter().enumerate() {
            pos[v] = k as f32;
        }
    }
    for sweep in 0..4 {
        let down = sweep % 2 == 0;
        let order: Vec<usize> =
            if down { (1..layers_n).collect() } else { (0..layers_n.saturating_sub(1)).rev().collect() };
        for li in order {
            let mut keyed: Vec<(f32, usize)> = layers[li]
                .iter()
                .map(|&v| {
                    let nb = if down { &preds[v] } else { &succs[v] };
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
    let widths: Vec<f32> = dag
        .vertices
        .iter()
        .map(|v| (v.id.chars().count().max(v.tool.chars().count()) as f32 * CHAR_W + 24.0).max(90.0))
        .collect();
    let layer_w: Vec<f32> = layers.iter().map(|l| l.iter().map(|&v| widths[v]).fold(0.0, f32::max)).collect();
    let tallest = layers.iter().map(Vec::len).max().unwrap_or(0) as f32;
    let height = MARGIN * 2.0 + tallest * BOX_H + (tallest - 1.0).max(0.0) * GAP_Y;
    let mut boxes: Vec<Option<NodeBox>> = vec![None; n];
    let mut x = MARGIN;
    for (li, l) in layers.iter().enumerate() {
        let col_h = l.len() as f32 * BOX_H + (l.len() as f32 - 1.0).max(0.0) * GAP_Y;
        let mut y = (height - col_h) / 2.0;
        for &v in l {
            let w = widths[v];
            boxes[v] = Some(NodeBox {
                id: dag.vertices[v].id.clone(),
                tool: dag.vertices[v].tool.clone(),
                x: x + (layer_w[li] - w) / 2.0,
                y,
                w,
                h: BOX_H,
            });
            y += BOX_H + GAP_Y;
        }
        x += layer_w[li] + GAP_X;
    }
    let width = if layers_n == 0 { MARGIN * 2.0 + 200.0 } else { x - GAP_X + MARGIN };
    Layout { boxes: boxes.into_iter().flatten().collect(), edges, width, height: height.max(80.0) }
}

/// How many pairs of edges cross between adjacent layers (a layout measure
/// the tests keep low).
pub fn crossings(l: &Layout) -> usize {
    let mut count = 0;
    let seg: Vec<(f32, f32, f32, f32)> = l
        .edges
        .iter()
        .map(|(a, b, _)| {
            let (s, t) = (&l.boxes[*a], &l.boxes[*b]);
            (s.x + s.w, s.y + s.h / 2.0, t.x, t.y + t.h / 2.0)
        })
        .collect();
    for i in 0..seg.len() {
        for j in i + 1..seg.len() {
            let (a, b) = (seg[i], seg[j]);
            if (a.0 - b.0).abs() < 1.0 && (a.2 - b.2).abs() < 1.0 && (a.1 - b.1) * (a.3 - b.3) < 0.0 {
                count += 1;
            }
        }
    }
    count
}
