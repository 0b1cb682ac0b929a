"""A socket lives no longer than its credential: closed with 4401 when the access token (or
the token that asked for its ticket) expires, and within 2 s of logout, a password change,
deactivation or deletion; the old credentials are then refused everywhere."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from clarion.auth.tickets import issue_ticket
from clarion.realtime import runtime
from tests.security.conftest import ORIGIN, claims, closed_with, communicator, first_frame_type, forge, token, user_for

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = ["notifications", "projects", "collaboration", "system_health"]
create = database_sync_to_async


@pytest.fixture(autouse=True)
def serving():
    runtime.mark_serving()  # control events are published from this process


async def open_ok(path, query="", **kwargs):
    ws = communicator(path, query, **kwargs)
    assert (await ws.connect())[0]
    await first_frame_type(ws)
    return ws


def _old_refresh(user, age=10) -> str:
    refresh = RefreshToken.for_user(user)
    refresh["iat"] = int(time.time()) - age
    return str(refresh)


def _old(user, age=10):
    """An access token issued ``age`` seconds ago (the cutoff has whole-second resolution)."""
    now = int(time.time())
    return forge(claims(user, iat=now - age))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_socket_closes_4401_when_its_access_token_expires(people, streams, endpoint):
    user = user_for(endpoint, people)
    now = int(time.time())
    ws = await open_ok(streams[endpoint], f"token={forge(claims(user, exp=now + 2))}")
    started = time.monotonic()
    assert await closed_with(ws, timeout=5) == 4401
    assert time.monotonic() - started <= 3.5
    await ws.disconnect()


async def test_ticket_socket_closes_when_the_token_that_asked_for_it_expires(people, streams):
    alice = people["alice"]
    ticket, ttl = await create(issue_ticket)(alice, ORIGIN, auth_expires_at=time.time() + 2)
    assert ttl <= 2  # a ticket never outlives the token that asked for it
    ws = await open_ok(streams["notifications"], f"ticket={ticket}")
    assert await closed_with(ws, timeout=5) == 4401
    await ws.disconnect()


async def test_the_ticket_endpoint_binds_the_ticket_to_the_token_expiry(people):
    alice = people["alice"]
    short = forge(claims(alice, exp=int(time.time()) + 3))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {short}", HTTP_ORIGIN=ORIGIN)
    response = await create(client.post)("/api/auth/ticket/")
    assert response.status_code == 201 and response.json()["expires_in"] <= 3
    ws = await open_ok("/ws/notifications/", f"ticket={response.json()['ticket']}")
    assert await closed_with(ws, timeout=6) == 4401
    await ws.disconnect()


async def _open_everywhere(people, streams, user):
    sockets = []
    for endpoint in ENDPOINTS:
        if user_for(endpoint, people) == user or (endpoint != "system_health" and user != people["dave"]):
            sockets.append(await open_ok(streams[endpoint], f"token={_old(user)}"))
    return sockets


async def _all_close_4401_within(sockets, seconds=2.0):
    started = time.monotonic()
    codes = await asyncio.gather(*(closed_with(ws, timeout=seconds + 1) for ws in sockets))
    assert set(codes) == {4401}
    assert time.monotonic() - started <= seconds
    for ws in sockets:
        await ws.disconnect()


async def test_logout_closes_every_socket_of_the_user_and_refuses_the_old_tokens(people, streams):
    alice, bob = people["alice"], people["bob"]
    sockets = await _open_everywhere(people, streams, alice)
    assert len(sockets) == 3
    bystander = await open_ok(streams["notifications"], f"token={_old(bob)}")
    old_access = _old(alice)
    refresh = await create(_old_refresh)(alice)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {await token(alice)}")
    response = await create(client.post)("/api/auth/logout/", {"refresh": refresh}, format="json")
    assert response.status_code == 204
    await _all_close_4401_within(sockets)
    assert await bystander.receive_nothing(timeout=0.3)  # other users are untouched
    await bystander.disconnect()

    ws = communicator(streams["notifications"], f"token={old_access}")
    await ws.connect()
    assert await closed_with(ws) == 4401
    await ws.disconnect()
    again = await create(APIClient().post)("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert again.status_code == 401  # the refresh token of the ended session is dead too
    fresh = await create(APIClient().post)("/api/auth/token/", {"username": "alice", "password": "pw-alice"},
                                           format="json")
    assert fresh.status_code == 200
    ws = await open_ok(streams["notifications"], f"token={fresh.json()['access']}")  # a new login works
    await ws.disconnect()


async def test_logout_with_only_a_refresh_token_and_without_credentials(people):
    alice = people["alice"]
    refresh = str(await create(RefreshToken.for_user)(alice))
    assert (await create(APIClient().post)("/api/auth/logout/", {}, format="json")).status_code == 401
    bad = await create(APIClient().post)("/api/auth/logout/", {"refresh": "nope"}, format="json")
    assert bad.status_code == 401
    ok = await create(APIClient().post)("/api/auth/logout/", {"refresh": refresh}, format="json")
    assert ok.status_code == 204


@pytest.mark.parametrize("change", ["password", "deactivate", "delete"])
async def test_password_change_deactivation_and_deletion_close_the_sockets(people, streams, change):
    alice = people["alice"]
    sockets = await _open_everywhere(people, streams, alice)
    old_access = _old(alice)
    if change == "password":
        alice.set_password("a-new-password-123")
        await create(alice.save)()
    elif change == "deactivate":
        alice.is_active = False
        await create(alice.save)()
    else:
        await create(alice.delete)()
    await _all_close_4401_within(sockets)
    ws = communicator(streams["notifications"], f"token={old_access}")
    await ws.connect()
    assert await closed_with(ws) == 4401
    await ws.disconnect()


async def test_saving_a_user_without_those_changes_closes_nothing(people, streams):
    alice = people["alice"]
    ws = await open_ok(streams["notifications"], f"token={_old(alice)}")
    alice.first_name = "Alice"
    await create(alice.save)()
    await create(alice.save)(update_fields=["last_login"])
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_a_socket_opened_after_the_logout_with_a_new_token_survives_a_late_event(people, streams):
    """The close event carries the instant of the logout: sockets authenticated later stay."""
    from clarion.auth import revocation

    alice = people["alice"]
    await create(revocation.end_sessions)(alice, "logout")
    await asyncio.sleep(1.1)  # the next whole second: tokens issued now postdate the cutoff
    ws = await open_ok(streams["notifications"], f"token={await token(alice)}")
    await create(revocation.close_sockets)(alice.pk, time.time() - 0.5)
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_rest_authentication_class_refuses_tokens_of_ended_sessions(people):
    """clarion.auth.authentication.JWTAuthentication, for REST_FRAMEWORK's authentication classes
    (views read that setting at import, so the class is exercised directly)."""
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from clarion.auth import revocation
    from clarion.auth.authentication import JWTAuthentication

    def authenticate(raw):
        request = Request(APIRequestFactory().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {raw}"))
        return JWTAuthentication().authenticate(request)[0]

    alice = people["alice"]
    old = _old(alice)
    assert (await create(authenticate)(old)).pk == alice.pk
    await create(revocation.end_sessions)(alice, "logout")
    with pytest.raises(AuthenticationFailed):
        await create(authenticate)(old)
    await asyncio.sleep(1.1)
    assert (await create(authenticate)(await token(alice))).pk == alice.pk
