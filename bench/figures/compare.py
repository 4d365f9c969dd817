#!/usr/bin/env python3
"""phx's figures beside matplotlib's, drawn from the same data.

Runs a small phx program (the hydrogen 2p density and its xz slice, the
radial density P(r), a fit of a decay), draws the same data with matplotlib's
defaults, and puts each pair side by side in one PNG:

    bench/figures/compare.py [OUT_DIR]      (default: bench/out/figures)

It makes its own virtual environment with matplotlib (bench/out/figures-venv)
on first use and re-runs itself there. The phx binary is $PHX, else the debug
build under $CARGO_TARGET_DIR (built with cargo when missing).
"""

import json
import math
import os
import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV = ROOT / "bench" / "out" / "figures-venv"

PROGRAM = r'''/// The figures of bench/figures/compare.py.
experiment figures {
  title = "phx figures beside matplotlib"
}

node density = quantum.orbital(n = 2, l = 1, m = 0, grid = 96, extent = 24 bohr) {
  emit = [series]
}

node slice = plot.heatmap(
  field = density.density,
  plane = "xz",
  title = "|psi_2p|^2",
  label = "|psi|^2",
) {
  emit = [static]
}

node radial = plot.line(data = density.radial, y = ["P"], title = "Radial density of 2p") {
  emit = [static]
}

/// Counts decaying in time, with a fixed ripple of a few percent as noise.
tool lab.decay() -> (table: Series) {
  run = "awk 'BEGIN {{ print \"t [fs],counts\"; for (i = 0; i < 30; i++) {{ t = i * 0.2; printf \"%g,%.12g\\n\", t, 40 * exp(-0.7 * t) + 0.8 * ((i * 7919) % 13 / 6 - 1) }} }}' > {table}"
}

fn decay(t: Float, amplitude: Float, rate: Float) -> Float {
  amplitude * exp(-rate * t)
}

node measured = lab.decay()

node fit = data.fit(data = measured.table, model = decay, x = "t", y = "counts", initial = [10.0, 0.1]) {
  emit = [static]
}
'''


def ensure_venv():
    """Re-runs this script inside a virtual environment with matplotlib."""
    if os.environ.get("PHX_FIGURES_VENV") == "1":
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "matplotlib", "numpy"], check=True)
    env = dict(os.environ, PHX_FIGURES_VENV="1")
    sys.exit(subprocess.run([str(python), __file__, *sys.argv[1:]], env=env).returncode)


def phx_binary():
    if os.environ.get("PHX"):
        return os.environ["PHX"]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "debug" / "phx"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--bin", "phx"], cwd=ROOT, check=True)
    return str(binary)


def run_phx(work):
    work.mkdir(parents=True, exist_ok=True)
    (work / "figures.phx").write_text(PROGRAM)
    out = subprocess.run([phx_binary(), "run", "figures.phx", "--format", "json"], cwd=work, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"phx run failed:\n{out.stderr}")
    doc = json.loads(out.stdout)
    nodes = {n["id"]: n for n in doc["nodes"]}
    return lambda node, output: work / nodes[node]["outputs"][output]["path"]


def read_csv(path):
    lines = path.read_text().strip().splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    rows = [line.split(",") for line in lines[1:]]
    return header, rows


def main():
    ensure_venv()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    import numpy as np

    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "out" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    path = run_phx(out / "phx")

    # The 2p (m = 0) density in the xz plane, in closed form: the same
    # values phx evaluates, |psi|^2 = z^2 exp(-r) / (32 pi) bohr^-3.
    g, e = 96, 24.0
    x = np.linspace(-e, e, g)
    xx, zz = np.meshgrid(x, x)
    density = zz**2 * np.exp(-np.sqrt(xx**2 + zz**2)) / (32 * math.pi)
    fig, ax = plt.subplots()
    im = ax.imshow(density, origin="lower", extent=(-e, e, -e, e))
    fig.colorbar(im, ax=ax)
    ax.set_title("|psi_2p|^2")
    ax.set_xlabel("x [bohr]")
    ax.set_ylabel("z [bohr]")
    fig.savefig(out / "mpl_heatmap.png", dpi=150)
    plt.close(fig)

    # P(r) from phx's own table.
    header, rows = read_csv(path("density", "radial"))
    r = np.array([float(row[0]) for row in rows])
    p = np.array([float(row[2]) for row in rows])
    fig, ax = plt.subplots()
    ax.plot(r, p, label=header[2])
    ax.set_title("Radial density of 2p")
    ax.set_xlabel(header[0])
    ax.set_ylabel(header[2])
    fig.savefig(out / "mpl_line.png", dpi=150)
    plt.close(fig)

    # The fit: phx's data and parameters, the model drawn densely.
    header, rows = read_csv(path("fit", "fitted"))
    t = np.array([float(row[0]) for row in rows])
    counts = np.array([float(row[1]) for row in rows])
    _, prows = read_csv(path("fit", "params"))
    params = {row[0]: (float(row[1]), float(row[2])) for row in prows}
    (a, da), (k, dk) = params["amplitude"], params["rate"]
    tt = np.linspace(t.min(), t.max(), 240)
    fig, ax = plt.subplots()
    ax.plot(t, counts, "o", label="data")
    ax.plot(tt, a * np.exp(-k * tt), label=f"fit: amplitude = {a:.2f} ± {da:.2f}, rate = {k:.4f} ± {dk:.4f}")
    ax.set_xlabel(header[0])
    ax.set_ylabel(header[1])
    ax.set_title("fit.fitted")
    ax.legend()
    fig.savefig(out / "mpl_fit.png", dpi=150)
    plt.close(fig)

    pairs = [
        ("heat map", out / "mpl_heatmap.png", path("slice", "image")),
        ("line", out / "mpl_line.png", path("radial", "image")),
        ("fit", out / "mpl_fit.png", path("fit", "fitted_view")),
    ]
    fig, axes = plt.subplots(len(pairs), 2, figsize=(16, 6.2 * len(pairs)))
    for row, (what, mpl, ours) in zip(axes, pairs):
        for ax, file, who in [(row[0], mpl, "matplotlib (defaults)"), (row[1], ours, "phx")]:
            ax.imshow(mpimg.imread(file))
            ax.set_title(f"{what}: {who}", fontsize=16)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "comparison.png", dpi=80)
    print(out / "comparison.png")


if __name__ == "__main__":
    main()
