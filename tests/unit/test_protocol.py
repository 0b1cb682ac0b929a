"""The wire contract, without Django: frames, cursors, close-code policy."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.protocol import (
    CloseCode,
    ErrorCode,
    InvalidCursor,
    MarkAllAsRead,
    MarkAsRead,
    Ping,
    ProtocolError,
    decode_client_frame,
    decode_cursor,
    encode_cursor,
    should_reconnect,
)


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_cursor_round_trips(seq):
    assert decode_cursor(encode_cursor(seq)) == seq


@pytest.mark.parametrize("garbage", ["", "abc", "v1:12", "djE6LTE", "x" * 100, "djE6MTJh", "!!!!", None, 12])
def test_cursor_rejects_what_the_server_never_issued(garbage):
    with pytest.raises(InvalidCursor):
        decode_cursor(garbage)


def test_client_frames_parse_to_typed_classes():
    assert decode_client_frame('{"type":"ping"}') == Ping()
    assert decode_client_frame('{"type":"mark_all_as_read"}') == MarkAllAsRead()
    assert decode_client_frame('{"type":"mark_as_read","data":{"ids":[3,1,3]}}') == MarkAsRead(ids=(3, 1))


@pytest.mark.parametrize(
    "text, code",
    [
        ("not json", ErrorCode.INVALID_JSON),
        ('{"type": NaN}', ErrorCode.INVALID_JSON),
        ('{"type":"ping"', ErrorCode.INVALID_JSON),
        ("[1,2]", ErrorCode.INVALID_FRAME),
        ('{"data":{}}', ErrorCode.INVALID_FRAME),
        ('{"type":5}', ErrorCode.INVALID_FRAME),
        ('{"type":"subscribe_everything"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"notification"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"mark_as_read"}', ErrorCode.INVALID_DATA),
        ('{"type":"mark_as_read","data":{"ids":[]}}', ErrorCode.INVALID_DATA),
        ('{"type":"mark_as_read","data":{"ids":"1"}}', ErrorCode.INVALID_DATA),
        ('{"type":"mark_as_read","data":{"ids":[true]}}', ErrorCode.INVALID_DATA),
        ('{"type":"mark_as_read","data":{"ids":[1.5]}}', ErrorCode.INVALID_DATA),
        ('{"type":"mark_as_read","data":{"ids":[-4]}}', ErrorCode.INVALID_DATA),
        ('{"type":"mark_as_read","data":{"ids":[99999999999999999999999]}}', ErrorCode.INVALID_DATA),
        (json.dumps({"type": "mark_as_read", "data": {"ids": list(range(1, 1002))}}), ErrorCode.INVALID_DATA),
        ("[" * 100000 + "]" * 100000, ErrorCode.INVALID_JSON),
    ],
)
def test_bad_frames_are_refused_with_a_code_and_a_message(text, code):
    with pytest.raises(ProtocolError) as caught:
        decode_client_frame(text)
    assert caught.value.code == code
    assert caught.value.message
    frame = caught.value.to_frame()
    assert frame == {"type": "error", "data": {"code": str(code), "message": caught.value.message}}


@given(st.text(max_size=300))
def test_any_text_is_either_a_frame_or_a_protocol_error(text):
    try:
        decode_client_frame(text)
    except ProtocolError:
        pass


def test_terminal_close_codes_are_not_retried():
    assert not should_reconnect(CloseCode.UNAUTHORIZED)
    assert not should_reconnect(CloseCode.FORBIDDEN)
    assert not should_reconnect(CloseCode.NOT_FOUND)
    assert should_reconnect(CloseCode.SERVICE_RESTART)
    assert should_reconnect(CloseCode.GOING_AWAY)
    assert should_reconnect(None)


def test_group_names_are_valid_for_any_primary_key_and_role():
    import re
    import uuid

    from clarion.realtime.groups import role_group, user_group

    valid = re.compile(r"^[a-zA-Z0-9._-]{1,99}$")  # what Channels accepts
    key = uuid.uuid4()
    assert user_group(key) == f"clarion.user.{key}"
    assert user_group(7) == "clarion.user.7"
    for odd in ("a b", "é" * 90, "x" * 200, "../..", ""):
        assert valid.match(user_group(odd))
    assert user_group("a b") != user_group("a_b")
    with pytest.raises(ValueError):
        role_group("advisor; DROP")
