"""Two server processes on PostgreSQL + Redis: groups, reads and resume span processes."""

import concurrent.futures
import json

import pytest

from tests.integration.harness import frames_until_quiet, next_frame, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.scaleout, pytest.mark.cluster]


async def test_notification_created_on_one_process_reaches_sockets_on_the_other(server, second_server, tokens):
    async with second_server.socket(tokens["alice"]) as alice_b, server.socket(tokens["bob"]) as bob_a, \
            second_server.socket(tokens["carol"]) as carol_b:
        for ws in (alice_b, bob_a, carol_b):
            await next_frame(ws)
            await frames_until_quiet(ws, 0.3)
        server.notify(tokens["dave"], title="via A", recipient_type="role", recipient_id="student")
        assert (await next_frame(alice_b))["data"]["title"] == "via A"
        assert (await next_frame(bob_a))["data"]["title"] == "via A"
        second_server.notify(tokens["dave"], title="everyone via B", recipient_type="all")
        for ws in (alice_b, bob_a, carol_b):
            assert (await next_frame(ws))["data"]["title"] == "everyone via B"
        assert await frames_until_quiet(carol_b, 0.5) == []


async def test_cli_publishes_through_redis_directly(server, second_server, backend, tokens):
    async with second_server.socket(tokens["bob"]) as bob:
        await next_frame(bob)
        await frames_until_quiet(bob, 0.3)
        assert run_cli(backend, "send", "--user", "bob", "--title", "shell via redis").returncode == 0
        assert (await next_frame(bob, timeout=3))["data"]["title"] == "shell via redis"


async def test_reads_sync_tabs_on_different_processes(server, second_server, tokens):
    async with server.socket(tokens["carol"]) as tab_a, second_server.socket(tokens["carol"]) as tab_b:
        await next_frame(tab_a), await next_frame(tab_b)
        await frames_until_quiet(tab_a, 0.3), await frames_until_quiet(tab_b, 0.3)
        created = server.notify(tokens["dave"], title="review", recipient_type="role", recipient_id="advisor")
        await next_frame(tab_a), await next_frame(tab_b)
        await tab_a.send(json.dumps({"type": "mark_as_read", "data": {"ids": [created["id"]]}}))
        frame = await next_frame(tab_b)
        assert frame["type"] == "notifications_read" and frame["data"]["ids"] == [created["id"]]


async def test_concurrent_creates_on_both_processes_arrive_once_in_cursor_order(server, second_server, tokens):
    """Both processes insert at once, so PostgreSQL commits ids out of order; the live stream
    and a resume from the starting cursor must both hold every notification exactly once."""
    _, alice_me = server.request("GET", "/api/me/", token=tokens["alice"])
    async with server.socket(tokens["alice"]) as live:
        start = await next_frame(live)
        await frames_until_quiet(live, 0.3)
        start_cursor = start["data"]["cursor"]
        drained = await frames_until_quiet(live, 0.1)
        if drained:
            start_cursor = drained[-1]["data"]["cursor"]

        def create(target, i):
            return target.notify(tokens["dave"], title=f"burst {i}", recipient_type="user",
                                 recipient_id=str(alice_me["id"]))["id"]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            jobs = [pool.submit(create, (server, second_server)[i % 2], i) for i in range(40)]
            created_ids = {job.result() for job in jobs}
        frames = []
        while len(frames) < 40:
            frames.append(await next_frame(live))
        assert {f["data"]["id"] for f in frames} == created_ids
        assert len(frames) == 40

    async with second_server.socket(tokens["alice"], cursor=start_cursor) as resumed:
        assert (await next_frame(resumed))["data"]["resumed"] is True
        replayed = [await next_frame(resumed) for _ in range(40)]
        assert [f["data"]["id"] for f in replayed] == [f["data"]["id"] for f in frames]
        assert await frames_until_quiet(resumed, 0.5) == []
