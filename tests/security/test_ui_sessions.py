"""Signing out of the web UI (DELETE /ui/session/) ends the access tokens that session minted and
closes their sockets, token and ticket alike, with 4401; the user's other sessions live on. A
ticket asked for with the session cookie expires like one asked for with a token
(clarion.auth.ui_sessions, docs/decisions/0007-ui-sign-out-ends-its-tokens.md)."""

import asyncio
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from clarion.realtime import runtime
from tests.security.conftest import ORIGIN, closed_with, communicator, first_frame_type

pytestmark = pytest.mark.django_db(transaction=True)
create = database_sync_to_async


@pytest.fixture(autouse=True)
def serving():
    runtime.mark_serving()  # control events are published from this process


class Browser:
    """A signed-in web UI session, as the page drives it: CSRF-protected requests on the cookie."""

    def __init__(self, username, password):
        self.client = Client(enforce_csrf_checks=True)
        self.client.cookies["csrftoken"] = "a" * 32
        signed_in = self.client.post("/ui/session/", {"username": username, "password": password},
                                     content_type="application/json", HTTP_X_CSRFTOKEN="a" * 32)
        assert signed_in.status_code == 200

    def _csrf(self):
        return {"HTTP_X_CSRFTOKEN": self.client.cookies["csrftoken"].value, "HTTP_ORIGIN": ORIGIN}

    def token(self) -> str:
        response = self.client.post("/ui/session/token/", **self._csrf())
        assert response.status_code == 200
        return response.json()["access"]

    def cookie_ticket(self) -> dict:
        response = self.client.post("/api/auth/ticket/", **self._csrf())
        assert response.status_code == 201, response.content
        return response.json()

    def backdate_sign_in(self, seconds) -> None:
        session = self.client.session
        session["clarion_signed_in_at"] -= seconds
        session.save()

    def sign_out(self) -> None:
        assert self.client.delete("/ui/session/", **self._csrf()).status_code == 204


def token_ticket(access: str) -> str:
    response = Client().post("/api/auth/ticket/", HTTP_AUTHORIZATION=f"Bearer {access}", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 201
    return response.json()["ticket"]


def me_status(access: str) -> int:
    return Client().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code


def api_token(username, password) -> str:
    response = Client().post("/api/auth/token/", {"username": username, "password": password},
                             content_type="application/json")
    return response.json()["access"]


async def open_ok(query):
    ws = communicator("/ws/notifications/", query)
    assert (await ws.connect())[0]
    assert await first_frame_type(ws) == "recent_notifications"
    return ws


async def test_signing_out_of_the_ui_ends_its_tokens_and_closes_their_sockets(people):
    browser = await create(Browser)("alice", "pw-alice")
    access = await create(browser.token)()
    ours = [
        await open_ok(f"token={access}"),
        await open_ok(f"ticket={await create(token_ticket)(access)}"),
        await open_ok(f"ticket={(await create(browser.cookie_ticket)())['ticket']}"),
    ]
    # alice's other sessions: the UI in another browser, and a client of the token API
    other_browser = await create(Browser)("alice", "pw-alice")
    other_access = await create(other_browser.token)()
    api_access = await create(api_token)("alice", "pw-alice")
    theirs = [await open_ok(f"token={other_access}"), await open_ok(f"token={api_access}")]
    assert await create(me_status)(access) == 200

    started = time.monotonic()
    await create(browser.sign_out)()  # in the same second as the sign-in: no cutoff to slip under
    codes = await asyncio.gather(*(closed_with(ws, timeout=3) for ws in ours))
    assert codes == [4401, 4401, 4401] and time.monotonic() - started <= 2.0
    assert await create(me_status)(access) == 401
    again = communicator("/ws/notifications/", f"token={access}")
    await again.connect()
    assert await closed_with(again) == 4401

    for ws in theirs:
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
    assert await create(me_status)(other_access) == 200
    assert await create(me_status)(api_access) == 200
    assert await create(token_ticket)(other_access)
    for ws in [*ours, again]:
        await ws.disconnect()


async def test_a_ticket_asked_for_on_the_ui_session_dies_unused_at_sign_out(people):
    browser = await create(Browser)("bob", "pw-bob")
    ticket = (await create(browser.cookie_ticket)())["ticket"]
    from_token = await create(token_ticket)(await create(browser.token)())
    await create(browser.sign_out)()
    for unused in (ticket, from_token):
        ws = communicator("/ws/notifications/", f"ticket={unused}")
        await ws.connect()
        assert await closed_with(ws) == 4401
        await ws.disconnect()


async def test_a_ticket_asked_for_with_the_session_cookie_expires_like_a_token(people, monkeypatch):
    # ACCESS_TOKEN_LIFETIME, as simplejwt applies it (read once into the token class)
    monkeypatch.setattr(AccessToken, "lifetime", timedelta(seconds=2))
    browser = await create(Browser)("alice", "pw-alice")
    issued = await create(browser.cookie_ticket)()
    assert issued["expires_in"] <= 2  # the ticket never outlives that lifetime either
    ws = await open_ok(f"ticket={issued['ticket']}")
    started = time.monotonic()
    assert await closed_with(ws, timeout=5) == 4401
    assert time.monotonic() - started <= 3.0
    await ws.disconnect()


async def test_a_session_cookie_that_outlived_a_logout_gets_no_ticket(people):
    from clarion.auth import revocation

    browser = await create(Browser)("alice", "pw-alice")
    await create(browser.backdate_sign_in)(5)  # signed in a while ago (the cutoff has whole seconds)
    await create(revocation.end_sessions)(people["alice"], "logout")  # POST /api/auth/logout/ elsewhere
    response = await create(browser.client.post)("/api/auth/ticket/", **browser._csrf())
    assert response.status_code == 401
