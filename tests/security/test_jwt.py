"""Every hostile or unusable credential is refused the same way: accepted, then closed with
4401 and an empty reason, on every endpoint (no oracle: the close says nothing about why)."""

import time

import pytest
from channels.db import database_sync_to_async
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework_simplejwt.tokens import RefreshToken

from tests.security.conftest import claims, close_message, communicator, first_frame_type, forge, token, user_for

pytestmark = pytest.mark.django_db(transaction=True)

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PRIVATE = _RSA.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
RSA_PUBLIC = _RSA.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(payload: dict, header: dict) -> str:
    import json

    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}."


def hostile_tokens(alice, people):
    """name -> a credential that must be refused (built from alice's claims)."""
    now = int(time.time())
    good = claims(alice)
    import hashlib
    import hmac
    import json

    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(good).encode())
    # HS256 "signed" with the public key text: the algorithm-confusion attack on servers that
    # verify with whatever algorithm the header names.
    confused = hmac.new(RSA_PUBLIC, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return {
        "malformed": "not-a-jwt",
        "three garbage parts": "a.b.c",
        "empty": "",
        "huge": "x" * 5000,
        "wrong signature": forge(good, key="another-secret-entirely-0123456789-abcdefgh"),
        "alg none": _unsigned(good, {"alg": "none", "typ": "JWT"}),
        "alg none, signature kept": _unsigned(good, {"alg": "none"}) + "c2lnbmF0dXJl",
        "RS256 header, real RSA signature": forge(good, key=RSA_PRIVATE, algorithm="RS256"),
        "HS256 signed with the public key": f"{header}.{body}.{_b64(confused)}",
        "expired": forge(claims(alice, exp=now - 5, iat=now - 600)),
        "not yet valid (nbf)": forge(claims(alice, nbf=now + 3600)),
        "issued in the future (iat)": forge(claims(alice, iat=now + 3600)),
        "no exp": forge(claims(alice, exp=None)),
        "refresh token as access": str(RefreshToken.for_user(alice)),
        "no user id": forge(claims(alice, user_id=None)),
        "user id of nobody": forge(claims(alice, user_id="987654321")),
        "user id not a number": forge(claims(alice, user_id="1 OR 1=1")),
        "user id an object": forge(claims(alice, user_id={"$ne": None})),
        "another user's id in a token signed elsewhere": forge(claims(people["dave"]), key="x" * 40),
    }


ENDPOINTS = ["notifications", "projects", "collaboration", "system_health"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_every_hostile_token_closes_4401_with_the_same_close(people, streams, endpoint):
    alice = people["alice"]
    tokens = await database_sync_to_async(hostile_tokens)(alice, people)
    closes = {}
    for name, bad in tokens.items():
        for how in ("query", "header"):
            if how == "query":
                ws = communicator(streams[endpoint], f"token={bad}")
            else:
                ws = communicator(streams[endpoint], origin=None, headers=[(b"authorization", f"Bearer {bad}".encode())])
            connected, _ = await ws.connect(timeout=3)
            assert connected, (name, how)  # accepted, so that a browser can read the close code
            closes[(name, how)] = await close_message(ws)
            await ws.disconnect()
    assert {message["code"] for message in closes.values()} == {4401}
    # No oracle: every refusal is byte-for-byte the same close.
    assert len({tuple(sorted(message.items())) for message in closes.values()}) == 1, closes


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_tokens_of_inactive_and_deleted_users_close_4401(people, streams, endpoint):
    user = user_for(endpoint, people)
    good = await token(user)
    user.is_active = False
    await database_sync_to_async(user.save)()
    ws = communicator(streams[endpoint], f"token={good}")
    await ws.connect()
    assert (await close_message(ws))["code"] == 4401

    other = people["bob"] if endpoint != "system_health" else people["dave"]
    if endpoint == "system_health":
        return
    other_token = await token(other)
    await database_sync_to_async(other.delete)()
    ws = communicator(streams[endpoint], f"token={other_token}")
    await ws.connect()
    assert (await close_message(ws))["code"] == 4401


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_good_token_still_opens_every_endpoint(people, streams, endpoint):
    """The control case for the refusals above."""
    ws = communicator(streams[endpoint], f"token={await token(user_for(endpoint, people))}")
    assert (await ws.connect())[0]
    assert await first_frame_type(ws) in {"recent_notifications", "project_snapshot", "room_snapshot", "health"}
    await ws.disconnect()


async def test_the_refresh_endpoint_refuses_an_access_token_and_tokens_of_deleted_users(people):
    from rest_framework.test import APIClient

    alice, bob = people["alice"], people["bob"]
    client = APIClient()
    access = await token(alice)
    response = await database_sync_to_async(client.post)("/api/auth/token/refresh/", {"refresh": access}, format="json")
    assert response.status_code == 401
    refresh = str(await database_sync_to_async(RefreshToken.for_user)(bob))
    await database_sync_to_async(bob.delete)()
    response = await database_sync_to_async(client.post)("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 401  # simplejwt alone answers 500 here (User.DoesNotExist)
