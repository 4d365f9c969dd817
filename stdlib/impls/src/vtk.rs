//! `export.vtk`: a 3D field as a legacy VTK file (STRUCTURED_POINTS, binary
//! big-endian doubles), the format ParaView and VisIt open without plugins.
//! VTK's point order is x fastest, the same as phx's field files.

use phx_runtime::tool::{BoxFuture, Invocation, Produced, Tool, ToolError};

use crate::common::write_output;
use crate::field::Field;

/// The VTK file's bytes for a 3D field.
pub fn to_vtk(field: &Field, name: &str) -> Result<Vec<u8>, String> {
    if field.shape.len() != 3 {
        return Err(format!("export.vtk writes 3D fields; this one has {} axes", field.shape.len()));
    }
    let (nx, ny, nz) = (field.shape[0], field.shape[1], field.shape[2]);
    let mut out = format!(
        "# vtk DataFile Version 3.0\n{name} ({} on a {nx}x{ny}x{nz} grid, coordinates in {}) written by phx\nBINARY\nDATASET STRUCTURED_POINTS\nDIMENSIONS {nx} {ny} {nz}\nORIGIN {:?} {:?} {:?}\nSPACING {:?} {:?} {:?}\nPOINT_DATA {}\nSCALARS {name} double 1\nLOOKUP_TABLE default\n",
        if field.value_unit.is_empty() { "values" } else { &field.value_unit },
        if field.axis_unit.is_empty() { "grid units" } else { &field.axis_unit },
        field.lo[0],
        field.lo[1],
        field.lo[2],
        field.step(0),
        field.step(1),
        field.step(2),
        field.values.len(),
    )
    .into_bytes();
    out.reserve(field.values.len() * 8 + 1);
    for v in &field.values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.push(b'\n');
    Ok(out)
}

/// `export.vtk(field)`.
pub struct ExportVtk;

impl Tool for ExportVtk {
    fn code_version(&self) -> String {
        crate::code_version("export.vtk")
    }

    fn run<'a>(&'a self, inv: Invocation<'a>) -> BoxFuture<'a, Result<Produced, ToolError>> {
        Box::pin(async move {
            let field = crate::plot::read_field(&inv, "field")?;
            let vtk = to_vtk(&field, "field").map_err(ToolError::failed)?;
            let mut file = write_output(&inv, "file", &vtk)?;
            file.meta = serde_json::json!({"format": "vtk-legacy-3.0", "mesh": field.shape, "samples": field.values.len(), "dtype": "f64be"});
            Ok(Produced { outputs: vec![file], device: "cpu".into(), fallback: None, exit_code: None })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_and_payload_describe_the_grid() {
        let field = Field {
            shape: vec![2, 3, 4],
            lo: vec![-1.0, -2.0, -3.0],
            hi: vec![1.0, 2.0, 3.0],
            axis_unit: "bohr".into(),
            value_unit: "bohr^-3".into(),
            values: (0..24).map(f64::from).collect(),
        };
        let bytes = to_vtk(&field, "density").unwrap();
        let text_end = bytes.windows(21).position(|w| w == b"LOOKUP_TABLE default\n").unwrap() + 21;
        let header = std::str::from_utf8(&bytes[..text_end]).unwrap();
        assert!(header.contains("DIMENSIONS 2 3 4\n"), "{header}");
        assert!(header.contains("ORIGIN -1.0 -2.0 -3.0\n"), "{header}");
        assert!(header.contains("SPACING 2.0 2.0 2.0\n"), "{header}");
        assert!(header.contains("POINT_DATA 24\nSCALARS density double 1\n"), "{header}");
        let payload = &bytes[text_end..bytes.len() - 1];
        assert_eq!(payload.len(), 24 * 8);
        let seventh = f64::from_be_bytes(payload[7 * 8..8 * 8].try_into().unwrap());
        assert_eq!(seventh, 7.0, "x fastest, big-endian");
        assert!(to_vtk(&Field { shape: vec![2, 2], values: vec![0.0; 4], ..field }, "f").is_err());
    }
}
