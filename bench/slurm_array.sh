#!/usr/bin/env bash
# A sweep of N trivial instances plus its gather on the one-node Slurm
# cluster of the tests (tests/slurm/cluster.sh, 16 CPUs advertised), with
# the release build: wall time, sbatch calls (job arrays) and squeue calls.
# Usage: bench/slurm_array.sh [N] (default 100000). Needs root, as the
# cluster does.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phx-target}"
n="${1:-100000}"
cargo build --release --quiet --bin phx
phx="$CARGO_TARGET_DIR/release/phx"
tests/slurm/cluster.sh up
dir=$(mktemp -d /tmp/phx-slurm-array-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/shim"
# sbatch and squeue through shims that count the calls.
for c in sbatch squeue; do
  printf '#!/bin/sh\necho "$*" >> %s/%s.log\nexec %s "$@"\n' "$dir" "$c" "$(command -v $c)" > "$dir/shim/$c"
  chmod +x "$dir/shim/$c"
done
cat > "$dir/wide.phx" <<PHX
tool lab.one(i: Int) -> (row: Series) {
  run   = "echo i,sq > {row}; echo {i},\$(( {i} * {i} )) >> {row}"
  emits = [series]
}

tool lab.gather(tables: List[Series]) -> (table: Series) {
  // The paths go through printf (a shell builtin) and xargs: 100,000 of
  // them are more than one exec may take.
  run   = "echo i,sq > {table}; printf '%s\\n' {tables} | xargs tail -q -n +2 >> {table}"
  emits = [series]
}

node one[i in 0..$n] = lab.one(i = i) {
  emit = [series]
}

node all = lab.gather(tables = one[*].row) {
  emit = [series]
}
PHX
printf '[slurm]\npoll_ms = 500\n' > "$dir/phx.toml"
start=$(date +%s.%N)
(cd "$dir" && PATH="$dir/shim:$PATH" "$phx" run wide.phx --backend slurm --format json > out.json 2> err.txt) || {
  tail -20 "$dir/err.txt"; exit 1; }
end=$(date +%s.%N)
python3 - "$dir" "$n" "$start" "$end" <<'PY'
import json, os, sys
d, n, start, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
doc = json.load(open(os.path.join(d, "out.json")))
ok = sum(1 for x in doc["nodes"] if x["status"] == "succeeded")
gather = next(x for x in doc["nodes"] if x["id"] == "all")
rows = open(os.path.join(d, gather["outputs"]["table"]["path"])).read().splitlines()[1:]
assert rows == [f"{i},{i*i}" for i in range(n)], "the gather lost rows"
sb = [l for l in open(os.path.join(d, "sbatch.log")) if "--parsable" in l]
sq = open(os.path.join(d, "squeue.log")).read().splitlines()
print(f"{n:,} instances + gather on Slurm: {end - start:.1f} s wall, {ok:,} of {n + 1:,} succeeded, "
      f"{len(sb)} sbatch calls ({sum('--array' in l for l in sb)} arrays), {len(sq)} squeue calls, status {doc['status']}")
PY
