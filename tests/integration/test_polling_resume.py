"""``?after=<cursor>`` on the three streams against a real server (issue 15, item 4): a poll
returns what the socket's resume would replay, the same items in the same order, and the
cursor it ends on resumes the socket (and the socket's cursor resumes a poll) with nothing
lost and nothing repeated. Run on both backends."""

import asyncio
import json
import uuid

import pytest

from clarion.protocol import encode_cursor
from tests.integration.harness import frames_until_quiet, new_project, next_frame, private_server, user_id

pytestmark = pytest.mark.integration




def poll_all(server, path, cursor, token, limit=2):
    """Every page after ``cursor``: (items, the cursor the last page ended on, pages read)."""
    items, pages = [], 0
    while True:
        sep = "&" if "?" in path else "?"
        status, page = server.request("GET", f"{path}{sep}after={cursor}&limit={limit}", token=token)
        assert status == 200, page
        assert "cursor_expired" not in page, page
        pages += 1
        items += page["results"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return items, cursor, pages
        assert len(page["results"]) == limit


async def snapshot_cursor(server, token, path="/ws/notifications/"):
    async with server.socket(token, path=path) as ws:
        frame = await next_frame(ws)
        assert frame["data"]["cursor"], frame
        return frame["data"]["cursor"]


async def replayed(server, token, cursor, item_type, path="/ws/notifications/"):
    """What a socket resumed from ``cursor`` replays, and the cursor its last frame carries."""
    async with server.socket(token, path=path, cursor=cursor) as ws:
        first = await next_frame(ws)
        assert first["data"].get("resumed") is True, first
        frames = [f for f in await frames_until_quiet(ws, 0.8) if f["type"] == item_type]
    last = frames[-1]["data"]["cursor"] if frames else first["data"]["cursor"]
    return [f["data"] for f in frames], last


@pytest.fixture
def project(server, tokens):
    return new_project(server, tokens, "Polling", status="in_progress")


# -- notifications -------------------------------------------------------------------------


async def test_notifications_after_pages_what_the_socket_resume_replays(server, tokens):
    admin = tokens["dave"]
    alice = user_id(server, tokens["alice"])
    cursor = await snapshot_cursor(server, tokens["alice"])
    tag = uuid.uuid4().hex[:6]
    sent = []
    for i in range(5):
        sent.append(server.notify(admin, title=f"{tag} mine {i}", recipient_type="user", recipient_id=str(alice)))
        if i == 1:
            sent.append(server.notify(admin, title=f"{tag} students", recipient_type="role", recipient_id="student"))
            server.notify(admin, title=f"{tag} advisors only", recipient_type="role", recipient_id="advisor")
            server.notify(admin, title=f"{tag} bob only", recipient_type="user",
                          recipient_id=str(user_id(server, tokens["bob"])))
    # read elsewhere before the poll: a poll still reports it (is_read true), as the resume does
    status, _ = server.request("POST", f"/api/notifications/{sent[0]['id']}/read/", token=tokens["alice"])
    assert status == 200

    polled, end, pages = poll_all(server, "/api/notifications/", cursor, tokens["alice"], limit=2)
    assert [n["id"] for n in polled] == [n["id"] for n in sent]  # in order, each once, nobody else's
    assert pages == 3
    assert polled[0]["is_read"] is True and not any(n["is_read"] for n in polled[1:])
    socket_items, _ = await replayed(server, tokens["alice"], cursor, "notification")
    assert socket_items == polled  # the same payloads, not only the same ids

    # the poll's last cursor resumes the socket with nothing more to replay, and vice versa
    assert (await replayed(server, tokens["alice"], end, "notification"))[0] == []
    status, page = server.request("GET", f"/api/notifications/?after={end}", token=tokens["alice"])
    assert status == 200 and page["results"] == [] and page["has_more"] is False
    status, counts = server.request("GET", "/api/notifications/unread-count/", token=tokens["alice"])
    assert (page["unread_count"], page["unseen_count"]) == (counts["unread_count"], counts["unseen_count"])


async def test_notifications_after_is_per_reader(server, tokens):
    admin = tokens["dave"]
    cursor = await snapshot_cursor(server, tokens["bob"])
    tag = uuid.uuid4().hex[:6]
    server.notify(admin, title=f"{tag} alice", recipient_type="user", recipient_id=str(user_id(server, tokens["alice"])))
    server.notify(admin, title=f"{tag} advisors", recipient_type="role", recipient_id="advisor")
    everyone = server.notify(admin, title=f"{tag} all", recipient_type="all")
    polled, _, _ = poll_all(server, "/api/notifications/", cursor, tokens["bob"], limit=10)
    assert [n["id"] for n in polled if n["title"].startswith(tag)] == [everyone["id"]]
    status, body = server.request("GET", f"/api/notifications/?after={cursor}", token=None)
    assert status == 401


async def test_switching_socket_poll_socket_loses_and_repeats_nothing(server, tokens):
    """The protocol-level switch a client makes: live on a socket, the socket goes, polls from
    the socket's last cursor, then a socket resumes from the poll's cursor."""
    admin = tokens["dave"]
    alice = user_id(server, tokens["alice"])
    tag = uuid.uuid4().hex[:6]
    sent, received = [], []

    def send(i):
        sent.append(server.notify(admin, title=f"{tag} {i}", recipient_type="user", recipient_id=str(alice))["id"])

    async with server.socket(tokens["alice"]) as ws:
        cursor = (await next_frame(ws))["data"]["cursor"]
        for i in range(3):
            send(i)
            frame = await next_frame(ws)
            received.append(frame["data"]["id"])
            cursor = frame["data"]["cursor"]
    for i in range(3, 6):  # while neither is looking
        send(i)
    polled, cursor, _ = poll_all(server, "/api/notifications/", cursor, tokens["alice"], limit=2)
    received += [n["id"] for n in polled]
    for i in range(6, 8):
        send(i)
    async with server.socket(tokens["alice"], cursor=cursor) as ws:
        assert (await next_frame(ws))["data"]["resumed"] is True
        send(8)  # live, after the replay
        frames = [f for f in await frames_until_quiet(ws, 0.8) if f["type"] == "notification"]
        received += [f["data"]["id"] for f in frames]
    assert received == sent


async def test_snapshot_endpoint_is_the_sockets_first_frame(server, tokens):
    status, rest = server.request("GET", "/api/notifications/snapshot/", token=tokens["carol"])
    assert status == 200
    async with server.socket(tokens["carol"]) as ws:
        frame = await next_frame(ws)
    assert frame["type"] == "recent_notifications"
    assert rest == frame["data"]


async def test_bad_after_and_limit_are_field_errors(server, tokens):
    token = tokens["alice"]
    cursor = await snapshot_cursor(server, token)
    cases = [
        ("/api/notifications/?after=not-a-cursor", "after"),
        ("/api/notifications/?after=", "after"),
        ("/api/notifications/?after=" + "A" * 100, "after"),
        (f"/api/notifications/?after={cursor}&limit=0", "limit"),
        (f"/api/notifications/?after={cursor}&limit=501", "limit"),
        (f"/api/notifications/?after={cursor}&limit=ten", "limit"),
        (f"/api/notifications/?after={cursor}&limit=-1", "limit"),
        (f"/api/notifications/?after={cursor}&unread=true", "after"),
        (f"/api/notifications/?after={cursor}&page_size=5", "after"),
        ("/api/notifications/?limit=5", "limit"),
    ]
    for path, field in cases:
        status, body = server.request("GET", path, token=token)
        assert status == 400 and list(body) == [field], (path, status, body)
    # a position past the stream's (another stream's cursor, say): nothing, and the position, as a socket
    status, body = server.request("GET", f"/api/notifications/?after={encode_cursor(10**12)}", token=token)
    assert status == 200 and body["results"] == [] and body["has_more"] is False
    assert body["cursor"] != encode_cursor(10**12)
    async with server.socket(token, cursor=encode_cursor(10**12)) as ws:
        assert (await next_frame(ws))["data"]["cursor"] == body["cursor"]
    # without after, the list is what it was
    status, body = server.request("GET", "/api/notifications/?page_size=2", token=token)
    assert status == 200 and set(body) == {"next", "previous", "results"}


# -- project events --------------------------------------------------------------------------


async def test_project_events_after_pages_what_the_socket_resume_replays(server, tokens, project):
    pid = project["id"]
    path = f"/ws/projects/{pid}/"
    cursor = await snapshot_cursor(server, tokens["alice"], path)
    for i in range(5):
        status, _ = server.request("POST", f"/api/projects/{pid}/comments/", {"text": f"c{i}"}, tokens["carol"])
        assert status == 201
    polled, end, pages = poll_all(server, f"/api/projects/{pid}/events/", cursor, tokens["alice"], limit=2)
    assert [e["data"]["text"] for e in polled] == [f"c{i}" for i in range(5)] and pages == 3
    socket_items, _ = await replayed(server, tokens["alice"], cursor, "project_event", path)
    assert socket_items == polled
    assert (await replayed(server, tokens["alice"], end, "project_event", path))[0] == []

    # the socket's access rule: bob is no member (REST answers 404 for what a socket closes 4403)
    status, _ = server.request("GET", f"/api/projects/{pid}/events/?after={cursor}", token=tokens["bob"])
    assert status == 404
    status, body = server.request("GET", f"/api/projects/{pid}/events/?after=nope", token=tokens["alice"])
    assert status == 400 and list(body) == ["after"]
    status, body = server.request("GET", f"/api/projects/{pid}/events/", token=tokens["alice"])
    assert status == 200 and isinstance(body, list)  # without after: the plain list, as before


# -- room messages ---------------------------------------------------------------------------


async def test_room_messages_after_pages_the_latest_change_of_each(server, tokens, project):
    path = f"/ws/collaboration/project-{project['id']}/"
    rest = f"/api/rooms/project-{project['id']}/messages/"
    cursor = await snapshot_cursor(server, tokens["alice"], path)
    async with server.socket(tokens["alice"], path=path) as ws:
        await next_frame(ws)
        ids = []
        for body in ("one", "two", "three"):
            await ws.send(json.dumps({"type": "send_message", "data": {"body": body}}))
            while True:
                frame = await next_frame(ws)
                if frame["type"] == "chat_message" and frame["data"]["body"] == body:
                    ids.append(frame["data"]["id"])
                    break
        await ws.send(json.dumps({"type": "edit_message", "data": {"id": ids[0], "body": "one v2"}}))
        while not ((frame := await next_frame(ws))["type"] == "chat_message" and frame["data"]["event"] == "edited"):
            pass
    polled, end, _ = poll_all(server, rest, cursor, tokens["carol"], limit=2)
    # an edit moves a message to a new place in the log: its latest state, once, where it now is
    assert [(m["id"], m["body"]) for m in polled] == [(ids[1], "two"), (ids[2], "three"), (ids[0], "one v2")]
    socket_items, _ = await replayed(server, tokens["carol"], cursor, "chat_message", path)
    assert socket_items == polled
    status, page = server.request("GET", f"{rest}?after={end}", token=tokens["carol"])
    assert status == 200 and page["results"] == [] and page["has_more"] is False
    status, _ = server.request("GET", f"{rest}?after={cursor}", token=tokens["bob"])
    assert status == 404


# -- a cursor the socket would not resume ------------------------------------------------------


@pytest.fixture(scope="module")
def flooded_server(tmp_path_factory):
    """Its own backend: more than RESUME_LIMIT notifications for one reader would change
    every other test's counts."""
    yield from private_server(tmp_path_factory, "polling_flood")


async def test_too_many_missed_answers_cursor_expired_and_the_sockets_snapshot(flooded_server):
    server = flooded_server
    admin, alice_token = server.token("dave"), server.token("alice")
    alice = user_id(server, alice_token)
    cursor = await snapshot_cursor(server, alice_token)
    for batch in range(2):  # RESUME_LIMIT (1000) + 1
        size = 1000 if batch == 0 else 1
        status, body = server.request("POST", "/api/notifications/bulk/", {"notifications": [
            {"title": f"flood {batch}-{i}", "recipient_type": "user", "recipient_id": str(alice)} for i in range(size)
        ]}, admin)
        assert status == 201, body
    await asyncio.sleep(0.5)  # the relay or the creating thread has sequenced them
    status, page = server.request("GET", f"/api/notifications/?after={cursor}&limit=50", token=alice_token)
    assert status == 200
    assert page["cursor_expired"] == "too_many_missed" and page["results"] == [] and page["has_more"] is False
    async with server.socket(alice_token, cursor=cursor) as ws:
        error, fresh = await next_frame(ws), await next_frame(ws)
    assert error["data"]["code"] == "cursor_expired"
    assert page["snapshot"] == fresh["data"] and page["cursor"] == fresh["data"]["cursor"]
    # from the snapshot's cursor, polling goes on
    status, after = server.request("GET", f"/api/notifications/?after={page['cursor']}", token=alice_token)
    assert status == 200 and after["results"] == [] and "cursor_expired" not in after
