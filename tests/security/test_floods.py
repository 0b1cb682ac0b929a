"""Floods: frames per socket (4029), sockets per user and per address (4029), the credential
endpoints (429, scoped, not bypassed by a forged X-Forwarded-For)."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from clarion.realtime import limits
from tests.security.conftest import closed_with, communicator, token, user_for

pytestmark = pytest.mark.django_db(transaction=True)
create = database_sync_to_async
ENDPOINTS = ["notifications", "projects", "collaboration", "system_health"]


async def _open(path, query, **kwargs):
    ws = communicator(path, query, **kwargs)
    assert (await ws.connect())[0]
    await ws.receive_json_from(timeout=3)
    return ws


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_socket_sending_faster_than_its_allowance_is_closed_4029(people, streams, endpoint, settings):
    settings.CLARION = {"MESSAGE_RATE": 5.0, "MESSAGE_BURST": 10}
    ws = await _open(streams[endpoint], f"token={await token(user_for(endpoint, people))}")
    for _ in range(30):
        await ws.send_json_to({"type": "ping"})
    frames = []
    while True:
        message = await ws.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            break
        frames.append(message)
    assert message["code"] == 4029
    pongs = [m for m in frames if '"pong"' in m.get("text", "")]
    assert len(pongs) == 10  # the burst was served, the 11th frame closed the socket
    await ws.disconnect()


async def test_a_flooder_is_refused_new_sockets_during_the_cool_down(people, settings):
    settings.CLARION = {"MESSAGE_RATE": 5.0, "MESSAGE_BURST": 2, "RATE_LIMIT_COOLDOWN": 0.5}
    alice_token = await token(people["alice"])
    ws = await _open("/ws/notifications/", f"token={alice_token}")
    for _ in range(3):
        await ws.send_json_to({"type": "ping"})
    assert await closed_with(ws) == 4029
    await ws.disconnect()
    again = communicator(query=f"token={alice_token}")
    await again.connect()
    assert await closed_with(again) == 4029  # cooling down
    await again.disconnect()
    bob = await _open("/ws/notifications/", f"token={await token(people['bob'])}")  # only the flooder
    await bob.disconnect()
    await asyncio.sleep(0.6)
    after = await _open("/ws/notifications/", f"token={alice_token}")
    await after.disconnect()


async def test_the_allowance_refills_at_the_configured_rate(people, settings):
    settings.CLARION = {"MESSAGE_RATE": 20.0, "MESSAGE_BURST": 5}
    ws = await _open("/ws/notifications/", f"token={await token(people['alice'])}")
    for _ in range(25):  # 25 frames over ~1.25 s: within 20/s after the burst
        await ws.send_json_to({"type": "ping"})
        assert (await ws.receive_json_from(timeout=3))["type"] == "pong"
        await asyncio.sleep(0.06)
    await ws.disconnect()


async def test_connections_per_user_are_limited_4029_and_freed_on_disconnect(people, streams, settings):
    settings.CLARION = {"MAX_CONNECTIONS_PER_USER": 3}
    alice_token = await token(people["alice"])
    open_sockets = [await _open(streams["notifications"], f"token={alice_token}") for _ in range(2)]
    open_sockets.append(await _open(streams["projects"], f"token={alice_token}"))  # all endpoints count
    extra = communicator(streams["collaboration"], f"token={alice_token}")
    await extra.connect()
    assert await closed_with(extra) == 4029
    await extra.disconnect()
    bob = await _open(streams["notifications"], f"token={await token(people['bob'])}")  # others unaffected
    await open_sockets.pop().disconnect()
    again = await _open(streams["notifications"], f"token={alice_token}")
    for ws in (*open_sockets, bob, again):
        await ws.disconnect()
    assert limits.open_counts() == {"by_user": {}, "by_ip": {}}


async def test_connections_per_address_are_limited_4029_and_exempt_addresses_are_not(people, settings):
    settings.CLARION = {"MAX_CONNECTIONS_PER_IP": 2, "MAX_CONNECTIONS_PER_USER": 0,
                        "CONNECTION_LIMIT_EXEMPT_IPS": ["127.0.0.1", "10.1.0.0/16"]}
    alice_token = await token(people["alice"])
    attacker = ("203.0.113.9", 40000)
    held = [await _open("/ws/notifications/", f"token={alice_token}", client=attacker) for _ in range(2)]
    for query in (f"token={alice_token}", "token=garbage", ""):  # unauthenticated sockets count too
        ws = communicator(query=query, client=attacker)
        await ws.connect()
        assert await closed_with(ws) == 4029
        await ws.disconnect()
    other = await _open("/ws/notifications/", f"token={alice_token}", client=("198.51.100.7", 1))
    exempt = [await _open("/ws/notifications/", f"token={alice_token}", client=(ip, 1))
              for ip in ("127.0.0.1",) * 3 + ("10.1.2.3",) * 3]
    for ws in (*held, other, *exempt):
        await ws.disconnect()
    assert limits.open_counts() == {"by_user": {}, "by_ip": {}}


async def test_refused_and_unauthenticated_sockets_release_their_slots(people, settings):
    settings.CLARION = {"MAX_CONNECTIONS_PER_IP": 1}
    for _ in range(5):
        ws = communicator(query="token=nope", client=("203.0.113.10", 1))
        await ws.connect()
        assert await closed_with(ws) == 4401  # never 4029: each refused socket freed its slot
        await ws.disconnect()


# -- REST throttles ------------------------------------------------------------------------


def _post(client, path, body=None, **extra):
    return client.post(path, body or {}, format="json", **extra)


def test_token_refresh_and_logout_are_throttled_per_address_with_429(people, settings):
    settings.CLARION = {"AUTH_THROTTLE_RATE": "3/minute"}
    client = APIClient(REMOTE_ADDR="203.0.113.20")
    wrong = {"username": "alice", "password": "wrong"}
    codes = [_post(client, "/api/auth/token/", wrong).status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    limited = _post(client, "/api/auth/token/", {"username": "alice", "password": "pw-alice"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # the same bucket covers refresh and logout (one scope per address)
    assert _post(client, "/api/auth/token/refresh/", {"refresh": "x"}).status_code == 429
    assert _post(client, "/api/auth/logout/").status_code == 429
    # a forged X-Forwarded-For is not a new address
    assert _post(client, "/api/auth/token/", wrong, HTTP_X_FORWARDED_FOR="192.0.2.77").status_code == 429
    # another address has its own allowance
    assert _post(client, "/api/auth/token/", wrong, REMOTE_ADDR="192.0.2.1").status_code == 401
    # an exempt address (a reverse proxy on this machine, by default loopback) is not throttled
    local = APIClient(REMOTE_ADDR="127.0.0.1")
    assert {_post(local, "/api/auth/token/", wrong).status_code for _ in range(5)} == {401}
    # other endpoints are not throttled by it
    other = APIClient()
    from clarion.auth.tokens import access_token_for

    other.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['alice'])}")
    assert other.get("/api/me/").status_code == 200


def test_tickets_are_throttled_per_user(people, settings):
    from clarion.auth.tokens import access_token_for

    settings.CLARION = {"TICKET_THROTTLE_RATE": "2/minute"}
    alice, bob = APIClient(), APIClient()
    alice.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['alice'])}")
    bob.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['bob'])}")
    assert [_post(alice, "/api/auth/ticket/").status_code for _ in range(3)] == [201, 201, 429]
    assert _post(bob, "/api/auth/ticket/").status_code == 201  # same address, another user


def test_throttles_can_be_turned_off(people, settings):
    settings.CLARION = {"AUTH_THROTTLE_RATE": None}
    client = APIClient(REMOTE_ADDR="203.0.113.21")
    # A name per attempt: the per-account lockout (its own setting) must not be what answers.
    assert {_post(client, "/api/auth/token/", {"username": f"x{i}", "password": "y"}).status_code
            for i in range(40)} == {401}


# -- ids beyond what the database stores (found by schemathesis) ----------------------------


def test_ids_beyond_64_bits_are_404_or_400_not_500(people):
    from clarion.auth.tokens import access_token_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['dave'])}")
    huge = "-1857385682939601223680"
    assert client.post(f"/api/notifications/{huge}/read/").status_code == 404
    assert client.post(f"/api/notifications/{2**63}/read/").status_code == 404
    assert client.get(f"/api/projects/{2**64}/").status_code == 404
    response = client.post("/api/projects/", {"title": "t", "members": [80296654968987877376]}, format="json")
    assert response.status_code == 400
    response = client.post("/api/projects/", {"title": "t", "advisor": 2**63}, format="json")
    assert response.status_code == 400


def test_text_the_database_cannot_store_is_a_field_error_not_500(people):
    """NUL (PostgreSQL refuses it) and lone surrogates (no encoder accepts them) in a
    notification's data: 400, and nothing stored (found by schemathesis on PostgreSQL)."""
    from clarion.auth.tokens import access_token_for
    from clarion.notifications.models import Notification

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['dave'])}")
    for data in ('{"a": "\\u0000"}', '{"\\u0000": 1}', '{"a": ["\\udc00"]}', '{"a": {"b": "x\\ud800"}}'):
        body = '{"title": "t", "recipient_type": "all", "data": ' + data + "}"
        response = client.generic("POST", "/api/notifications/", body, content_type="application/json")
        assert response.status_code == 400, (data, response.status_code)
        assert "data" in response.json()
    for title in ('"\\u0000"', '"\\ud800"'):
        body = '{"title": ' + title + ', "recipient_type": "all"}'
        assert client.generic("POST", "/api/notifications/", body, content_type="application/json").status_code == 400
    assert not Notification.objects.exists()
