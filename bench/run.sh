#!/usr/bin/env bash
# Times `phx check` (release build) on generated programs: best and median
# wall time and peak memory. Usage: bench/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phx-target}"
runs="${1:-5}"
cargo build --release --quiet
phx="$CARGO_TARGET_DIR/release/phx"
out=bench/out
mkdir -p "$out"
python3 bench/gen.py sweep 50000 > "$out/sweep50k.phx"
python3 bench/gen.py explicit 10000 > "$out/explicit10k.phx"
printf '| program | nodes | edges | best wall (s) | median wall (s) | peak RSS (MB) |\n| --- | --- | --- | --- | --- | --- |\n'
for name in sweep50k explicit10k; do
  f="$out/$name.phx"
  "$phx" check "$f" > /dev/null  # warm the page cache; fail loudly on errors
  python3 - "$phx" "$f" "$name" "$runs" <<'PY'
import json, subprocess, sys
phx, f, name, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
doc = json.loads(subprocess.run([phx, "check", "--format", "json", f], capture_output=True, text=True).stdout)
errors = [d for d in doc["diagnostics"] if d["severity"] == "error"]
if errors:
    sys.exit(f"{name}: {len(errors)} errors")
m = json.loads(subprocess.run([sys.executable, "bench/measure.py", runs, phx, "check", f], capture_output=True, text=True, check=True).stdout)
print(f"| {name} | {doc['nodes']} | {doc['edges']} | {m['best_s']:.3f} | {m['median_s']:.3f} | {m['peak_rss_mb']:.0f} |")
PY
done

# The runtime: 1,000 trivial command nodes and a gather from scratch with
# --jobs 2, and a no-op re-run of 10,000 cached nodes.
printf '\n| run | nodes | best wall (s) | median wall (s) | peak RSS (MB) |\n| --- | --- | --- | --- | --- |\n'
for n in 1000 10000; do
  d="$out/run$n"
  rm -rf "$d" && mkdir -p "$d"
  python3 bench/gen.py commands "$n" > "$d/b.phx"
  if [ "$n" = 1000 ]; then
    # From scratch each time: a fresh store per measurement.
    python3 - "$phx" "$d" "$runs" <<'PY'
import json, os, shutil, subprocess, sys
phx, d, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
walls, peak = [], 0
for _ in range(runs):
    shutil.rmtree(os.path.join(d, ".phx"), ignore_errors=True)
    m = json.loads(subprocess.run([sys.executable, "bench/measure.py", "1", phx, "run", os.path.join(d, "b.phx"), "--jobs", "2"], capture_output=True, text=True, check=True).stdout)
    walls.append(m["best_s"]); peak = max(peak, m["peak_rss_mb"])
walls.sort()
print(f"| from scratch, --jobs 2 | 1001 | {walls[0]:.3f} | {walls[len(walls)//2]:.3f} | {peak:.0f} |")
PY
  else
    "$phx" run "$d/b.phx" --jobs 2 > /dev/null 2>&1
    python3 - "$phx" "$d" "$runs" <<'PY'
import json, os, subprocess, sys
phx, d, runs = sys.argv[1], sys.argv[2], sys.argv[3]
m = json.loads(subprocess.run([sys.executable, "bench/measure.py", runs, phx, "run", os.path.join(d, "b.phx"), "--jobs", "2"], capture_output=True, text=True, check=True).stdout)
print(f"| no-op re-run, all cached | 10001 | {m['best_s']:.3f} | {m['median_s']:.3f} | {m['peak_rss_mb']:.0f} |")
PY
  fi
done
