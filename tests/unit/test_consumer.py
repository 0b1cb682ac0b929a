"""/ws/notifications/ driven in-process with Channels' WebsocketCommunicator."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import RefreshToken

import clarion
from clarion.auth.tickets import issue_ticket
from clarion.auth.tokens import access_token_for
from clarion.notifications.models import Notification
from clarion.realtime.routing import websocket_application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "http://testserver"
APP = websocket_application()


def communicator(query="", *, origin=ORIGIN, headers=(), path="/ws/notifications/"):
    all_headers = [(b"host", b"testserver"), *headers]
    if origin is not None:
        all_headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(APP, f"{path}?{query}" if query else path, headers=all_headers)


async def token(user):
    return await database_sync_to_async(access_token_for)(user)


async def open_socket(user, query=""):
    ws = communicator(f"token={await token(user)}" + (f"&{query}" if query else ""))
    connected, _ = await ws.connect()
    assert connected
    first = await ws.receive_json_from(timeout=3)
    return ws, first


async def closed_with(ws):
    message = await ws.receive_output(timeout=3)
    if message["type"] == "websocket.accept":
        message = await ws.receive_output(timeout=3)
    assert message["type"] == "websocket.close"
    return message.get("code")


async def nothing_more(ws, wait=0.3):
    assert await ws.receive_nothing(timeout=wait)


create = database_sync_to_async


# -- authentication and origin -----------------------------------------------------------


async def test_missing_bad_refresh_and_inactive_tokens_close_with_4401(people):
    alice = people["alice"]
    refresh = str(await database_sync_to_async(RefreshToken.for_user)(alice))
    queries = ["", "token=", "token=garbage", "token=a.b.c", f"token={refresh}", "ticket=nope"]
    for query in queries:
        ws = communicator(query)
        await ws.connect()
        assert await closed_with(ws) == 4401, query
    good = await token(alice)
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    ws = communicator(f"token={good}")
    await ws.connect()
    assert await closed_with(ws) == 4401


@pytest.mark.parametrize("origin", ["http://evil.io", "http://testserver.evil.io", "https://testserver",
                                    "http://testserver:8080", "null", "file://"])
async def test_foreign_origins_are_refused_at_the_handshake(people, origin):
    ws = communicator(f"token={await token(people['alice'])}", origin=origin)
    connected, code = await ws.connect()
    assert not connected


async def test_missing_origin_needs_the_authorization_header(people):
    alice_token = await token(people["alice"])
    ws = communicator(f"token={alice_token}", origin=None)
    connected, _ = await ws.connect()
    assert not connected
    ws = communicator(origin=None, headers=[(b"authorization", f"Bearer {alice_token}".encode())])
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "recent_notifications"
    await ws.disconnect()


async def test_configured_origin_is_allowed(people, settings):
    settings.CLARION = {"ALLOWED_ORIGINS": ["https://app.example.edu"]}
    ws = communicator(f"token={await token(people['alice'])}", origin="https://app.example.edu")
    assert (await ws.connect())[0]
    await ws.disconnect()
    ws = communicator(f"token={await token(people['alice'])}", origin="https://app.example.edu.evil.io")
    assert not (await ws.connect())[0]


async def test_connect_ticket_works_once_and_only_from_its_origin(people):
    ticket, _ = await database_sync_to_async(issue_ticket)(people["alice"], ORIGIN)
    ws = communicator(f"ticket={ticket}")
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "recent_notifications"
    await ws.disconnect()
    again = communicator(f"ticket={ticket}")
    await again.connect()
    assert await closed_with(again) == 4401

    ticket, _ = await database_sync_to_async(issue_ticket)(people["alice"], "http://other.example")
    ws = communicator(f"ticket={ticket}")
    await ws.connect()
    assert await closed_with(ws) == 4401


async def test_two_parallel_uses_of_a_ticket_exactly_one_wins(people):
    ticket, _ = await database_sync_to_async(issue_ticket)(people["alice"], ORIGIN)
    sockets = [communicator(f"ticket={ticket}") for _ in range(2)]
    await asyncio.gather(*(ws.connect() for ws in sockets))
    outcomes = []
    for ws in sockets:
        message = await ws.receive_output(timeout=3)
        if message["type"] == "websocket.accept":
            message = await ws.receive_output(timeout=3)
        outcomes.append(message["type"] == "websocket.send")
        await ws.disconnect()
    assert sorted(outcomes) == [False, True]


async def test_unknown_stream_closes_with_4404(people):
    ws = communicator(f"token={await token(people['alice'])}", path="/ws/nowhere/")
    await ws.connect()
    assert await closed_with(ws) == 4404


# -- what arrives --------------------------------------------------------------------------


async def test_connect_sends_recent_unread_and_count(people):
    alice = people["alice"]
    for title in ("one", "two"):
        await create(clarion.send_notification_to_user)(alice, title)
    read = await create(clarion.send_notification_to_all)("already read")
    await create(clarion.send_notification_to_role)("advisor", "not hers")
    from clarion.notifications.services import mark_as_read

    await create(mark_as_read)(alice.pk, "student", [read.pk])
    ws, first = await open_socket(alice)
    assert first["type"] == "recent_notifications"
    data = first["data"]
    assert [n["title"] for n in data["notifications"]] == ["two", "one"]
    assert data["unread_count"] == 2 and data["cursor"]
    await ws.disconnect()


async def test_live_notifications_reach_the_right_sockets_only(people):
    sockets = {}
    for name in ("alice", "bob", "carol", "dave"):
        sockets[name], _ = await open_socket(people[name])
    await create(clarion.send_notification_to_user)(people["alice"], "for alice")
    frame = await sockets["alice"].receive_json_from(timeout=3)
    assert frame["type"] == "notification" and frame["data"]["title"] == "for alice" and frame["data"]["cursor"]
    for other in ("bob", "carol", "dave"):
        await nothing_more(sockets[other])

    await create(clarion.send_notification_to_role)("student", "for students")
    for name in ("alice", "bob"):
        assert (await sockets[name].receive_json_from(timeout=3))["data"]["title"] == "for students"
    for other in ("carol", "dave"):
        await nothing_more(sockets[other])

    await create(clarion.send_notification_to_all)("for all")
    for ws in sockets.values():
        assert (await ws.receive_json_from(timeout=3))["data"]["title"] == "for all"
    for ws in sockets.values():
        await ws.disconnect()


async def test_mark_as_read_syncs_every_tab_of_that_user_only(people):
    alice = people["alice"]
    tab1, _ = await open_socket(alice)
    tab2, _ = await open_socket(alice)
    bob, _ = await open_socket(people["bob"])
    shared = await create(clarion.send_notification_to_role)("student", "shared")
    for ws in (tab1, tab2, bob):
        await ws.receive_json_from(timeout=3)
    await tab1.send_json_to({"type": "mark_as_read", "data": {"ids": [shared.pk]}})
    for tab in (tab1, tab2):
        assert await tab.receive_json_from(timeout=3) == {
            "type": "notifications_read", "data": {"ids": [shared.pk], "unread_count": 0, "unseen_count": 0}}
    await nothing_more(bob)

    await create(clarion.send_notification_to_user)(alice, "another")
    for tab in (tab1, tab2):
        await tab.receive_json_from(timeout=3)
    await tab2.send_json_to({"type": "mark_all_as_read"})
    for tab in (tab1, tab2):
        frame = await tab.receive_json_from(timeout=3)
        assert frame["type"] == "notifications_read" and frame["data"]["unread_count"] == 0
        assert frame["data"]["all"] is True
    for ws in (tab1, tab2, bob):
        await ws.disconnect()


async def test_resume_by_cursor_sends_exactly_what_was_missed_in_order(people):
    alice = people["alice"]
    ws, first = await open_socket(alice)
    await create(clarion.send_notification_to_user)(alice, "seen live")
    seen = await ws.receive_json_from(timeout=3)
    await ws.disconnect()
    for title in ("missed 1", "missed 2"):
        await create(clarion.send_notification_to_user)(alice, title)
    await create(clarion.send_notification_to_role)("advisor", "not hers")
    await create(clarion.send_notification_to_all)("missed 3")

    ws, first = await open_socket(alice, f"cursor={seen['data']['cursor']}")
    assert first["type"] == "recent_notifications" and first["data"]["resumed"] is True
    # unread up to the cursor ("seen live"); each replayed unread notification adds one
    assert first["data"]["notifications"] == [] and first["data"]["unread_count"] == 1
    replayed = [await ws.receive_json_from(timeout=3) for _ in range(3)]
    assert [f["data"]["title"] for f in replayed] == ["missed 1", "missed 2", "missed 3"]
    assert all(f["type"] == "notification" for f in replayed)
    await create(clarion.send_notification_to_user)(alice, "live again")
    assert (await ws.receive_json_from(timeout=3))["data"]["title"] == "live again"
    await nothing_more(ws)
    await ws.disconnect()

    # Resuming from the last cursor seen gives nothing twice.
    ws, first = await open_socket(alice, f"cursor={replayed[-1]['data']['cursor']}")
    assert first["data"]["resumed"] is True
    assert (await ws.receive_json_from(timeout=3))["data"]["title"] == "live again"
    await nothing_more(ws)
    await ws.disconnect()


async def test_invalid_cursor_gets_an_error_and_a_fresh_snapshot(people):
    ws, first = await open_socket(people["alice"], "cursor=bogus")
    assert first["type"] == "error" and first["data"]["code"] == "invalid_cursor"
    assert (await ws.receive_json_from())["type"] == "recent_notifications"
    await ws.disconnect()


async def test_too_old_cursor_gets_cursor_expired_and_a_snapshot(people, settings):
    settings.CLARION = {"RESUME_LIMIT": 2}
    alice = people["alice"]
    ws, first = await open_socket(alice)
    cursor = first["data"]["cursor"]
    await ws.disconnect()
    for i in range(3):
        await create(clarion.send_notification_to_user)(alice, f"n{i}")
    ws, first = await open_socket(alice, f"cursor={cursor}")
    assert first["type"] == "error" and first["data"]["code"] == "cursor_expired"
    snapshot = await ws.receive_json_from()
    assert snapshot["type"] == "recent_notifications" and len(snapshot["data"]["notifications"]) == 3
    await ws.disconnect()


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, code",
    [
        ("{not json", "invalid_json"),
        ('"just a string"', "invalid_frame"),
        ('{"type":"launch_missiles"}', "unknown_type"),
        ('{"type":"notification","data":{}}', "unknown_type"),
        ('{"type":"mark_as_read","data":{"ids":"all"}}', "invalid_data"),
        ('{"type":"mark_as_read","data":{"ids":[1e400]}}', "invalid_data"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(people, text, code):
    ws, _ = await open_socket(people["alice"])
    await ws.send_to(text_data=text)
    error = await ws.receive_json_from(timeout=3)
    assert error["type"] == "error" and error["data"]["code"] == code and error["data"]["message"]
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=3) == {"type": "pong"}
    await ws.disconnect()


async def test_marking_other_users_ids_is_not_found_and_changes_nothing(people):
    secret = await create(clarion.send_notification_to_user)(people["bob"], "bob only")
    mine = await create(clarion.send_notification_to_user)(people["alice"], "alice's")
    ws, _ = await open_socket(people["alice"])
    await ws.send_json_to({"type": "mark_as_read", "data": {"ids": [mine.pk, secret.pk]}})
    frames = [await ws.receive_json_from(timeout=3) for _ in range(2)]
    [error] = [f for f in frames if f["type"] == "error"]
    # data.ids names exactly what was refused, for a program; the message is for people.
    assert error["data"]["code"] == "not_found" and error["data"]["ids"] == [secret.pk]
    from clarion.notifications.queries import unread_count

    assert await create(unread_count)(people["bob"].pk, "student") == 1
    await ws.disconnect()


async def test_oversized_frame_closes_1009_and_binary_closes_1003(people, settings):
    settings.CLARION = {"MAX_FRAME_BYTES": 1024}
    ws, _ = await open_socket(people["alice"])
    await ws.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 2000}))
    assert await closed_with(ws) == 1009
    ws, _ = await open_socket(people["alice"])
    await ws.send_to(bytes_data=b"\x00\x01")
    assert await closed_with(ws) == 1003


async def test_notifications_created_while_connecting_arrive_once(people):
    """Publishes racing the connect snapshot are neither lost nor duplicated."""
    alice = people["alice"]

    async def sender():
        for i in range(15):
            await create(clarion.send_notification_to_user)(alice, f"race {i}")

    task = asyncio.create_task(sender())
    ws, first = await open_socket(alice)
    await task
    titles = [n["title"] for n in first["data"]["notifications"]]
    while not await ws.receive_nothing(timeout=0.5):  # a timed-out receive would cancel the app
        titles.append((await ws.receive_json_from())["data"]["title"])
    assert sorted(titles) == sorted(f"race {i}" for i in range(15))
    assert await create(Notification.objects.count)() == 15
    await ws.disconnect()


# -- one catch-up policy for every stream (issue 11) ----------------------------------------


@pytest.mark.parametrize("too_much", [False, True])
async def test_a_project_socket_caught_up_after_a_broker_reconnect_follows_the_notification_policy(
        people, settings, too_much):
    """Missed entries are replayed; past RESUME_LIMIT the socket gets cursor_expired and a fresh
    project_snapshot, as a notifications socket does (it used to be closed with 1013)."""
    from clarion.projects import services as projects
    from clarion.projects.models import ProjectStatus

    settings.CLARION = {"RESUME_LIMIT": 2}
    await create(ProjectStatus.objects.get_or_create)(slug="proposal", defaults={"label": "Proposal", "position": 0})
    project = await create(projects.create_project)(title="T", advisor=people["carol"], members=[people["alice"]])
    ws = communicator(f"token={await token(people['alice'])}", path=f"/ws/projects/{project.pk}/")
    assert (await ws.connect())[0]
    snapshot = await ws.receive_json_from(timeout=3)
    assert snapshot["type"] == "project_snapshot"
    start = snapshot["data"]["cursor"]
    while not await ws.receive_nothing(timeout=0.3):  # the "created" event, which the relay sequences
        frame = json.loads((await ws.receive_output(timeout=1))["text"])
        start = frame["data"].get("cursor") or start

    from clarion.realtime.hub import existing_hub

    hub = existing_hub()
    from clarion.realtime import groups

    (subscription,) = hub._groups[groups.project_group(project.pk)]
    hub.mark_ready(subscription, 10**9)  # as if the broker lost what follows: nothing arrives live
    count = 3 if too_much else 2
    for i in range(count):
        await create(projects.add_comment)(project, f"missed {i}", people["carol"])
    assert await ws.receive_nothing(timeout=0.3)  # lost on the way
    from clarion.protocol import decode_cursor

    subscription.last_seq = decode_cursor(start)  # where the socket really was
    await subscription.on_resync()
    if too_much:
        error = await ws.receive_json_from(timeout=3)
        assert error["type"] == "error" and error["data"]["code"] == "cursor_expired"
        snapshot = await ws.receive_json_from(timeout=3)
        assert snapshot["type"] == "project_snapshot"
        assert [e["data"]["text"] for e in snapshot["data"]["events"] if e["kind"] == "comment"] == \
            [f"missed {i}" for i in range(count)]
    else:
        replayed = [await ws.receive_json_from(timeout=3) for _ in range(count)]
        assert [f["data"]["data"]["text"] for f in replayed] == [f"missed {i}" for i in range(count)]
    await ws.disconnect()
