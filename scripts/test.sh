#!/usr/bin/env bash
# Every test: the suite on the embedded default (SQLite + in-process layer) beside a run on
# PostgreSQL + Redis with two server processes, then the tests marked cluster on a Redis
# Cluster (scripts/services.sh starts one), the TypeScript client's tests and a quick benchmark
# smoke run. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
bash scripts/services.sh
if [ ! -x /usr/bin/chromium ]; then  # browser tests drive Debian's Chromium through Playwright
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
status=0
echo "== web UI: build clients/web into the server's static files (the browser tests drive it)"
bash clients/web/scripts/ensure-built.sh || status=$?
# Passes 1 and 2 run side by side: they share no database, Redis or port, and both spend most
# of their time waiting on servers, sockets and timers, so together they use the second core
# (passes 1 + 2 took 23 min one after the other on 2 cores). Pass 1's output is shown when it
# ends. CLARION_TEST_SERIAL=1 runs them one after the other.
embedded_pid=""
if [ "${CLARION_TEST_SERIAL:-0}" = 1 ]; then
  echo "== pass 1/3: embedded (SQLite, in-process channel layer)"
  CLARION_TEST_BACKEND=embedded .venv/bin/python -m pytest "$@" || status=$?
else
  echo "== pass 1/3: embedded (SQLite, in-process channel layer), beside pass 2: its output follows pass 2's"
  embedded_log="$(mktemp)"
  CLARION_TEST_BACKEND=embedded .venv/bin/python -m pytest "$@" >"$embedded_log" 2>&1 &
  embedded_pid=$!
  trap 'kill "$embedded_pid" 2>/dev/null || true' EXIT  # an interrupted run leaves no pass behind
fi
echo "== pass 2/3: scale-out (PostgreSQL, Redis, two server processes)"
CLARION_TEST_BACKEND=scaleout .venv/bin/python -m pytest "$@" || status=$?
if [ -n "$embedded_pid" ]; then
  embedded_status=0
  wait "$embedded_pid" || embedded_status=$?
  trap - EXIT
  echo "== pass 1/3: embedded, its output"
  cat "$embedded_log"
  if [ "$embedded_status" != 0 ]; then status=$embedded_status; fi
fi
echo "== pass 3/3: Redis Cluster (the tests marked cluster: the message path across two processes, Redis faults, a master killed)"
CLARION_TEST_BACKEND=cluster .venv/bin/python -m pytest -m cluster "$@" || status=$?
echo "== TypeScript client: unit tests (vitest) and typecheck"
# npm ci only when node_modules is older than the lock file (as clients/web/scripts/ensure-built.sh)
(cd clients/js && { [ -d node_modules ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] \
   || npm ci --no-audit --no-fund --loglevel=error; } && npm test && npm run typecheck) || status=$?
echo "== smoke: benchmark suite, --quick (checks the machinery works; asserts no speed)"
if [ ! -f .venv/.installed-bench ] || [ bench/requirements.txt -nt .venv/.installed-bench ]; then
  .venv/bin/python -m pip install -q -r bench/requirements.txt
  touch .venv/.installed-bench
fi
smoke_out="$(mktemp -d)/bench-quick.json"
.venv/bin/python -m bench run --quick --out "$smoke_out" || status=$?
exit $status
