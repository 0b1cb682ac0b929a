"""Connect-time reads of a per-stream log (a project's events, a room's chat).

The same rule as notifications (clarion.realtime.publish): read the head first, then only
rows at or below it. Rows sequenced later reach the socket live, because the socket joined
its group before this read and publishing happens after the head moves.
"""

from dataclasses import dataclass, field

from clarion.notifications.models import StreamHead


@dataclass
class LogSnapshot:
    head: int
    recent: list = field(default_factory=list)
    missed: list | None = None  # set on a successful resume: everything after the cursor
    cursor_expired: bool = False


def head_of(stream: str) -> int:
    return StreamHead.objects.filter(name=stream).values_list("position", flat=True).first() or 0


def read_log(stream: str, rows, *, after: int | None, recent, recent_limit: int, resume_limit: int) -> LogSnapshot:
    """``rows``: the stream's rows (a queryset); ``recent``: how to pick the fresh-connect
    history from them (a callable taking a queryset limited to seq <= head)."""
    head = head_of(stream)
    upto = rows.filter(seq__isnull=False, seq__lte=head)
    if after is not None:
        missed = list(upto.filter(seq__gt=after).order_by("seq")[: resume_limit + 1])
        if len(missed) <= resume_limit:
            return LogSnapshot(head=head, missed=missed)
    history = recent(upto)[:recent_limit]
    return LogSnapshot(head=head, recent=list(reversed(list(history))), cursor_expired=after is not None)
