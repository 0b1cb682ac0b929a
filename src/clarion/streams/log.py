"""A sequenced log: a table whose rows take places in per-stream, commit-ordered logs.

Each domain package declares its log in its own ``log.py`` (notifications: one stream for
the whole site; projects: one per project; rooms: one per room) and clarion.apps registers
them. The log knows no domain: a log says which rows belong to which stream, whom a row is
for (an audience, routed to a group by the sending side), and how it reads on the wire.

A row with a NULL ``seq`` is committed but not yet sequenced. The sequencer gives every such
row of a stream its place in one transaction (clarion.streams.sequencer), and the relay finds
those left behind by a crash (clarion.streams.relay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True, slots=True)
class StreamKey:
    """One stream of one log: ``kind`` alone for a log with one stream (``notifications``),
    else ``kind`` and the id of what the stream belongs to (``project``, 7). ``str()`` is the
    name stored in StreamHead (``project:7``)."""

    kind: str
    id: int | None = None

    def __str__(self) -> str:
        return self.kind if self.id is None else f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, name: str) -> "StreamKey":
        """The key a StreamHead name stands for (the one place a name is read back)."""
        kind, _, ident = name.partition(":")
        return cls(kind, int(ident) if ident else None)


# What a row is for: ("user", id), ("role", name), ("all", None), ("project", id), ("room", id).
# The sending side (clarion.realtime.groups.group_for) turns it into a channel group, and
# refuses one it cannot carry.
Audience = tuple[str, Any]


class SequencedLog:
    """See the module docstring. ``stream_field``: the column holding the stream's id (None
    for a log with one stream)."""

    def __init__(self, name: str, model, *, stream_kind: str, stream_field: str | None,
                 audience: Callable[[Any], Audience], frame: Callable[[Any], str], queryset=None,
                 meta: Callable[[Any], dict | None] | None = None):
        self.name = name  # names the log in parked entries and `clarion doctor` (notification:7)
        self.model = model
        self.stream_kind = stream_kind
        self.stream_field = stream_field
        self.audience = audience
        self.frame = frame  # row (its seq set) -> encoded wire frame
        # row -> what travels with the frame for the sockets to choose by, or None: the notification
        # log's {"tags": (category, topic)}, which a reader can mute, and {"frames": {locale: frame}}
        # for a templated notification, encoded once per language (clarion.realtime.hub)
        self.meta = meta
        self._queryset = queryset

    def rows(self):
        """Every row, with what ``frame`` needs loaded."""
        return self._queryset() if self._queryset else self.model.objects.all()

    def key(self, stream_id=None) -> StreamKey:
        return StreamKey(self.stream_kind, None if self.stream_field is None else int(stream_id))

    def key_of(self, row) -> StreamKey:
        return self.key(None if self.stream_field is None else getattr(row, self.stream_field))

    def rows_of(self, key: StreamKey):
        rows = self.rows()
        return rows if self.stream_field is None else rows.filter(**{self.stream_field: key.id})


_LOGS: dict[str, SequencedLog] = {}
_BY_KIND: dict[str, SequencedLog] = {}


def register(log: SequencedLog) -> SequencedLog:
    """Make the relay sweep the log and `clarion doctor` know it (clarion.apps does this)."""
    _LOGS[log.name] = log
    _BY_KIND[log.stream_kind] = log
    return log


def logs() -> list[SequencedLog]:
    return list(_LOGS.values())


def get(name: str) -> SequencedLog | None:
    return _LOGS.get(name)


def of_stream(key: StreamKey) -> SequencedLog | None:
    return _BY_KIND.get(key.kind)


# -- the sending side, as the log sees it ---------------------------------------------------


class Pusher:
    """What the log needs from whatever sends frames (clarion.realtime.publish installs the
    real one at start-up). This default reaches nobody: rows are stored and sequenced, and a
    serving process's relay pushes them."""

    def can_deliver(self) -> bool:
        """Whether pushing from this process can reach anyone (else leave it to a server)."""
        return False

    def route(self, audience: Audience) -> str:
        """The group for an audience; raise ValueError when no group can carry it."""
        raise ValueError("no sending side is installed")

    def ready(self) -> bool:
        """False while the broker is known to be away: pushes wait for the relay."""
        return False

    def probe(self) -> bool:
        """Called by the relay before it pushes backlogs: whether the broker answers now."""
        return False

    def push(self, group: str, seq: int, frame: str, meta=None) -> bool:
        """Send one sequenced frame; False when it could not be sent (it is retried in order)."""
        return False

    def push_all(self, entries: list[tuple[str, int, str, Any]]) -> int:
        """Send (group, seq, frame, meta) entries in order, stopping at the first that cannot be
        sent; return how many were sent."""
        for sent, (group, seq, frame, meta) in enumerate(entries):
            if not self.push(group, seq, frame, meta):
                return sent
        return len(entries)


_pusher: Pusher = Pusher()


def install_pusher(new: Pusher) -> None:
    global _pusher
    _pusher = new


def pusher() -> Pusher:
    return _pusher
