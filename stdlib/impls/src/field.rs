//! Fields on regular grids, as files: the line `PHXFIELD 1`, one line of
//! JSON (shape, extent, unit, dtype), then the values as little-endian f64,
//! x fastest. Self-describing, so any tool (or a person with numpy) can
//! read it: `np.fromfile(f, '<f8', offset=len(header))`.

use std::io::Write;

use serde_json::{Value as Json, json};

/// A field on a regular grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Samples per axis (1 to 3 axes).
    pub shape: Vec<usize>,
    /// The lower corner, per axis.
    pub lo: Vec<f64>,
    /// The upper corner, per axis.
    pub hi: Vec<f64>,
    /// The unit of the coordinates and of the values.
    pub axis_unit: String,
    pub value_unit: String,
    pub values: Vec<f64>,
}

const MAGIC: &str = "PHXFIELD 1\n";

impl Field {
    /// The header as JSON.
    pub fn header(&self) -> Json {
        json!({"shape": self.shape, "lo": self.lo, "hi": self.hi, "axis_unit": self.axis_unit, "value_unit": self.value_unit, "dtype": "f64le", "order": "x fastest"})
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.values.len() * 8 + 256);
        out.extend_from_slice(MAGIC.as_bytes());
        let _ = writeln!(out, "{}", self.header());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads a field file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Field, String> {
        let rest = bytes.strip_prefix(MAGIC.as_bytes()).ok_or("not a phx field file (no `PHXFIELD 1` line)")?;
        let nl = rest.iter().position(|b| *b == b'\n').ok_or("the field header has no end")?;
        let h: Json = serde_json::from_slice(&rest[..nl]).map_err(|e| format!("the field header is not JSON: {e}"))?;
        let nums = |k: &str| -> Vec<f64> {
            h[k].as_array().map(|a| a.iter().filter_map(Json::as_f64).collect()).unwrap_or_default()
        };
        let shape: Vec<usize> = h["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_u64().map(|u| u as usize)).collect())
            .unwrap_or_default();
        let data = &rest[nl + 1..];
        let n: usize = shape.iter().product();
        if shape.is_empty() || data.len() != n * 8 {
            return Err(format!("the field says {n} values but holds {} bytes", data.len()));
        }
        let values = data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
        Ok(Field {
            shape,
            lo: nums("lo"),
            hi: nums("hi"),
            axis_unit: h["axis_unit"].as_str().unwrap_or("").into(),
            value_unit: h["value_unit"].as_str().unwrap_or("").into(),
            values,
        })
    }

    /// The spacing along an axis.
    pub fn step(&self, axis: usize) -> f64 {
        let n = self.shape[axis].max(2) as f64;
        (self.hi[axis] - self.lo[axis]) / (n - 1.0)
    }

    /// The sum of the values times the cell volume: the grid integral.
    pub fn integral(&self) -> f64 {
        let cell: f64 = (0..self.shape.len()).map(|a| self.step(a)).product();
        self.values.iter().sum::<f64>() * cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_through_bytes() {
        let f = Field {
            shape: vec![2, 3],
            lo: vec![-1.0, 0.0],
            hi: vec![1.0, 2.0],
            axis_unit: "bohr".into(),
            value_unit: "1".into(),
            values: (0..6).map(f64::from).collect(),
        };
        assert_eq!(Field::from_bytes(&f.to_bytes()).unwrap(), f);
        assert!(Field::from_bytes(b"nonsense").is_err());
    }
}
