"""A reader: what decides, for one user, which notifications count and which are pushed.

Loaded in one query (with the log's head on the connect path): the read and seen watermarks,
the categories they turned off in the app, their muted topics and their language. Queries use
it to leave muted items out of lists and counts in SQL; a socket keeps it to drop muted items
from a role or all-users fan-out without a query per socket per notification.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from django.db import connection

from clarion.conf import clarion_settings
from clarion.notifications.log import STREAM_KIND as LOG_NAME
from clarion.notifications.models import NotificationState, Preferences, ReadWatermark
from clarion.streams.models import StreamHead

IN_APP = "in_app"


@dataclass(frozen=True)
class Reader:
    user_id: object
    role: str | None
    watermark: int = 0  # read up to this seq
    seen_watermark: int = 0  # seen up to this seq
    channels: dict = field(default_factory=dict)  # overrides: {category: {channel: bool}}
    mutes: dict = field(default_factory=dict)  # {topic: until (aware datetime) or None}
    locale: str = ""
    head: int = 0  # the log's head when this was read (0 unless read with it)
    retained_after: int = 0  # entries up to here may be pruned (read with the head)
    # Whether they ever archived, snoozed, marked seen or unread anything: most readers have not,
    # and their queries skip the join on state rows (clarion.notifications.queries).
    has_state: bool = True

    def channel_on(self, category: str, channel: str) -> bool:
        spec = clarion_settings.CATEGORIES.get(category)
        if spec is None:
            return channel == IN_APP  # a category no longer configured: shown, never mailed
        if spec.get("locked"):
            return channel in spec.get("channels", [IN_APP])
        override = self.channels.get(category, {}).get(channel)
        if override is not None:
            return bool(override)
        return channel in spec.get("channels", [IN_APP])

    def off_categories(self) -> list[str]:
        """Categories this reader turned off in the app (never a locked one)."""
        return sorted(key for key in clarion_settings.CATEGORIES if not self.channel_on(key, IN_APP))

    def muted_topics(self, now: datetime | None = None) -> list[str]:
        now = now or datetime.now(timezone.utc)
        return sorted(topic for topic, until in self.mutes.items() if until is None or until > now)

    def hides(self, category: str, topic: str, now: datetime | None = None) -> bool:
        """Whether this reader's settings keep such a notification from them (a locked
        category always reaches them, muted topic or not)."""
        spec = clarion_settings.CATEGORIES.get(category)
        if spec is not None and spec.get("locked"):
            return False
        if not self.channel_on(category, IN_APP):
            return True
        if topic and topic in self.mutes:
            until = self.mutes[topic]
            return until is None or until > (now or datetime.now(timezone.utc))
        return False

    def socket_filter(self) -> "SocketFilter | None":
        """What a socket checks per pushed notification; None when nothing is hidden."""
        off = frozenset(self.off_categories())
        if not off and not self.mutes:
            return None
        locked = frozenset(key for key, spec in clarion_settings.CATEGORIES.items() if spec.get("locked"))
        mutes = {topic: (None if until is None else until.timestamp()) for topic, until in self.mutes.items()}
        return SocketFilter(off, mutes, locked)


class SocketFilter:
    """The hub calls ``hides`` for each tagged event, for each socket holding a filter: plain set
    and dict lookups, no query and no datetime arithmetic beyond one clock read per mute."""

    __slots__ = ("off", "mutes", "locked")

    def __init__(self, off: frozenset, mutes: dict, locked: frozenset):
        self.off, self.mutes, self.locked = off, mutes, locked

    def hides(self, tags) -> bool:
        category, topic = tags
        if category in self.locked:
            return False
        if category in self.off:
            return True
        if topic and topic in self.mutes:
            until = self.mutes[topic]
            return until is None or until > time.time()
        return False


def parse_mutes(raw: dict) -> dict:
    mutes = {}
    for topic, until in (raw or {}).items():
        mutes[topic] = None if until is None else datetime.fromisoformat(until.replace("Z", "+00:00"))
    return mutes


def _json(value):
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def load(user_id, role: str | None, *, with_head: bool = False) -> Reader:
    """The reader in one query (and the log's head with it, for a snapshot)."""
    heads = StreamHead._meta.db_table
    head_sql = (f"(SELECT position FROM {heads} WHERE name = %s), (SELECT retained_after FROM {heads} WHERE name = %s)"
                if with_head else "0, 0")
    watermarks, prefs = ReadWatermark._meta.db_table, Preferences._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {head_sql}, w.seq, w.seen_seq, p.channels, p.mutes, p.locale,"
            f" EXISTS (SELECT 1 FROM {NotificationState._meta.db_table} s WHERE s.user_id = %s)"
            f" FROM (SELECT 1 AS one) x"
            f" LEFT JOIN {watermarks} w ON w.user_id = %s"
            f" LEFT JOIN {prefs} p ON p.user_id = %s",
            [*([LOG_NAME, LOG_NAME] if with_head else []), user_id, user_id, user_id],
        )
        head, retained_after, seq, seen_seq, channels, mutes, locale, has_state = cursor.fetchone()
    return Reader(user_id=user_id, role=role, watermark=seq or 0, seen_watermark=seen_seq or 0,
                  channels=_json(channels), mutes=parse_mutes(_json(mutes)), locale=locale or "", head=head or 0,
                  retained_after=retained_after or 0, has_state=bool(has_state))
