#!/usr/bin/env bash
# Build Clarion's wheel and sdist into dist/ (or the folder given), web UI included: the UI is
# built first (clients/web, Node.js 18+), without source maps unless CLARION_UI_SOURCEMAPS=1.
# Installing either file needs no Node.js.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
bash clients/web/scripts/ensure-built.sh
"$python" -m build --version >/dev/null 2>&1 || "$python" -m pip install -q "build>=1.2"
# A stale build/ from an earlier setuptools run could put old files into the wheel.
rm -rf build
"$python" -m build --outdir "$out" .
echo "built: $(cd "$out" && ls -1 clarion-* | tr '\n' ' ')"
