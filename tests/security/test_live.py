"""Against a real `clarion serve` process: no credential in any log line, invalid UTF-8 is
closed by the server (1007) without harm, no REST operation answers 5xx to generated input
(schemathesis), and a flood leaves other users' latency alone (figures printed)."""

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect

from tests.integration.harness import ServerProcess, close_code, next_frame, private_server

pytestmark = pytest.mark.integration


class VerboseServer(ServerProcess):
    """A harness server at the most verbose log level `clarion serve` offers."""

    serve_args = ("--log-level", "debug")


@pytest.fixture(scope="module")
def loud_server(tmp_path_factory):
    """Its own backend: these tests log users out and flood, which must not touch the
    shared server of the other integration tests."""
    yield from private_server(tmp_path_factory, "security", VerboseServer, CLARION_LOG_LEVEL="DEBUG")


def _post(server, path, body, token=None, origin=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if origin:
        headers["Origin"] = origin
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


# The loud server's tests run once, in the scale-out pass: what they check (log redaction, UTF-8
# framing, REST input) is the same code on both backends, and PostgreSQL, Redis and tickets in
# Redis make the scale-out server the one with more to log and stricter about input.
@pytest.mark.scaleout
async def test_no_token_ticket_or_password_reaches_the_server_log(loud_server):
    server = loud_server
    status, pair = _post(server, "/api/auth/token/", {"username": "alice", "password": "demo-password"})
    assert status == 200
    access, refresh = pair["access"], pair["refresh"]
    secrets = {"access": access, "refresh": refresh, "password": "demo-password"}
    status, body = _post(server, "/api/auth/token/refresh/", {"refresh": refresh})
    assert status == 200
    secrets["refreshed"] = body["access"]
    server.request("GET", "/api/notifications/?unread=true", token=access)
    server.request("GET", f"/api/me/?token={access}", token=access)  # a client that got it wrong
    for i in range(2):
        status, body = _post(server, "/api/auth/ticket/", {}, token=access, origin=server.url)
        assert status == 201
        secrets[f"ticket{i}"] = body["ticket"]
    async with server.socket(access) as ws:  # ?token=
        assert (await next_frame(ws))["type"] == "recent_notifications"
    url = f"{server.ws_url}/ws/notifications/?ticket={secrets['ticket0']}"
    async with connect(url, origin=server.url, open_timeout=10) as ws:  # ?ticket=
        assert (await next_frame(ws))["type"] == "recent_notifications"
    url = f"{server.ws_url}/ws/notifications/?cursor=x&ticket={secrets['ticket0']}"  # reused: 4401
    async with connect(url, origin=server.url, open_timeout=10) as ws:
        assert await close_code(ws) == 4401
    forged = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    secrets["forged"] = forged
    async with server.socket(forged) as ws:
        assert await close_code(ws) == 4401
    url = f"{server.ws_url}/ws/projects/1/?token={access}"
    try:
        async with connect(url, origin="http://evil.io", open_timeout=10):  # refused handshake: 403
            pass
    except Exception:
        pass
    async with server.socket(origin=None, headers={"Authorization": f"Bearer {secrets['refreshed']}"}) as ws:
        assert (await next_frame(ws))["type"] == "recent_notifications"
    await asyncio.sleep(0.5)  # let the log lines land

    log = server.log()
    assert "WebSocket /ws/notifications/?token=[redacted]" in log  # the handshake lines are there, redacted
    leaked = {name: value for name, value in secrets.items() if value in log}
    assert not leaked, f"credentials in the server log: {sorted(leaked)}"
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", log), "something shaped like a JWT is in the log"


@pytest.mark.scaleout
async def test_invalid_utf8_in_a_text_frame_is_closed_1007_and_the_server_lives(loud_server):
    server = loud_server
    status, pair = _post(server, "/api/auth/token/", {"username": "bob", "password": "demo-password"})
    assert status == 200
    async with server.socket(pair["access"]) as ws:
        await next_frame(ws)
        await ws.send(b'{"type": "ping", "x": "\xff\xfe"}', text=True)
        assert await close_code(ws) == 1007
    async with server.socket(pair["access"]) as ws:
        await next_frame(ws)
        await ws.send('{"type": "ping"}')
        assert (await next_frame(ws))["type"] == "pong"


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory):
    """A server as `clarion serve` runs by default (log level warning), for the flood figures."""
    yield from private_server(tmp_path_factory, "flood")


async def test_a_flood_leaves_other_users_latency_alone(quiet_server, capsys):
    from tests.security.flood import measure

    server = quiet_server
    victim = _post(server, "/api/auth/token/", {"username": "carol", "password": "demo-password"})[1]["access"]
    attacker = _post(server, "/api/auth/token/", {"username": "bob", "password": "demo-password"})[1]["access"]
    figures = await measure(server.ws_url, server.url, victim, attacker, seconds=4.0)
    with capsys.disabled():
        print("\nflood figures:", json.dumps(figures))
    assert set(figures["frame_flood"]["closes"]) == {"4029"}  # every flooding socket was cut off
    assert figures["socket_hoarding"]["held"] <= 50  # MAX_CONNECTIONS_PER_USER
    assert figures["socket_hoarding"]["refused"].get("4029", 0) > 0
    during, baseline = figures["during_flood"], figures["baseline"]
    assert during["pings"] > 25
    # Loose on purpose (CI machines are noisy; measured: p50 ~2 ms, p95 ~11 ms against ~0.6 and
    # ~2.5 ms alone, docs/security.md): the victim stays interactive.
    assert during["p50_ms"] < max(20.0, 10 * baseline["p50_ms"]), figures
    assert during["p95_ms"] < 150.0, figures


@pytest.mark.scaleout
def test_no_rest_operation_answers_5xx_to_generated_input(loud_server, tmp_path):
    """schemathesis against /api/schema/ as an administrator: at most 20 examples per
    operation and 90 s in all (schemathesis stops there), checked for 5xx only, with a fixed
    seed. Logout is left out (it would end the token mid-run; test_sessions.py covers it)."""
    pytest.importorskip("schemathesis")
    status, pair = _post(loud_server, "/api/auth/token/", {"username": "dave", "password": "demo-password"})
    assert status == 200
    cli = Path(sys.executable).parent / "schemathesis"
    # One worker: with two, Hypothesis parses lambda sources with `ast` on both threads, and
    # CPython 3.11.7's AST recursion counter goes wrong there (CPython gh-106905, seen in threaded
    # programs, fixed after 3.11.7): a fresh-clone run died with "SystemError: AST constructor
    # recursion depth mismatch". One worker still reaches all 47 operations in the 90 s (7,133 cases).
    result = subprocess.run(
        [str(cli), "run", f"{loud_server.url}/api/schema/", "--url", loud_server.url,
         "--checks", "not_a_server_error", "--max-examples", "20", "--phases", "examples,coverage,fuzzing",
         "--header", f"Authorization: Bearer {pair['access']}", "--exclude-path", "/api/auth/logout/",
         "--max-time", "90", "--workers", "1", "--seed", "1", "--no-color",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
    )
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-10000:] + result.stderr[-3000:]
