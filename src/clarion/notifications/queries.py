"""Read-only queries: what a user may see, what is unread, what came after a cursor.

All of them ride the (recipient_type, recipient_id, seq|id) indexes: a user's audience is at
most three index ranges (personal, their role, everyone), never a scan of the table.
"""

from dataclasses import dataclass

from django.db.models import BooleanField, Case, Exists, OuterRef, Q, QuerySet, Value, When

from clarion.notifications.models import Notification, NotificationRead, ReadWatermark, RecipientType, StreamHead

LOG_NAME = "notifications"


def audience_filter(user_id, role: str | None) -> Q:
    audience = Q(recipient_type=RecipientType.USER, recipient_id=str(user_id)) | Q(recipient_type=RecipientType.ALL)
    if role:
        audience |= Q(recipient_type=RecipientType.ROLE, recipient_id=role)
    return audience


def watermark_of(user_id: int) -> int:
    return ReadWatermark.objects.filter(user_id=user_id).values_list("seq", flat=True).first() or 0


def head_position() -> int:
    """The last committed seq; every notification with seq <= it is committed and visible."""
    return StreamHead.objects.filter(name=LOG_NAME).values_list("position", flat=True).first() or 0


def _read_by(user_id: int):
    return Exists(NotificationRead.objects.filter(user_id=user_id, notification_id=OuterRef("pk")))


def _unread_filter(user_id: int, watermark: int) -> Q:
    return (Q(seq__gt=watermark) | Q(seq__isnull=True)) & ~Q(_read_by(user_id))


def visible_to(user_id: int, role: str | None) -> QuerySet:
    """The user's notifications, each annotated with ``is_read``."""
    watermark = watermark_of(user_id)
    return Notification.objects.filter(audience_filter(user_id, role)).annotate(
        is_read=Case(
            When(seq__lte=watermark, then=Value(True)),
            default=_read_by(user_id),
            output_field=BooleanField(),
        )
    )


def unread(user_id: int, role: str | None, *, watermark: int | None = None) -> QuerySet:
    if watermark is None:
        watermark = watermark_of(user_id)
    return Notification.objects.filter(audience_filter(user_id, role)).filter(_unread_filter(user_id, watermark))


def unread_count(user_id: int, role: str | None) -> int:
    return unread(user_id, role).count()


@dataclass(frozen=True)
class Snapshot:
    """What a socket gets on connect: read consistently against one head position."""

    head: int
    unread_count: int
    recent: list  # newest first, each annotated with is_read
    missed: list | None  # oldest first; None when no cursor was given
    cursor_expired: bool = False


def snapshot(user_id: int, role: str | None, *, after: int | None, recent_limit: int, resume_limit: int) -> Snapshot:
    """Read the connect-time state. Only notifications with seq <= head are included; later
    ones reach the socket live, because publishing happens after the head moves."""
    head = head_position()
    watermark = watermark_of(user_id)
    sequenced = Q(seq__isnull=False, seq__lte=head)
    count = unread(user_id, role, watermark=watermark).filter(sequenced).count()
    if after is not None:
        missed = list(visible_to(user_id, role).filter(sequenced, seq__gt=after).order_by("seq")[: resume_limit + 1])
        if len(missed) <= resume_limit:
            return Snapshot(head=head, unread_count=count, recent=[], missed=missed)
    recent = list(
        visible_to(user_id, role)
        .filter(sequenced)
        .filter(_unread_filter(user_id, watermark))
        .order_by("-seq")[:recent_limit]
    )
    return Snapshot(head=head, unread_count=count, recent=recent, missed=None, cursor_expired=after is not None)
