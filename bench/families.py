#!/usr/bin/env python3
"""Sweeps at scale (issue 19): `phx check` and `phx run --dry-run` of the
side-by-side workflow (N trivial command nodes as one sweep plus a gather,
`gen.py commands N`) at 10^4..10^6 instances, a no-op re-run of N cached
instances, and Snakemake's dry run of the same workflow at 10^4 and 10^5
jobs (measured, once each at 10^5: it is slow). Wall time and peak RSS come
from GNU time. Prints a markdown table.

  bench/families.py --phx PATH [--snakemake PATH] [--noop N] [--sizes 10000,100000,1000000]
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from side_by_side import snakefile  # noqa: E402


def measured(cmd, cwd):
    """(seconds, peak MB) of one run, by GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    wall, kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kb) / 1024


def program(n):
    return subprocess.run([sys.executable, str(ROOT / "bench" / "gen.py"), "commands", str(n)], capture_output=True, text=True, check=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phx", required=True)
    ap.add_argument("--snakemake")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--snakemake-sizes", default="10000,100000")
    ap.add_argument("--noop", type=int, default=0, help="instances for the no-op re-run (0: skip)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="phx-families-"))
    rows = []
    for n in [int(x) for x in a.sizes.split(",")]:
        d = work / f"p{n}"
        d.mkdir()
        (d / "b.phx").write_text(program(n))
        cw, cm = measured([a.phx, "check", "b.phx"], d)
        dw, dm = measured([a.phx, "run", "--dry-run", "b.phx"], d)
        rows.append(f"| {n:,} | {cw:.2f} s, {cm:.0f} MB | {dw:.2f} s, {dm:.0f} MB |")
        print(rows[-1], file=sys.stderr)
    print("| instances | `phx check` | `phx run --dry-run` (empty store) |\n|---:|---|---|")
    print("\n".join(rows))
    if a.snakemake:
        print("\n| jobs | phx dry run | Snakemake `-n` | ratio |\n|---:|---|---|---:|")
        for n in [int(x) for x in a.snakemake_sizes.split(",")]:
            d = work / f"s{n}"
            d.mkdir()
            (d / "b.phx").write_text(program(n))
            (d / "Snakefile").write_text(snakefile(n))
            pw, _ = measured([a.phx, "run", "--dry-run", "b.phx"], d)
            sw, sm = measured([a.snakemake, "-n", "--cores", "1", "--quiet", "all"], d)
            print(f"| {n:,} | {pw:.2f} s | {sw:.1f} s ({sm:.0f} MB) | {sw / pw:.0f}x |", flush=True)
    if a.noop:
        d = work / "noop"
        d.mkdir()
        (d / "b.phx").write_text(program(a.noop))
        subprocess.run([a.phx, "run", "b.phx", "--jobs", "2"], cwd=d, check=True, capture_output=True)
        subprocess.run([a.phx, "run", "b.phx", "--jobs", "2"], cwd=d, check=True, capture_output=True)
        w, m = measured([a.phx, "run", "b.phx", "--jobs", "2"], d)
        print(f"\nno-op re-run of {a.noop:,} cached instances + gather: {w:.2f} s, {m:.0f} MB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
