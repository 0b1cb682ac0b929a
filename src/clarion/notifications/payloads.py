"""The one place a notification becomes a payload: REST items and socket frames share it."""

from clarion.notifications import messages
from clarion.protocol import encode_cursor


def _timestamp(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def notification_payload(notification, *, is_read: bool, is_seen: bool = False, is_archived: bool = False,
                         snoozed_until=None, locale: str | None = None) -> dict:
    title, message = localized(notification, locale)
    return {
        "id": notification.pk,
        "title": title,
        "message": message,
        "notification_type": notification.notification_type,
        "recipient_type": notification.recipient_type,
        "recipient_id": notification.recipient_id,
        "created_at": _timestamp(notification.created_at),
        "created_by": notification.created_by_id,
        "is_read": is_read,
        "is_seen": is_seen or is_read,
        "is_archived": is_archived,
        "snoozed_until": None if snoozed_until is None else _timestamp(snoozed_until),
        "link": notification.link,
        "data": notification.data,
        "category": notification.category,
        "topic": notification.topic,
        "group_key": notification.group_key,
        "expires_at": None if notification.expires_at is None else _timestamp(notification.expires_at),
        "cursor": encode_cursor(notification.seq) if notification.seq is not None else None,
    }


def localized(notification, locale: str | None) -> tuple[str, str]:
    """Title and message in ``locale`` (a templated notification), else as stored."""
    template = getattr(notification, "template", "")
    if template and locale and messages.get(template) is not None:
        try:
            return messages.render(template, notification.params or {}, locale)
        except (KeyError, TypeError, ValueError):  # a template changed since: the stored text
            pass
    return notification.title, notification.message


def annotated_payload(notification, locale: str | None = None) -> dict:
    """Payload of a notification from a ``queries.visible_to`` queryset or a snapshot (which
    carry the reader's state as annotations)."""
    return notification_payload(
        notification, is_read=bool(notification.is_read), is_seen=bool(getattr(notification, "is_seen", False)),
        is_archived=bool(getattr(notification, "is_archived", False)),
        snoozed_until=getattr(notification, "snoozed_until", None), locale=locale,
    )
