#!/usr/bin/env bash
# Every test: the suite on PostgreSQL + Redis with two server processes, beside the suite on the
# embedded default (SQLite + in-process layer) followed by the TypeScript client's tests and a
# quick benchmark smoke run; then the tests marked cluster on a Redis Cluster (scripts/services.sh
# starts one). Installs what it needs first.
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

typescript_tests() {
  echo "== TypeScript client: unit tests (vitest) and typecheck"
  # npm ci only when node_modules is older than the lock file (as clients/web/scripts/ensure-built.sh)
  (cd clients/js && { [ -d node_modules ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] \
     || npm ci --no-audit --no-fund --loglevel=error; } && npm test && npm run typecheck)
}

# Before any pass starts: pip must not change the virtualenv under a running pass.
if [ ! -f .venv/.installed-bench ] || [ bench/requirements.txt -nt .venv/.installed-bench ]; then
  .venv/bin/python -m pip install -q -r bench/requirements.txt
  touch .venv/.installed-bench
fi

bench_smoke() {
  echo "== smoke: benchmark suite, --quick (checks the machinery works; asserts no speed)"
  # A Redis and databases of its own (bench/stacks.py): nothing the test passes use.
  .venv/bin/python -m bench run --quick --out "$(mktemp -d)/bench-quick.json"
}

# The scale-out pass is the critical path (about 14-15 min). Beside it, in a second lane, run
# the embedded pass, then the TypeScript tests and the benchmark smoke run: they share no
# database, Redis or port with it, and all of them spend most of their time waiting on servers,
# sockets and timers, so together they use the second core (everything one after the other
# took 23 min on 2 cores; the lane ends minutes before the scale-out pass). The lane's output is
# shown when it ends. CLARION_TEST_SERIAL=1 runs everything one after the other.
if [ "${CLARION_TEST_SERIAL:-0}" = 1 ]; then
  echo "== pass 1/3: embedded (SQLite, in-process channel layer)"
  CLARION_TEST_BACKEND=embedded .venv/bin/python -m pytest "$@" || status=$?
  echo "== pass 2/3: scale-out (PostgreSQL, Redis, two server processes)"
  CLARION_TEST_BACKEND=scaleout .venv/bin/python -m pytest "$@" || status=$?
else
  echo "== pass 1/3: embedded (SQLite, in-process channel layer), then the TypeScript tests and the benchmark smoke run, beside pass 2: their output follows pass 2's"
  lane_log="$(mktemp)"
  (
    lane_status=0
    echo "== pass 1/3: embedded (SQLite, in-process channel layer)"
    CLARION_TEST_BACKEND=embedded .venv/bin/python -m pytest "$@" || lane_status=$?
    typescript_tests || lane_status=$?
    bench_smoke || lane_status=$?
    exit $lane_status
  ) >"$lane_log" 2>&1 &
  lane_pid=$!
  # An interrupted run leaves nothing of the lane behind.
  trap 'pkill -TERM -P "$lane_pid" 2>/dev/null || true; kill "$lane_pid" 2>/dev/null || true' EXIT
  echo "== pass 2/3: scale-out (PostgreSQL, Redis, two server processes)"
  CLARION_TEST_BACKEND=scaleout .venv/bin/python -m pytest "$@" || status=$?
  lane_status=0
  wait "$lane_pid" || lane_status=$?
  trap - EXIT
  echo "== the second lane's output: pass 1/3 (embedded), the TypeScript client, the benchmark smoke run"
  cat "$lane_log"
  if [ "$lane_status" != 0 ]; then status=$lane_status; fi
fi
echo "== pass 3/3: Redis Cluster (the tests marked cluster: the message path across two processes, Redis faults, a master killed)"
CLARION_TEST_BACKEND=cluster .venv/bin/python -m pytest -m cluster "$@" || status=$?
if [ "${CLARION_TEST_SERIAL:-0}" = 1 ]; then
  typescript_tests || status=$?
  bench_smoke || status=$?
fi
exit $status
