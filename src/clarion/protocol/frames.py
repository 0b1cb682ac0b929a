"""Frames: every frame, both ways, is a JSON object with a ``type``; server payloads sit under ``data``.

Client frames are parsed into one small class per type (``decode_client_frame``), so that
handlers receive validated values and every rejection carries an :class:`ErrorCode`.
Server frames are plain dicts built by ``server_frame`` and encoded once by ``encode_frame``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from clarion.protocol import json_limits
from clarion.protocol.codes import ErrorCode

try:  # orjson is several times faster at the one hot spot (encoding a push once per publish)
    import orjson

    def _dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

except ImportError:  # pragma: no cover - the protocol stays usable with the stdlib alone

    def _dumps(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


MAX_IDS_PER_FRAME = 1000


class ServerFrameType(StrEnum):
    RECENT_NOTIFICATIONS = "recent_notifications"
    NOTIFICATION = "notification"
    NOTIFICATIONS_READ = "notifications_read"
    NOTIFICATIONS_STATE = "notifications_state"
    PREFERENCES_CHANGED = "preferences_changed"
    PONG = "pong"
    ERROR = "error"
    # /ws/projects/{id}/
    PROJECT_SNAPSHOT = "project_snapshot"
    PROJECT_EVENT = "project_event"
    # /ws/collaboration/{room}/
    ROOM_SNAPSHOT = "room_snapshot"
    CHAT_MESSAGE = "chat_message"
    PRESENCE = "presence"
    TYPING = "typing"
    CURSOR = "cursor"
    # /ws/system-health/
    HEALTH = "health"


class ProtocolError(Exception):
    """A client frame the server refuses; becomes an ``error`` frame, the socket stays open."""

    def __init__(self, code: ErrorCode, message: str, ids=()):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ids = list(ids)

    def data(self) -> dict:
        data = {"code": str(self.code), "message": self.message}
        if self.code in _ERRORS_ABOUT_IDS:
            # A program acts on these without parsing the message: which ids to drop from its
            # view (not_found) or stop offering (forbidden); [] when the error is about no item.
            data["ids"] = self.ids
        return data

    def to_frame(self) -> dict:
        return server_frame(ServerFrameType.ERROR, self.data())


_ERRORS_ABOUT_IDS = frozenset({ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN})


@dataclass(frozen=True)
class ClientFrame:
    type: ClassVar[str]

    @classmethod
    def from_data(cls, data: Any) -> "ClientFrame":
        return cls()


@dataclass(frozen=True)
class Ping(ClientFrame):
    type: ClassVar[str] = "ping"


@dataclass(frozen=True)
class MarkAllAsRead(ClientFrame):
    type: ClassVar[str] = "mark_all_as_read"


def _ids(frame_type: str, data: Any, shape: str) -> tuple[int, ...]:
    if not isinstance(data, dict) or "ids" not in data:
        raise ProtocolError(ErrorCode.INVALID_DATA, f"{frame_type} needs data {shape}")
    ids = data["ids"]
    if not isinstance(ids, list) or not ids:
        raise ProtocolError(ErrorCode.INVALID_DATA, f"data.ids must be a non-empty list of integers, got {_kind(ids)}")
    if len(ids) > MAX_IDS_PER_FRAME:
        raise ProtocolError(ErrorCode.INVALID_DATA, f"data.ids holds at most {MAX_IDS_PER_FRAME} ids, got {len(ids)}")
    for value in ids:
        # bool is an int subclass in Python; JSON true is not an id.
        if type(value) is not int or not 0 < value < 2**63:
            raise ProtocolError(ErrorCode.INVALID_DATA, f"data.ids must hold positive integers, got {_kind(value)}")
    return tuple(dict.fromkeys(ids))


MAX_GROUP_KEY = 100


@dataclass(frozen=True)
class IdsFrame(ClientFrame):
    """A client action on some of the reader's notifications: data {"ids": [...]}, or
    {"group_key": "..."} for every notification of one group in their inbox."""

    ids: tuple[int, ...] = ()
    group_key: str | None = None

    @classmethod
    def from_data(cls, data: Any) -> "IdsFrame":
        return cls(**cls._targets(data))

    @classmethod
    def _targets(cls, data: Any, shape: str = '{"ids": [<notification id>, ...]} or {"group_key": "<key>"}') -> dict:
        if isinstance(data, dict) and "group_key" in data and "ids" not in data:
            return {"group_key": _group_key(cls.type, data["group_key"])}
        return {"ids": _ids(cls.type, data, shape)}


def _group_key(frame_type: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_GROUP_KEY or "\x00" in value:
        raise ProtocolError(ErrorCode.INVALID_DATA,
                            f"{frame_type}: data.group_key must be a string of 1-{MAX_GROUP_KEY} characters, got {_kind(value)}")
    return value


@dataclass(frozen=True)
class MarkAsRead(IdsFrame):
    type: ClassVar[str] = "mark_as_read"


@dataclass(frozen=True)
class MarkSeen(IdsFrame):
    type: ClassVar[str] = "mark_seen"


@dataclass(frozen=True)
class MarkAllSeen(ClientFrame):
    type: ClassVar[str] = "mark_all_seen"


@dataclass(frozen=True)
class Archive(IdsFrame):
    type: ClassVar[str] = "archive"


@dataclass(frozen=True)
class Unarchive(IdsFrame):
    type: ClassVar[str] = "unarchive"


@dataclass(frozen=True)
class MarkUnread(IdsFrame):
    type: ClassVar[str] = "mark_unread"


@dataclass(frozen=True)
class Snooze(IdsFrame):
    type: ClassVar[str] = "snooze"
    until: datetime | None = None

    @classmethod
    def from_data(cls, data: Any) -> "Snooze":
        targets = cls._targets(data, '{"ids": [<notification id>, ...] or "group_key": "<key>", '
                                     '"until": "<ISO 8601 time with zone>"}')
        raw = data.get("until")
        try:
            until = datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) and len(raw) <= 40 else None
        except ValueError:
            until = None
        if until is None or until.tzinfo is None:
            raise ProtocolError(ErrorCode.INVALID_DATA,
                                f"snooze: data.until must be an ISO 8601 time with a zone, e.g. "
                                f"\"2026-12-05T09:00:00Z\", got {_kind(raw)}")
        return cls(**targets, until=until)


@dataclass(frozen=True)
class Ack(ClientFrame):
    """"I have received everything up to this cursor" (delivery receipts): at most once a second
    per socket; the server keeps the furthest one per reader and writes them in batches."""

    type: ClassVar[str] = "ack"
    seq: int = 0

    @classmethod
    def from_data(cls, data: Any) -> "Ack":
        from clarion.protocol.cursor import InvalidCursor, decode_cursor

        if not isinstance(data, dict) or "cursor" not in data:
            raise ProtocolError(ErrorCode.INVALID_DATA, 'ack needs data {"cursor": "<cursor of the last notification received>"}')
        try:
            return cls(seq=decode_cursor(data["cursor"]))
        except InvalidCursor as exc:
            raise ProtocolError(ErrorCode.INVALID_DATA, f"ack: data.cursor: {exc}") from None


CLIENT_FRAMES: dict[str, type[ClientFrame]] = {
    cls.type: cls
    for cls in (Ping, MarkAsRead, MarkAllAsRead, MarkSeen, MarkAllSeen, Archive, Unarchive, MarkUnread, Snooze, Ack)
}

MAX_CHAT_BODY = 4000
MAX_CURSOR_BYTES = 512


def _object(frame_type: str, data: Any, shape: str) -> dict:
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_DATA, f"{frame_type} needs data {shape}")
    return data


def _message_id(frame_type: str, data: dict) -> int:
    value = data.get("id")
    if type(value) is not int or not 0 < value < 2**63:
        raise ProtocolError(ErrorCode.INVALID_DATA, f"{frame_type}: data.id must be a positive integer, got {_kind(value)}")
    return value


def _body(frame_type: str, data: dict) -> str:
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ProtocolError(ErrorCode.INVALID_DATA, f"{frame_type}: data.body must be a non-empty string")
    if len(body) > MAX_CHAT_BODY:
        raise ProtocolError(ErrorCode.INVALID_DATA, f"{frame_type}: data.body holds at most {MAX_CHAT_BODY} characters")
    if "\x00" in body:  # PostgreSQL text cannot hold NUL: refused here, not an internal_error there
        raise ProtocolError(ErrorCode.INVALID_DATA, f"{frame_type}: data.body must not contain NUL characters")
    return body


@dataclass(frozen=True)
class SendMessage(ClientFrame):
    type: ClassVar[str] = "send_message"
    body: str = ""
    client_id: str = ""

    @classmethod
    def from_data(cls, data: Any) -> "SendMessage":
        data = _object(cls.type, data, '{"body": "<text>", "client_id": "<optional, up to 64 chars>"}')
        client_id = data.get("client_id", "")
        if not isinstance(client_id, str) or len(client_id) > 64 or "\x00" in client_id:
            raise ProtocolError(ErrorCode.INVALID_DATA, "send_message: data.client_id must be a string of at most 64 characters")
        return cls(body=_body(cls.type, data), client_id=client_id)


@dataclass(frozen=True)
class EditMessage(ClientFrame):
    type: ClassVar[str] = "edit_message"
    id: int = 0
    body: str = ""

    @classmethod
    def from_data(cls, data: Any) -> "EditMessage":
        data = _object(cls.type, data, '{"id": <message id>, "body": "<text>"}')
        return cls(id=_message_id(cls.type, data), body=_body(cls.type, data))


@dataclass(frozen=True)
class DeleteMessage(ClientFrame):
    type: ClassVar[str] = "delete_message"
    id: int = 0

    @classmethod
    def from_data(cls, data: Any) -> "DeleteMessage":
        return cls(id=_message_id(cls.type, _object(cls.type, data, '{"id": <message id>}')))


@dataclass(frozen=True)
class Typing(ClientFrame):
    type: ClassVar[str] = "typing"
    active: bool = True

    @classmethod
    def from_data(cls, data: Any) -> "Typing":
        data = _object(cls.type, data, '{"active": true|false}')
        if not isinstance(data.get("active"), bool):
            raise ProtocolError(ErrorCode.INVALID_DATA, "typing: data.active must be true or false")
        return cls(active=data["active"])


@dataclass(frozen=True)
class CursorMove(ClientFrame):
    type: ClassVar[str] = "cursor"
    position: Any = None

    @classmethod
    def from_data(cls, data: Any) -> "CursorMove":
        data = _object(cls.type, data, '{"position": {...}}')
        position = data.get("position")
        if not isinstance(position, dict):
            raise ProtocolError(ErrorCode.INVALID_DATA, "cursor: data.position must be a JSON object")
        try:
            size = len(_dumps(position))
        except (TypeError, ValueError):  # integers beyond 64 bits, for one
            raise ProtocolError(ErrorCode.INVALID_DATA, "cursor: data.position holds a value that is not plain JSON") from None
        if size > MAX_CURSOR_BYTES:
            raise ProtocolError(ErrorCode.INVALID_DATA, f"cursor: data.position is at most {MAX_CURSOR_BYTES} bytes of JSON")
        return cls(position=position)


PROJECT_CLIENT_FRAMES: dict[str, type[ClientFrame]] = {Ping.type: Ping}
COLLABORATION_CLIENT_FRAMES: dict[str, type[ClientFrame]] = {
    cls.type: cls for cls in (Ping, SendMessage, EditMessage, DeleteMessage, Typing, CursorMove)
}


def _kind(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (int, float, str, bool)) or value is None else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# A "\\uD800"-"\\uDFFF" escape: JSON lets it stand alone, but a lone surrogate is no Unicode
# text and cannot be stored, encoded or sent back (I-JSON, RFC 7493, forbids it).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]  # iterative: the parsed frame may be nested as deep as json.loads allows
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def decode_client_frame(text: str, frames: dict[str, type[ClientFrame]] = CLIENT_FRAMES) -> ClientFrame:
    """Parse one text frame; raise :class:`ProtocolError` with the reason when it is refused."""
    try:
        # The envelope ({"type", "data": {...}}) adds two levels to the value a frame carries.
        obj = json_limits.loads(text, limit=json_limits.MAX_JSON_DEPTH + 2, parse_constant=_reject_constant)
    except json_limits.TooDeep:  # invalid_json, as a document too deep for the parser always was
        raise ProtocolError(
            ErrorCode.INVALID_JSON, f"frame nests deeper than {json_limits.MAX_JSON_DEPTH} levels of objects and arrays"
        ) from None
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.INVALID_JSON, "frame is not valid JSON") from None
    # Paired escapes decode to one character; only a lone surrogate survives json.loads.
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(obj):
        raise ProtocolError(ErrorCode.INVALID_JSON, "frame holds a lone UTF-16 surrogate (\\uD800-\\uDFFF)")
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.INVALID_FRAME, f"frame must be a JSON object, got {_kind(obj)}")
    frame_type = obj.get("type")
    if not isinstance(frame_type, str):
        raise ProtocolError(ErrorCode.INVALID_FRAME, 'frame must have a string "type"')
    frame_class = frames.get(frame_type)
    if frame_class is None:
        known = ", ".join(sorted(frames))
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {_kind(frame_type)}; expected one of: {known}")
    return frame_class.from_data(obj.get("data"))


def server_frame(frame_type: str, data: Any = None) -> dict:
    frame: dict[str, Any] = {"type": str(frame_type)}
    if data is not None:
        frame["data"] = data
    return frame


def encode_frame(frame: dict) -> str:
    return _dumps(frame)


# What the encoders raise for a value they cannot encode (orjson's JSONEncodeError is a
# TypeError; it refuses nesting past 255 levels and integers past 64 bits).
ENCODE_ERRORS = (TypeError, ValueError, RecursionError)


def encodable(value: Any) -> bool:
    try:
        _dumps(value)
    except ENCODE_ERRORS:
        return False
    return True


def encode_frame_skipping(frame_type: str, data: dict, items_key: str) -> tuple[str, list]:
    """Encode a frame whose ``data[items_key]`` is a list, leaving out the items that cannot
    be encoded (returned second): one bad stored row must not cost a reader the whole
    snapshot, or the socket. The list is encoded once when every item is fine."""
    try:
        return encode_frame(server_frame(frame_type, data)), []
    except ENCODE_ERRORS:
        items = data[items_key]
        skipped = [item for item in items if not encodable(item)]
        kept = [item for item in items if not any(item is bad for bad in skipped)]
        return encode_frame(server_frame(frame_type, {**data, items_key: kept})), skipped
