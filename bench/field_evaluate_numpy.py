#!/usr/bin/env python3
"""numpy's time for the hydrogen 2p function on a 160^3 grid (float64,
vectorised), the baseline of `cargo bench -p phx-codegen --bench field`."""
import statistics
import time

import numpy as np

G, E = 160, 12.0
axis = np.linspace(-E, E, G)
z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
times = []
for _ in range(10):
    t = time.perf_counter()
    r = np.sqrt(x * x + y * y + z * z)
    v = z * np.exp(-r / 2)
    times.append(time.perf_counter() - t)
print(f"numpy {np.__version__}: best {min(times) * 1e3:.1f} ms, median {statistics.median(times) * 1e3:.1f} ms")
