#!/usr/bin/env bash
# Every test: the suite on the embedded default (SQLite + in-process layer), then again on
# PostgreSQL + Redis with two server processes. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
bash scripts/services.sh
if [ ! -x /usr/bin/chromium ]; then  # browser tests drive Debian's Chromium through Playwright
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
status=0
echo "== pass 1/2: embedded (SQLite, in-process channel layer)"
CLARION_TEST_BACKEND=embedded .venv/bin/python -m pytest "$@" || status=$?
echo "== pass 2/2: scale-out (PostgreSQL, Redis, two server processes)"
CLARION_TEST_BACKEND=scaleout .venv/bin/python -m pytest "$@" || status=$?
exit $status
