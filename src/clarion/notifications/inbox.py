"""A reader's inbox states beyond read: seen, archived, snoozed, marked unread.

Each action writes rows for the acting reader only (NotificationState, unique per user and
notification) and, after commit, sends one ``notifications_state`` frame to every tab of that
reader with the ids, the state that changed and the new counts. Another reader of the same role
or all-users notification is untouched: nothing here is keyed by the notification alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from django.db import transaction

from clarion.notifications import queries
from clarion.notifications import reader as readers
from clarion.notifications.models import NotificationRead, NotificationState, ReadWatermark, Receipt
from clarion.realtime import publish

# What a notifications_state frame says changed (docs/protocol.md).
SEEN, ALL_SEEN, ARCHIVED, UNARCHIVED, UNREAD, SNOOZED, RETURNED, EXPIRED = (
    "seen", "all_seen", "archived", "unarchived", "unread", "snoozed", "returned", "expired")
ACTIONS = (SEEN, ARCHIVED, UNARCHIVED, UNREAD, SNOOZED)
MAX_SNOOZE = timedelta(days=366)


class SnoozeRefused(ValueError):
    """``until`` is not a time in the future within a year."""


def check_snooze_until(until: datetime, now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if not isinstance(until, datetime) or until.tzinfo is None:
        raise SnoozeRefused("until must be a date and time with a time zone, e.g. 2026-12-05T09:00:00Z")
    if until <= now:
        raise SnoozeRefused("until must be in the future")
    if until - now > MAX_SNOOZE:
        raise SnoozeRefused(f"until must be within {MAX_SNOOZE.days} days")
    return until


def change(user_id, role: str | None, action: str, ids, *, until: datetime | None = None):
    """Apply ``action`` (one of ACTIONS) to the reader's notifications ``ids``; return
    (ids changed, ids not found for this reader). Ids the reader cannot see are not found,
    exactly like ids that do not exist."""
    if action not in ACTIONS:
        raise ValueError(f"unknown inbox action {action!r}; expected one of {', '.join(ACTIONS)}")
    if action == SNOOZED:
        until = check_snooze_until(until)
    ids = list(dict.fromkeys(int(i) for i in ids))
    with transaction.atomic():
        reader = readers.load(user_id, role)
        found = dict(queries.visible_to(user_id, role, reader).filter(pk__in=ids).values_list("pk", "seq"))
        changed = [i for i in ids if i in found]
        if changed:
            _WRITERS[action](user_id, reader, {pk: found[pk] for pk in changed}, until)
            _after_commit(user_id, role, action, changed, until)
    return changed, [i for i in ids if i not in found]


def ids_of_group(user_id, role: str | None, group_key: str) -> list[int]:
    """The ids of one group of the reader's (the newest 1,000), for an action taking a group_key."""
    rows = queries.visible_to(user_id, role).filter(group_key=group_key)
    return list(rows.order_by("-id").values_list("pk", flat=True)[:1000])


def mark_all_seen(user_id, role: str | None) -> None:
    """Everything up to the log's head is seen: one watermark, whatever the history. A snoozed
    item keeps its "comes back unseen" until it is back."""
    now = datetime.now(timezone.utc)
    with transaction.atomic():
        head = queries.head_position()
        watermark, _ = ReadWatermark.objects.get_or_create(user_id=user_id)
        if head > watermark.seen_seq:
            ReadWatermark.objects.filter(user_id=user_id).update(seen_seq=head)
            Receipt.objects.create(user_id=user_id, kind=Receipt.Kind.SEEN, seq=head, at=now)  # when, for the sender's view
        (NotificationState.objects.filter(user_id=user_id, seen=False, notification__seq__lte=head)
         .exclude(snoozed_until__gt=now).update(seen=None))
        _after_commit(user_id, role, ALL_SEEN, [], None)


def _upsert(user_id, seqs: dict, **values) -> None:
    rows = [NotificationState(user_id=user_id, notification_id=pk, **values) for pk in seqs]
    NotificationState.objects.bulk_create(rows, update_conflicts=True, unique_fields=["user", "notification"],
                                          update_fields=list(values))


def _seen(user_id, reader, seqs, until):
    _upsert(user_id, seqs, seen=True, seen_at=datetime.now(timezone.utc))


def _archived(user_id, reader, seqs, until):
    _upsert(user_id, seqs, archived_at=datetime.now(timezone.utc))


def _unarchived(user_id, reader, seqs, until):
    NotificationState.objects.filter(user_id=user_id, notification_id__in=list(seqs)).update(archived_at=None)


def _unread(user_id, reader, seqs, until):
    """Unread again, still seen (the badge does not light up for what the reader chose)."""
    _make_unread(user_id, reader, seqs, seen=True)


def _snoozed(user_id, reader, seqs, until):
    """Out of the list until ``until``, then back as new: unread and unseen."""
    _make_unread(user_id, reader, seqs, seen=False, snoozed_until=until)


def _make_unread(user_id, reader, seqs, **values):
    NotificationRead.objects.filter(user_id=user_id, notification_id__in=list(seqs)).delete()
    below = {pk: seq for pk, seq in seqs.items() if seq is not None and seq <= reader.watermark}
    above = {pk: seq for pk, seq in seqs.items() if pk not in below}
    if below:  # read by the watermark: an exception row says otherwise
        _upsert(user_id, below, unread=True, **values)
    if above:
        _upsert(user_id, above, unread=False, **values)


_WRITERS = {SEEN: _seen, ARCHIVED: _archived, UNARCHIVED: _unarchived, UNREAD: _unread, SNOOZED: _snoozed}


def _after_commit(user_id, role, state: str, ids: list, until: datetime | None) -> None:
    def send():
        publish.publish_inbox_state(user_id, state_frame(user_id, role, state, ids, until))

    transaction.on_commit(send)


def state_frame(user_id, role, state: str, ids: list, until: datetime | None = None, notifications=None) -> dict:
    """The data of a notifications_state frame, with the counts read now."""
    data = {"ids": ids, "state": state, **queries.counts(user_id, role).as_dict()}
    if until is not None:
        data["until"] = until.isoformat().replace("+00:00", "Z")
    if notifications is not None:
        data["notifications"] = notifications
    return data


def clear_overrides_on_read(user_id, ids=None, *, keep=()) -> None:
    """Read means read and seen: a marked-unread or come-back-unseen row says so no more
    (``ids`` None: every row of the reader, for mark-all-as-read; ``keep``: ids left alone)."""
    rows = NotificationState.objects.filter(user_id=user_id)
    if ids is not None:
        rows = rows.filter(notification_id__in=list(ids))
    if keep:
        rows = rows.exclude(notification_id__in=list(keep))
    rows.filter(unread=True).update(unread=False)
    rows.filter(seen=False).update(seen=None)
