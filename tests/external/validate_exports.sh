#!/usr/bin/env bash
# Validates phx's exports with the reference readers, outside the test suite
# (they need a network install: the Khronos glTF validator from npm, VTK from
# PyPI). Runs examples/orbitals_sweep.phx, then checks its GLB with
# gltf-validator (0 errors and 0 warnings required) and reads its VTK file
# with VTK's own vtkStructuredPointsReader.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${PHX_VALIDATE_DIR:-${TMPDIR:-/tmp}/phx-validate}"
mkdir -p "$work"
cd "$work"
[ -d node_modules/gltf-validator ] || npm install --silent gltf-validator
[ -x venv/bin/python ] || { python3 -m venv venv && venv/bin/pip install -q vtk numpy; }
rm -rf run && mkdir run && cp "$root/examples/orbitals_sweep.phx" run/
(cd "$root" && cargo build -q --release)
phx="${CARGO_TARGET_DIR:-$root/target}/release/phx"
(cd run && "$phx" run orbitals_sweep.phx --format json > run.json)
object() { (cd run && "$phx" artifact log "$1" | awk '{print $5}' | head -1 | xargs -I{} find .phx/objects -name {}); }
glb="run/$(object mesh)"
vtk="run/$(object export)"
node -e '
const v = require("gltf-validator"); const fs = require("fs");
v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1]))).then(r => {
  console.log(`glTF: ${r.issues.numErrors} errors, ${r.issues.numWarnings} warnings, ${r.info.totalTriangleCount} triangles`);
  process.exit(r.issues.numErrors + r.issues.numWarnings > 0 ? 1 : 0);
});' "$glb"
venv/bin/python - "$vtk" <<'PY'
import sys, numpy as np, vtk
from vtk.util.numpy_support import vtk_to_numpy
r = vtk.vtkStructuredPointsReader(); r.SetFileName(sys.argv[1]); r.Update()
o = r.GetOutput(); a = vtk_to_numpy(o.GetPointData().GetScalars())
assert o.GetDimensions() == (64, 64, 64), o.GetDimensions()
print(f"VTK {vtk.vtkVersion.GetVTKVersion()}: dims {o.GetDimensions()}, integral {a.sum() * np.prod(o.GetSpacing()):.4f}")
PY
