"""Delivery receipts over real sockets (issue 14): a client's ``ack`` becomes the reader's
delivered time in the sender's view, never beyond what the socket was sent; a bad cursor is an
error frame; seen and read times follow mark_all_seen and mark_as_read."""

import asyncio
import time

import pytest

from tests.integration.harness import frames_until_quiet, next_frame

pytestmark = pytest.mark.integration


def _row(server, token, notification_id, username):
    status, body = server.request("GET", f"/api/notifications/{notification_id}/deliveries/", token=token)
    assert status == 200, body
    return next(r for r in body["results"] if r["user"]["username"] == username)


async def test_an_ack_gives_the_delivered_time_only_up_to_what_the_socket_was_sent(server, tokens):
    alice_id = server.request("GET", "/api/me/", token=tokens["alice"])[1]["id"]
    async with server.socket(tokens["alice"]) as ws:
        assert (await next_frame(ws))["type"] == "recent_notifications"
        await frames_until_quiet(ws, 0.3)
        first = server.notify(tokens["dave"], recipient_type="user", recipient_id=alice_id, title="Ack me",
                              category="announcement")
        frame = await next_frame(ws)
        assert frame["type"] == "notification" and frame["data"]["id"] == first["id"]
        await ws.send('{"type": "ack", "data": {"cursor": "%s"}}' % frame["data"]["cursor"])
        await ws.send('{"type": "ack", "data": {"cursor": "not-a-cursor"}}')
        error = await next_frame(ws)
        assert error["type"] == "error" and error["data"]["code"] == "invalid_data"
        # A cursor far ahead claims nothing beyond what this socket was sent.
        await ws.send('{"type": "ack", "data": {"cursor": "djE6OTk5OTk5OTk"}}')  # v1:99999999
        await asyncio.sleep(1.5)  # receipts are written once a second
    later = server.notify(tokens["dave"], recipient_type="user", recipient_id=alice_id, title="Not yet",
                          category="announcement")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _row(server, tokens["dave"], first["id"], "alice")["delivered_at"] is None:
        time.sleep(0.2)
    assert _row(server, tokens["dave"], first["id"], "alice")["delivered_at"]
    assert _row(server, tokens["dave"], later["id"], "alice")["delivered_at"] is None
    # Reading it gives the read (and seen) time.
    status, _ = server.request("POST", f"/api/notifications/{later['id']}/read/", {}, tokens["alice"])
    assert status == 200
    row = _row(server, tokens["dave"], later["id"], "alice")
    assert row["read_at"] and row["seen_at"] == row["read_at"]
