#!/usr/bin/env bash
# Build the web UI into src/clarion/server/static/clarion-ui/ unless that build is up to date.
# Used by scripts/demo.sh and scripts/test.sh. A re-run with nothing changed costs one `find`
# (no npm at all); `npm ci` runs only when package-lock.json is newer than node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=../../src/clarion/server/static/clarion-ui/manifest.json
# A build with source maps when none are asked for (or the other way round) is not up to date.
maps_wanted="${CLARION_UI_SOURCEMAPS:-0}"
maps_built=0
if compgen -G "$(dirname "$manifest")/*.map" >/dev/null; then maps_built=1; fi
if [ -f "$manifest" ] && [ "$maps_wanted" = "$maps_built" ] && [ -d node_modules ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] \
   && [ -z "$(find src scripts package.json tsconfig.json ../js/src -newer "$manifest" -print -quit)" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "clients/web: npm is missing, so the web UI cannot be built (install Node.js 18 or later)." >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
