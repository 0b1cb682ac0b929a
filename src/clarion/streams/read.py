"""Reading a stream: at connect (the head first, then only rows at or below it), and a page
after a cursor (a socket's replay, and REST polling with ``?after=``).

Rows sequenced later reach the socket live, because the socket joined its group before this
read and pushing happens after the head moves (clarion.streams.sequencer). A poll needs no
subscription: it reads up to the head, and the next poll starts from where this one ended.
"""

from dataclasses import dataclass, field

from clarion.streams.models import StreamHead


@dataclass
class LogSnapshot:
    head: int
    recent: list = field(default_factory=list)
    missed: list | None = None  # set on a successful resume: everything after the cursor
    cursor_expired: bool = False
    # "retention": the cursor predates what retention kept; else (when expired) too many followed it
    expired_because: str = ""


@dataclass
class LogPage:
    """What followed a cursor, at most a page of it, oldest first.

    ``position``: where the next page starts: the last item's seq when more follow, else the
    head (so that a poll moves past entries the reader cannot see, as a resumed socket does).
    ``expired_because``: "retention" or "too_many_missed" when the cursor cannot be resumed
    (the socket's ``cursor_expired``): ``items`` is then empty and the reader needs a snapshot."""

    head: int
    items: list = field(default_factory=list)
    position: int = 0
    more: bool = False
    expired_because: str = ""


RETENTION = "retention"
TOO_MANY_MISSED = "too_many_missed"


def head_of(stream) -> int:
    return StreamHead.objects.filter(name=str(stream)).values_list("position", flat=True).first() or 0


def _head_and_horizon(stream) -> tuple[int, int]:
    row = StreamHead.objects.filter(name=str(stream)).values_list("position", "retained_after").first()
    return row if row is not None else (0, 0)


def rows_after(upto, cursor: int, count: int, offset: int = 0) -> list:
    """Rows of ``upto`` (a queryset already bounded by the head) after ``cursor``, in log order:
    the one query a socket's replay and a poll share."""
    return list(upto.filter(seq__gt=cursor).order_by("seq")[offset:offset + count])


def read_log(stream, rows, *, after: int | None, recent, recent_limit: int, resume_limit: int) -> LogSnapshot:
    """``stream``: its StreamKey; ``rows``: the stream's rows (a queryset); ``recent``: how to
    pick the fresh-connect history from them (a callable taking a queryset limited to
    seq <= head)."""
    head = head_of(stream)
    upto = rows.filter(seq__isnull=False, seq__lte=head)
    if after is not None:
        missed = rows_after(upto, after, resume_limit + 1)
        if len(missed) <= resume_limit:
            return LogSnapshot(head=head, missed=missed)
    history = recent(upto)[:recent_limit]
    return LogSnapshot(head=head, recent=list(reversed(list(history))), cursor_expired=after is not None)


def read_page(stream, rows, *, after: int, limit: int, resume_limit: int) -> LogPage:
    """A page of what followed ``after``, under the socket's rule for a cursor it cannot resume:
    one older than what retention kept, or one followed by more than ``resume_limit`` entries."""
    head, retained_after = _head_and_horizon(stream)
    if after < retained_after:
        return LogPage(head=head, position=head, expired_because=RETENTION)
    upto = rows.filter(seq__isnull=False, seq__lte=head)
    items = rows_after(upto, after, limit + 1)
    return page_of(items, head=head, limit=limit, resume_limit=resume_limit,
                   beyond=lambda offset: bool(rows_after(upto, after, 1, offset)))


def page_of(items: list, *, head: int, limit: int, resume_limit: int, beyond) -> LogPage:
    """The page from ``limit + 1`` rows read after a cursor. ``beyond(offset)``: whether a row
    exists at that offset after the cursor (asked only when the page cannot tell)."""
    if len(items) > resume_limit or (len(items) > limit and beyond(resume_limit)):
        return LogPage(head=head, position=head, expired_because=TOO_MANY_MISSED)
    if len(items) > limit:
        items = items[:limit]
        return LogPage(head=head, items=items, position=items[-1].seq, more=True)
    return LogPage(head=head, items=items, position=head)
