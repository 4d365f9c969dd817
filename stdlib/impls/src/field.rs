//! Fields on regular grids, as files: NetCDF classic (CDF-1; CDF-2 when
//! the values pass 2 GiB) following the CF conventions, CF-1.8, written
//! and read with the pure-Rust `netcdf3` crate.
//!
//! One dimension and one coordinate variable per axis (`x`, `y`, `z`, or
//! the names a tool gives, as `x` and `t`), f64, each with `units`,
//! `axis` and `long_name`; the coordinates are exactly
//! `numpy.linspace(lo, hi, n)`, the points where the values were computed.
//! One f64 data variable (named after the tool's output, `density`) over
//! the axes in C order, `(z, y, x)`, which is phx's layout in memory (x
//! fastest); its `units` are spelled for UDUNITS (`bohr-3`), with phx's own
//! spelling in `phx_units` where the two differ. Global attributes:
//! `Conventions = "CF-1.8"`, `title`, `source = "phx VERSION"` and the
//! producing vertex (`phx_node`, `phx_tool`, `phx_static_key`). Nothing in
//! a file depends on when or in which run it was written, so one
//! computation always gives the same bytes (the store is content-addressed).
//!
//! In Python: `xarray.open_dataset(path)` (the scipy engine reads the
//! classic format). Files of the format before, `PHXFIELD 1` and a JSON
//! header, are still read, never written.

use std::cell::RefCell;
use std::io::{Cursor, Seek, SeekFrom, Write};
use std::rc::Rc;

use netcdf3::{DataSet, DataType, FileReader, FileWriter, Version};
use phx_runtime::tool::Invocation;
use serde_json::Value as Json;

/// A field on a regular grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Samples per axis (1 to 3 axes), x first.
    pub shape: Vec<usize>,
    /// The lower corner, per axis.
    pub lo: Vec<f64>,
    /// The upper corner, per axis.
    pub hi: Vec<f64>,
    /// The unit of the coordinates, phx's spelling (`bohr`).
    pub axis_unit: String,
    /// The unit of the values, phx's spelling (`bohr^-3`).
    pub value_unit: String,
    /// The values, x fastest.
    pub values: Vec<f64>,
}

/// One axis of a field file: its dimension's and coordinate's name, unit
/// (phx's spelling) and description.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub name: String,
    pub unit: String,
    pub long_name: String,
}

impl Axis {
    /// An axis named `name` (`x`, `t`) in `unit`.
    pub fn new(name: &str, unit: &str, long_name: &str) -> Axis {
        Axis { name: name.into(), unit: unit.into(), long_name: long_name.into() }
    }
}

/// What a field file says about itself beyond its numbers. Everything in
/// it follows from the computation (never a time or a run id), so the same
/// computation gives the same bytes.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FieldMeta {
    /// The data variable's name: the tool's output (`density`).
    pub name: String,
    /// What the values are, for people (`long_name`).
    pub long_name: String,
    /// The file's `title`.
    pub title: String,
    /// The vertex that computed it (`density`, `scan[3]`). A cached result
    /// keeps the id it was computed under.
    pub node: String,
    /// Its tool (`quantum.orbital`).
    pub tool: String,
    /// Its static key: what the computation was, independent of names.
    pub static_key: String,
    /// The axes, x first; empty means `x`, `y`, `z` in the field's
    /// `axis_unit`.
    pub axes: Vec<Axis>,
}

impl FieldMeta {
    /// The metadata of the output `output` of the vertex `inv` runs.
    pub fn of(inv: &Invocation, output: &str, long_name: impl Into<String>) -> FieldMeta {
        let v = inv.vertex;
        FieldMeta {
            name: output.into(),
            long_name: long_name.into(),
            title: format!("{}.{output} ({})", v.id, v.tool),
            node: v.id.clone(),
            tool: v.tool.clone(),
            static_key: v.static_key.clone(),
            axes: Vec::new(),
        }
    }

    /// The same, with axes of their own (`x` and `t` for a field in time).
    pub fn with_axes(mut self, axes: Vec<Axis>) -> FieldMeta {
        self.axes = axes;
        self
    }
}

/// The first line of the format before NetCDF.
const LEGACY_MAGIC: &str = "PHXFIELD 1\n";

/// The variable of a file whose metadata names none (or a clashing one).
const DEFAULT_VARIABLE: &str = "value";

/// `Conventions` of every file written.
const CONVENTIONS: &str = "CF-1.8";

/// A unit in UDUNITS' spelling: powers without `^` (`bohr^-3` is
/// `bohr-3`), products with `.` (`J*s` is `J.s`).
pub fn udunits(unit: &str) -> String {
    unit.replace('^', "").replace('*', ".")
}

/// The CF `axis` of a coordinate by its name.
fn cf_axis(name: &str) -> Option<&'static str> {
    match name {
        "x" => Some("X"),
        "y" => Some("Y"),
        "z" => Some("Z"),
        "t" => Some("T"),
        _ => None,
    }
}

/// The coordinates of an axis: `numpy.linspace(lo, hi, n)` to the bit
/// (`lo + i * step`, the last one `hi`), the points tools evaluate at.
fn coordinates(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let step = (hi - lo) / (n.max(2) - 1) as f64;
    (0..n).map(|i| if i + 1 == n && n > 1 { hi } else { lo + i as f64 * step }).collect()
}

/// A growable in-memory file: the writer owns one handle (it wants a
/// `'static` stream), the caller keeps the other to take the bytes.
#[derive(Clone, Default)]
struct SharedBuffer(Rc<RefCell<Cursor<Vec<u8>>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for SharedBuffer {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.0.borrow_mut().seek(pos)
    }
}

impl Field {
    /// Whether the shape, corners and values agree: what every reader
    /// checks before anyone indexes the field.
    fn check(&self) -> Result<(), String> {
        let dims = self.shape.len();
        if !(1..=3).contains(&dims) || self.lo.len() != dims || self.hi.len() != dims {
            return Err(format!(
                "a field has 1 to 3 axes, each with a lower and an upper corner; this one has {dims} axes, {} lower and {} upper corners",
                self.lo.len(),
                self.hi.len()
            ));
        }
        let n = self.shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n)).filter(|n| *n > 0);
        if n != Some(self.values.len()) {
            return Err(format!("the field's shape {:?} does not hold its {} values", self.shape, self.values.len()));
        }
        Ok(())
    }

    /// The field as a NetCDF file (CF-1.8) described by `meta`.
    pub fn to_netcdf(&self, meta: &FieldMeta) -> Result<Vec<u8>, String> {
        self.check()?;
        let dims = self.shape.len();
        let axes: Vec<Axis> = if meta.axes.is_empty() {
            ["x", "y", "z"]
                .iter()
                .take(dims)
                .map(|a| Axis::new(a, &self.axis_unit, &format!("{a} coordinate")))
                .collect()
        } else {
            meta.axes.clone()
        };
        if axes.len() != dims {
            return Err(format!("a field of {dims} axes described with {} axes", axes.len()));
        }
        let name = if netcdf3::is_valid_name(&meta.name) && axes.iter().all(|a| a.name != meta.name) {
            meta.name.as_str()
        } else {
            DEFAULT_VARIABLE
        };
        let e = |e: netcdf3::InvalidDataSet| format!("the field cannot be described in NetCDF: {e}");
        let mut ds = DataSet::new();
        for (axis, n) in axes.iter().zip(&self.shape) {
            ds.add_fixed_dim(&axis.name, *n).map_err(e)?;
        }
        for axis in &axes {
            ds.add_var_f64(&axis.name, &[&axis.name]).map_err(e)?;
            units_attrs(&mut ds, &axis.name, &axis.unit).map_err(e)?;
            if let Some(letter) = cf_axis(&axis.name) {
                ds.add_var_attr_string(&axis.name, "axis", letter).map_err(e)?;
            }
            if !axis.long_name.is_empty() {
                ds.add_var_attr_string(&axis.name, "long_name", &axis.long_name).map_err(e)?;
            }
        }
        // C order: the slowest axis first, so x (fastest) is last.
        let order: Vec<&str> = axes.iter().rev().map(|a| a.name.as_str()).collect();
        ds.add_var_f64(name, &order).map_err(e)?;
        units_attrs(&mut ds, name, &self.value_unit).map_err(e)?;
        if !meta.long_name.is_empty() {
            ds.add_var_attr_string(name, "long_name", &meta.long_name).map_err(e)?;
        }
        // The field's one coordinate unit, when the axes' own units do not
        // say it (a field in x and t).
        if axes.iter().any(|a| a.unit != self.axis_unit) {
            ds.add_var_attr_string(name, "phx_axis_units", &self.axis_unit).map_err(e)?;
        }
        ds.add_global_attr_string("Conventions", CONVENTIONS).map_err(e)?;
        let title = if meta.title.is_empty() { "a phx field" } else { meta.title.as_str() };
        ds.add_global_attr_string("title", title).map_err(e)?;
        ds.add_global_attr_string("source", format!("phx {}", env!("CARGO_PKG_VERSION"))).map_err(e)?;
        for (key, value) in [("phx_node", &meta.node), ("phx_tool", &meta.tool), ("phx_static_key", &meta.static_key)] {
            if !value.is_empty() {
                ds.add_global_attr_string(key, value).map_err(e)?;
            }
        }

        // CDF-1 addresses 2 GiB with signed 32-bit offsets, CDF-2 with 64
        // bits; either way a variable's size is a 32-bit field.
        let bytes = self.values.len() as u64 * 8;
        if bytes > u64::from(u32::MAX) - 8 {
            return Err(format!(
                "the field's {bytes} bytes of values are more than a NetCDF classic variable holds (4 GiB)"
            ));
        }
        let coordinate_bytes: u64 = self.shape.iter().map(|n| *n as u64 * 8).sum();
        let version = if bytes + coordinate_bytes + (1 << 16) < i32::MAX as u64 {
            Version::Classic
        } else {
            Version::Offset64Bit
        };
        let buffer = SharedBuffer::default();
        let w = |e: netcdf3::WriteError| format!("cannot write the field as NetCDF: {e:?}");
        let mut writer = FileWriter::open_seek_write("field.nc", Box::new(buffer.clone())).map_err(w)?;
        writer.set_def(&ds, version, 0).map_err(w)?;
        for (a, axis) in axes.iter().enumerate() {
            writer.write_var_f64(&axis.name, &coordinates(self.lo[a], self.hi[a], self.shape[a])).map_err(w)?;
        }
        writer.write_var_f64(name, &self.values).map_err(w)?;
        writer.close().map_err(w)?;
        Ok(buffer.0.take().into_inner())
    }

    /// Reads a field file: NetCDF as [`Field::to_netcdf`] writes it, or
    /// the `PHXFIELD 1` format before it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Field, String> {
        if bytes.starts_with(LEGACY_MAGIC.as_bytes()) {
            return Field::from_legacy(bytes);
        }
        Field::read_netcdf(bytes).map(|(field, _)| field)
    }

    /// Reads a NetCDF field file, with what it says about itself.
    pub fn read_netcdf(bytes: &[u8]) -> Result<(Field, FieldMeta), String> {
        if !bytes.starts_with(b"CDF") {
            return Err("not a field file (neither NetCDF nor `PHXFIELD 1`)".into());
        }
        // The crate trusts the counts and sizes in the header (it reserves
        // memory for them before reading); a damaged file must be an error,
        // not an allocation that aborts the process.
        check_header(bytes).map_err(|e| format!("not a readable NetCDF field file: {e}"))?;
        let r = |e: netcdf3::ReadError| format!("not a readable NetCDF field file: {e}");
        let mut reader = FileReader::open_seek_read("field.nc", Box::new(Cursor::new(bytes.to_vec()))).map_err(r)?;
        let ds = reader.data_set();
        // The data: the first variable that is not a coordinate (a
        // variable named after its one dimension).
        let data = ds
            .get_vars()
            .into_iter()
            .find(|v| !(v.num_dims() == 1 && v.dim_names()[0] == v.name()))
            .ok_or("the NetCDF file has no data variable")?;
        if data.data_type() != DataType::F64 || !(1..=3).contains(&data.num_dims()) {
            return Err(format!(
                "the NetCDF variable `{}` is not a field (f64 over 1 to 3 axes): {} over {} axes",
                data.name(),
                data.data_type().c_api_name(),
                data.num_dims()
            ));
        }
        let name = data.name().to_string();
        let attr = |var: &str, key: &str| ds.get_var_attr_as_string(var, key);
        let global = |key: &str| ds.get_global_attr_as_string(key).unwrap_or_default();
        // Back to x first.
        let axis_names: Vec<String> = data.dim_names().into_iter().rev().collect();
        let value_unit = attr(&name, "phx_units").or_else(|| attr(&name, "units")).unwrap_or_default();
        let long_name = attr(&name, "long_name").unwrap_or_default();
        let axis_units = attr(&name, "phx_axis_units");
        let mut axes = Vec::new();
        for a in &axis_names {
            let coordinate = ds.get_var(a).filter(|c| c.data_type() == DataType::F64 && c.dim_names() == [a.as_str()]);
            if coordinate.is_none() {
                return Err(format!("the field has no f64 coordinate for its axis `{a}`"));
            }
            let unit = attr(a, "phx_units").or_else(|| attr(a, "units")).unwrap_or_default();
            axes.push(Axis { name: a.clone(), unit, long_name: attr(a, "long_name").unwrap_or_default() });
        }
        let meta = FieldMeta {
            name: name.clone(),
            long_name,
            title: global("title"),
            node: global("phx_node"),
            tool: global("phx_tool"),
            static_key: global("phx_static_key"),
            axes,
        };
        let (mut shape, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new());
        for a in &axis_names {
            let c = reader.read_var_f64(a).map_err(r)?;
            let (Some(first), Some(last)) = (c.first(), c.last()) else {
                return Err(format!("the field's axis `{a}` has no points"));
            };
            shape.push(c.len());
            lo.push(*first);
            hi.push(*last);
        }
        let values = reader.read_var_f64(&name).map_err(r)?;
        let axis_unit = axis_units.or_else(|| meta.axes.first().map(|a| a.unit.clone())).unwrap_or_default();
        let field = Field { shape, lo, hi, axis_unit, value_unit, values };
        field.check()?;
        Ok((field, meta))
    }

    /// Reads the format before NetCDF: the line `PHXFIELD 1`, one line of
    /// JSON (shape, lo, hi, units), the values as little-endian f64.
    fn from_legacy(bytes: &[u8]) -> Result<Field, String> {
        let rest = &bytes[LEGACY_MAGIC.len()..];
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
        if !data.len().is_multiple_of(8) {
            return Err(format!("the field's values are {} bytes, not a whole number of f64", data.len()));
        }
        let values = data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
        let field = Field {
            shape,
            lo: nums("lo"),
            hi: nums("hi"),
            axis_unit: h["axis_unit"].as_str().unwrap_or("").into(),
            value_unit: h["value_unit"].as_str().unwrap_or("").into(),
            values,
        };
        field.check()?;
        Ok(field)
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

/// `units` in UDUNITS' spelling on a variable, and phx's in `phx_units`
/// where they differ; nothing for a unit that is not given.
fn units_attrs(ds: &mut DataSet, var: &str, unit: &str) -> Result<(), netcdf3::InvalidDataSet> {
    if unit.is_empty() {
        return Ok(());
    }
    let cf = udunits(unit);
    ds.add_var_attr_string(var, "units", &cf)?;
    if cf != unit {
        ds.add_var_attr_string(var, "phx_units", unit)?;
    }
    Ok(())
}

/// Walks a NetCDF classic header (CDF-1 or CDF-2) with every count and
/// size held to the bytes there are: each list fits in what is left of
/// the file, each dimension is fixed (a record dimension makes no field),
/// each variable's data lies inside the file.
fn check_header(b: &[u8]) -> Result<(), String> {
    struct At<'a> {
        b: &'a [u8],
        at: usize,
    }
    impl At<'_> {
        fn left(&self) -> usize {
            self.b.len() - self.at
        }
        fn take(&mut self, n: usize) -> Result<&[u8], String> {
            if n > self.left() {
                return Err("the header ends early".into());
            }
            self.at += n;
            Ok(&self.b[self.at - n..self.at])
        }
        fn u32(&mut self) -> Result<usize, String> {
            let w = self.take(4)?;
            Ok(u32::from_be_bytes([w[0], w[1], w[2], w[3]]) as usize)
        }
        /// A count of entries of at least `each` bytes: no more than fit.
        fn count(&mut self, each: usize) -> Result<usize, String> {
            let n = self.u32()?;
            if n.saturating_mul(each) > self.left() {
                return Err(format!("the header counts {n} entries where there is room for fewer"));
            }
            Ok(n)
        }
        fn padded(&mut self, n: usize) -> Result<(), String> {
            self.take(n.checked_next_multiple_of(4).ok_or("a length is out of range")?).map(|_| ())
        }
        /// A list's tag and count: `ABSENT` (two zero words) or `tag` and
        /// its entries.
        fn list(&mut self, tag: usize, each: usize) -> Result<usize, String> {
            let t = self.u32()?;
            let n = self.count(each)?;
            if (t == 0 && n == 0) || t == tag {
                Ok(n)
            } else {
                Err(format!("a list in the header has the tag {t:#x}, not {tag:#x}"))
            }
        }
        fn attributes(&mut self) -> Result<(), String> {
            for _ in 0..self.list(0x0C, 12)? {
                let name = self.u32()?;
                self.padded(name)?;
                let size = type_size(self.u32()?)?;
                let n = self.count(size)?;
                self.padded(n * size)?;
            }
            Ok(())
        }
    }
    fn type_size(t: usize) -> Result<usize, String> {
        match t {
            1 | 2 => Ok(1),
            3 => Ok(2),
            4 | 5 => Ok(4),
            6 => Ok(8),
            _ => Err(format!("the header names the type {t}, which NetCDF classic has not")),
        }
    }
    let mut h = At { b, at: 0 };
    let version = h.take(4)?[3];
    if version != 1 && version != 2 {
        return Err(format!("the NetCDF version {version} is not classic (1) or 64-bit offset (2)"));
    }
    h.u32()?;
    let mut dims = Vec::new();
    for _ in 0..h.list(0x0A, 8)? {
        let name = h.u32()?;
        h.padded(name)?;
        let size = h.u32()?;
        if size == 0 {
            return Err("the file has a record dimension; a field's axes are fixed".into());
        }
        dims.push(size);
    }
    h.attributes()?;
    for _ in 0..h.list(0x0B, 24)? {
        let name = h.u32()?;
        h.padded(name)?;
        let mut len = 1usize;
        for _ in 0..h.count(4)? {
            let size = dims.get(h.u32()?).ok_or("a variable names a dimension the file has not")?;
            len = len.checked_mul(*size).ok_or("a variable's size is out of range")?;
        }
        h.attributes()?;
        let bytes = len.checked_mul(type_size(h.u32()?)?).ok_or("a variable's size is out of range")?;
        h.u32()?;
        let begin = if version == 1 {
            i64::from(i32::from_be_bytes(h.take(4)?.try_into().unwrap_or([0xff; 4])))
        } else {
            i64::from_be_bytes(h.take(8)?.try_into().unwrap_or([0xff; 8]))
        };
        let end = usize::try_from(begin).ok().and_then(|b| b.checked_add(bytes));
        if end.is_none_or(|end| end > b.len()) {
            return Err("a variable's values lie past the end of the file (is it truncated?)".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FieldMeta {
        FieldMeta {
            name: "density".into(),
            long_name: "probability density".into(),
            title: "density.density (quantum.orbital)".into(),
            node: "density".into(),
            tool: "quantum.orbital".into(),
            static_key: "ab12".into(),
            axes: Vec::new(),
        }
    }

    fn field(shape: &[usize]) -> Field {
        let n: usize = shape.iter().product();
        Field {
            shape: shape.to_vec(),
            lo: shape.iter().enumerate().map(|(a, _)| -1.5 - a as f64).collect(),
            hi: shape.iter().enumerate().map(|(a, _)| 2.25 + a as f64).collect(),
            axis_unit: "bohr".into(),
            value_unit: "bohr^-3".into(),
            values: (0..n).map(|i| (i as f64).sin() * 1e-3 + 0.1).collect(),
        }
    }

    #[test]
    fn fields_of_one_two_and_three_axes_round_trip_through_netcdf() {
        for shape in [vec![7], vec![5, 3], vec![4, 3, 2]] {
            let f = field(&shape);
            let bytes = f.to_netcdf(&meta()).unwrap();
            assert!(bytes.starts_with(b"CDF\x01"), "NetCDF classic");
            let (back, m) = Field::read_netcdf(&bytes).unwrap();
            assert_eq!(back, f, "{shape:?}");
            assert_eq!(Field::from_bytes(&bytes).unwrap(), f);
            assert_eq!((m.name.as_str(), m.node.as_str(), m.tool.as_str()), ("density", "density", "quantum.orbital"));
            let names: Vec<&str> = m.axes.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(names, ["x", "y", "z"][..shape.len()]);
            // The same field and metadata: the same bytes.
            assert_eq!(f.to_netcdf(&meta()).unwrap(), bytes);
        }
    }

    #[test]
    fn the_file_carries_the_cf_attributes() {
        let f = field(&[4, 3, 2]);
        let bytes = f.to_netcdf(&meta()).unwrap();
        let mut r = FileReader::open_seek_read("t.nc", Box::new(Cursor::new(bytes))).unwrap();
        let ds = r.data_set();
        let g = |k: &str| ds.get_global_attr_as_string(k).unwrap();
        assert_eq!(g("Conventions"), "CF-1.8");
        assert_eq!(g("title"), "density.density (quantum.orbital)");
        assert_eq!(g("source"), format!("phx {}", env!("CARGO_PKG_VERSION")));
        assert_eq!(
            (g("phx_node"), g("phx_tool"), g("phx_static_key")),
            ("density".into(), "quantum.orbital".into(), "ab12".into())
        );
        assert_eq!(ds.dim_names(), ["x", "y", "z"]);
        assert_eq!(ds.get_var("density").unwrap().dim_names(), ["z", "y", "x"], "C order, x fastest");
        let a = |v: &str, k: &str| ds.get_var_attr_as_string(v, k);
        assert_eq!(a("density", "units").as_deref(), Some("bohr-3"));
        assert_eq!(a("density", "phx_units").as_deref(), Some("bohr^-3"));
        assert_eq!(a("density", "long_name").as_deref(), Some("probability density"));
        assert_eq!(a("density", "phx_axis_units"), None, "the axes say it");
        for (v, letter) in [("x", "X"), ("y", "Y"), ("z", "Z")] {
            assert_eq!(a(v, "units").as_deref(), Some("bohr"));
            assert_eq!(a(v, "phx_units"), None, "the same in both spellings");
            assert_eq!(a(v, "axis").as_deref(), Some(letter));
            assert_eq!(a(v, "long_name"), Some(format!("{v} coordinate")));
        }
        let x = r.read_var_f64("x").unwrap();
        let step = (2.25 - -1.5) / 3.0;
        assert_eq!(x, vec![-1.5, -1.5 + step, -1.5 + 2.0 * step, 2.25], "numpy.linspace's points");
        assert_eq!(r.read_var_f64("density").unwrap(), f.values);
    }

    #[test]
    fn axes_of_their_own_keep_the_fields_axis_unit() {
        let mut f = field(&[6, 4]);
        f.axis_unit = "a.u. (x in bohr, t in hbar/Eh)".into();
        let m = meta().with_axes(vec![Axis::new("x", "bohr", "position"), Axis::new("t", "hbar/Eh", "time")]);
        let bytes = f.to_netcdf(&m).unwrap();
        let (back, m2) = Field::read_netcdf(&bytes).unwrap();
        assert_eq!(back, f);
        assert_eq!(m2.axes, m.axes);
        let r = FileReader::open_seek_read("t.nc", Box::new(Cursor::new(bytes))).unwrap();
        assert_eq!(r.data_set().get_var("density").unwrap().dim_names(), ["t", "x"]);
        assert_eq!(r.data_set().get_var_attr_as_string("t", "axis").as_deref(), Some("T"));
        // Described with the wrong number of axes: refused.
        assert!(field(&[6]).to_netcdf(&m).is_err());
    }

    #[test]
    fn a_name_that_netcdf_refuses_or_an_axis_has_becomes_value() {
        let f = field(&[3]);
        for name in ["", "x", "two words/slash"] {
            let bytes = f.to_netcdf(&FieldMeta { name: name.into(), ..meta() }).unwrap();
            assert_eq!(Field::read_netcdf(&bytes).unwrap().1.name, "value", "{name:?}");
        }
    }

    #[test]
    fn files_of_the_format_before_are_still_read() {
        let f = field(&[2, 3]);
        let mut old = format!(
            "PHXFIELD 1\n{}\n",
            serde_json::json!({"shape": f.shape, "lo": f.lo, "hi": f.hi, "axis_unit": "bohr", "value_unit": "bohr^-3", "dtype": "f64le", "order": "x fastest"})
        )
        .into_bytes();
        for v in &f.values {
            old.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(Field::from_bytes(&old).unwrap(), f);
        old.pop();
        assert!(Field::from_bytes(&old).is_err(), "a truncated old file");
        let lying = b"PHXFIELD 1\n{\"shape\": [4611686018427387904, 4], \"lo\": [0, 0], \"hi\": [1, 1]}\n";
        assert!(Field::from_bytes(lying).is_err(), "a shape whose size overflows");
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let good = field(&[5, 4, 3]).to_netcdf(&meta()).unwrap();
        assert!(Field::from_bytes(b"nonsense").is_err());
        assert!(Field::from_bytes(b"").is_err());
        assert!(Field::from_bytes(b"CDF").is_err());
        // Every truncation.
        for n in 0..good.len() {
            assert!(Field::from_bytes(&good[..n]).is_err(), "cut at {n}");
        }
        // Every header byte set to values that make counts and sizes huge
        // or names and tags wrong: an error or (a byte in a name or an
        // attribute) a field again, never a panic or an abort.
        let header = good.len() - 8 * (5 * 4 * 3 + 5 + 4 + 3);
        for i in 0..header {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] = v;
                let _ = Field::from_bytes(&bad);
            }
        }
        // Every header word (counts, sizes, offsets) made huge or negative.
        for i in (0..header).step_by(4) {
            for v in [0x7fff_ffffu32, 0xffff_ffff, 0x8000_0000, 0x0001_0000] {
                let mut bad = good.clone();
                bad[i..i + 4].copy_from_slice(&v.to_be_bytes());
                let _ = Field::from_bytes(&bad);
            }
        }
    }
}
