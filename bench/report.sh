#!/usr/bin/env bash
# Times `phx report RUN` (release build) for a run with 50 figures: 50
# heatmaps, each its own figure with a written caption, plus one contact
# sheet of all 50. Goal: under 2 s. Usage: bench/report.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phx-target}"
runs="${1:-5}"
cargo build --release --quiet
phx="$CARGO_TARGET_DIR/release/phx"
d=bench/out/report50
rm -rf "$d" && mkdir -p "$d"
{
  echo 'experiment fifty { title = "Fifty figures" authors = ["Bench"] }'
  echo 'node orb = quantum.orbital(n = 3, l = 2, m = 1, grid = 48, extent = 30 bohr) { emit = [series] }'
  echo 'node heat[i in 0..50] = plot.heatmap(field = orb.density, plane = "xz", title = "slice {i}", resolution = 96) { emit = [static] }'
  echo 'report fifty {'
  echo '  section "Every slice" {'
  echo '    text "Fifty heatmaps of the 3d density, one figure each, then all of them on one sheet."'
  for i in $(seq 0 49); do echo "    figure heat[$i]"; done
  echo '    figure heat'
  echo '  }'
  echo '}'
} > "$d/fifty.phx"
"$phx" run "$d/fifty.phx" > /dev/null
run=$("$phx" runs --dir "$d" | awk 'NR == 2 { print $1 }')
python3 - "$phx" "$d" "$run" "$runs" <<'PY'
import json, subprocess, sys
phx, d, run, runs = sys.argv[1:5]
m = json.loads(subprocess.run([sys.executable, "bench/measure.py", runs, phx, "report", run, "--dir", d, "-o", f"{d}/fifty.pdf"],
                              capture_output=True, text=True, check=True).stdout)
pages = subprocess.run(["pdfinfo", f"{d}/fifty.pdf"], capture_output=True, text=True).stdout
pages = next((l.split()[-1] for l in pages.splitlines() if l.startswith("Pages:")), "?")
print("| report | figures | pages | best wall (s) | median wall (s) | peak RSS (MB) | goal |")
print("| --- | --- | --- | --- | --- | --- | --- |")
print(f"| 50 heatmaps + a 50-panel contact sheet | 51 | {pages} | {m['best_s']:.3f} | {m['median_s']:.3f} | {m['peak_rss_mb']:.0f} | < 2 s |")
PY
