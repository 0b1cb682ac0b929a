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
         "project_event"}


async def _exercise(path, user_token, texts_to_send):
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
