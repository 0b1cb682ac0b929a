"""Client frames, validated before they are sent, and the bounded queue that holds them while
the client is reconnecting.

Validation reuses the server's own parser (clarion.protocol.frames), so a frame the client lets
through is one the server accepts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from clarion.client.errors import ActionQueueFull
from datetime import datetime

from clarion.protocol import Ack, MarkAllAsRead, MarkAllSeen, MarkAsRead, Ping, ProtocolError, encode_frame, server_frame
from clarion.protocol.frames import CLIENT_FRAMES, MAX_IDS_PER_FRAME

PING = encode_frame(server_frame(Ping.type))
MARK_ALL_AS_READ = encode_frame(server_frame(MarkAllAsRead.type))
MARK_ALL_SEEN = encode_frame(server_frame(MarkAllSeen.type))


def ack_frame(cursor: str) -> str:
    """"Received everything up to ``cursor``" (delivery receipts)."""
    return encode_frame(server_frame(Ack.type, {"cursor": cursor}))


def mark_as_read_frames(ids: Iterable[int]) -> list[str]:
    """One frame per MAX_IDS_PER_FRAME ids; ValueError for anything the server would refuse."""
    return ids_frames(MarkAsRead.type, ids)


def ids_frames(frame_type: str, ids: Iterable[int] | None = None, *, group_key: str | None = None,
               until: datetime | str | None = None) -> list[str]:
    """Frames of an action on notifications (``mark_as_read``, ``mark_seen``, ``archive``,
    ``unarchive``, ``mark_unread``, ``snooze`` with ``until``): one per MAX_IDS_PER_FRAME ids, or
    one for a ``group_key``. ValueError for anything the server would refuse."""
    extra = {}
    if until is not None:
        extra["until"] = until.isoformat() if isinstance(until, datetime) else until
    if group_key is not None:
        batches = [{"group_key": group_key, **extra}]
    else:
        ids = list(ids or ())
        if not ids:
            raise ValueError(f"{frame_type} needs at least one notification id")
        batches = [{"ids": ids[start:start + MAX_IDS_PER_FRAME], **extra}
                   for start in range(0, len(ids), MAX_IDS_PER_FRAME)]
    frames = []
    for data in batches:
        try:
            parsed = CLIENT_FRAMES[frame_type].from_data(data)  # the server's own check
        except ProtocolError as error:
            raise ValueError(error.message) from None
        if parsed.ids:
            data["ids"] = list(parsed.ids)  # without duplicates, as the server reads them
        frames.append(encode_frame(server_frame(frame_type, data)))
    return frames


class PendingActions:
    """Frames waiting for the next working connection, oldest first."""

    def __init__(self, limit: int):
        if limit < 0:
            raise ValueError("the pending action limit cannot be negative")
        self.limit = limit
        self._frames: deque[str] = deque()

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, frames: list[str]) -> None:
        # All or nothing: a mark_as_read split in several frames is never half queued.
        if len(self._frames) + len(frames) > self.limit:
            raise ActionQueueFull(f"{len(self._frames)} actions are already waiting for a connection "
                                  f"(limit {self.limit})")
        self._frames.extend(frames)

    def peek(self) -> str:
        return self._frames[0]

    def pop(self) -> None:
        self._frames.popleft()
