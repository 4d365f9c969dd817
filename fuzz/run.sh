#!/usr/bin/env bash
# Fuzzes the whole compiler (fuzz_targets/check.rs) for SECONDS (default 600).
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain works
# with RUSTC_BOOTSTRAP=1 for the sanitizer flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
mkdir -p corpus/check
cp ../examples/*.phx ../examples/lib/*.phx corpus/check/
RUSTC_BOOTSTRAP=1 cargo fuzz run check corpus/check -- -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096
