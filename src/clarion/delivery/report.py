"""The sender's view of one notification: per reader, when it was delivered (acknowledged by a
client), seen, read, mailed and pushed, with totals ("41 of 60 students read, 12 emailed, 3
failed").

Nothing here is stored per reader for a role or all-users notification beyond what readers did
themselves (receipts, reads, states) and the delivery rows made at due time: the audience is
listed from the role's members, and each page of it is read with a handful of queries.
"""

from __future__ import annotations

from datetime import datetime, timezone

from django.db.models import Count, Min

from clarion.delivery import audience
from clarion.delivery.models import Channel, Delivery, Status
from clarion.notifications.models import NotificationRead, NotificationState, ReadWatermark, Receipt


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def reader_rows(notification, users) -> list[dict]:
    """One entry per user of ``users`` (a page of the audience)."""
    ids = [user.pk for user in users]
    seq = notification.seq
    deliveries = {(d.user_id, d.channel): d for d in Delivery.objects.filter(notification=notification, user_id__in=ids)}
    reads = dict(NotificationRead.objects.filter(notification=notification, user_id__in=ids)
                 .values_list("user_id", "read_at"))
    states = {s.user_id: s for s in NotificationState.objects.filter(notification=notification, user_id__in=ids)}
    watermarks = {w.user_id: w for w in ReadWatermark.objects.filter(user_id__in=ids)}
    firsts = {}
    if seq is not None:
        for kind in Receipt.Kind.values:
            firsts[kind] = dict(Receipt.objects.filter(user_id__in=ids, kind=kind, seq__gte=seq)
                                .values("user_id").annotate(first=Min("at")).values_list("user_id", "first"))
    rows = []
    for user in users:
        state = states.get(user.pk)
        watermark = watermarks.get(user.pk)
        read_at = reads.get(user.pk)
        if read_at is None and seq is not None and watermark is not None and watermark.seq >= seq \
                and not (state is not None and state.unread):
            read_at = firsts.get(Receipt.Kind.READ, {}).get(user.pk)
        seen_at = (state.seen_at if state is not None and state.seen_at else None) \
            or (firsts.get(Receipt.Kind.SEEN, {}).get(user.pk) if watermark is not None and seq is not None
                and watermark.seen_seq >= seq else None) or read_at
        delivered_at = firsts.get(Receipt.Kind.DELIVERED, {}).get(user.pk)
        if delivered_at is None or (seen_at is not None and seen_at < delivered_at):
            delivered_at = delivered_at or seen_at  # seen or read on a page: it reached them
        rows.append({
            "user": {"id": user.pk, "username": user.get_username()},
            "delivered_at": _timestamp(delivered_at),
            "seen_at": _timestamp(seen_at),
            "read_at": _timestamp(read_at),
            "channels": {channel: _delivery(deliveries.get((user.pk, channel))) for channel in Channel.values},
        })
    return rows


def _delivery(row: Delivery | None) -> dict | None:
    if row is None:
        return None
    return {"status": row.status, "reason": row.reason, "error": row.error, "attempts": row.attempts,
            "due_at": _timestamp(row.due_at), "sent_at": _timestamp(row.sent_at)}


def totals(notification, readers) -> dict:
    """Counts over the whole audience (paged through, a few queries per 2,000 readers)."""
    counts = {"audience": 0, "delivered": 0, "seen": 0, "read": 0}
    for users in audience.chunks_of(readers):
        counts["audience"] += len(users)
        for row in reader_rows(notification, users):
            counts["delivered"] += row["delivered_at"] is not None
            counts["seen"] += row["seen_at"] is not None
            counts["read"] += row["read_at"] is not None
    by_status = dict(((channel, status), n) for channel, status, n in
                     Delivery.objects.filter(notification=notification).values_list("channel", "status")
                     .annotate(n=Count("id")).values_list("channel", "status", "n"))
    counts["emailed"] = by_status.get((Channel.EMAIL, Status.SENT), 0)
    counts["pushed"] = by_status.get((Channel.PUSH, Status.SENT), 0)
    for status in (Status.PENDING, Status.FAILED, Status.SKIPPED):
        counts[status] = sum(n for (_, s), n in by_status.items() if s == status)
    counts["pending"] += sum(n for (_, s), n in by_status.items() if s == Status.SENDING)
    return counts


def summary(notification, counts: dict) -> str:
    if notification.recipient_type == "role":
        noun = notification.recipient_id if notification.recipient_id.endswith("s") else f"{notification.recipient_id}s"
    elif notification.recipient_type == "all":
        noun = "users"
    else:
        noun = "reader" if counts["audience"] == 1 else "readers"
    parts = [f"{counts['read']} of {counts['audience']} {noun} read", f"{counts['emailed']} emailed"]
    if counts["pushed"]:
        parts.append(f"{counts['pushed']} pushed")
    parts.append(f"{counts['failed']} failed")
    return ", ".join(parts)
