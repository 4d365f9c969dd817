//! `export.gltf`: the isosurface `field = iso` of a 3D field as a binary
//! glTF 2.0 file (GLB), for VR and web viewers. The surface comes from
//! marching tetrahedra (each grid cell split into six tetrahedra, so there
//! are no ambiguous cases), with triangles wound so their normals point
//! from the inside (values above iso) outwards.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};
use serde_json::json;

use crate::common::{float, write_output};
use crate::field::Field;
use crate::plot::read_field;

type V3 = [f64; 3];

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: V3, b: V3) -> V3 {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The six tetrahedra of a cube, as indices of its corners (corner k has
/// offsets (k & 1, k >> 1 & 1, k >> 2 & 1)); they share the 0-7 diagonal.
const TETRAHEDRA: [[usize; 4]; 6] =
    [[0, 1, 3, 7], [0, 3, 2, 7], [0, 2, 6, 7], [0, 6, 4, 7], [0, 4, 5, 7], [0, 5, 1, 7]];

/// The isosurface as a triangle list (three points per triangle).
pub fn isosurface(field: &Field, iso: f64) -> Vec<[V3; 3]> {
    let (nx, ny, nz) = (field.shape[0], field.shape[1], field.shape[2]);
    let step = [field.step(0), field.step(1), field.step(2)];
    let at = |i: usize, j: usize, k: usize| field.values[(k * ny + j) * nx + i];
    let mut triangles = Vec::new();
    for k in 0..nz.saturating_sub(1) {
        for j in 0..ny.saturating_sub(1) {
            for i in 0..nx.saturating_sub(1) {
                let corner = |c: usize| {
                    let (a, b, d) = (i + (c & 1), j + (c >> 1 & 1), k + (c >> 2 & 1));
                    let p = [
                        field.lo[0] + a as f64 * step[0],
                        field.lo[1] + b as f64 * step[1],
                        field.lo[2] + d as f64 * step[2],
                    ];
                    (p, at(a, b, d))
                };
                let corners: Vec<(V3, f64)> = (0..8).map(corner).collect();
                if corners.iter().all(|c| c.1 > iso) || corners.iter().all(|c| c.1 <= iso) {
                    continue;
                }
                for tet in TETRAHEDRA {
                    let v: Vec<(V3, f64)> = tet.iter().map(|c| corners[*c]).collect();
                    tetrahedron(&v, iso, &mut triangles);
                }
            }
        }
    }
    triangles
}

/// The crossing of the iso level on the edge from `a` to `b`.
fn crossing(a: (V3, f64), b: (V3, f64), iso: f64) -> V3 {
    let t = if (b.1 - a.1).abs() > 0.0 { ((iso - a.1) / (b.1 - a.1)).clamp(0.0, 1.0) } else { 0.5 };
    [a.0[0] + t * (b.0[0] - a.0[0]), a.0[1] + t * (b.0[1] - a.0[1]), a.0[2] + t * (b.0[2] - a.0[2])]
}

fn tetrahedron(v: &[(V3, f64)], iso: f64, out: &mut Vec<[V3; 3]>) {
    let inside: Vec<usize> = (0..4).filter(|k| v[*k].1 > iso).collect();
    let outside: Vec<usize> = (0..4).filter(|k| v[*k].1 <= iso).collect();
    let inner_centre = {
        let n = inside.len().max(1) as f64;
        let s = inside.iter().fold([0.0; 3], |acc, k| [acc[0] + v[*k].0[0], acc[1] + v[*k].0[1], acc[2] + v[*k].0[2]]);
        [s[0] / n, s[1] / n, s[2] / n]
    };
    let mut push = |t: [V3; 3]| {
        let n = cross(sub(t[1], t[0]), sub(t[2], t[0]));
        if dot(n, n) < 1e-30 {
            return;
        }
        // Wind the triangle so its normal points away from the inside.
        if dot(n, sub(t[0], inner_centre)) < 0.0 {
            out.push([t[0], t[2], t[1]]);
        } else {
            out.push(t);
        }
    };
    match (inside.len(), outside.len()) {
        (1, 3) | (3, 1) => {
            let (lone, others) = if inside.len() == 1 { (inside[0], &outside) } else { (outside[0], &inside) };
            let p: Vec<V3> = others.iter().map(|o| crossing(v[lone], v[*o], iso)).collect();
            push([p[0], p[1], p[2]]);
        }
        (2, 2) => {
            let (a, b, c, d) = (inside[0], inside[1], outside[0], outside[1]);
            let (p0, p1, p2, p3) = (
                crossing(v[a], v[c], iso),
                crossing(v[a], v[d], iso),
                crossing(v[b], v[d], iso),
                crossing(v[b], v[c], iso),
            );
            push([p0, p1, p2]);
            push([p0, p2, p3]);
        }
        _ => {}
    }
}

/// The GLB bytes of a triangle list: positions and normals (float32), one
/// mesh, one node; lengths padded to 4 bytes as the format requires.
pub fn to_glb(triangles: &[[V3; 3]], unit: &str) -> Vec<u8> {
    let mut bin = Vec::with_capacity(triangles.len() * 72);
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for t in triangles {
        for p in t {
            for a in 0..3 {
                let x = p[a] as f32;
                lo[a] = lo[a].min(x);
                hi[a] = hi[a].max(x);
                bin.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    let positions_len = bin.len();
    for t in triangles {
        let n = cross(sub(t[1], t[0]), sub(t[2], t[0]));
        let len = dot(n, n).sqrt();
        for _ in 0..3 {
            for c in n {
                bin.extend_from_slice(&((c / len) as f32).to_le_bytes());
            }
        }
    }
    let count = triangles.len() * 3;
    let doc = json!({
        "asset": {"version": "2.0", "generator": "phx export.gltf"},
        "extras": {"unit": unit},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "isosurface"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1}, "mode": 4, "material": 0}]}],
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": [0.2, 0.55, 0.9, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.6}, "doubleSided": true}],
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": positions_len, "target": 34962},
            {"buffer": 0, "byteOffset": positions_len, "byteLength": bin.len() - positions_len, "target": 34962}
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": count, "type": "VEC3", "min": lo, "max": hi},
            {"bufferView": 1, "componentType": 5126, "count": count, "type": "VEC3"}
        ]
    });
    let mut json_chunk = doc.to_string().into_bytes();
    while !json_chunk.len().is_multiple_of(4) {
        json_chunk.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let total = 12 + 8 + json_chunk.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json_chunk.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json_chunk);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}

/// `export.gltf(field, iso)`.
pub struct ExportGltf;

impl Tool for ExportGltf {
    fn code_version(&self) -> String {
        crate::code_version("export.gltf")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let field = read_field(&inv, "field")?;
            if field.shape.len() != 3 {
                return Err(ToolError::failed("export.gltf needs a 3D field"));
            }
            let iso = float(&inv, "iso")?;
            let triangles = isosurface(&field, iso);
            if triangles.is_empty() {
                let (lo, hi) =
                    field.values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
                return Err(ToolError::failed(format!(
                    "the level iso = {iso} does not cross the field (its values run from {lo:e} to {hi:e}); pick an iso inside that range"
                )));
            }
            let glb = to_glb(&triangles, &field.axis_unit);
            let mut file = write_output(&inv, "file", &glb)?;
            file.meta =
                json!({"format": "glb", "triangles": triangles.len(), "iso": iso, "mesh": field.shape, "dtype": "f32"});
            Ok(Produced { outputs: vec![file], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sphere_field(n: usize) -> Field {
        let e = 2.0;
        let c = |i: usize| -e + 2.0 * e * i as f64 / (n - 1) as f64;
        let mut values = Vec::with_capacity(n * n * n);
        for k in 0..n {
            for j in 0..n {
                for i in 0..n {
                    let (x, y, z) = (c(i), c(j), c(k));
                    values.push(1.0 - (x * x + y * y + z * z).sqrt());
                }
            }
        }
        Field {
            shape: vec![n; 3],
            lo: vec![-e; 3],
            hi: vec![e; 3],
            axis_unit: "bohr".into(),
            value_unit: String::new(),
            values,
        }
    }

    #[test]
    fn the_isosurface_of_a_sphere_is_closed_outward_and_has_its_area() {
        // 1 - r = 0 is the unit sphere: area 4 pi; every vertex at r = 1.
        let tris = isosurface(&sphere_field(41), 0.0);
        let area: f64 = tris
            .iter()
            .map(|t| dot(cross(sub(t[1], t[0]), sub(t[2], t[0])), cross(sub(t[1], t[0]), sub(t[2], t[0]))).sqrt() / 2.0)
            .sum();
        assert!((area - 4.0 * std::f64::consts::PI).abs() < 0.02 * 4.0 * std::f64::consts::PI, "{area}");
        for t in &tris {
            for p in t {
                assert!((dot(*p, *p).sqrt() - 1.0).abs() < 0.01, "{p:?}");
            }
            // Outward: the normal points along the position.
            let n = cross(sub(t[1], t[0]), sub(t[2], t[0]));
            assert!(dot(n, t[0]) > 0.0, "a triangle faces inwards");
        }
        // Enclosed volume by the divergence theorem: 4/3 pi.
        let volume: f64 = tris.iter().map(|t| dot(t[0], cross(t[1], t[2])) / 6.0).sum();
        assert!((volume - 4.0 / 3.0 * std::f64::consts::PI).abs() < 0.03 * 4.0, "{volume}");
    }

    #[test]
    fn the_glb_container_is_well_formed() {
        let tris = isosurface(&sphere_field(9), 0.0);
        let glb = to_glb(&tris, "bohr");
        assert_eq!(&glb[..4], b"glTF");
        assert_eq!(u32::from_le_bytes(glb[4..8].try_into().unwrap()), 2);
        assert_eq!(u32::from_le_bytes(glb[8..12].try_into().unwrap()) as usize, glb.len());
        let json_len = u32::from_le_bytes(glb[12..16].try_into().unwrap()) as usize;
        assert_eq!(&glb[16..20], b"JSON");
        assert_eq!(json_len % 4, 0);
        let doc: serde_json::Value = serde_json::from_slice(&glb[20..20 + json_len]).unwrap();
        assert_eq!(doc["accessors"][0]["count"], tris.len() * 3);
        let bin_len = u32::from_le_bytes(glb[20 + json_len..24 + json_len].try_into().unwrap()) as usize;
        assert_eq!(&glb[24 + json_len..28 + json_len], b"BIN\0");
        assert_eq!(bin_len, doc["buffers"][0]["byteLength"].as_u64().unwrap() as usize);
        assert_eq!(28 + json_len + bin_len, glb.len());
    }
}
