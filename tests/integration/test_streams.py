"""/ws/projects/{id}/ and /ws/collaboration/{room}/ against a real server, over real sockets:
who may subscribe (every role, and the refusals), live events, resume, revocation, chat,
presence, typing and rate limits."""

import asyncio
import json
import uuid

import pytest

from tests.integration.harness import close_code, frames_until_quiet, new_project, next_frame, user_id

pytestmark = pytest.mark.integration




@pytest.fixture
def project(server, tokens):
    """A fresh project: alice a member, carol the advisor; bob is not in it."""
    return new_project(server, tokens, "Greenhouse", status="in_progress")


async def first(ws, expected_type):
    frame = await next_frame(ws)
    assert frame["type"] == expected_type, frame
    return frame


async def until(ws, predicate, timeout=5.0):
    """Frames until one matches (others, such as presence or notifications, are skipped)."""
    async def scan():
        while True:
            frame = await next_frame(ws, timeout)
            if predicate(frame):
                return frame
    return await asyncio.wait_for(scan(), timeout)


async def test_project_stream_admits_members_advisor_and_admins_only(server, tokens, project):
    path = f"/ws/projects/{project['id']}/"
    for name in ("alice", "carol", "dave"):
        async with server.socket(tokens[name], path=path) as ws:
            snapshot = await first(ws, "project_snapshot")
            assert snapshot["data"]["project"]["id"] == project["id"]
            assert [e["kind"] for e in snapshot["data"]["events"]] == ["created"]
    async with server.socket(tokens["bob"], path=path) as ws:
        assert await close_code(ws) == 4403
    async with server.socket(None, path=path) as ws:
        assert await close_code(ws) == 4401
    for bad in ("999999999", "abc", "-1", "0", "1" * 40, "%D9%A1%D9%A2", "1.5"):
        async with server.socket(tokens["dave"], path=f"/ws/projects/{bad}/") as ws:
            assert await close_code(ws) == 4404, bad


async def test_status_change_reaches_the_stream_and_notifies_students(server, tokens, project):
    pid = project["id"]
    async with server.socket(tokens["alice"], path=f"/ws/projects/{pid}/") as stream, \
            server.socket(tokens["alice"]) as bell:
        await first(stream, "project_snapshot")
        await frames_until_quiet(bell, 0.3)
        status, body = server.request("PATCH", f"/api/projects/{pid}/", {"status": "submitted"}, tokens["alice"])
        assert status == 403, body  # a student may not change the status
        status, body = server.request("PATCH", f"/api/projects/{pid}/", {"status": "submitted"}, tokens["carol"])
        assert status == 200, body
        event = await until(stream, lambda f: f["type"] == "project_event")
        assert event["data"]["kind"] == "status_changed"
        assert event["data"]["data"] == {"from": "in_progress", "to": "submitted"}
        assert event["data"]["actor"]["username"] == "carol"
        note = await until(bell, lambda f: f["type"] == "notification")
        assert note["data"]["data"] == {"project": pid} and "submitted" in note["data"]["title"].lower()


async def test_submission_notifies_the_advisor(server, tokens, project):
    async with server.socket(tokens["carol"]) as bell:
        await frames_until_quiet(bell, 0.3)
        status, body = server.request("POST", f"/api/projects/{project['id']}/submissions/",
                                      {"kind": "submission", "title": "Chapter 2"}, tokens["alice"])
        assert status == 201, body
        note = await until(bell, lambda f: f["type"] == "notification")
        assert "Chapter 2" in note["data"]["message"]


async def test_project_resume_returns_exactly_what_was_missed(server, tokens, project):
    path = f"/ws/projects/{project['id']}/"
    async with server.socket(tokens["alice"], path=path) as ws:
        cursor = (await first(ws, "project_snapshot"))["data"]["cursor"]
    for i in range(3):
        status, _ = server.request("POST", f"/api/projects/{project['id']}/comments/", {"text": f"c{i}"},
                                   tokens["carol"])
        assert status == 201
    async with server.socket(tokens["alice"], path=path, cursor=cursor) as ws:
        snapshot = await first(ws, "project_snapshot")
        assert snapshot["data"]["resumed"] is True and snapshot["data"]["events"] == []
        replayed = [await first(ws, "project_event") for _ in range(3)]
        assert [e["data"]["data"]["text"] for e in replayed] == ["c0", "c1", "c2"]
        assert await frames_until_quiet(ws, 0.5) == []
    status, page = server.request("GET", f"/api/projects/{project['id']}/events/?after={cursor}",
                                  token=tokens["alice"])
    assert status == 200 and [e["data"]["text"] for e in page["results"]] == ["c0", "c1", "c2"]


async def test_removed_member_is_disconnected_from_project_and_room_at_once(server, tokens, project):
    pid, alice = project["id"], user_id(server, tokens["alice"])
    async with server.socket(tokens["alice"], path=f"/ws/projects/{pid}/") as stream, \
            server.socket(tokens["alice"], path=f"/ws/collaboration/project-{pid}/") as room:
        await first(stream, "project_snapshot")
        await first(room, "room_snapshot")
        status, _ = server.request("DELETE", f"/api/projects/{pid}/members/{alice}/", token=tokens["carol"])
        assert status == 200
        assert await asyncio.wait_for(close_code(stream), 2.0) == 4403
        assert await asyncio.wait_for(close_code(room), 2.0) == 4403
    async with server.socket(tokens["alice"], path=f"/ws/projects/{pid}/") as ws:
        assert await close_code(ws) == 4403


async def test_project_rest_permissions_per_role(server, tokens, project):
    pid = project["id"]
    assert server.request("GET", f"/api/projects/{pid}/", token=tokens["bob"])[0] == 404
    assert server.request("GET", f"/api/projects/{pid}/", token=tokens["alice"])[0] == 200
    assert pid not in [p["id"] for p in server.request("GET", "/api/projects/", token=tokens["bob"])[1]]
    assert server.request("POST", "/api/projects/", {"title": "mine"}, tokens["alice"])[0] == 403
    status, body = server.request("POST", "/api/projects/", {"title": "x", "status": "nope"}, tokens["dave"])
    assert status == 400 and "status" in body
    assert server.request("PATCH", f"/api/projects/{pid}/", {"title": "Renamed"}, tokens["alice"])[0] == 200
    assert server.request("DELETE", f"/api/projects/{pid}/", token=tokens["carol"])[0] == 403


# -- collaboration --------------------------------------------------------------------


async def test_chat_edit_delete_and_resume_in_a_project_room(server, tokens, project):
    path = f"/ws/collaboration/project-{project['id']}/"
    async with server.socket(tokens["alice"], path=path) as alice, server.socket(tokens["carol"], path=path) as carol:
        start = (await first(alice, "room_snapshot"))["data"]["cursor"]
        await first(carol, "room_snapshot")
        await alice.send(json.dumps({"type": "send_message", "data": {"body": "<b>draft</b> is up", "client_id": "c1"}}))
        posted = await until(carol, lambda f: f["type"] == "chat_message")
        assert posted["data"]["body"] == "<b>draft</b> is up" and posted["data"]["event"] == "created"
        mid = posted["data"]["id"]
        await carol.send(json.dumps({"type": "edit_message", "data": {"id": mid, "body": "hijack"}}))
        refused = await until(carol, lambda f: f["type"] == "error")
        assert refused["data"]["code"] == "forbidden" and refused["data"]["ids"] == [mid]
        await alice.send(json.dumps({"type": "edit_message", "data": {"id": mid, "body": "draft v2"}}))
        edited = await until(carol, lambda f: f["type"] == "chat_message" and f["data"]["event"] == "edited")
        assert edited["data"]["body"] == "draft v2"
        await alice.send(json.dumps({"type": "send_message", "data": {"body": "second"}}))
        second = await until(carol, lambda f: f["type"] == "chat_message" and f["data"]["body"] == "second")
        await alice.send(json.dumps({"type": "delete_message", "data": {"id": second["data"]["id"]}}))
        await until(carol, lambda f: f["type"] == "chat_message" and f["data"]["event"] == "deleted")
        await alice.send(json.dumps({"type": "delete_message", "data": {"id": second["data"]["id"]}}))
        gone = await until(alice, lambda f: f["type"] == "error")
        assert gone["data"]["code"] == "not_found" and gone["data"]["ids"] == [second["data"]["id"]]
    async with server.socket(tokens["carol"], path=path, cursor=start) as again:
        assert (await first(again, "room_snapshot"))["data"]["resumed"] is True
        replay = [f for f in await frames_until_quiet(again, 0.8) if f["type"] == "chat_message"]
        # the latest state of each message that changed, once each, in log order
        assert [(m["data"]["id"], m["data"]["event"]) for m in replay] == [(mid, "edited"), (second["data"]["id"], "deleted")]
    async with server.socket(tokens["carol"], path=path) as fresh:
        history = (await first(fresh, "room_snapshot"))["data"]["messages"]
        assert [m["body"] for m in history][-1:] == ["draft v2"]  # deleted ones are left out


async def test_presence_join_leave_across_tabs_and_typing(server, tokens, project):
    path = f"/ws/collaboration/project-{project['id']}/"
    async with server.socket(tokens["alice"], path=path) as alice:
        await first(alice, "room_snapshot")
        state = await until(alice, lambda f: f["type"] == "presence")
        assert state["data"]["event"] == "state" and [u["username"] for u in state["data"]["online"]] == ["alice"]
        own = await until(alice, lambda f: f["type"] == "presence")
        assert own["data"]["event"] == "join" and own["data"]["user"]["username"] == "alice"
        async with server.socket(tokens["carol"], path=path) as tab1:
            joined = await until(alice, lambda f: f["type"] == "presence")
            assert joined["data"]["event"] == "join" and joined["data"]["user"]["username"] == "carol"
            async with server.socket(tokens["carol"], path=path) as tab2:
                await first(tab2, "room_snapshot")
                await tab2.send(json.dumps({"type": "typing", "data": {"active": True}}))
                typing = await until(alice, lambda f: f["type"] in ("typing", "presence"))
                assert typing["type"] == "typing", "a second tab must not announce a second join"
                assert typing["data"] == {"user": typing["data"]["user"], "active": True}
                await tab2.send(json.dumps({"type": "typing", "data": {"active": True}}))
                await tab2.send(json.dumps({"type": "typing", "data": {"active": False}}))
                last = await until(alice, lambda f: f["type"] == "typing", timeout=3)
                assert last["data"]["active"] is False  # throttled, but the final state arrives
            assert [f for f in await frames_until_quiet(alice, 0.5) if f["type"] == "presence"] == []
            del tab1
        left = await until(alice, lambda f: f["type"] == "presence")
        assert left["data"]["event"] == "leave" and left["data"]["user"]["username"] == "carol"
        assert [u["username"] for u in left["data"]["online"]] == ["alice"]


async def test_chat_rate_limit_answers_with_an_error_frame(server, tokens, project):
    path = f"/ws/collaboration/project-{project['id']}/"
    async with server.socket(tokens["carol"], path=path) as carol:
        await first(carol, "room_snapshot")
        for i in range(25):
            await carol.send(json.dumps({"type": "send_message", "data": {"body": f"spam {i}"}}))
        frames = await frames_until_quiet(carol, 1.0)
        limited = [f for f in frames if f["type"] == "error" and f["data"]["code"] == "rate_limited"]
        stored = [f for f in frames if f["type"] == "chat_message"]
        assert limited and stored and len(limited) + len(stored) == 25
        await carol.send(json.dumps({"type": "send_message", "data": {"body": ""}}))
        assert (await until(carol, lambda f: f["type"] == "error"))["data"]["code"] in ("invalid_data", "rate_limited")


async def test_rooms_created_through_rest_admit_their_members_only(server, tokens):
    bob = user_id(server, tokens["bob"])
    key = f"club-{uuid.uuid4().hex[:8]}"
    status, room = server.request("POST", "/api/rooms/", {"key": key, "title": "Thesis club", "members": [bob]},
                                  tokens["dave"])
    assert status == 201, room
    assert server.request("POST", "/api/rooms/", {"key": "project-1"}, tokens["dave"])[0] == 400
    async with server.socket(tokens["bob"], path=f"/ws/collaboration/{key}/") as ws:
        assert (await first(ws, "room_snapshot"))["data"]["room"]["key"] == key
        status, _ = server.request("DELETE", f"/api/rooms/{key}/members/{bob}/", token=tokens["dave"])
        assert status == 200
        assert await asyncio.wait_for(close_code(ws), 2.0) == 4403
    async with server.socket(tokens["alice"], path=f"/ws/collaboration/{key}/") as ws:
        assert await close_code(ws) == 4404  # a room alice may not see looks like none (issue 10)
    for bad in ("bad%20key", "x" * 65, "%E2%9C%93", "nope-" + uuid.uuid4().hex[:6], "project-999999999"):
        async with server.socket(tokens["dave"], path=f"/ws/collaboration/{bad}/") as ws:
            assert await close_code(ws) == 4404, bad
