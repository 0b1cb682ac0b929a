"""Retention: notifications do not pile up for ever (docs/scaling.md used to say nothing deletes
them). `clarion prune` deletes, in batches, first what has expired, then what is older than
CLARION["RETENTION_DAYS"] and was read by its reader, then the rest of what is that old; each
batch takes its per-user state rows (reads, inbox states, delivery records) with it, in one
transaction; delivery receipts older than the cutoff go after.

Deleting by age leaves a hole at the start of the log. The highest seq deleted that way is kept
as the stream's ``retained_after``: a client resuming from a cursor below it is told so and gets a
fresh snapshot instead of a silent gap (clarion.notifications.queries.snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from django.db import transaction
from django.db.models import CharField, Exists, Max, OuterRef
from django.db.models.functions import Cast

from clarion.conf import clarion_settings
from clarion.notifications.log import STREAM_KIND as LOG_NAME
from clarion.notifications.models import Notification, NotificationRead, Receipt, RecipientType, ReadWatermark
from clarion.streams.models import ParkedEntry, StreamHead

BATCH = 1000
EXPIRED, OLD_READ, OLD = "expired", "old and read", "old"


@dataclass
class PruneReport:
    cutoff: datetime
    deleted: dict = field(default_factory=lambda: {EXPIRED: 0, OLD_READ: 0, OLD: 0})
    retained_after: int = 0
    receipts: int = 0  # delivery receipts older than the cutoff (clarion.delivery.receipts)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _phases(now: datetime, cutoff: datetime):
    # Never a row without a seq: the sequencer or the relay still owes it its place and its push.
    sequenced = Notification.objects.filter(seq__isnull=False)
    old = sequenced.filter(created_at__lt=cutoff)
    read_row = Exists(NotificationRead.objects.annotate(reader=Cast("user_id", CharField()))
                      .filter(notification_id=OuterRef("pk"), reader=OuterRef("recipient_id")))
    below_watermark = Exists(ReadWatermark.objects.annotate(reader=Cast("user_id", CharField()))
                             .filter(reader=OuterRef("recipient_id"), seq__gte=OuterRef("seq")))
    return [
        (EXPIRED, sequenced.filter(expires_at__lte=now)),
        (OLD_READ, old.filter(recipient_type=RecipientType.USER).filter(read_row | below_watermark)),
        (OLD, old),
    ]


def prune(*, days: int | None = None, dry_run: bool = False, now: datetime | None = None,
          batch: int = BATCH) -> PruneReport:
    """Delete what retention lets go (or, with ``dry_run``, count it)."""
    now = now or datetime.now(timezone.utc)
    days = clarion_settings.RETENTION_DAYS if days is None else days
    report = PruneReport(cutoff=now - timedelta(days=days))
    for phase, rows in _phases(now, report.cutoff):
        if dry_run:
            report.deleted[phase] = rows.count()
            continue
        while True:
            ids = list(rows.order_by("id").values_list("pk", flat=True)[:batch])
            if not ids:
                break
            report.deleted[phase] += _delete(ids, by_age=phase != EXPIRED)
    report.retained_after = _retained_after()
    report.receipts = _prune_receipts(report.cutoff, dry_run, batch)
    return report


def _prune_receipts(cutoff: datetime, dry_run: bool, batch: int) -> int:
    """Receipts say when a reader got what is kept; those older than what is kept say nothing."""
    old = Receipt.objects.filter(at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while ids := list(old.order_by("id").values_list("pk", flat=True)[:batch]):
        deleted += Receipt.objects.filter(pk__in=ids).delete()[0]
    return deleted


def _delete(ids: list[int], *, by_age: bool) -> int:
    with transaction.atomic():
        horizon = 0
        if by_age:
            horizon = Notification.objects.filter(pk__in=ids).aggregate(top=Max("seq"))["top"] or 0
        ParkedEntry.objects.filter(log="notification", row_id__in=ids).delete()
        # The reads and inbox states go with their notifications (a fast cascade: one DELETE each).
        _, by_model = Notification.objects.filter(pk__in=ids).delete()
        if horizon:
            StreamHead.objects.get_or_create(name=LOG_NAME)
            StreamHead.objects.filter(name=LOG_NAME, retained_after__lt=horizon).update(retained_after=horizon)
    return by_model.get(Notification._meta.label, 0)


def _retained_after() -> int:
    return StreamHead.objects.filter(name=LOG_NAME).values_list("retained_after", flat=True).first() or 0

