"""Projects and rooms across server processes on PostgreSQL + Redis: events and presence
reach every process, and a killed process's users leave within the presence bound."""

import asyncio
import signal
import uuid

import pytest

from tests.integration.harness import ServerProcess, close_code, user_id
from tests.integration.test_streams import first, until

pytestmark = [pytest.mark.integration, pytest.mark.scaleout, pytest.mark.cluster]

PRESENCE_TTL = 4.0  # tests/integration/harness.py sets CLARION_PRESENCE_TTL for every server


@pytest.fixture
def project(server, tokens):
    alice, bob, carol = (user_id(server, tokens[n]) for n in ("alice", "bob", "carol"))
    status, body = server.request("POST", "/api/projects/", {
        "title": f"Shared {uuid.uuid4().hex[:6]}", "advisor": carol, "members": [alice, bob]}, tokens["dave"])
    assert status == 201, body
    return body


async def test_project_events_and_chat_cross_processes(server, second_server, tokens, project):
    pid = project["id"]
    async with second_server.socket(tokens["bob"], path=f"/ws/projects/{pid}/") as stream, \
            second_server.socket(tokens["bob"], path=f"/ws/collaboration/project-{pid}/") as room_b:
        await first(stream, "project_snapshot")
        await first(room_b, "room_snapshot")
        # Bob is in once his presence state arrives; a join recorded before it may not list him
        # (his entry is written after his handshake, on the other process).
        await until(room_b, lambda f: f["type"] == "presence" and f["data"]["event"] == "state")
        room_a = await server.socket(tokens["alice"], path=f"/ws/collaboration/project-{pid}/")
        await first(room_a, "room_snapshot")
        server.request("POST", f"/api/projects/{pid}/comments/", {"text": "from A"}, tokens["carol"])
        event = await until(stream, lambda f: f["type"] == "project_event")
        assert event["data"]["data"] == {"text": "from A"}
        joined = await until(room_b, lambda f: f["type"] == "presence" and f["data"]["event"] == "join"
                             and f["data"]["user"]["username"] == "alice")
        assert {u["username"] for u in joined["data"]["online"]} == {"alice", "bob"}
        await room_a.send('{"type":"send_message","data":{"body":"hello B"}}')
        message = await until(room_b, lambda f: f["type"] == "chat_message")
        assert message["data"]["body"] == "hello B"
        await room_a.close()


async def test_removal_on_one_process_disconnects_sockets_on_the_other(server, second_server, tokens, project):
    pid, bob = project["id"], user_id(server, tokens["bob"])
    async with second_server.socket(tokens["bob"], path=f"/ws/projects/{pid}/") as stream:
        await first(stream, "project_snapshot")
        assert server.request("DELETE", f"/api/projects/{pid}/members/{bob}/", token=tokens["carol"])[0] == 200
        assert await asyncio.wait_for(close_code(stream), 2.0) == 4403


async def test_users_of_a_killed_process_leave_within_the_presence_bound(server, backend, tokens, project,
                                                                         tmp_path):
    path = f"/ws/collaboration/project-{project['id']}/"
    doomed = ServerProcess(backend, tmp_path / "doomed.log").start()
    try:
        async with server.socket(tokens["alice"], path=path) as alice:
            await first(alice, "room_snapshot")
            bob_ws = await doomed.socket(tokens["bob"], path=path).__aenter__()
            await first(bob_ws, "room_snapshot")
            await until(alice, lambda f: f["type"] == "presence" and f["data"]["event"] == "join"
                        and f["data"]["user"]["username"] == "bob")
            doomed.stop(sig=signal.SIGKILL)
            loop = asyncio.get_running_loop()
            killed_at = loop.time()
            left = await until(alice, lambda f: f["type"] == "presence" and f["data"]["event"] == "leave",
                               timeout=PRESENCE_TTL * 1.25 + 3)
            waited = loop.time() - killed_at
            assert left["data"]["user"]["id"] == user_id(server, tokens["bob"])
            assert [u["username"] for u in left["data"]["online"]] == ["alice"]
            assert waited <= PRESENCE_TTL * 1.25 + 1.0, waited
    finally:
        doomed.stop(sig=signal.SIGKILL)
