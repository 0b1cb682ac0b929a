"""The notification log as one reader gets it, in payloads: the connect snapshot or the replay
after a cursor (the socket; ``GET /api/notifications/snapshot/``), and a page after a cursor
(``GET /api/notifications/?after=``). Both read with the same query (queries._rows_after), so a
socket and a poll see the same notifications, in the same order, under the same rules.
"""

from dataclasses import dataclass

from clarion.conf import clarion_settings
from clarion.notifications import messages, queries
from clarion.notifications.payloads import annotated_payload
from clarion.notifications.reader import Reader
from clarion.streams.read import LogPage, LogSnapshot


@dataclass
class ReaderSnapshot:
    log: LogSnapshot  # its items are payloads
    extra: dict  # the snapshot frame's other fields: unread_count, unseen_count (and cursor_expired)
    reader: Reader
    locale: str


def snapshot(user, role: str | None, after: int | None) -> ReaderSnapshot:
    """A socket's connect: the newest unread, or what followed ``after`` (docs/protocol.md,
    "What a connect sends")."""
    snap = queries.snapshot(user.pk, role, after=after, recent_limit=clarion_settings.RECENT_LIMIT,
                            resume_limit=clarion_settings.RESUME_LIMIT)
    locale = messages.locale_of(user, snap.reader.locale)
    missed = None if snap.missed is None else [annotated_payload(n, locale) for n in snap.missed]
    log = LogSnapshot(head=snap.head, recent=[annotated_payload(n, locale) for n in snap.recent], missed=missed,
                      cursor_expired=snap.cursor_expired, expired_because=snap.expired_because)
    extra = {"unread_count": snap.unread_count, "unseen_count": snap.unseen_count}
    if snap.expired_because:
        extra["cursor_expired"] = snap.expired_because  # why this is a fresh snapshot (docs/protocol.md)
    return ReaderSnapshot(log=log, extra=extra, reader=snap.reader, locale=locale)


def page(user, role: str | None, after: int, limit: int) -> tuple[LogPage, queries.Counts | None]:
    """A page after ``after`` (payloads) and the counts up to where it ends; no counts when the
    cursor expired (the caller sends a fresh snapshot, which has its own)."""
    result, reader = queries.page_after(user.pk, role, after=after, limit=limit,
                                        resume_limit=clarion_settings.RESUME_LIMIT)
    if result.expired_because:
        return result, None
    locale = messages.locale_of(user, reader.locale)
    result.items = [annotated_payload(n, locale) for n in result.items]
    return result, queries.counts_upto(reader, result.position)
