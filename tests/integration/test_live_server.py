"""End to end against a real `clarion serve` process, over real sockets."""

import asyncio
import json
import statistics
import time

import pytest

from tests.integration.harness import close_code, frames_until_quiet, next_frame, run_cli

pytestmark = pytest.mark.integration


async def test_rest_create_reaches_the_audience_and_nobody_else(server, tokens):
    async with server.socket(tokens["alice"]) as alice, server.socket(tokens["bob"]) as bob, \
            server.socket(tokens["carol"]) as carol, server.socket(tokens["dave"]) as dave:
        for ws in (alice, bob, carol, dave):
            assert (await next_frame(ws))["type"] == "recent_notifications"
        await frames_until_quiet(alice, 0.3)  # demo notifications the relay may still be pushing

        created = server.notify(tokens["dave"], title="Defense schedule", message="Room 101",
                                recipient_type="role", recipient_id="student")
        for ws in (alice, bob):
            frame = await next_frame(ws)
            assert frame["type"] == "notification"
            assert frame["data"]["id"] == created["id"] and frame["data"]["title"] == "Defense schedule"
            assert frame["data"]["cursor"]
        for ws in (carol, dave):
            assert [f for f in await frames_until_quiet(ws, 0.5) if f["type"] == "notification"] == []

        _, bob_me = server.request("GET", "/api/me/", token=tokens["bob"])
        server.notify(tokens["dave"], title="Just bob", recipient_type="user", recipient_id=str(bob_me["id"]))
        assert (await next_frame(bob))["data"]["title"] == "Just bob"
        assert await frames_until_quiet(alice, 0.5) == []


async def test_rest_create_to_socket_latency(server, tokens):
    """Not a timed test: it prints the figure the closing note quotes, and checks delivery."""
    _, alice_me = server.request("GET", "/api/me/", token=tokens["alice"])
    latencies = []
    async with server.socket(tokens["alice"]) as alice:
        await next_frame(alice)
        await frames_until_quiet(alice, 0.3)
        for i in range(40):
            started = time.perf_counter()
            server.notify(tokens["dave"], title=f"latency {i}", recipient_type="user",
                          recipient_id=str(alice_me["id"]))
            frame = await next_frame(alice)
            latencies.append((time.perf_counter() - started) * 1000)
            assert frame["data"]["title"] == f"latency {i}"
    latencies.sort()
    print(f"\nREST create -> socket: p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f} ms, max {latencies[-1]:.1f} ms")


async def test_cli_and_python_api_in_other_processes_reach_live_sockets(server, backend, tokens):
    async with server.socket(tokens["alice"]) as alice:
        await next_frame(alice)
        await frames_until_quiet(alice, 0.3)
        result = run_cli(backend, "send", "--user", "alice", "--title", "From the shell", "--type", "warning")
        assert result.returncode == 0, result.stderr
        frame = await next_frame(alice)
        assert frame["data"]["title"] == "From the shell" and frame["data"]["notification_type"] == "warning"

        script = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'clarion.server.settings');"
                  "django.setup(); import clarion; clarion.send_notification_to_role('student', 'From code')")
        import subprocess
        import sys

        subprocess.run([sys.executable, "-c", script], env=backend, check=True, timeout=60)
        assert (await next_frame(alice))["data"]["title"] == "From code"


async def test_server_restart_loses_nothing_and_repeats_nothing(server, backend, tokens):
    async with server.socket(tokens["alice"]) as alice:
        await next_frame(alice)
        await frames_until_quiet(alice, 0.3)
        run_cli(backend, "send", "--user", "alice", "--title", "before restart")
        last = await next_frame(alice)
        cursor = last["data"]["cursor"]

    server.stop()
    try:
        for i in range(3):
            result = run_cli(backend, "send", "--user", "alice", "--title", f"while down {i}")
            assert result.returncode == 0, result.stderr
    finally:
        server.start()

    fresh = server.token("alice")
    async with server.socket(fresh, cursor=cursor) as alice:
        first = await next_frame(alice)
        assert first["type"] == "recent_notifications" and first["data"]["resumed"] is True
        frames = await frames_until_quiet(alice, 1.5)
        assert [f["data"]["title"] for f in frames] == ["while down 0", "while down 1", "while down 2"]
        ids = [f["data"]["id"] for f in frames]
        assert len(set(ids)) == 3


async def test_bad_credentials_origins_and_paths(server, tokens):
    async with server.socket("not-a-token") as ws:
        assert await close_code(ws) == 4401
    async with server.socket(None) as ws:
        assert await close_code(ws) == 4401
    with pytest.raises(Exception) as refused:
        async with server.socket(tokens["alice"], origin="http://127.0.0.1.evil.io"):
            pass
    assert "403" in str(refused.value)
    async with server.socket(tokens["alice"], path="/ws/nowhere/1/") as ws:
        assert await close_code(ws) == 4404
    # Non-browser clients may use the Authorization header and send no Origin.
    async with server.socket(origin=None, headers={"Authorization": f"Bearer {tokens['alice']}"}) as ws:
        assert (await next_frame(ws))["type"] == "recent_notifications"


async def test_hostile_frames_get_errors_or_close_codes_and_the_server_lives(server, tokens):
    async with server.socket(tokens["bob"]) as ws:
        await next_frame(ws)
        await frames_until_quiet(ws, 0.3)
        for text, code in [("{", "invalid_json"), ("[]", "invalid_frame"), ('{"type":"x"}', "unknown_type"),
                           ('{"type":"mark_as_read","data":{"ids":[0]}}', "invalid_data"),
                           ('{"type":"mark_as_read","data":{"ids":[1,2,3]}}', None)]:
            await ws.send(text)
            frames = await frames_until_quiet(ws, 0.4)
            errors = [f for f in frames if f["type"] == "error"]
            if code:
                assert errors and errors[0]["data"]["code"] == code
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_frame(ws)) == {"type": "pong"}
        await ws.send("x" * (64 * 1024 + 1))
        assert await close_code(ws) == 1009
    async with server.socket(tokens["bob"]) as ws:
        await next_frame(ws)
        await ws.send(b"\x00binary")
        assert await close_code(ws) == 1003
    status, _ = server.request("GET", "/api/notifications/unread-count/", token=tokens["bob"])
    assert status == 200


async def test_mark_as_read_reaches_every_tab(server, tokens):
    async with server.socket(tokens["carol"]) as tab1, server.socket(tokens["carol"]) as tab2:
        await next_frame(tab1), await next_frame(tab2)
        created = server.notify(tokens["dave"], title="advisors", recipient_type="role", recipient_id="advisor")
        await next_frame(tab1), await next_frame(tab2)
        await tab1.send(json.dumps({"type": "mark_as_read", "data": {"ids": [created["id"]]}}))
        for tab in (tab1, tab2):
            frame = await next_frame(tab)
            assert frame["type"] == "notifications_read" and frame["data"]["ids"] == [created["id"]]
        status, body = server.request("POST", "/api/notifications/read-all/", token=tokens["carol"])
        assert status == 200
        for tab in (tab1, tab2):
            frame = await next_frame(tab)
            assert frame["type"] == "notifications_read" and frame["data"]["unread_count"] == 0


async def test_notifications_sent_while_the_server_was_down_are_in_the_first_snapshot(server, backend):
    """The relay starts with the server (ASGI lifespan), not with the first socket."""
    server.stop()
    try:
        result = run_cli(backend, "send", "--user", "bob", "--title", "queued while down")
        assert result.returncode == 0, result.stderr
    finally:
        server.start()
    await asyncio.sleep(1.0)  # a few relay intervals
    async with server.socket(server.token("bob")) as bob:
        first = await next_frame(bob)
        assert "queued while down" in [n["title"] for n in first["data"]["notifications"]]
        assert [f for f in await frames_until_quiet(bob, 0.6) if f["type"] == "notification"] == []
