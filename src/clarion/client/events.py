"""Typed events: one dataclass per server frame, plus the client's own connection events.

Each frame event keeps the frame's ``data`` as ``raw``, so that callers can forward exactly what
the server sent (``clarion listen`` prints it) and read fields a newer server adds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from clarion.protocol import CloseCode, ErrorCode
from clarion.protocol.frames import ServerFrameType


class FrameError(ValueError):
    """A server frame that does not follow the protocol (not JSON, no type, a bad payload)."""


@dataclass(frozen=True)
class Notification:
    """A ``notification`` frame, and each entry of ``RecentNotifications.notifications``."""

    id: int
    title: str
    message: str
    notification_type: str
    recipient_type: str
    recipient_id: str
    created_at: str
    created_by: int | None
    is_read: bool
    link: str
    data: dict
    cursor: str | None
    raw: dict = field(repr=False, compare=False)
    # What it is about (a key of the server's CLARION["CATEGORIES"]) and the thing it concerns
    # ("project:7"); a server from before categories sends neither.
    category: str = "announcement"
    topic: str = ""
    # The reader's inbox state and the grouping and expiry of issue 13 (defaults: an older server).
    is_seen: bool = False
    is_archived: bool = False
    snoozed_until: str | None = None
    group_key: str = ""
    expires_at: str | None = None

    @classmethod
    def from_payload(cls, payload: Any) -> "Notification":
        if not isinstance(payload, dict) or type(payload.get("id")) is not int:
            raise FrameError(f"notification payload without an integer id: {payload!r:.200}")
        return cls(
            id=payload["id"],
            title=payload.get("title", ""),
            message=payload.get("message", ""),
            notification_type=payload.get("notification_type", "info"),
            recipient_type=payload.get("recipient_type", ""),
            recipient_id=payload.get("recipient_id", ""),
            created_at=payload.get("created_at", ""),
            created_by=payload.get("created_by"),
            is_read=bool(payload.get("is_read", False)),
            link=payload.get("link", ""),
            data=payload.get("data") or {},
            cursor=payload.get("cursor"),
            raw=payload,
            category=payload.get("category", "announcement"),
            topic=payload.get("topic", ""),
            is_seen=bool(payload.get("is_seen", payload.get("is_read", False))),
            is_archived=bool(payload.get("is_archived", False)),
            snoozed_until=payload.get("snoozed_until"),
            group_key=payload.get("group_key", ""),
            expires_at=payload.get("expires_at"),
        )


@dataclass(frozen=True)
class RecentNotifications:
    """The first frame of every connection: a snapshot, or (``resumed``) the start of a replay."""

    notifications: tuple[Notification, ...]  # newest first, as the server sends them
    unread_count: int
    cursor: str | None
    resumed: bool
    raw: dict = field(repr=False, compare=False)
    unseen_count: int = 0
    # Why a given cursor was not resumed: "retention" or "too_many_missed"; "" when it was
    cursor_expired: str = ""

    @classmethod
    def from_data(cls, data: dict) -> "RecentNotifications":
        items = data.get("notifications", [])
        if not isinstance(items, list):
            raise FrameError("recent_notifications.notifications is not a list")
        return cls(
            notifications=tuple(Notification.from_payload(item) for item in items),
            unread_count=data.get("unread_count", 0),
            cursor=data.get("cursor"),
            resumed=data.get("resumed") is True,
            raw=data,
            unseen_count=data.get("unseen_count", 0),
            cursor_expired=data.get("cursor_expired", ""),
        )


@dataclass(frozen=True)
class NotificationsRead:
    ids: tuple[int, ...]
    unread_count: int
    all: bool
    raw: dict = field(repr=False, compare=False)
    unseen_count: int = 0

    @classmethod
    def from_data(cls, data: dict) -> "NotificationsRead":
        return cls(ids=tuple(data.get("ids", ())), unread_count=data.get("unread_count", 0),
                   all=data.get("all") is True, raw=data, unseen_count=data.get("unseen_count", 0))


@dataclass(frozen=True)
class NotificationsState:
    """Inbox state changed (any tab of the user), a snoozed notification came back (``returned``,
    with ``notifications``), or notifications expired (``expired``: no counts)."""

    ids: tuple[int, ...]
    state: str
    unread_count: int | None
    unseen_count: int | None
    until: str | None
    notifications: tuple[Notification, ...]
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict) -> "NotificationsState":
        items = data.get("notifications", [])
        if not isinstance(items, list):
            raise FrameError("notifications_state.notifications is not a list")
        return cls(ids=tuple(data.get("ids", ())), state=data.get("state", ""),
                   unread_count=data.get("unread_count"), unseen_count=data.get("unseen_count"),
                   until=data.get("until"), notifications=tuple(Notification.from_payload(i) for i in items), raw=data)


@dataclass(frozen=True)
class PreferencesChanged:
    """The user's preferences or mutes changed: what GET /api/preferences/ and /api/mutes/ say now."""

    locale: str
    categories: tuple[dict, ...]
    mutes: tuple[dict, ...]
    unread_count: int
    unseen_count: int
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_data(cls, data: dict) -> "PreferencesChanged":
        return cls(locale=data.get("locale", ""), categories=tuple(data.get("categories", ())),
                   mutes=tuple(data.get("mutes", ())), unread_count=data.get("unread_count", 0),
                   unseen_count=data.get("unseen_count", 0), raw=data)


@dataclass(frozen=True)
class Pong:
    """The answer to a ping. The heartbeat consumes these; ``events()`` does not yield them."""


@dataclass(frozen=True)
class ServerError:
    """An ``error`` frame; the socket stays open. ``code`` is an ErrorCode when the client knows it."""

    code: ErrorCode | str
    message: str
    raw: dict = field(repr=False, compare=False)
    # not_found / forbidden: the ids the refusal concerns (empty for other codes).
    ids: tuple = ()

    @classmethod
    def from_data(cls, data: dict) -> "ServerError":
        code = data.get("code", "")
        try:
            code = ErrorCode(code)
        except ValueError:
            pass  # a code from a newer server: still delivered, as a plain string
        ids = data.get("ids")
        return cls(code=code, message=data.get("message", ""), raw=data,
                   ids=tuple(ids) if isinstance(ids, list) else ())


@dataclass(frozen=True)
class UnknownFrame:
    """A frame type this client does not know (another stream's, or a newer server's)."""

    type: str
    data: Any


@dataclass(frozen=True)
class Connected:
    """A socket opened, or polling began. ``cursor`` is the position it resumes from (None: a
    fresh snapshot follows); ``transport`` is ``websocket`` or ``polling``."""

    url: str
    cursor: str | None
    transport: str = "websocket"


@dataclass(frozen=True)
class Disconnected:
    """A socket closed or could not be opened; the client reconnects in ``reconnect_in`` seconds."""

    code: int | None  # None when there was no close frame (refused, timed out, connection lost)
    reason: str
    reconnect_in: float

    @property
    def description(self) -> str:
        return describe_close(self.code, self.reason)


Event = (RecentNotifications | Notification | NotificationsRead | NotificationsState | PreferencesChanged
         | ServerError | UnknownFrame | Connected | Disconnected)


_CLOSE_NAMES = {int(code): code.name.lower().replace("_", " ") for code in CloseCode}


def describe_close(code: int | None, reason: str) -> str:
    """One line for logs and CLI messages: "closed with 1012 (service restart)"."""
    if code is None:
        return reason or "connection lost"
    name = _CLOSE_NAMES.get(code)
    text = f"closed with {code}" + (f" ({name})" if name else "")
    return text + (f": {reason}" if reason else "")


def parse_frame(text: str | bytes) -> Event | Pong:
    """Turn one server text frame into its event; raise FrameError when it breaks the protocol."""
    if isinstance(text, bytes):
        raise FrameError("binary frame (the protocol only uses text frames)")
    try:
        frame = json.loads(text)
    except ValueError:
        raise FrameError(f"frame is not JSON: {text!r:.200}") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError(f"frame is not an object with a string type: {text!r:.200}")
    frame_type, data = frame["type"], frame.get("data")
    if frame_type == ServerFrameType.PONG:
        return Pong()
    if frame_type not in _PARSERS:
        return UnknownFrame(frame_type, data)
    if not isinstance(data, dict):
        raise FrameError(f"{frame_type} frame without a data object")
    return _PARSERS[frame_type](data)


_PARSERS = {
    ServerFrameType.RECENT_NOTIFICATIONS: RecentNotifications.from_data,
    ServerFrameType.NOTIFICATION: Notification.from_payload,
    ServerFrameType.NOTIFICATIONS_READ: NotificationsRead.from_data,
    ServerFrameType.NOTIFICATIONS_STATE: NotificationsState.from_data,
    ServerFrameType.PREFERENCES_CHANGED: PreferencesChanged.from_data,
    ServerFrameType.ERROR: ServerError.from_data,
}
