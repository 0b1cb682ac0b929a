"""The one place a notification becomes a payload: REST items and socket frames share it."""

from clarion.protocol import encode_cursor


def _timestamp(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def notification_payload(notification, *, is_read: bool) -> dict:
    return {
        "id": notification.pk,
        "title": notification.title,
        "message": notification.message,
        "notification_type": notification.notification_type,
        "recipient_type": notification.recipient_type,
        "recipient_id": notification.recipient_id,
        "created_at": _timestamp(notification.created_at),
        "created_by": notification.created_by_id,
        "is_read": is_read,
        "link": notification.link,
        "data": notification.data,
        "category": notification.category,
        "topic": notification.topic,
        "cursor": encode_cursor(notification.seq) if notification.seq is not None else None,
    }


def annotated_payload(notification) -> dict:
    """Payload of a notification from a ``queries.visible_to`` queryset (carries ``is_read``)."""
    return notification_payload(notification, is_read=bool(notification.is_read))
