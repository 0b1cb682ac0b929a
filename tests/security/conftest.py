"""Hostile-input and abuse tests (docs/security.md points at each).

In-process tests drive the real socket stack (origin guard, authentication, router,
consumers) with Channels' WebsocketCommunicator; the integration ones start real servers
through tests/integration/harness.py.
"""

import time

import jwt
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings

from clarion.auth.tokens import access_token_for
from clarion.realtime.routing import websocket_application

ORIGIN = "http://testserver"
APP = websocket_application()


@pytest.fixture(autouse=True)
async def close_hub_after_test():
    yield
    from clarion.realtime import relay, timers
    from clarion.realtime.hub import close_hub

    # A relay left sweeping after its loop closes would hold a stream's lock for good.
    await relay.stop()
    await timers.stop()
    await close_hub()
    from clarion.realtime.shared_limits import close_shared_limits

    await close_shared_limits()


@pytest.fixture(autouse=True)
def fresh_throttles():
    """DRF throttles count in the default cache: every test starts with empty counts."""
    from django.core.cache import cache

    from tests.limits_reset import forget_shared_limits

    cache.clear()
    forget_shared_limits()  # sockets, cool-downs and chat buckets shared through Redis
    yield
    cache.clear()


def communicator(path="/ws/notifications/", query="", *, origin=ORIGIN, headers=(), client=None):
    all_headers = [(b"host", b"testserver"), *headers]
    if origin is not None:
        all_headers.append((b"origin", origin.encode()))
    ws = WebsocketCommunicator(APP, f"{path}?{query}" if query else path, headers=all_headers)
    if client is not None:
        ws.scope["client"] = client
    return ws


async def token(user) -> str:
    return await database_sync_to_async(access_token_for)(user)


def forge(payload: dict, key=None, algorithm="HS256", headers=None) -> str:
    """A JWT with these claims, signed with ``key`` (default: the server's own secret)."""
    return jwt.encode(payload, django_settings.SECRET_KEY if key is None else key, algorithm=algorithm,
                      headers=headers)


def claims(user, **overrides) -> dict:
    now = int(time.time())
    base = {"token_type": "access", "exp": now + 300, "iat": now, "jti": "f" * 32, "user_id": str(user.pk)}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


async def close_message(ws, timeout=3.0) -> dict:
    """The close the server sent (after an accept, if it accepted first)."""
    message = await ws.receive_output(timeout=timeout)
    while message["type"] == "websocket.accept" or message["type"] == "websocket.send":
        message = await ws.receive_output(timeout=timeout)
    assert message["type"] == "websocket.close", message
    return message


async def closed_with(ws, timeout=3.0) -> int:
    return (await close_message(ws, timeout)).get("code")


@pytest.fixture
def streams(people):
    """A project alice and bob are in (advised by carol) and its room, as socket paths."""
    from clarion.projects import services
    from clarion.projects.models import ProjectStatus

    # transactional tests flush the statuses the migration created
    ProjectStatus.objects.get_or_create(slug="proposal", defaults={"label": "Proposal", "position": 0})
    project = services.create_project(title="Thesis", advisor=people["carol"], members=[people["alice"], people["bob"]])
    # Outside a server nothing sequences the project's notifications on commit: do it now, not in
    # the relay's first sweep, which would write the stream head while the first socket reads it
    # (the in-memory SQLite of the tests answers a read during a write with "table is locked").
    from clarion.streams.relay import publish_pending

    publish_pending()
    return {
        "notifications": "/ws/notifications/",
        "projects": f"/ws/projects/{project.pk}/",
        "collaboration": f"/ws/collaboration/project-{project.pk}/",
        "system_health": "/ws/system-health/",
    }


def user_for(endpoint, people):
    """A user allowed on that endpoint (the health stream is for admins)."""
    return people["dave"] if endpoint == "system_health" else people["alice"]


async def first_frame_type(ws, timeout=3.0) -> str:
    return (await ws.receive_json_from(timeout=timeout))["type"]
