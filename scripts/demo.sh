#!/usr/bin/env bash
# The main job on the embedded default: install, migrate, seed demo users, serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export CLARION_DEBUG="${CLARION_DEBUG:-1}"
.venv/bin/clarion migrate
.venv/bin/clarion seed-demo
exec .venv/bin/clarion serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
