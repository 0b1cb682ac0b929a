"""``?after=<cursor>`` on the three stream lists: what a socket's resume replays, over HTTP.

``GET /api/notifications/?after=``, ``/api/projects/<id>/events/?after=`` and
``/api/rooms/<key>/messages/?after=`` answer the same envelope (docs/protocol.md, "Polling
resume"): the entries published after the cursor, oldest first, at most ``limit``; the cursor
to ask from next; whether more follow. A cursor the socket would not resume (older than what
retention kept, or followed by more than RESUME_LIMIT entries) answers ``cursor_expired`` with
the fresh snapshot the socket would send instead. The reads are the socket's own
(clarion.streams.read, clarion.notifications.resume).
"""

from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from clarion.protocol import InvalidCursor, decode_cursor, encode_cursor

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def requested(request, *, alone: tuple[str, ...] = ()) -> tuple[int, int] | None:
    """(after, limit) when ``?after=`` is given, else None. A malformed value is a 400 naming
    ``after`` or ``limit``; so is a parameter of ``alone`` beside ``after`` (the list's filters
    and pages: a resume follows the socket's rule, it cannot be narrowed)."""
    params = request.query_params
    if "after" not in params:
        if "limit" in params:
            raise ValidationError({"limit": ["limit pages a resume; it needs after=<cursor>"]})
        return None
    clash = sorted(name for name in alone if name in params)
    if clash:
        raise ValidationError({"after": [f"a resume cannot be combined with {', '.join(clash)}; "
                                         "ask without after= for a filtered list"]})
    try:
        after = decode_cursor(params["after"])
    except InvalidCursor as exc:
        raise ValidationError({"after": [f"{exc}; use the cursor of an item or of an earlier answer, "
                                         "or start from a snapshot"]}) from None
    raw = params.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError({"limit": [f"expected an integer from 1 to {MAX_LIMIT}, got {raw!r}"]})
    return after, int(raw)


def page_response(page, *, expired_snapshot, extra: dict | None = None) -> Response:
    """The envelope of one page (a clarion.streams.read.LogPage of payloads). ``expired_snapshot``:
    a callable building the snapshot data (with its ``cursor``), called when the cursor expired."""
    if page.expired_because:
        snapshot = expired_snapshot()
        counts = {key: snapshot[key] for key in ("unread_count", "unseen_count") if key in snapshot}
        return Response({"results": [], "cursor": snapshot["cursor"], "has_more": False, **counts,
                         "cursor_expired": page.expired_because, "snapshot": snapshot})
    return Response({"results": page.items, "cursor": encode_cursor(page.position), "has_more": page.more,
                     **(extra or {})})


AFTER_PARAMETERS = [
    OpenApiParameter("after", str, description=(
        "Resume: the entries published after this cursor (from an item, a snapshot, a socket frame or "
        "an earlier answer), oldest first, in the envelope {results, cursor, has_more, cursor_expired?, "
        "snapshot?} instead of the plain list (docs/protocol.md, Polling resume). Not a cursor the "
        "server issued: 400 on `after`.")),
    OpenApiParameter("limit", int, description=f"With after: entries per answer, 1 to {MAX_LIMIT} "
                                               f"(default {DEFAULT_LIMIT}); has_more says whether more follow."),
]


def envelope_serializer(name: str, item, snapshot_help: str, counts: bool = False):
    """The OpenAPI shape of a resume answer whose entries are ``item`` payloads."""
    fields = {
        "results": item(many=True, read_only=True, help_text="Published after the cursor, oldest first; "
                                                            "[] when the cursor expired."),
        "cursor": serializers.CharField(help_text="Ask from here next (?after=), or resume the socket (?cursor=)."),
        "has_more": serializers.BooleanField(help_text="More follow: ask again at once with this cursor."),
        "cursor_expired": serializers.ChoiceField(
            choices=["retention", "too_many_missed"], required=False,
            help_text="Present when the cursor cannot be resumed (as the socket's cursor_expired): "
                      "replace local state with `snapshot` and go on from `cursor`."),
        "snapshot": serializers.DictField(required=False, help_text=snapshot_help),
    }
    if counts:
        fields["unread_count"] = serializers.IntegerField(help_text="Unread, counting what was published up to cursor.")
        fields["unseen_count"] = serializers.IntegerField(help_text="Unseen (the badge), likewise.")
    return inline_serializer(name, fields)
