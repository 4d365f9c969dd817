#!/usr/bin/env bash
# Times `phx check` (release build) on generated programs and records wall
# time and peak memory. Usage: bench/run.sh [RUNS]
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
  summary=$("$phx" check --format json "$f" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["nodes"], d["edges"], sum(x["severity"]=="error" for x in d["diagnostics"]))')
  read -r nodes edges errors <<<"$summary"
  [ "$errors" = 0 ] || { echo "$name has $errors errors" >&2; exit 1; }
  times=(); rss=0
  for _ in $(seq "$runs"); do
    line=$( { /usr/bin/time -f '%e %M' "$phx" check "$f" >/dev/null 2>/dev/null; } 2>&1 | tail -1 )
    t=${line% *}; m=${line#* }
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  best=$(echo "$sorted" | head -1); median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
  printf '| %s | %s | %s | %s | %s | %.0f |\n' "$name" "$nodes" "$edges" "$best" "$median" "$(echo "$rss / 1024" | bc -l)"
done
