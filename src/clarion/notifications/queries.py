"""Read-only queries: what a user may see, what counts as unread and unseen, what came after a cursor.

All of them ride the (recipient_type, recipient_id, seq|id) indexes: a user's audience is at
most three index ranges (personal, their role, everyone), never a scan of the table. A reader's
state beyond read (seen, archived, snoozed, marked unread) is a LEFT JOIN on the unique
(user, notification) index of the rows they wrote; their muted topics and categories turned off
are parameters of the query (clarion.notifications.reader), never a join.

Two forms of each rule: the ORM querysets are the definition (REST lists, filters); the SQL
below runs on every socket connect, where the ORM cost several times the query (tests check
that both agree).
"""

from dataclasses import dataclass
from datetime import datetime, timezone

from django.db import connection
from django.db.models import BooleanField, Case, Exists, F, FilteredRelation, OuterRef, Q, QuerySet, Value, When

from clarion.conf import clarion_settings
from clarion.notifications import reader as readers
from clarion.notifications.log import STREAM_KIND as LOG_NAME
from clarion.notifications.models import (
    Notification,
    NotificationRead,
    NotificationState,
    ReadWatermark,
    RecipientType,
)
from clarion.notifications.reader import Reader
from clarion.streams.models import StreamHead
from clarion.streams.read import RETENTION, LogPage, page_of


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


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _read_by(user_id):
    return Exists(NotificationRead.objects.filter(user_id=user_id, notification_id=OuterRef("pk")))


def _reader(user_id, role, reader: Reader | None) -> Reader:
    return reader if reader is not None else readers.load(user_id, role)


def muted_q(reader: Reader, now: datetime | None = None) -> Q:
    """Notifications the reader's settings hide (never a locked category's)."""
    off, topics = reader.off_categories(), reader.muted_topics(now)
    if not off and not topics:
        return Q(pk__in=[])
    locked = [key for key, spec in clarion_settings.CATEGORIES.items() if spec.get("locked")]
    return (Q(category__in=off) | Q(topic__in=topics)) & ~Q(category__in=locked)


def visible_to(user_id, role: str | None, reader: Reader | None = None) -> QuerySet:
    """Every notification the user may see (archived, snoozed and muted ones too, not expired
    ones), each annotated with the reader's ``is_read``, ``is_seen``, ``is_archived`` and
    ``snoozed_until``."""
    reader = _reader(user_id, role, reader)
    now = _now()
    read_row = _read_by(user_id)
    is_read = Case(
        When(st__unread=True, then=Value(False)),
        When(seq__lte=reader.watermark, then=Value(True)),
        default=read_row,
        output_field=BooleanField(),
    )
    return (
        Notification.objects.filter(audience_filter(user_id, role))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .annotate(st=FilteredRelation("states", condition=Q(states__user_id=user_id)))
        .annotate(
            is_read=is_read,
            is_seen=Case(
                When(st__seen__isnull=False, then=F("st__seen")),
                When(seq__lte=reader.seen_watermark, then=Value(True)),
                default=is_read,
                output_field=BooleanField(),
            ),
            is_archived=Case(When(st__archived_at__isnull=False, then=Value(True)), default=Value(False),
                             output_field=BooleanField()),
            snoozed_until=F("st__snoozed_until"),
        )
    )


def inbox(user_id, role: str | None, reader: Reader | None = None, *, archived: bool = False,
          snoozed: bool = False, include_muted: bool = False, now: datetime | None = None) -> QuerySet:
    """The list a reader sees: without archived items (only them with ``archived``), without
    items snoozed until later (only them with ``snoozed``), without what they muted or turned
    off (unless ``include_muted``)."""
    reader = _reader(user_id, role, reader)
    return narrow_to_inbox(visible_to(user_id, role, reader), reader, archived=archived, snoozed=snoozed,
                           include_muted=include_muted, now=now)


def narrow_to_inbox(rows: QuerySet, reader: Reader, *, archived: bool = False, snoozed: bool = False,
                    include_muted: bool = False, now: datetime | None = None) -> QuerySet:
    """``inbox``'s rule over a ``visible_to`` queryset (the REST list's filters use it)."""
    now = now or _now()
    rows = rows.filter(st__archived_at__isnull=not archived)
    snoozed_now = Q(st__snoozed_until__gt=now)
    not_snoozed = Q(st__snoozed_until__isnull=True) | Q(st__snoozed_until__lte=now)
    rows = rows.filter(snoozed_now if snoozed else not_snoozed)
    if not include_muted:
        rows = rows.exclude(muted_q(reader, now))
    return rows


def unread(user_id, role: str | None, reader: Reader | None = None) -> QuerySet:
    """What counts as unread: in the inbox (not archived, snoozed or muted) and not read."""
    return inbox(user_id, role, reader).filter(is_read=False)


def unseen(user_id, role: str | None, reader: Reader | None = None) -> QuerySet:
    """What the badge counts: unread and not seen."""
    return unread(user_id, role, reader).filter(is_seen=False)


@dataclass(frozen=True)
class Counts:
    unread_count: int
    unseen_count: int

    def as_dict(self) -> dict:
        return {"unread_count": self.unread_count, "unseen_count": self.unseen_count}


def counts(user_id, role: str | None, reader: Reader | None = None) -> Counts:
    """Unread and unseen counts in one query (REST, and the frames after a state change)."""
    return _counts_upto(_reader(user_id, role, reader), None)


def unread_count(user_id, role: str | None) -> int:
    return counts(user_id, role).unread_count


@dataclass(frozen=True)
class Snapshot:
    """What a socket gets on connect: read consistently against one head position."""

    head: int
    unread_count: int
    recent: list  # newest first, each annotated with is_read and is_seen
    missed: list | None  # oldest first; None when no cursor was given
    cursor_expired: bool = False
    unseen_count: int = 0
    reader: Reader | None = None
    # Why the cursor was not resumed: "retention" (it predates what `clarion prune` kept) or
    # "too_many_missed" (more than resume_limit followed it); "" when it was, or none was given.
    expired_because: str = ""


def snapshot(user_id, role: str | None, *, after: int | None, recent_limit: int, resume_limit: int) -> Snapshot:
    """Read the connect-time state. Only notifications with seq <= head are included; later
    ones reach the socket live, because publishing happens after the head moves.

    Every socket connect runs this, so it is written in SQL: the ORM spent about 3 ms per
    connect building these queries, several times the cost of running them. The ORM
    functions above remain the definition; tests check that both agree.
    """
    reader = readers.load(user_id, role, with_head=True)
    head = reader.head
    pruned = after is not None and after < reader.retained_after
    if after is not None and not pruned:
        missed = _rows_after(reader, after, head, resume_limit + 1)
        if len(missed) <= resume_limit:
            # Counted up to the cursor, as the client's state is: the replayed notifications
            # that follow add themselves (docs/protocol.md, recent_notifications.unread_count).
            total = _counts_upto(reader, after if missed else head)
            return Snapshot(head=head, unread_count=total.unread_count, unseen_count=total.unseen_count,
                            recent=[], missed=missed, reader=reader)
    sql, params = _unread_rows(reader, upto=head)
    recent = list(Notification.objects.raw(
        f"SELECT u.*, FALSE AS is_read, CASE WHEN {_UNSEEN_ROW} THEN FALSE ELSE TRUE END AS is_seen,"
        f" COUNT(*) OVER () AS unread_total,"
        f" SUM(CASE WHEN {_UNSEEN_ROW} THEN 1 ELSE 0 END) OVER () AS unseen_total"
        f" FROM ({sql}) u ORDER BY u.seq DESC LIMIT %s",
        [reader.seen_watermark, reader.seen_watermark, *params, recent_limit],
    ))
    unread_total = recent[0].unread_total if recent else 0
    unseen_total = (recent[0].unseen_total or 0) if recent else 0
    for notification in recent:
        notification.is_read = False
        notification.is_seen = bool(notification.is_seen)
    return Snapshot(head=head, unread_count=unread_total, unseen_count=unseen_total, recent=recent, missed=None,
                    cursor_expired=after is not None, reader=reader,
                    expired_because="" if after is None else "retention" if pruned else "too_many_missed")


def page_after(user_id, role: str | None, *, after: int, limit: int, resume_limit: int) -> tuple[LogPage, Reader]:
    """What followed ``after`` for this reader, at most ``limit`` of it: the rows a resumed
    socket replays (the same query, audience and inbox rule), cut into pages for
    ``GET /api/notifications/?after=``. Expired under the socket's rule: a cursor older than
    what retention kept, or one followed by more than ``resume_limit`` notifications."""
    reader = readers.load(user_id, role, with_head=True)
    head = reader.head
    if after < reader.retained_after:
        return LogPage(head=head, position=head, expired_because=RETENTION), reader
    items = _rows_after(reader, after, head, limit + 1)
    page = page_of(items, head=head, limit=limit, resume_limit=resume_limit,
                   beyond=lambda offset: bool(_rows_after(reader, after, head, 1, offset)))
    return page, reader


def counts_upto(reader: Reader, position: int) -> Counts:
    """Unread and unseen counts of what was published up to ``position``."""
    return _counts_upto(reader, position)


def _rows_after(reader: Reader, after: int, head: int, count: int, offset: int = 0) -> list:
    """The reader's notifications with after < seq <= head, in log order, each annotated with
    is_read and is_seen (a socket's replay, a poll's page)."""
    user_id, role = reader.user_id, reader.role
    shown, shown_params = _shown(reader)
    if reader.has_state:
        columns = f"{_IS_READ} AS is_read, {_IS_SEEN} AS is_seen FROM {_TABLE} n {_STATE_JOIN}"
        column_params = [reader.watermark, user_id, reader.seen_watermark, reader.watermark, user_id, user_id]
    else:
        columns = f"{_IS_READ_PLAIN} AS is_read, {_IS_SEEN_PLAIN} AS is_seen FROM {_TABLE} n"
        column_params = [reader.watermark, user_id, reader.seen_watermark, reader.watermark, user_id]
    return list(Notification.objects.raw(
        f"SELECT {_FIELDS}, {columns} "
        f"WHERE {_AUDIENCE} AND n.seq > %s AND n.seq <= %s AND {shown} ORDER BY n.seq LIMIT %s OFFSET %s",
        [*column_params, *_audience_params(user_id, role), after, head, *shown_params, count, offset],
    ))


_TABLE = Notification._meta.db_table
_READS = NotificationRead._meta.db_table
_STATES = NotificationState._meta.db_table
_FIELDS = ", ".join(f"n.{f.column}" for f in Notification._meta.concrete_fields)
_AUDIENCE = (
    "((n.recipient_type = 'user' AND n.recipient_id = %s)"
    " OR (n.recipient_type = 'all' AND n.recipient_id = '')"
    " OR (n.recipient_type = 'role' AND n.recipient_id = %s))"
)
_READ_EXISTS = f"EXISTS (SELECT 1 FROM {_READS} r WHERE r.user_id = %s AND r.notification_id = n.id)"
_STATE_JOIN = f"LEFT JOIN {_STATES} s ON s.notification_id = n.id AND s.user_id = %s"
# params: watermark, user_id
_IS_READ = f"(CASE WHEN s.unread = TRUE THEN FALSE WHEN n.seq <= %s THEN TRUE ELSE {_READ_EXISTS} END)"
# params: seen watermark, then _IS_READ's
_IS_SEEN = f"(CASE WHEN s.seen IS NOT NULL THEN s.seen WHEN n.seq <= %s THEN TRUE ELSE {_IS_READ} END)"
# The same for a reader without state rows: no join.
_IS_READ_PLAIN = f"(CASE WHEN n.seq <= %s THEN TRUE ELSE {_READ_EXISTS} END)"
_IS_SEEN_PLAIN = f"(CASE WHEN n.seq <= %s THEN TRUE ELSE {_IS_READ_PLAIN} END)"
# Over the rows of _unread_rows (an unread row is seen only by the watermark or its state row).
# param: seen watermark
_UNSEEN_ROW = "(u.st_seen = FALSE OR (u.st_seen IS NULL AND (u.seq IS NULL OR u.seq > %s)))"
_UNSEEN_SUM = f"COALESCE(SUM(CASE WHEN {_UNSEEN_ROW} THEN 1 ELSE 0 END), 0)"


def _audience_params(user_id, role):
    # A user without a role matches no role row: "" is never a role name.
    return [str(user_id), role or ""]


def _shown(reader: Reader, now: datetime | None = None) -> tuple[str, list]:
    """SQL (over aliases n and s) for "in the reader's inbox": not archived, not snoozed until
    later, not expired, not muted or turned off (a locked category always shows)."""
    now = now or _now()
    at = connection.ops.adapt_datetimefield_value(now)
    sql, params = "(n.expires_at IS NULL OR n.expires_at > %s)", [at]
    if reader.has_state:  # else the queries join no state rows: nothing archived or snoozed
        sql += " AND s.archived_at IS NULL AND (s.snoozed_until IS NULL OR s.snoozed_until <= %s)"
        params.append(at)
    off, topics = reader.off_categories(), reader.muted_topics(now)
    if off or topics:
        locked = [key for key, spec in clarion_settings.CATEGORIES.items() if spec.get("locked")]
        hidden = []
        if off:
            hidden.append(f"n.category IN ({', '.join(['%s'] * len(off))})")
            params.extend(off)
        if topics:
            hidden.append(f"n.topic IN ({', '.join(['%s'] * len(topics))})")
            params.extend(topics)
        sql += f" AND NOT (({' OR '.join(hidden)})"
        if locked:
            sql += f" AND n.category NOT IN ({', '.join(['%s'] * len(locked))})"
            params.extend(locked)
        sql += ")"
    return sql, params


def _unread_rows(reader: Reader, upto: int | None) -> tuple[str, list]:
    """SQL of the reader's unread notifications (columns of n, plus s.seen as st_seen), in
    index-bounded parts: above the read watermark without a read row; with ``upto`` None, those
    not yet sequenced (a partial index); and the few they marked unread (their state rows),
    wherever they are. ``upto``: only seq <= upto."""
    user_id, role = reader.user_id, reader.role
    shown, shown_params = _shown(reader)
    upper = "" if upto is None else "AND n.seq <= %s"
    upper_params = [] if upto is None else [upto]
    if not reader.has_state:  # the common reader: the audience ranges alone, no join
        select = f"SELECT {_FIELDS}, CAST(NULL AS BOOLEAN) AS st_seen FROM {_TABLE} n WHERE {_AUDIENCE}"
        select_params = _audience_params(user_id, role)
        parts = [(f"{select} AND n.seq > %s {upper} AND NOT {_READ_EXISTS} AND {shown}",
                  [*select_params, reader.watermark, *upper_params, user_id, *shown_params])]
        if upto is None:
            parts.append((f"{select} AND n.seq IS NULL AND NOT {_READ_EXISTS} AND {shown}",
                           [*select_params, user_id, *shown_params]))
        return " UNION ALL ".join(sql for sql, _ in parts), [p for _, params in parts for p in params]
    select = f"SELECT {_FIELDS}, s.seen AS st_seen FROM {_TABLE} n {_STATE_JOIN} WHERE {_AUDIENCE}"
    select_params = [user_id, *_audience_params(user_id, role)]
    not_marked = "(s.unread IS NULL OR s.unread = FALSE)"  # those are the last part's
    parts = [(f"{select} AND n.seq > %s {upper} AND {not_marked} AND NOT {_READ_EXISTS} AND {shown}",
              [*select_params, reader.watermark, *upper_params, user_id, *shown_params])]
    if upto is None:
        parts.append((f"{select} AND n.seq IS NULL AND {not_marked} AND NOT {_READ_EXISTS} AND {shown}",
                      [*select_params, user_id, *shown_params]))
    parts.append((
        f"SELECT {_FIELDS}, s.seen AS st_seen FROM {_STATES} s JOIN {_TABLE} n ON n.id = s.notification_id "
        f"WHERE s.user_id = %s AND s.unread = TRUE {upper} AND {_AUDIENCE} AND {shown}",
        [user_id, *upper_params, *_audience_params(user_id, role), *shown_params],
    ))
    return " UNION ALL ".join(sql for sql, _ in parts), [p for _, params in parts for p in params]


def _counts_upto(reader: Reader, upto: int | None) -> Counts:
    sql, params = _unread_rows(reader, upto=upto)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*), {_UNSEEN_SUM} FROM ({sql}) u", [reader.seen_watermark, *params])
        unread_total, unseen_total = cursor.fetchone()
    return Counts(unread_total, unseen_total or 0)
