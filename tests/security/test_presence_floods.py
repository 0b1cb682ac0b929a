"""Rooms under a flood of one user's sockets (issue 10, finding 4): typing and cursor frames are
throttled per user across their sockets, joins to a room are rate-limited (4029), and
connect/close cycling costs the other members a bounded number of presence frames."""

import asyncio
import time

import pytest
from clarion.realtime.room_limits import room_limits
from tests.security.conftest import closed_with, communicator, token

pytestmark = pytest.mark.django_db(transaction=True)


async def _member(path, user_token):
    """A socket past its snapshot and its own presence frames (state, then join)."""
    ws = communicator(path, f"token={user_token}")
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(timeout=3))["type"] == "room_snapshot"
    return ws


async def _drain(ws, quiet=0.3) -> list[dict]:
    """Every frame until none came for ``quiet`` seconds (receive_nothing, because a receive
    that times out cancels the application)."""
    frames = []
    while not await ws.receive_nothing(timeout=quiet):
        frames.append(await ws.receive_json_from(timeout=1))
    return frames


def _by_type(frames, kind, user_id=None):
    return [f for f in frames if f["type"] == kind and (user_id is None or f["data"]["user"]["id"] == user_id)]


def _announcements(frames) -> list[tuple[str, int]]:
    """The joins and leaves among the frames (not the ``state`` a socket gets on connect)."""
    return [(f["data"]["event"], f["data"]["user"]["id"]) for f in frames
            if f["type"] == "presence" and f["data"]["user"] is not None]


async def test_typing_and_cursor_are_throttled_per_user_across_all_their_sockets(people, streams, settings):
    settings.CLARION = {"MESSAGE_RATE": 0, "TYPING_INTERVAL": 0.5, "CURSOR_INTERVAL": 0.1,
                        "PRESENCE_LEAVE_GRACE": 0}
    room = streams["collaboration"]
    bob = await _member(room, await token(people["bob"]))
    alice_token = await token(people["alice"])
    tabs = [await _member(room, alice_token) for _ in range(8)]
    await _drain(bob)
    started = time.monotonic()
    for step in range(30):  # every tab, every 50 ms, for 1.5 s: 240 typing and 240 cursor frames
        for tab in tabs:
            await tab.send_json_to({"type": "typing", "data": {"active": step % 2 == 0}})
            await tab.send_json_to({"type": "cursor", "data": {"position": {"line": step}}})
        await asyncio.sleep(0.05)
    await tabs[0].send_json_to({"type": "typing", "data": {"active": False}})
    await tabs[0].send_json_to({"type": "cursor", "data": {"position": {"line": 999}}})
    elapsed = time.monotonic() - started
    frames = await _drain(bob, quiet=0.8)
    alice = people["alice"].pk
    typing, cursor = _by_type(frames, "typing", alice), _by_type(frames, "cursor", alice)
    # one per interval for the user (not per socket), plus the leading and the trailing frame
    assert 2 <= len(typing) <= elapsed / 0.5 + 2, len(typing)
    assert 5 <= len(cursor) <= elapsed / 0.1 + 2, len(cursor)
    assert typing[-1]["data"]["active"] is False and cursor[-1]["data"]["position"] == {"line": 999}
    for ws in (*tabs, bob):
        await ws.disconnect()


async def test_joins_to_a_room_are_rate_limited_per_user_with_4029(people, streams, settings):
    settings.CLARION = {"ROOM_JOIN_RATE": 2.0, "ROOM_JOIN_BURST": 3, "PRESENCE_LEAVE_GRACE": 0}
    room = streams["collaboration"]
    alice_token = await token(people["alice"])
    for _ in range(3):
        await (await _member(room, alice_token)).disconnect()
    refused = communicator(room, f"token={alice_token}")
    await refused.connect()
    assert await closed_with(refused) == 4029  # the burst is spent
    await refused.disconnect()
    bob = await _member(room, await token(people["bob"]))  # another user has his own allowance
    other_stream = communicator(streams["projects"], f"token={alice_token}")  # other streams are not joins
    assert (await other_stream.connect())[0]
    assert (await other_stream.receive_json_from(timeout=3))["type"] == "project_snapshot"
    await asyncio.sleep(0.6)  # the rate refills
    again = await _member(room, alice_token)
    for ws in (again, bob, other_stream):
        await ws.disconnect()


async def test_connect_close_cycling_sends_a_bounded_number_of_presence_frames(people, streams, settings):
    # the defaults: joins 10 at once and 1/s, a leave announced after a 2 s grace
    room = streams["collaboration"]
    bob = await _member(room, await token(people["bob"]))
    await _drain(bob)
    alice_token = await token(people["alice"])
    refused, started = 0, time.monotonic()
    for _ in range(600):
        ws = communicator(room, f"token={alice_token}")
        await ws.connect()
        first = await ws.receive_output(timeout=3)
        while first["type"] == "websocket.accept":
            first = await ws.receive_output(timeout=3)
        if first["type"] == "websocket.close":
            assert first["code"] == 4029
            refused += 1
        await ws.disconnect()
    admitted, elapsed = 600 - refused, time.monotonic() - started
    assert admitted <= 10 + elapsed * 1.0 + 1, (admitted, elapsed)
    await asyncio.sleep(2.3)  # past the leave grace
    presence = _announcements(await _drain(bob))
    # 600 cycles (before issue 10: 1,200 frames): one join, and one leave once she stayed away
    # longer than the grace
    assert presence == [("join", people["alice"].pk), ("leave", people["alice"].pk)], presence
    await bob.disconnect()


async def test_a_reconnect_within_the_grace_announces_neither_leave_nor_join(people, streams, settings):
    settings.CLARION = {"PRESENCE_LEAVE_GRACE": 0.4}
    room = streams["collaboration"]
    bob = await _member(room, await token(people["bob"]))
    await _drain(bob)
    alice_token = await token(people["alice"])
    alice = await _member(room, alice_token)
    assert _announcements(await _drain(bob)) == [("join", people["alice"].pk)]
    await alice.disconnect()
    alice = await _member(room, alice_token)  # a reload
    state = (await _drain(alice))[0]
    assert state["data"]["event"] == "state" and {u["id"] for u in state["data"]["online"]} == {
        people["alice"].pk, people["bob"].pk}
    await asyncio.sleep(0.6)
    assert _announcements(await _drain(bob)) == []
    await alice.disconnect()
    await asyncio.sleep(0.6)
    left = [f for f in await _drain(bob) if f["type"] == "presence"]
    assert [f["data"]["event"] for f in left] == ["leave"]
    assert left[0]["data"]["user"] == {"id": people["alice"].pk, "username": "alice"}
    assert left[0]["data"]["online"] == [{"id": people["bob"].pk, "username": "bob"}]
    await bob.disconnect()


async def test_a_users_room_allowances_are_forgotten_once_idle(people, streams, settings):
    settings.CLARION = {"ROOM_JOIN_RATE": 20.0, "ROOM_JOIN_BURST": 4, "CHAT_RATE": 20.0, "CHAT_BURST": 4,
                        "TYPING_INTERVAL": 0.2, "CURSOR_INTERVAL": 0.1, "PRESENCE_LEAVE_GRACE": 0}
    room = streams["collaboration"]
    alice = await _member(room, await token(people["alice"]))
    await alice.send_json_to({"type": "typing", "data": {"active": True}})
    await _drain(alice)
    assert len(room_limits()) == 1
    await alice.disconnect()
    await asyncio.sleep(0.4)  # longer than every refill and throttle gap (0.2 s)
    assert len(room_limits()) == 0
