"""Reads phx's field artifacts with xarray (the scipy engine, which reads
NetCDF classic) and holds them to what phx itself read from the same files.

Usage: python check_fields.py EXPECTED.json, where the JSON is a list of
fields as tests/netcdf.rs writes them: path, variable, axes (name, CF units,
lo, hi, n), value units, the values x fastest, and checks of their own.
"""

import json
import sys

import numpy as np
import xarray as xr


def check(f):
    ds = xr.open_dataset(f["path"], engine="scipy")
    where = f"{f['node']}.{f['variable']}"
    assert ds.attrs["Conventions"] == "CF-1.8", ds.attrs
    assert ds.attrs["source"].startswith("phx "), ds.attrs
    assert ds.attrs["phx_node"] == f["node"], ds.attrs
    assert ds.attrs["phx_tool"] == f["tool"], ds.attrs
    var = ds[f["variable"]]
    names = [a["name"] for a in f["axes"]]
    # C order: the slowest axis first, x (the fastest) last.
    assert var.dims == tuple(reversed(names)), (where, var.dims)
    assert var.dtype == np.float64, (where, var.dtype)
    assert var.attrs["units"] == f["units"], (where, var.attrs)
    for a in f["axes"]:
        c = ds[a["name"]]
        assert c.attrs["units"] == a["units"], (where, a, c.attrs)
        assert c.attrs["axis"] == a["axis"], (where, a, c.attrs)
        assert c.values[0] == a["lo"] and c.values[-1] == a["hi"], (where, a, c.values)
        # The grid is numpy.linspace's, to the bit.
        assert np.array_equal(c.values, np.linspace(a["lo"], a["hi"], a["n"])), (where, c.values)
    values = np.array(f["values"], dtype=np.float64)
    assert np.array_equal(var.values.ravel(order="C"), values), where
    if "integral" in f:
        cell = np.prod([ds[n].values[1] - ds[n].values[0] for n in names])
        total = float(var.sum()) * cell
        assert abs(total - f["integral"]) <= 1e-9 * abs(f["integral"]), (where, total, f["integral"])
    if "square_of_x" in f:
        # field.evaluate of g(x) = x * x.
        assert np.allclose(var.values, ds["x"].values ** 2, rtol=1e-14, atol=0), (where, var.values)
    if "profile" in f:
        # The series emit's profile along x, through the same file.
        assert np.array_equal(var.values, np.array(f["profile"])), where
    ds.close()
    print(f"{where}: {var.dims} {var.shape} [{var.attrs['units']}] matches phx")


def main():
    fields = json.load(open(sys.argv[1]))
    assert fields, "no fields to check"
    for f in fields:
        check(f)


if __name__ == "__main__":
    main()
