"""What decides, for many readers of one notification at once, whether a channel should reach
them now: read or not, their settings, their address, their digest and quiet hours.

Used when rows are made (clarion.delivery.planner) and again when they are sent
(clarion.delivery.worker): a row held for a digest, quiet hours or a retry is checked again at
its time. A handful of queries per chunk of readers, never one per reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clarion.notifications import schedule
from clarion.delivery.models import Reason
from clarion.notifications import categories
from clarion.notifications.models import NotificationRead, NotificationState, Preferences, ReadWatermark
from clarion.notifications.reader import Reader, parse_mutes


@dataclass(frozen=True)
class ReaderSettings:
    """A reader's delivery settings (their Preferences row, or the defaults)."""

    reader: Reader
    digest: dict
    digest_hour: int
    time_zone: str
    quiet_hours: dict | None

    def digest_mode(self, channel: str) -> str:
        mode = self.digest.get(channel, "off")
        return mode if mode in schedule.DIGEST_MODES else "off"


def settings_of(user_ids) -> dict:
    """{user_id: ReaderSettings} for every id (defaults for those who never changed anything)."""
    rows = {row.user_id: row for row in Preferences.objects.filter(user_id__in=user_ids)}
    out = {}
    for user_id in user_ids:
        row = rows.get(user_id)
        if row is None:
            out[user_id] = ReaderSettings(Reader(user_id, None, has_state=False), {}, 8, "", None)
        else:
            reader = Reader(user_id, None, channels=row.channels or {}, mutes=parse_mutes(row.mutes),
                            locale=row.locale, has_state=False)
            out[user_id] = ReaderSettings(reader, row.digest or {}, row.digest_hour, row.time_zone, row.quiet_hours)
    return out


@dataclass(frozen=True)
class InboxState:
    read: bool
    archived: bool
    snoozed: bool


def inbox_states(notification, user_ids, now: datetime) -> dict:
    """{user_id: InboxState} of one notification for each reader."""
    found = inbox_states_of([(notification, user_id) for user_id in user_ids], now)
    return {user_id: found[(notification.pk, user_id)] for user_id in user_ids}


def inbox_states_of(pairs, now: datetime) -> dict:
    """{(notification id, user id): InboxState} for (notification, user id) pairs, in three
    queries whatever their number (a worker's batch of personal notifications is many
    notifications of one reader each), as the inbox queries define read
    (clarion.notifications.queries): a read row, or at or below the read watermark without a
    mark_unread override."""
    pairs = list(pairs)
    notification_ids = list({notification.pk for notification, _ in pairs})
    user_ids = list({user_id for _, user_id in pairs})
    reads = set(NotificationRead.objects.filter(notification_id__in=notification_ids, user_id__in=user_ids)
                .values_list("notification_id", "user_id"))
    watermarks = dict(ReadWatermark.objects.filter(user_id__in=user_ids).values_list("user_id", "seq"))
    states = {(row.notification_id, row.user_id): row for row in
              NotificationState.objects.filter(notification_id__in=notification_ids, user_id__in=user_ids)}
    out = {}
    for notification, user_id in pairs:
        key = (notification.pk, user_id)
        state = states.get(key)
        below = notification.seq is not None and watermarks.get(user_id, 0) >= notification.seq
        out[key] = InboxState(
            read=key in reads or (below and not (state is not None and state.unread)),
            archived=state is not None and state.archived_at is not None,
            snoozed=state is not None and state.snoozed_until is not None and state.snoozed_until > now,
        )
    return out


def verdict(notification, channel: str, settings: ReaderSettings, state: InboxState, has_address: bool,
            now: datetime) -> tuple[str, datetime | None, bool]:
    """(skip reason or "", when it may go, whether it waits for a digest) for one reader."""
    if notification.expires_at is not None and notification.expires_at <= now:
        return Reason.EXPIRED, None, False
    if state.read or state.archived:
        return Reason.READ, None, False
    if state.snoozed:
        return Reason.SNOOZED, None, False
    reader = settings.reader
    if not reader.channel_on(notification.category, channel) or not reader.channel_on(notification.category, "in_app"):
        return Reason.PREFERENCE_OFF, None, False
    if reader.hides(notification.category, notification.topic, now):
        return Reason.MUTED, None, False
    if not has_address:
        return (Reason.NO_ADDRESS if channel == "email" else Reason.NO_SUBSCRIPTION), None, False
    if categories.is_locked(notification.category):
        return "", now, False  # deadlines and account notices wait for no digest and no quiet hours
    due, digest = now, False
    mode = settings.digest_mode(channel)
    if mode != "off":
        due, digest = schedule.next_digest(mode, settings.digest_hour, settings.time_zone, now), True
    quiet_end = schedule.quiet_until(settings.quiet_hours, settings.time_zone, due)
    if quiet_end is not None:
        due = quiet_end
    return "", due, digest
