"""Read-only queries: what a user may see, what is unread, what came after a cursor.

All of them ride the (recipient_type, recipient_id, seq|id) indexes: a user's audience is at
most three index ranges (personal, their role, everyone), never a scan of the table.
"""

from dataclasses import dataclass

from django.db.models import BooleanField, Case, Exists, OuterRef, Q, QuerySet, Value, When

from clarion.notifications.log import STREAM_KIND as LOG_NAME
from clarion.notifications.models import Notification, NotificationRead, ReadWatermark, RecipientType
from clarion.streams.models import StreamHead


def audience_filter(user_id, role: str | None) -> Q:
    audience = Q(recipient_type=RecipientType.USER, recipient_id=str(user_id)) | Q(
        recipient_type=RecipientType.ALL, recipient_id=""
    )
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


def snapshot(user_id, role: str | None, *, after: int | None, recent_limit: int, resume_limit: int) -> Snapshot:
    """Read the connect-time state. Only notifications with seq <= head are included; later
    ones reach the socket live, because publishing happens after the head moves.

    Every socket connect runs this, so it is written in SQL: the ORM spent about 3 ms per
    connect building these queries, several times the cost of running them. The ORM
    functions above remain the definition; tests check that both agree.
    """
    head, watermark = _head_and_watermark(user_id)
    if after is not None:
        missed = list(Notification.objects.raw(
            f"SELECT {_COLUMNS}, (n.seq <= %s OR {_READ_EXISTS}) AS is_read FROM {_TABLE} n "
            f"WHERE {_AUDIENCE} AND n.seq > %s AND n.seq <= %s ORDER BY n.seq LIMIT %s",
            [watermark, user_id, *_audience_params(user_id, role), after, head, resume_limit + 1],
        ))
        if len(missed) <= resume_limit:
            # Counted up to the cursor, as the client's state is: the replayed notifications
            # that follow add themselves (docs/protocol.md, recent_notifications.unread_count).
            upto = after if missed else head
            return Snapshot(head=head, unread_count=_unread_total(user_id, role, watermark, upto),
                            recent=[], missed=missed)
    recent = list(Notification.objects.raw(
        f"SELECT {_COLUMNS}, 0 AS is_read, COUNT(*) OVER () AS unread_total FROM {_TABLE} n "
        f"WHERE {_AUDIENCE} AND n.seq > %s AND n.seq <= %s AND NOT {_READ_EXISTS} "
        f"ORDER BY n.seq DESC LIMIT %s",
        [*_audience_params(user_id, role), watermark, head, user_id, recent_limit],
    ))
    count = recent[0].unread_total if recent else 0
    for notification in recent:
        notification.is_read = False
    return Snapshot(head=head, unread_count=count, recent=recent, missed=None, cursor_expired=after is not None)


_TABLE = Notification._meta.db_table
_READS = NotificationRead._meta.db_table
_COLUMNS = ", ".join(f"n.{f.column}" for f in Notification._meta.concrete_fields)
_AUDIENCE = (
    "((n.recipient_type = 'user' AND n.recipient_id = %s)"
    " OR (n.recipient_type = 'all' AND n.recipient_id = '')"
    " OR (n.recipient_type = 'role' AND n.recipient_id = %s))"
)
_READ_EXISTS = f"EXISTS (SELECT 1 FROM {_READS} r WHERE r.user_id = %s AND r.notification_id = n.id)"


def _audience_params(user_id, role):
    # A user without a role matches no role row: "" is never a role name.
    return [str(user_id), role or ""]


def _head_and_watermark(user_id) -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT position FROM {StreamHead._meta.db_table} WHERE name = %s),"
            f" (SELECT seq FROM {ReadWatermark._meta.db_table} WHERE user_id = %s)",
            [LOG_NAME, user_id],
        )
        head, watermark = cursor.fetchone()
    return head or 0, watermark or 0


def _unread_total(user_id, role, watermark: int, head: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {_TABLE} n WHERE {_AUDIENCE} AND n.seq > %s AND n.seq <= %s "
            f"AND NOT {_READ_EXISTS}",
            [*_audience_params(user_id, role), watermark, head, user_id],
        )
        return cursor.fetchone()[0]
