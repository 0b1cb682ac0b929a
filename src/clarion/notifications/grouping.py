"""Groups of a reader's list: notifications sharing a ``group_key`` show as one row ("3 new
comments on <project>"), with its count, how many are unread, the latest item and up to three
distinct actors. A notification without a key is a group of its own.

Built over the same filtered queryset as the flat list, so every filter and the inbox rule
(archived, snoozed, muted, expired) apply to groups too. One aggregate query for the page of
groups, one for their latest items, one for their actors.
"""

from django.contrib.auth import get_user_model
from django.db.models import Case, CharField, Count, F, IntegerField, Max, Sum, Value, When
from django.db.models.functions import Cast, Concat

from clarion.notifications import messages
from clarion.notifications.payloads import annotated_payload, localized

MAX_ACTORS = 3
_SINGLE = "#"  # prefix of the key a notification without one is grouped by (its id)


def grouped(rows):
    """The groups of ``rows`` (a ``queries.visible_to`` queryset), newest first, as a queryset of
    dicts with ``key``, ``count``, ``unread_count`` and ``latest_id``: paginate it, then
    ``describe`` the page."""
    key = Case(When(group_key="", then=Concat(Value(_SINGLE), Cast("id", CharField()))), default=F("group_key"),
               output_field=CharField())
    return (rows.annotate(key=key).values("key")
            .annotate(count=Count("id"), latest_id=Max("id"),
                      unread_count=Sum(Case(When(is_read=False, then=Value(1)), default=Value(0),
                                            output_field=IntegerField())))
            .order_by("-latest_id"))


def describe(rows, page: list[dict], locale: str | None = None) -> list[dict]:
    latest = {n.pk: n for n in rows.filter(pk__in=[g["latest_id"] for g in page])}
    keys = [g["key"] for g in page if not g["key"].startswith(_SINGLE)]
    actors: dict[str, list] = {}
    if keys:
        seen = (rows.filter(group_key__in=keys, created_by__isnull=False).values("group_key", "created_by")
                .annotate(last=Max("id")).order_by("-last"))
        for entry in seen:
            found = actors.setdefault(entry["group_key"], [])
            if len(found) < MAX_ACTORS:
                found.append(entry["created_by"])
    for group in page:
        item = latest.get(group["latest_id"])
        if group["key"].startswith(_SINGLE) and item is not None and item.created_by_id is not None:
            actors[group["key"]] = [item.created_by_id]
    names = get_user_model()._default_manager.in_bulk({a for ids in actors.values() for a in ids})
    described = []
    for group in page:
        item = latest.get(group["latest_id"])
        if item is None:  # deleted between the two queries
            continue
        described.append({
            "group_key": None if group["key"].startswith(_SINGLE) else group["key"],
            "count": group["count"],
            "unread_count": group["unread_count"] or 0,
            "summary": summary(item, group["count"], locale),
            "latest": annotated_payload(item, locale),
            "actors": [{"id": actor, "username": names[actor].get_username()}
                       for actor in actors.get(group["key"], []) if actor in names],
        })
    return described


def summary(latest, count: int, locale: str | None = None) -> str:
    """The row's text: the latest title, or, for more than one, the template's group summary in
    the reader's language ("3 new comments on “Thesis”"), else the sender's ``data.group_summary``
    with ``{count}`` filled in."""
    title = localized(latest, locale)[0]
    if count <= 1:
        return title
    if latest.template:
        try:
            text = messages.summary(latest.template, latest.params or {}, count, locale or messages.default_locale())
        except (KeyError, TypeError, ValueError):
            text = None
        if text:
            return text
    template = (latest.data or {}).get("group_summary") if isinstance(latest.data, dict) else None
    if isinstance(template, str) and template:
        return template.replace("{count}", str(count))
    return title
