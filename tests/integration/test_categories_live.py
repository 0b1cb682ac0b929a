"""A notification's category and topic reach the socket and the REST list of a running server."""

import pytest

from tests.integration.harness import frames_until_quiet, next_frame

pytestmark = pytest.mark.integration


async def test_category_and_topic_travel_to_the_socket_and_an_unknown_one_is_refused(server, tokens):
    _, alice_me = server.request("GET", "/api/me/", token=tokens["alice"])
    async with server.socket(tokens["alice"]) as alice:
        assert (await next_frame(alice))["type"] == "recent_notifications"
        await frames_until_quiet(alice, 0.3)
        server.notify(tokens["dave"], title="Chapter 2 due", recipient_type="user", recipient_id=str(alice_me["id"]),
                      category="deadline", topic="project:1")
        frame = await next_frame(alice)
        assert frame["type"] == "notification"
        assert (frame["data"]["category"], frame["data"]["topic"]) == ("deadline", "project:1")
        status, body = server.request("POST", "/api/notifications/", {
            "title": "x", "recipient_type": "all", "category": "gossip"}, tokens["dave"])
        assert status == 400 and "category" in body
        assert [f for f in await frames_until_quiet(alice, 0.5) if f["type"] == "notification"] == []
