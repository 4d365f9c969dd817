#!/usr/bin/env bash
# Fuzzes one target for SECONDS (default 600):
#   fuzz/run.sh [TARGET] [SECONDS]
# TARGET is `check` (the default: the whole compiler, fuzz_targets/check.rs)
# or `mcp_transport` (arbitrary lines to the MCP server, then a request that
# must be answered: fuzz_targets/mcp_transport.rs); `fuzz/run.sh SECONDS`
# fuzzes `check`.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain works
# with RUSTC_BOOTSTRAP=1 for the sanitizer flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")"
target=check
if [[ $# -gt 0 && ! "$1" =~ ^[0-9]+$ ]]; then
  target="$1"
  shift
fi
seconds="${1:-600}"
mkdir -p "corpus/$target"
case "$target" in
  check)
    cp ../examples/*.phx ../examples/lib/*.phx corpus/check/
    ;;
  mcp_transport)
    # One seed per kind of message a client sends.
    seed() { printf '%s\n' "$2" > "corpus/mcp_transport/$1"; }
    seed initialize '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"fuzz","version":"0"}}}'
    seed initialized '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    seed tools_list '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
    seed validate '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"validate_dag","arguments":{"source":"param n = 3\n"},"_meta":{"progressToken":7}}}'
    seed routed '{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"experiment_orchestrator","arguments":{"method":"validate_dag","dag_id":"0123456789abcdef"}}}'
    seed cancel '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2,"reason":"x"}}'
    seed answer '{"jsonrpc":"2.0","id":"phx-1","result":{"content":{"type":"text","text":"x"}}}'
    seed level '{"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"debug"}}'
    seed batch '[{"jsonrpc":"2.0","id":4,"method":"ping"}]'
    ;;
esac
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096
