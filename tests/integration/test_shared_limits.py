"""Limits shared by two server processes through Redis (docs/security.md, "Floods"): the
allowance of sockets per user, the flood cool-down and the chat allowance are the same over one
process or two. Scale-out only: the embedded server is one process."""

import asyncio
import json
import uuid

import pytest

from tests.integration.harness import ServerProcess, close_code, next_frame, prepare_backend

pytestmark = [pytest.mark.integration, pytest.mark.scaleout, pytest.mark.cluster]  # also on a Redis Cluster

LIMITS = {"CLARION_MAX_CONNECTIONS_PER_USER": "3", "CLARION_MESSAGE_RATE": "5", "CLARION_MESSAGE_BURST": "5",
          "CLARION_RATE_LIMIT_COOLDOWN": "4", "CLARION_CHAT_RATE": "0.2", "CLARION_CHAT_BURST": "3"}


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    env = {**prepare_backend(tmp_path_factory.mktemp("limits-data"), "clarion_limits"), **LIMITS}
    servers = [ServerProcess(env, tmp_path_factory.mktemp("limits-logs") / f"server-{i}.log").start() for i in range(2)]
    yield servers
    for server in servers:
        server.stop()


async def test_sockets_per_user_count_over_both_processes(two_processes):
    a, b = two_processes
    token = a.token("alice")
    async with a.socket(token) as s1, a.socket(token) as s2, b.socket(token) as s3:
        for ws in (s1, s2, s3):
            assert (await next_frame(ws))["type"] == "recent_notifications"
        for server in (a, b):  # the fourth is refused on either process
            async with server.socket(token) as extra:
                assert await close_code(extra) == 4029
        async with b.socket(a.token("bob")) as other:  # other users are unaffected
            assert (await next_frame(other))["type"] == "recent_notifications"
        await s1.close()
        await asyncio.sleep(0.3)
        async with b.socket(token) as again:  # a freed slot is free on every process
            assert (await next_frame(again))["type"] == "recent_notifications"


async def test_a_flooder_closed_on_one_process_is_refused_by_the_other(two_processes):
    a, b = two_processes
    token = a.token("carol")
    async with a.socket(token) as flooder:
        await next_frame(flooder)
        for _ in range(20):
            await flooder.send('{"type": "ping"}')
        assert await close_code(flooder) == 4029
    async with b.socket(token) as elsewhere:  # at once, on the other process
        assert await close_code(elsewhere) == 4029
    await asyncio.sleep(4.5)  # the cool-down ends everywhere
    async with b.socket(token) as later:
        assert (await next_frame(later))["type"] == "recent_notifications"


async def test_the_chat_allowance_is_one_over_both_processes(two_processes):
    a, b = two_processes
    dave = a.token("dave")
    key = f"limits-{uuid.uuid4().hex[:8]}"
    status, room = a.request("POST", "/api/rooms/", {"key": key, "title": "Limits", "members": []}, dave)
    assert status == 201, room
    path = f"/ws/collaboration/{key}/"
    async with a.socket(dave, path=path) as on_a, b.socket(dave, path=path) as on_b:
        for ws in (on_a, on_b):
            assert (await next_frame(ws))["type"] == "room_snapshot"
        answers = []
        for i, ws in enumerate([on_a, on_b, on_a, on_b]):
            await ws.send(json.dumps({"type": "send_message", "data": {"body": f"m{i}", "client_id": f"c{i}"}}))
            while True:  # this socket's own answer: its message echoed back, or an error
                frame = await next_frame(ws)
                if frame["type"] == "error" or (frame["type"] == "chat_message" and frame["data"]["body"] == f"m{i}"):
                    answers.append(frame["type"] if frame["type"] == "chat_message" else frame["data"]["code"])
                    break
        assert answers == ["chat_message", "chat_message", "chat_message", "rate_limited"]
