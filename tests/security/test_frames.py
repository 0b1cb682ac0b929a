"""Hostile frames on every endpoint: each gets an error frame (the socket stays open and
answers the next ping) or its documented close code (1009 too big, 1003 binary), and the
worker survives to serve the next socket."""

import json

import pytest

from clarion.protocol.frames import ServerFrameType
from tests.security.conftest import closed_with, communicator, token, user_for

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = ["notifications", "projects", "collaboration", "system_health"]
NOISE = {"health", "presence", "typing", "cursor"}  # frames the server may send at any time

HOSTILE = {
    "not json": ("{", "invalid_json"),
    "NaN": ('{"type": "ping", "data": NaN}', "invalid_json"),
    "Infinity": ('{"type": "mark_as_read", "data": {"ids": [Infinity]}}', "invalid_json"),
    "-Infinity": ('[-Infinity]', "invalid_json"),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, "invalid_json"),
    "deeply nested object": ('{"a":' * 50_000 + "1" + "}" * 50_000, "invalid_json"),
    "huge integer": ('{"type": "mark_as_read", "data": {"ids": [' + "9" * 5000 + "]}}", "invalid_json"),
    "big integer": ('{"type": "delete_message", "data": {"id": ' + "9" * 40 + "}}", None),
    "array": ("[]", "invalid_frame"),
    "string": ('"ping"', "invalid_frame"),
    "number": ("1", "invalid_frame"),
    "null": ("null", "invalid_frame"),
    "empty": ("", "invalid_json"),
    "whitespace": ("   ", "invalid_json"),
    "no type": ('{"data": {}}', "invalid_frame"),
    "type not a string": ('{"type": ["ping"]}', "invalid_frame"),
    "type null": ('{"type": null}', "invalid_frame"),
    "unknown type": ('{"type": "hack"}', "unknown_type"),
    "type with NUL": ('{"type": "ping\\u0000"}', "unknown_type"),
    "lone surrogate type": ('{"type": "\\ud800"}', "invalid_json"),
    "proto pollution": ('{"type": "__proto__", "__proto__": {"admin": true}}', "unknown_type"),
    "duplicate keys": ('{"type": "ping", "type": "nope"}', "unknown_type"),
    **{f"server-only {name}": (json.dumps({"type": name, "data": {}}), "unknown_type")
       for name in ServerFrameType if name not in ("typing", "cursor")},
    "mark_as_read bad ids": ('{"type": "mark_as_read", "data": {"ids": "1"}}', None),
    "mark_as_read bools": ('{"type": "mark_as_read", "data": {"ids": [true]}}', None),
    "mark_as_read too many": (json.dumps({"type": "mark_as_read", "data": {"ids": list(range(1, 1500))}}), None),
    "send_message surrogate": ('{"type": "send_message", "data": {"body": "\\ud800"}}', "invalid_json"),
    "surrogate in a key": ('{"type": "ping", "data": {"\\udfff": 1}}', "invalid_json"),
    "send_message huge body": (json.dumps({"type": "send_message", "data": {"body": "x" * 5000}}), None),
    "send_message object body": ('{"type": "send_message", "data": {"body": {"$gt": ""}}}', None),
    "edit_message negative": ('{"type": "edit_message", "data": {"id": -1, "body": "x"}}', None),
    "cursor surrogate": ('{"type": "cursor", "data": {"position": {"x": "\\udc00"}}}', "invalid_json"),
    "cursor huge": (json.dumps({"type": "cursor", "data": {"position": {"x": "y" * 600}}}), None),
    "typing not bool": ('{"type": "typing", "data": {"active": "yes"}}', None),
    "data a list": ('{"type": "send_message", "data": []}', None),
}

# Per endpoint, an error code any refusal may carry (a frame valid elsewhere is unknown here).
REFUSALS = {"invalid_json", "invalid_frame", "unknown_type", "invalid_data", "not_found", "forbidden"}


async def _open(people, streams, endpoint, settings=None):
    ws = communicator(streams[endpoint], f"token={await token(user_for(endpoint, people))}")
    assert (await ws.connect())[0]
    await ws.receive_json_from(timeout=3)
    while not await ws.receive_nothing(timeout=0.2):
        await ws.receive_output(timeout=1)
    return ws


async def _next_reply(ws, timeout=5.0) -> dict:
    while True:
        frame = await ws.receive_json_from(timeout=timeout)
        if frame["type"] not in NOISE:
            return frame


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_every_hostile_frame_gets_an_error_frame_and_the_socket_lives(people, streams, endpoint, settings):
    settings.CLARION = {"MAX_FRAME_BYTES": 1024 * 1024, "MESSAGE_RATE": 0}
    ws = await _open(people, streams, endpoint)
    for name, (text, expected) in HOSTILE.items():
        await ws.send_input({"type": "websocket.receive", "text": text})
        reply = await _next_reply(ws)
        assert reply["type"] == "error", (name, reply)
        assert reply["data"]["code"] in ({expected} if expected else REFUSALS), (name, reply)
        assert len(reply["data"]["message"]) < 500, name  # bounded, whatever was sent
        await ws.send_json_to({"type": "ping"})
        assert (await _next_reply(ws))["type"] == "pong", name
    await ws.disconnect()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_oversized_frames_close_1009_and_binary_frames_1003(people, streams, endpoint, settings):
    settings.CLARION = {"MAX_FRAME_BYTES": 4096}
    ws = await _open(people, streams, endpoint)
    await ws.send_to(text_data='{"type": "ping", "pad": "' + "x" * 5000 + '"}')
    assert await closed_with(ws) == 1009
    await ws.disconnect()
    ws = await _open(people, streams, endpoint)
    await ws.send_to(text_data='{"type":"ping","pad":"' + "\u00e9" * 2100 + '"}')  # 4 KiB in UTF-8, not in chars
    assert await closed_with(ws) == 1009
    await ws.disconnect()
    ws = await _open(people, streams, endpoint)
    await ws.send_to(bytes_data=b'{"type": "ping"}')
    assert await closed_with(ws) == 1003
    await ws.disconnect()
    ws = await _open(people, streams, endpoint)  # the worker serves the next socket
    await ws.send_json_to({"type": "ping"})
    assert (await _next_reply(ws))["type"] == "pong"
    await ws.disconnect()


async def test_an_escaped_surrogate_pair_is_text_and_accepted(people, streams):
    ws = await _open(people, streams, "notifications")
    await ws.send_input({"type": "websocket.receive", "text": '{"type": "ping", "x": "\\ud83d\\ude00"}'})
    assert (await _next_reply(ws))["type"] == "pong"
    await ws.disconnect()


async def test_a_lone_surrogate_in_the_text_itself_is_refused_not_a_crash(people, streams, settings):
    """An ASGI server decodes frames as UTF-8 (uvicorn closes 1007 on invalid bytes); a
    Python str with a lone surrogate can still reach receive() from another server."""
    ws = await _open(people, streams, "notifications")
    await ws.send_to(text_data='{"type": "ping", "x": "\ud800"}')
    reply = await _next_reply(ws)
    assert reply["type"] == "error" and reply["data"]["code"] == "invalid_json"
    await ws.send_to(text_data='{"type": "send_message", "data": {"body": "\udc00"}}')
    assert (await _next_reply(ws))["data"]["code"] == "invalid_json"
    await ws.send_json_to({"type": "ping"})
    assert (await _next_reply(ws))["type"] == "pong"
    await ws.disconnect()


async def test_chat_text_the_database_cannot_store_is_refused_not_a_crash(people, streams):
    """PostgreSQL refuses NUL in text: a NUL in a chat body is invalid_data on every backend."""
    ws = await _open(people, streams, "collaboration")
    await ws.send_json_to({"type": "send_message", "data": {"body": "a\u0000b", "client_id": "nul"}})
    reply = await _next_reply(ws)
    assert reply["type"] == "error" and reply["data"]["code"] == "invalid_data", reply
    await ws.disconnect()
