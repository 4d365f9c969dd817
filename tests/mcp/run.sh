#!/usr/bin/env bash
# Runs the MCP tests (the official MCP Python SDK as the client) against a
# phx binary: PHX_BIN=path. Creates the virtual environment on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${PHX_MCP_VENV:-$HOME/.cache/phx-mcp-venv}"
if ! "$venv/bin/python" -c "import mcp, pytest_asyncio, jsonschema" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "mcp>=1.20,<2" "pytest>=8" "pytest-asyncio>=0.23" "jsonschema>=4"
fi
cd "$here"
exec "$venv/bin/pytest" -q -p no:cacheprovider "$@"
