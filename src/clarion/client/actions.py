"""Client frames, validated before they are sent, and the bounded queue that holds them while
the client is reconnecting.

Validation reuses the server's own parser (clarion.protocol.frames), so a frame the client lets
through is one the server accepts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from clarion.client.errors import ActionQueueFull
from clarion.protocol import MarkAllAsRead, MarkAsRead, Ping, ProtocolError, encode_frame, server_frame
from clarion.protocol.frames import MAX_IDS_PER_FRAME

PING = encode_frame(server_frame(Ping.type))
MARK_ALL_AS_READ = encode_frame(server_frame(MarkAllAsRead.type))


def mark_as_read_frames(ids: Iterable[int]) -> list[str]:
    """One frame per MAX_IDS_PER_FRAME ids; ValueError for anything the server would refuse."""
    ids = list(ids)
    if not ids:
        raise ValueError("mark_as_read needs at least one notification id")
    frames = []
    for start in range(0, len(ids), MAX_IDS_PER_FRAME):
        try:
            frame = MarkAsRead.from_data({"ids": ids[start:start + MAX_IDS_PER_FRAME]})
        except ProtocolError as error:
            raise ValueError(error.message) from None
        frames.append(encode_frame(server_frame(MarkAsRead.type, {"ids": list(frame.ids)})))
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
