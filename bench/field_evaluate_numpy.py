#!/usr/bin/env python3
"""numpy's time for the hydrogen 2p function on a G^3 grid (float64,
vectorised), the baseline of `cargo bench -p phx-codegen --bench field`.

  field_evaluate_numpy.py [G] [--json]
"""
import json
import statistics
import sys
import time

import numpy as np

G = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 160
E = 12.0
axis = np.linspace(-E, E, G)
z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
times = []
for _ in range(10):
    t = time.perf_counter()
    r = np.sqrt(x * x + y * y + z * z)
    v = z * np.exp(-r / 2)
    times.append(time.perf_counter() - t)
if "--json" in sys.argv:
    print(json.dumps({"numpy": np.__version__, "grid": G, "times_s": times}))
else:
    print(f"numpy {np.__version__}: best {min(times) * 1e3:.1f} ms, median {statistics.median(times) * 1e3:.1f} ms")
