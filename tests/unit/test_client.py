"""clarion.client against a small scripted websockets server in the test process.

Each test gives the fake server one script per connection (the last one repeats), so that the
test decides exactly when the "server" closes, with which code, and what it replays.
"""

import asyncio
import json
import random
from urllib.parse import parse_qsl, urlsplit

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from clarion.client import (
    ActionQueueFull,
    AuthenticationError,
    Backoff,
    Client,
    ClientError,
    ConnectFailed,
    Connected,
    Disconnected,
    Notification,
    NotificationsRead,
    RecentNotifications,
    ServerError,
    StreamClosed,
    UnknownFrame,
)
from clarion.client.dedupe import SeenIds
from clarion.protocol import CloseCode, ErrorCode
from tests.integration.harness import free_port

# The client against a scripted server in this process: no backend in sight, so once is enough
# (the embedded pass).
pytestmark = pytest.mark.once


class Highest(random.Random):
    """Full jitter always drawing the top of its range: delays equal their bounds."""

    def uniform(self, a, b):
        return b


def fast_backoff(**options):
    return Backoff(base=0.01, cap=0.04, rng=Highest(), **options)


def payload(notification_id, cursor):
    return {"id": notification_id, "title": f"n{notification_id}", "message": "", "notification_type": "info",
            "recipient_type": "user", "recipient_id": "1", "created_at": "2026-11-25T22:11:30.801054Z",
            "created_by": None, "is_read": False, "link": "", "data": {}, "cursor": cursor}


def frame(frame_type, data=None):
    return json.dumps({"type": frame_type} if data is None else {"type": frame_type, "data": data})


def snapshot(cursor, notifications=(), resumed=False):
    data = {"notifications": [payload(i, c) for i, c in notifications], "unread_count": len(notifications),
            "cursor": cursor}
    if resumed:
        data["resumed"] = True
    return frame("recent_notifications", data)


def notification(notification_id, cursor):
    return frame("notification", payload(notification_id, cursor))


async def close_with(ws, code, reason=""):
    await ws.close(code, reason)


async def hold(ws):
    """Stay open until the client goes, answering pings like the real server."""
    async for text in ws:
        if json.loads(text)["type"] == "ping":
            await ws.send(frame("pong"))


async def resume_and_hold(ws):
    await ws.send(snapshot("c-resumed", resumed=True))
    await hold(ws)


class FakeServer:
    def __init__(self, *scripts, process_request=None):
        self.scripts = scripts
        self.requests = []
        self.process_request = process_request

    async def __aenter__(self):
        self.server = await serve(self._handle, "127.0.0.1", 0, process_request=self.process_request)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info):
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    async def _handle(self, ws):
        parts = urlsplit(ws.request.path)
        self.requests.append({"path": parts.path, "query": dict(parse_qsl(parts.query)),
                              "headers": ws.request.headers})
        script = self.scripts[min(len(self.requests), len(self.scripts)) - 1]
        try:
            await script(ws)
        except ConnectionClosed:
            pass


async def take(stream, count, *, skip=(Connected,), timeout=5.0):
    events = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            event = await anext(stream)
            if not isinstance(event, skip):
                events.append(event)
    return events


# -- backoff and dedupe on their own ---------------------------------------------------


def test_backoff_is_full_jitter_under_a_doubling_capped_bound():
    backoff = Backoff(base=0.5, cap=4.0, max_attempts=6, rng=random.Random(7))
    bounds = []
    for _ in range(5):
        backoff.failed()
        bounds.append(backoff.bound())
        delays = [backoff.delay() for _ in range(200)]
        assert all(0 <= delay <= backoff.bound() for delay in delays)
        assert max(delays) > backoff.bound() / 2  # spread over the range, not pinned at 0
    assert bounds == [1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.failed()
    assert backoff.delay() is None  # six attempts in a row failed
    backoff.reset()
    assert backoff.bound() == 0.5 and backoff.delay() is not None
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


def test_seen_ids_are_bounded_and_forget_the_oldest():
    seen = SeenIds(capacity=3)
    assert [seen.add(i) for i in (1, 2, 3, 2)] == [True, True, True, False]
    seen.add(4)
    assert len(seen) == 3 and 1 not in seen and 4 in seen


# -- connecting, reconnecting, resuming ------------------------------------------------


async def test_connects_with_a_bearer_header_no_origin_and_the_notifications_path():
    async def script(ws):
        await ws.send(snapshot("c1", [(2, "c1"), (1, "c0")]))
        await hold(ws)

    async with FakeServer(script) as server, Client(server.url, token="tok") as client:
        stream = client.events()
        connected, recent = await take(stream, 2, skip=())
    assert isinstance(connected, Connected) and connected.cursor is None
    assert isinstance(recent, RecentNotifications) and not recent.resumed
    assert [n.id for n in recent.notifications] == [2, 1] and recent.cursor == "c1"
    request = server.requests[0]
    assert request["path"] == "/ws/notifications/" and request["query"] == {}
    assert request["headers"]["Authorization"] == "Bearer tok" and "Origin" not in request["headers"]


async def test_reconnects_with_backoff_that_grows_to_the_cap_and_resets_after_a_working_connection():
    async def refuse_for_now(ws):
        await close_with(ws, CloseCode.TRY_AGAIN_LATER)

    async def work_then_restart(ws):
        await ws.send(snapshot("c1"))
        await close_with(ws, CloseCode.SERVICE_RESTART)

    scripts = [refuse_for_now] * 4 + [work_then_restart, resume_and_hold]
    async with FakeServer(*scripts) as server, Client(server.url, token="t", backoff=fast_backoff()) as client:
        events = await take(client.events(), 6)
    waits = [e.reconnect_in for e in events if isinstance(e, Disconnected)]
    assert [e.code for e in events if isinstance(e, Disconnected)] == [1013] * 4 + [1012]
    assert waits == [0.02, 0.04, 0.04, 0.04, 0.01]  # doubling, capped, then reset to base


async def test_gives_up_after_max_attempts_when_nothing_listens():
    port = free_port()
    client = Client(f"ws://127.0.0.1:{port}", token="t", backoff=fast_backoff(max_attempts=3))
    seen = []
    with pytest.raises(ConnectFailed, match="gave up after 3 failed connection attempts.*connection refused"):
        async with asyncio.timeout(5):
            async for event in client.events():
                seen.append(event)
    assert [e.reason for e in seen] == ["connection refused"] * 2
    await client.close()


async def test_resumes_from_the_last_cursor_and_keeps_cursors_of_other_streams():
    async def first(ws):
        await ws.send(snapshot("c1"))
        await ws.send(notification(2, "c2"))
        await close_with(ws, CloseCode.SERVICE_RESTART)

    async def second(ws):
        await ws.send(snapshot("c2", resumed=True))
        await ws.send(notification(3, "c3"))
        await ws.send(frame("room_edit", {"text": "hi", "cursor": "e4"}))  # a future stream's frame
        await close_with(ws, CloseCode.GOING_AWAY)

    async with FakeServer(first, second, resume_and_hold) as server, \
            Client(server.url, token="t", backoff=fast_backoff()) as client:
        events = await take(client.events(), 8, skip=())
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Connected", "RecentNotifications", "Notification", "Disconnected", "Connected",
                     "RecentNotifications", "Notification", "UnknownFrame"]
    assert [r["query"].get("cursor") for r in server.requests] == [None, "c2"]
    assert events[4].cursor == "c2" and events[5].resumed
    assert isinstance(events[7], UnknownFrame) and events[7].data["text"] == "hi"
    assert client.cursor == "e4"


async def test_a_notification_delivered_twice_is_yielded_once():
    async def first(ws):
        await ws.send(snapshot("c1", [(1, "c1")]))
        await ws.send(notification(2, "c2"))
        await close_with(ws, CloseCode.SLOW_CONSUMER)

    async def replays_too_much(ws):
        await ws.send(snapshot("c1", resumed=True))
        for notification_id, cursor in [(2, "c2"), (1, "c1"), (3, "c3"), (3, "c3")]:
            await ws.send(notification(notification_id, cursor))
        await ws.send(frame("notifications_read", {"ids": [3], "unread_count": 0}))
        await hold(ws)

    async with FakeServer(first, replays_too_much) as server, \
            Client(server.url, token="t", backoff=fast_backoff()) as client:
        stream = client.events()
        events = await take(stream, 3, skip=(Connected, Disconnected, RecentNotifications))
        assert [type(e).__name__ for e in events] == ["Notification", "Notification", "NotificationsRead"]
        assert [e.id for e in events[:2]] == [2, 3] and events[2].ids == (3,)
        with pytest.raises(TimeoutError):
            await take(stream, 1, timeout=0.3)


# -- heartbeat -------------------------------------------------------------------------


async def test_a_server_that_stops_answering_is_left_and_the_client_reconnects():
    pings = []

    async def goes_silent(ws):
        await ws.send(snapshot("c1"))
        async for text in ws:  # reads the pings, never answers
            pings.append(json.loads(text))

    async with FakeServer(goes_silent, resume_and_hold) as server, \
            Client(server.url, token="t", acknowledge=False, heartbeat_interval=0.05, heartbeat_timeout=0.15,
                   backoff=fast_backoff()) as client:
        stream = client.events()
        recent, gone, again = await take(stream, 3)
        assert isinstance(gone, Disconnected) and gone.code is None
        assert gone.reason == "no frame within 0.15s of a ping"
        assert isinstance(again, RecentNotifications) and server.requests[1]["query"] == {"cursor": "c1"}
        # The second server answers: several heartbeats later the client is still on it.
        await asyncio.sleep(0.5)
        assert client.connected and len(server.requests) == 2
    assert pings and pings[0] == {"type": "ping"}


async def test_without_a_heartbeat_a_silent_server_is_kept():
    received = []

    async def silent(ws):
        await ws.send(snapshot("c1"))
        async for text in ws:
            received.append(text)

    async with FakeServer(silent) as server, \
            Client(server.url, token="t", acknowledge=False, heartbeat_interval=None, heartbeat_timeout=0.05) as client:
        await take(client.events(), 1)
        await asyncio.sleep(0.3)
        assert client.connected and received == [] and len(server.requests) == 1


async def test_a_slow_consumer_is_not_mistaken_for_a_dead_server():
    async def busy(ws):
        await ws.send(snapshot("c1"))
        for i in range(1, 6):
            await ws.send(notification(i, f"c{i + 1}"))
        await hold(ws)

    async with FakeServer(busy) as server, \
            Client(server.url, token="t", heartbeat_interval=0.05, heartbeat_timeout=0.1,
                   max_queued_events=1) as client:
        stream = client.events()
        await take(stream, 1)
        await asyncio.sleep(0.6)  # the reader waits on us for many heartbeat timeouts
        events = await take(stream, 5, skip=())
    assert [e.id for e in events] == [1, 2, 3, 4, 5] and len(server.requests) == 1


# -- credentials and terminal close codes ----------------------------------------------


async def test_a_refused_fixed_token_stops_the_client_with_a_clear_error():
    async def refuse(ws):
        await close_with(ws, CloseCode.UNAUTHORIZED)

    async with FakeServer(refuse) as server:
        client = Client(server.url, token="expired", backoff=fast_backoff())
        with pytest.raises(AuthenticationError, match="refused the token"):
            async with asyncio.timeout(5):
                async for _ in client.events():
                    pass
        await client.close()
    assert len(server.requests) == 1


async def test_a_token_provider_is_asked_again_after_4401_and_before_every_reconnect():
    issued = []

    async def provider():
        issued.append(f"token-{len(issued)}")
        return issued[-1]

    async def refuse(ws):
        await close_with(ws, CloseCode.UNAUTHORIZED)

    async def work_then_restart(ws):
        await ws.send(snapshot("c1"))
        await close_with(ws, CloseCode.SERVICE_RESTART)

    async with FakeServer(refuse, work_then_restart, resume_and_hold) as server, \
            Client(server.url, token_provider=provider, backoff=fast_backoff()) as client:
        events = await take(client.events(), 4)
    assert [type(e).__name__ for e in events] == ["Disconnected", "RecentNotifications", "Disconnected",
                                                   "RecentNotifications"]
    assert events[0].code == 4401
    assert [r["headers"]["Authorization"] for r in server.requests] == [
        "Bearer token-0", "Bearer token-1", "Bearer token-2"]


async def test_a_provider_whose_tokens_are_refused_twice_in_a_row_stops_the_client():
    def provider():  # plain functions work too
        return "never-valid"

    async def refuse(ws):
        await close_with(ws, CloseCode.UNAUTHORIZED)

    async with FakeServer(refuse) as server:
        client = Client(server.url, token_provider=provider, backoff=fast_backoff())
        with pytest.raises(AuthenticationError, match="two tokens in a row"):
            async with asyncio.timeout(5):
                async for _ in client.events():
                    pass
        await client.close()
    assert len(server.requests) == 2


async def test_a_provider_that_fails_is_retried_like_a_server_that_is_down():
    calls = []

    async def provider():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "fresh"

    async def script(ws):
        await ws.send(snapshot("c1"))
        await hold(ws)

    async with FakeServer(script) as server, \
            Client(server.url, token_provider=provider, backoff=fast_backoff()) as client:
        events = await take(client.events(), 3)
    assert [e.reason for e in events[:2]] == ["the token provider failed: connection refused"] * 2
    assert isinstance(events[2], RecentNotifications) and len(server.requests) == 1


@pytest.mark.parametrize("code", [CloseCode.NOT_FOUND, CloseCode.FORBIDDEN])
async def test_terminal_close_codes_stop_the_client_on_any_stream_path(code):
    async def refuse(ws):
        await close_with(ws, code)

    async with FakeServer(refuse) as server:
        client = Client(server.url + "/prefix/", token="t", path="/ws/projects/7/", backoff=fast_backoff())
        expected = f"the stream {server.url}/prefix/ws/projects/7/ was closed with {int(code)} \\({code.name.lower().replace('_', ' ')}\\)"
        with pytest.raises(StreamClosed, match=expected) as stopped:
            async with asyncio.timeout(5):
                async for _ in client.events():
                    pass
        await client.close()
    assert stopped.value.code == code and server.requests[0]["path"] == "/prefix/ws/projects/7/"


async def test_a_refused_handshake_is_not_retried_but_an_overloaded_server_is():
    answers = [503, 429, 403]

    def refuse(connection, request):
        status = answers.pop(0)
        return connection.respond(status, "no\n")

    async with FakeServer(hold, process_request=refuse) as server:
        client = Client(server.url, token="t", backoff=fast_backoff())
        seen = []
        with pytest.raises(ConnectFailed, match="refused the WebSocket handshake .* HTTP 403"):
            async with asyncio.timeout(5):
                async for event in client.events():
                    seen.append(event)
        await client.close()
    assert [e.reason for e in seen] == ["handshake answered HTTP 503", "handshake answered HTTP 429"]
    assert answers == []


async def test_a_provider_may_stop_the_client_with_authentication_error():
    def provider():
        raise AuthenticationError("account closed")

    async with FakeServer(hold) as server:
        client = Client(server.url, token_provider=provider)
        with pytest.raises(AuthenticationError, match="account closed"):
            async with asyncio.timeout(5):
                async for _ in client.events():
                    pass
        await client.close()
    assert server.requests == []


async def test_error_frames_are_events_and_the_socket_stays():
    async def script(ws):
        await ws.send(frame("error", {"code": "invalid_cursor", "message": "fresh snapshot instead"}))
        await ws.send(snapshot("c9"))
        await ws.send(frame("error", {"code": "from_the_future", "message": "?"}))
        await hold(ws)

    async with FakeServer(script) as server, Client(server.url, token="t", cursor="bogus") as client:
        error, recent, future = await take(client.events(), 3)
    assert isinstance(error, ServerError) and error.code is ErrorCode.INVALID_CURSOR
    assert recent.cursor == "c9" and client.cursor == "c9"
    assert future.code == "from_the_future" and server.requests[0]["query"] == {"cursor": "bogus"}


# -- actions ---------------------------------------------------------------------------


async def test_actions_wait_for_the_next_working_connection_in_order_and_are_bounded():
    release = asyncio.Event()
    received = []

    async def first(ws):
        await ws.send(snapshot("c1"))
        await close_with(ws, CloseCode.SERVICE_RESTART)

    async def slow_to_start(ws):
        await release.wait()
        with pytest.raises(TimeoutError):  # nothing is sent before the first frame
            await asyncio.wait_for(ws.recv(), 0.1)
        await ws.send(snapshot("c1", resumed=True))
        for _ in range(2):
            received.append(json.loads(await ws.recv()))
        await ws.send(frame("notifications_read", {"ids": [5], "unread_count": 0, "all": True}))
        await hold(ws)

    async with FakeServer(first, slow_to_start) as server, \
            Client(server.url, token="t", backoff=fast_backoff(), max_pending_actions=2) as client:
        stream = client.events()
        await take(stream, 2)  # the snapshot, then the restart
        await client.mark_as_read([5, 5])
        await client.mark_all_as_read()
        with pytest.raises(ActionQueueFull):
            await client.mark_as_read([6])
        release.set()
        events = await take(stream, 2)
    assert received == [{"type": "mark_as_read", "data": {"ids": [5]}}, {"type": "mark_all_as_read"}]
    assert isinstance(events[1], NotificationsRead) and events[1].all and events[1].unread_count == 0


async def test_actions_on_an_open_connection_are_sent_at_once_and_split_at_1000_ids():
    received = []

    async def script(ws):
        await ws.send(snapshot("c1"))
        async for text in ws:
            received.append(json.loads(text))

    async with FakeServer(script) as server, Client(server.url, token="t", acknowledge=False) as client:
        await take(client.events(), 1)
        await client.mark_as_read(range(1, 2501))
        await asyncio.sleep(0.2)
    assert [len(f["data"]["ids"]) for f in received] == [1000, 1000, 500]
    assert received[2]["data"]["ids"][-1] == 2500


@pytest.mark.parametrize("ids, message", [([], "at least one"), ([0], "positive integers"),
                                          ([True], "positive integers"), (["3"], "positive integers")])
async def test_invalid_ids_are_refused_before_sending(ids, message):
    client = Client("ws://127.0.0.1:1", token="t")
    with pytest.raises(ValueError, match=message):
        await client.mark_as_read(ids)


# -- closing ---------------------------------------------------------------------------


async def test_close_sends_1000_and_ends_the_event_stream():
    closed = asyncio.get_running_loop().create_future()

    async def script(ws):
        await ws.send(snapshot("c1"))
        try:
            await hold(ws)
        finally:
            closed.set_result(ws.close_code)

    async with FakeServer(script) as server:
        client = Client(server.url, token="t")
        stream = client.events()
        await take(stream, 1)
        await client.close()
        assert await asyncio.wait_for(closed, 5) == 1000
        assert [e async for e in stream] == []  # ends, no error
        assert [e async for e in client.events()] == []
        with pytest.raises(ClientError, match="closed"):
            await client.mark_all_as_read()


def test_constructor_refuses_bad_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        Client("ws://h", token="a", token_provider=lambda: "b")
    with pytest.raises(ValueError, match="ws://"):
        Client("ftp://h", token="a")
    assert isinstance(Notification.from_payload(json.loads(notification(1, "c"))["data"]), Notification)


async def test_inbox_actions_are_validated_frames_and_their_answers_typed_events():
    from clarion.client import NotificationsState, PreferencesChanged

    received = []

    async def handler(ws):
        await ws.send(snapshot("c1"))
        for _ in range(4):
            received.append(json.loads(await ws.recv()))
        await ws.send(frame("notifications_state", {"ids": [5], "state": "archived", "unread_count": 1,
                                                    "unseen_count": 0}))
        await ws.send(frame("preferences_changed", {"locale": "th", "categories": [], "mutes": [
            {"topic": "project:7", "until": None}], "unread_count": 1, "unseen_count": 0}))
        await hold(ws)

    async with FakeServer(handler) as server, Client(server.url, token="t", backoff=fast_backoff()) as client:
        stream = client.events()
        await take(stream, 1)
        await client.archive([5, 5])
        await client.snooze(group_key="project:7:comment", until="2030-01-01T00:00:00Z")
        await client.mark_all_seen()
        await client.mark_unread([6])
        with pytest.raises(ValueError):
            await client.snooze([5], until="tomorrow")
        with pytest.raises(ValueError):
            await client.archive([])
        state, prefs = await take(stream, 2)
    assert received == [
        {"type": "archive", "data": {"ids": [5]}},
        {"type": "snooze", "data": {"group_key": "project:7:comment", "until": "2030-01-01T00:00:00Z"}},
        {"type": "mark_all_seen"},
        {"type": "mark_unread", "data": {"ids": [6]}},
    ]
    assert isinstance(state, NotificationsState) and (state.ids, state.state, state.unseen_count) == ((5,), "archived", 0)
    assert isinstance(prefs, PreferencesChanged) and prefs.locale == "th" and prefs.mutes[0]["topic"] == "project:7"


async def test_acknowledges_the_furthest_cursor_received_at_most_once_a_second():
    received = []

    async def script(ws):
        async def later():
            await asyncio.sleep(0.3)
            for n in (2, 3, 4):
                await ws.send(notification(n, f"c{n}"))

        await ws.send(snapshot("c1", [(1, "c1")]))  # its newest item's cursor: c1
        sender = asyncio.create_task(later())
        async for text in ws:  # read while the notifications go out: arrival times are real
            received.append((asyncio.get_running_loop().time(), json.loads(text)))
        await sender

    async with FakeServer(script) as server, Client(server.url, token="tok") as client:
        stream = client.events()
        await take(stream, 4)
        await asyncio.sleep(1.5)
        acks = [(at, f["data"]["cursor"]) for at, f in received if f["type"] == "ack"]
        # The snapshot's cursor at once, then what came within the second in one ack when it ends.
        assert [cursor for _, cursor in acks] == ["c1", "c4"]
        assert acks[1][0] - acks[0][0] >= 0.95
        await asyncio.sleep(1.2)
        assert len([f for _, f in received if f["type"] == "ack"]) == 2  # nothing new: no ack


async def test_acknowledge_false_sends_no_ack():
    received = []

    async def script(ws):
        await ws.send(snapshot("c1", [(1, "c1")]))
        async for text in ws:
            received.append(json.loads(text))

    async with FakeServer(script) as server, Client(server.url, token="tok", acknowledge=False) as client:
        await take(client.events(), 1)
        await asyncio.sleep(0.3)
    assert [f for f in received if f["type"] == "ack"] == []


def test_a_not_found_error_hands_its_ids_to_the_program():
    error = ServerError.from_data({"code": "not_found", "message": "no notifications with ids [3, 9]", "ids": [3, 9]})
    assert error.code is ErrorCode.NOT_FOUND and error.ids == (3, 9)
    older = ServerError.from_data({"code": "not_found", "message": "from a server before data.ids"})
    assert older.ids == ()
