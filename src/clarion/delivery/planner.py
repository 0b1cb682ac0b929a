"""Making delivery rows when they fall due, never when a notification is created.

The planner walks the notification log in seq order, once per channel and delay (the email of
categories mailed after 600 s is one walk, deadlines mailed at once another, push a third), and
keeps how far each walk got in a PlannerCursor row. A notification whose time has come gets a
row for each reader still unread then: pending (maybe held for a digest or quiet hours), or
skipped with the reason. Readers who read it in time get no row, unless the notification was
addressed to them alone: then a skipped row says why no mail went. For role and all-users
notifications, readers whose settings turn the channel off get no row either, so a broadcast in
a category nobody mails writes nothing.

The rows and the cursor move in one transaction, and the unique (notification, user, channel)
constraint makes a repeat harmless: a worker killed mid-way plans the same notification again
and adds nothing twice. On PostgreSQL a cursor row is locked with SKIP LOCKED: two workers never
walk one cursor at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from django.db import connection, transaction
from django.db.models import Max

from clarion.conf import clarion_settings
from clarion.delivery import audience, readers
from clarion.delivery.channels import DeliveryChannel, all_channels
from clarion.delivery.models import Delivery, PlannerCursor, Reason, Status
from clarion.notifications.models import Notification, Preferences

logger = logging.getLogger("clarion.delivery")

BATCH = 200  # notifications looked at per walk per round
# A walk's first position: notifications created this long before their due time are not
# sent when the worker first runs (an upgrade does not mail a year of history).
FIRST_RUN_LOOKBACK = timedelta(days=1)


def walks(channels: list[DeliveryChannel] | None = None) -> list[tuple[DeliveryChannel, float, list[str]]]:
    """(channel, delay in seconds, categories) for every walk this site's settings need."""
    out = []
    for channel in channels or all_channels():
        by_delay: dict[float, list[str]] = {}
        for key, spec in clarion_settings.CATEGORIES.items():
            if spec.get("locked") and channel.name not in spec.get("channels", ["in_app"]):
                continue  # nobody can turn it on
            by_delay.setdefault(channel.delay(key), []).append(key)
        out.extend((channel, delay, sorted(keys)) for delay, keys in sorted(by_delay.items()))
    return out


def never_stopping() -> bool:
    return False


def plan(now: datetime | None = None, stopping: Callable[[], bool] = never_stopping) -> int:
    """One round of every walk; returns the rows made. ``stopping`` is asked before each
    notification: a server that is shutting down keeps what is planned and leaves the rest."""
    made = 0
    for channel, delay, categories in walks():
        if stopping():
            break
        made += plan_walk(channel, delay, categories, now or datetime.now(timezone.utc), stopping)
    return made


def plan_walk(channel: DeliveryChannel, delay: float, categories: list[str], now: datetime,
              stopping: Callable[[], bool] = never_stopping) -> int:
    name = f"{channel.name}:{delay:g}"
    due_before = now - timedelta(seconds=delay)
    made = 0
    with transaction.atomic():
        cursor = _lock_cursor(name, due_before)
        if cursor is None:
            return 0  # another worker is on this walk
        position = cursor.position
        rows = (Notification.objects.filter(seq__gt=position).order_by("seq")
                .only("id", "seq", "created_at", "category", "topic", "recipient_type", "recipient_id",
                      "expires_at", "link")[:BATCH])
        for notification in rows:
            if notification.created_at > due_before:
                break  # not due yet; every later entry waits behind it, so none is passed over
            if stopping():
                # The cursor moves with the rows made so far, in this transaction: the next
                # round (here or in another process) goes on from this notification. Without
                # this a shutdown waited for a whole batch (seconds after a bulk of 1,000).
                break
            if notification.category in categories:
                made += plan_one(channel, notification, now)
            position = notification.seq
        if position != cursor.position:
            PlannerCursor.objects.filter(pk=name).update(position=position)
    return made


def _lock_cursor(name: str, due_before: datetime) -> PlannerCursor | None:
    rows = PlannerCursor.objects.filter(pk=name)
    if connection.vendor == "postgresql":
        rows = rows.select_for_update(skip_locked=True)
    cursor = rows.first()
    if cursor is not None:
        return cursor
    start = (Notification.objects.filter(created_at__lt=due_before - FIRST_RUN_LOOKBACK, seq__isnull=False)
             .aggregate(top=Max("seq"))["top"] or 0)
    PlannerCursor.objects.bulk_create([PlannerCursor(name=name, position=start)], ignore_conflicts=True)
    return rows.first()


def plan_one(channel: DeliveryChannel, notification, now: datetime) -> int:
    """Rows of one notification on one channel, for every reader of its audience."""
    alone = notification.recipient_type == "user"
    made = 0
    narrow = channel.narrow
    spec = clarion_settings.CATEGORIES.get(notification.category) or {}
    if channel.name not in spec.get("channels", ["in_app"]):
        # Off unless a reader turned it on: only readers who changed a setting can have (an
        # announcement mailed to no one by default costs nothing per reader).
        changed = Preferences.objects.exclude(channels={}).values("user_id")
        narrow = lambda users, first=channel.narrow: first(users).filter(pk__in=changed)  # noqa: E731
    for users in audience.chunks(notification, narrow=narrow):
        by_id = {user.pk: user for user in users}
        ids = list(by_id)
        settings = readers.settings_of(ids)
        states = readers.inbox_states(notification, ids, now)
        reachable = channel.reachable(by_id)
        unwanted = channel.unwanted_now(ids)
        rows = []
        for user_id, user in by_id.items():
            if not user.is_active:
                reason, due, digest = Reason.GONE, None, False
            else:
                reason, due, digest = readers.verdict(notification, channel.name, settings[user_id],
                                                      states[user_id], user_id in reachable, now)
                if not reason and user_id in unwanted:
                    reason = Reason.ONLINE
            if not alone and reason in (Reason.READ, Reason.PREFERENCE_OFF, Reason.EXPIRED, Reason.NO_SUBSCRIPTION):
                # The one-row rule: only readers it could still reach get a row (most readers of a
                # broadcast have no push subscription: a row each would be the write it avoids).
                continue
            rows.append(Delivery(notification_id=notification.pk, user_id=user_id, channel=channel.name,
                                 status=Status.SKIPPED if reason else Status.PENDING, reason=reason,
                                 due_at=due or now, digest=digest))
        Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        made += len(rows)
    return made
