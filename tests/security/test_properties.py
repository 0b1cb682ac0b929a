"""Property-based: every inbound frame handler, fed anything, answers with a frame or a
ProtocolError of a documented code, never an exception, an internal_error or a dead socket.

Two levels: ``decode_client_frame`` with each endpoint's frame table (pure, many examples), and
each consumer's ``receive`` through the real socket stack (fewer examples, each a socket)."""

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarion.protocol import ErrorCode, ProtocolError, decode_client_frame
from clarion.protocol.frames import (
    CLIENT_FRAMES,
    COLLABORATION_CLIENT_FRAMES,
    MAX_CHAT_BODY,
    PROJECT_CLIENT_FRAMES,
    ClientFrame,
    CursorMove,
    DeleteMessage,
    EditMessage,
    MarkAsRead,
    SendMessage,
    ServerFrameType,
    Typing,
)
from clarion.realtime.consumers.health import SystemHealthConsumer

TABLES = {
    "notifications": CLIENT_FRAMES,
    "projects": PROJECT_CLIENT_FRAMES,
    "collaboration": COLLABORATION_CLIENT_FRAMES,
    "system_health": SystemHealthConsumer.client_frames,
}
ALL_TYPES = sorted({name for table in TABLES.values() for name in table} | set(ServerFrameType))

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)
# data shaped like the real frames', with hostile values inside
near_data = st.fixed_dictionaries({}, optional={
    "ids": st.lists(st.integers(min_value=-(2**64), max_value=2**64) | json_values, max_size=5) | json_values,
    "id": st.integers(min_value=-(2**64), max_value=2**64) | json_values,
    "body": st.text(max_size=50) | st.just("x" * (MAX_CHAT_BODY + 1)) | json_values,
    "client_id": st.text(max_size=70) | json_values,
    "active": st.booleans() | json_values,
    "position": st.dictionaries(st.text(max_size=5), json_values, max_size=3) | json_values,
})
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(ALL_TYPES) | st.text(max_size=12) | json_values},
    optional={"data": near_data | json_values, "extra": json_values},
).map(lambda obj: json.dumps(obj))
texts = frames | st.text(max_size=200) | json_values.map(json.dumps)


def _check_accepted(frame: ClientFrame, table):
    assert table.get(frame.type) is type(frame)
    if isinstance(frame, MarkAsRead):
        assert frame.ids and all(type(i) is int and 0 < i < 2**63 for i in frame.ids)
    if isinstance(frame, (EditMessage, DeleteMessage)):
        assert type(frame.id) is int and 0 < frame.id < 2**63
    if isinstance(frame, (SendMessage, EditMessage)):
        assert isinstance(frame.body, str) and frame.body.strip() and len(frame.body) <= MAX_CHAT_BODY
        assert not any("\ud800" <= ch <= "\udfff" for ch in frame.body)
    if isinstance(frame, Typing):
        assert isinstance(frame.active, bool)
    if isinstance(frame, CursorMove):
        assert isinstance(frame.position, dict) and len(json.dumps(frame.position)) <= 4 * 512


@pytest.mark.once  # parsing, the same on every backend: run once, in the embedded pass
@pytest.mark.parametrize("endpoint", sorted(TABLES))
@settings(max_examples=400, deadline=None)
@given(text=texts)
def test_decode_accepts_only_valid_frames_of_the_endpoint_and_refuses_with_a_code(endpoint, text):
    table = TABLES[endpoint]
    try:
        frame = decode_client_frame(text, table)
    except ProtocolError as error:
        assert error.code in set(ErrorCode) - {ErrorCode.INTERNAL_ERROR}
        assert isinstance(error.message, str) and 0 < len(error.message) < 500
        json.dumps(error.to_frame())  # the refusal itself is sendable
        return
    _check_accepted(frame, table)


# -- consumers, through the real stack -----------------------------------------------------

NOISE = {"health", "presence", "typing", "cursor", "chat_message", "notifications_read", "notification",
         "project_event", "notifications_state", "preferences_changed"}


async def _exercise(path, user_token, texts_to_send):
    from clarion.realtime import relay, timers
    from clarion.realtime.hub import close_hub
    from tests.security.conftest import communicator

    ws = communicator(path, f"token={user_token}")
    try:
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        for text in texts_to_send:
            await ws.send_input({"type": "websocket.receive", "text": text})
            await ws.send_input({"type": "websocket.receive", "text": '{"type": "ping"}'})
            while True:  # everything up to the pong: known frames, documented error codes
                message = await ws.receive_output(timeout=5)
                assert message["type"] == "websocket.send", (text, message)
                frame = json.loads(message["text"])
                if frame["type"] == "pong":
                    break
                if frame["type"] == "error":
                    assert frame["data"]["code"] in set(ErrorCode) - {ErrorCode.INTERNAL_ERROR}, (text, frame)
                else:
                    assert frame["type"] in NOISE, (text, frame)
        await ws.disconnect()
    finally:
        # Each example has its own event loop: what ran on this one stops with it, or a sweep
        # left running in a thread would hold a stream's lock into the next example.
        await relay.stop()
        await timers.stop()
        await close_hub()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("endpoint", ["notifications", "projects", "collaboration", "system_health"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(texts, min_size=1, max_size=6))
def test_every_consumer_survives_any_frames_and_answers_the_next_ping(people, streams, endpoint, batch):
    from django.test import override_settings

    from clarion.auth.tokens import access_token_for
    from tests.security.conftest import user_for

    user_token = access_token_for(user_for(endpoint, people))
    with override_settings(CLARION={"MESSAGE_RATE": 0, "CHAT_RATE": 1000.0, "CHAT_BURST": 1000}):
        asyncio.run(_exercise(streams[endpoint], user_token, batch))


# -- deep and wide JSON, on every REST operation and every frame type (issue 10) --------------
# Built as text: a value nested 6,000 deep cannot go through json.dumps, and the point is to
# reach the parsers with it.


@st.composite
def deep_json(draw):
    depth = draw(st.integers(1, 40) | st.integers(250, 300) | st.integers(900, 6000))
    shape = draw(st.sampled_from(["list", "object", "mixed"]))
    leaf = draw(st.sampled_from(["1", '"x"', "null", "{}", "[]"]))
    kinds = ["list" if shape == "list" or (shape == "mixed" and level % 2) else "object" for level in range(depth)]
    return ("".join("[" if kind == "list" else '{"a":' for kind in kinds) + leaf
            + "".join("]" if kind == "list" else "}" for kind in reversed(kinds)))


wide_json = st.builds(
    lambda count, kind: ("[" + ",".join(["1"] * count) + "]") if kind == "list"
    else ("{" + ",".join(f'"k{i}":1' for i in range(count)) + "}"),
    st.integers(0, 3000), st.sampled_from(["list", "object"]))
hostile_json = deep_json() | wide_json

FRAME_FIELDS = ["ids", "id", "body", "client_id", "active", "position"]


@st.composite
def hostile_frames(draw):
    value = draw(hostile_json)
    frame_type = json.dumps(draw(st.sampled_from(ALL_TYPES)))
    where = draw(st.sampled_from(["document", "data", "field", "extra"]))
    if where == "document":
        return value
    if where == "data":
        return '{"type": %s, "data": %s}' % (frame_type, value)
    if where == "extra":
        return '{"type": %s, "data": {}, "extra": %s}' % (frame_type, value)
    return '{"type": %s, "data": {%s: %s}}' % (frame_type, json.dumps(draw(st.sampled_from(FRAME_FIELDS))), value)


@pytest.mark.once  # parsing, the same on every backend: run once, in the embedded pass
@pytest.mark.parametrize("endpoint", sorted(TABLES))
@settings(max_examples=150, deadline=None)
@given(text=hostile_frames())
def test_decode_refuses_deep_and_wide_json_of_every_frame_type_with_a_code(endpoint, text):
    try:
        frame = decode_client_frame(text, TABLES[endpoint])
    except ProtocolError as error:
        assert error.code in set(ErrorCode) - {ErrorCode.INTERNAL_ERROR}
        return
    _check_accepted(frame, TABLES[endpoint])
    json.dumps({"type": "echo", "data": frame.__dict__})  # whatever is accepted can be sent on


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("endpoint", ["notifications", "projects", "collaboration", "system_health"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(hostile_frames(), min_size=1, max_size=4))
def test_every_consumer_answers_deep_and_wide_json_with_a_code_and_lives(people, streams, endpoint, batch):
    from django.test import override_settings

    from clarion.auth.tokens import access_token_for
    from tests.security.conftest import user_for

    user_token = access_token_for(user_for(endpoint, people))
    with override_settings(CLARION={"MESSAGE_RATE": 0, "CHAT_RATE": 1000.0, "CHAT_BURST": 1000}):
        asyncio.run(_exercise(streams[endpoint], user_token, batch))


def _write_operations():
    """(method, path template, request fields) of every operation of the OpenAPI schema that takes
    a body, and the web UI's sign-in, which is no API operation."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    operations = [("post", "/ui/session/", ["username", "password"])]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method not in ("post", "put", "patch"):
                continue
            ref = (operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                   .get("schema", {}).get("$ref", ""))
            fields = list(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})) if ref else []
            operations.append((method, path, fields))
    return operations


@st.composite
def hostile_bodies(draw, fields):
    value = draw(hostile_json)
    names = fields or ["data"]
    where = draw(st.sampled_from(["document", "one field", "every field"]))
    if where == "document":
        return value
    chosen = names if where == "every field" else [draw(st.sampled_from(names))]
    return "{" + ",".join(f"{json.dumps(name)}: {value}" for name in chosen) + "}"


# Once, in the scale-out pass: PostgreSQL (jsonb, its own depth limit) is where a deep document
# could turn into a 5xx; SQLite stores the text.
@pytest.mark.scaleout
@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_rest_operation_answers_5xx_to_deep_and_wide_json(people, data):
    import re

    from django.conf import settings as django_settings
    from django.test import override_settings
    from rest_framework.test import APIClient

    from clarion.auth.tokens import access_token_for
    from clarion.projects import services
    from clarion.projects.models import ProjectStatus

    ProjectStatus.objects.get_or_create(slug="proposal", defaults={"label": "Proposal", "position": 0})
    project = services.create_project(title="Thesis", advisor=people["carol"], members=[people["alice"]])
    method, template, fields = data.draw(st.sampled_from(_write_operations()), label="operation")
    path = re.sub(r"\{[^}]+\}", str(project.pk), template)
    body = data.draw(hostile_bodies(fields), label="body")
    client = APIClient()  # an administrator: past authentication, to where the body is parsed
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['dave'])}")
    with override_settings(CLARION={**django_settings.CLARION, "AUTH_THROTTLE_RATE": None,
                                    "TICKET_THROTTLE_RATE": None}):
        response = getattr(client, method)(path, body, content_type="application/json")
    assert response.status_code < 500, (method, path, response.status_code, response.content[:300])
