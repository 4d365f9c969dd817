#!/usr/bin/env bash
# Builds the VS Code extension: installs its npm dependencies (exact
# versions, from package-lock.json when present), compiles the TypeScript,
# tests the TextMate grammar with vscode-tmgrammar-test, and packages
# phx.vsix with vsce.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
npx tsc -p .
npx vscode-tmgrammar-test -g syntaxes/phx.tmLanguage.json 'test/*.phx'
npx vsce package --allow-missing-repository -o phx.vsix
unzip -l phx.vsix | grep -E "extension/(out/extension.js|syntaxes/phx.tmLanguage.json|node_modules/vscode-languageclient/package.json)"
