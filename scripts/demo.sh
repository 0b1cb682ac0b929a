#!/usr/bin/env bash
# The main job on the embedded default: install, build the web UI, migrate, seed demo users, serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The web UI (clients/web, TypeScript) is built into the server's static files; skipped in a
# few milliseconds when nothing changed. Without Node.js the server still runs (API, sockets)
# and its pages say how to build the UI.
bash clients/web/scripts/ensure-built.sh || echo "warning: the web UI was not built; the API and sockets work without it" >&2
export CLARION_DEBUG="${CLARION_DEBUG:-1}"
# Mails are printed here (alice's unread deadline shows one within seconds); point it at a real
# server with CLARION_EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 (docs/delivery.md).
export CLARION_EMAIL_URL="${CLARION_EMAIL_URL:-console:}"
.venv/bin/clarion migrate
.venv/bin/clarion seed-demo
exec .venv/bin/clarion serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
