"""The Python API: create notifications, mark them read. Every write pushes after commit.

Named as the system Clarion replaces names them. Each call stores first; the live push is
best-effort and never raises into the caller (see clarion.streams).
"""


from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from clarion.conf import clarion_settings
from clarion.notifications import queries
from clarion.notifications.models import (
    Notification,
    NotificationRead,
    NotificationType,
    ReadWatermark,
    RecipientType,
)
from clarion.notifications import log as notification_log
from clarion.realtime import publish
from clarion.validation import json_data_error


def _check_common(title, message, notification_type, link, data):
    errors = {}
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        errors["title"] = "title must be a non-empty string of at most 200 characters"
    if not isinstance(message, str) or len(message) > 5000:
        errors["message"] = "message must be a string of at most 5000 characters"
    if notification_type not in NotificationType.values:
        errors["notification_type"] = f"expected one of {', '.join(NotificationType.values)}, got {notification_type!r}"
    if not isinstance(link, str) or len(link) > 500:
        errors["link"] = "link must be a string of at most 500 characters"
    if data is not None:
        problem = json_data_error(data)
        if problem:
            errors["data"] = problem
    if errors:
        raise ValidationError(errors)


def resolve_recipient(recipient_type: str, recipient) -> str:
    """Validate a recipient and return its stored recipient_id; raise ValidationError if unknown."""
    if recipient_type == RecipientType.USER:
        User = get_user_model()
        raw = getattr(recipient, "pk", recipient)
        try:
            # The host's primary key type decides (integer by default, UUID on some sites).
            user_id = User._meta.pk.to_python(raw)
        except ValidationError:
            raise ValidationError({"recipient_id": f"expected a user id, got {raw!r}"}) from None
        if user_id is None or not User.objects.filter(pk=user_id).exists():
            raise ValidationError({"recipient_id": f"no user with id {raw}"})
        return str(user_id)
    if recipient_type == RecipientType.ROLE:
        if recipient not in clarion_settings.ROLES:
            raise ValidationError(
                {"recipient_id": f"unknown role {recipient!r}; expected one of: {', '.join(clarion_settings.ROLES)}"}
            )
        return recipient
    if recipient_type == RecipientType.ALL:
        if recipient not in (None, ""):
            raise ValidationError({"recipient_id": "must be empty when recipient_type is 'all'"})
        return ""
    raise ValidationError({"recipient_type": f"expected one of {', '.join(RecipientType.values)}, got {recipient_type!r}"})


def create_notification(
    recipient_type, recipient=None, *, title, message="", notification_type="info", link="", data=None, created_by=None
) -> Notification:
    """Store a notification and push it to its audience once the transaction commits."""
    _check_common(title, message, notification_type, link, data)
    recipient_id = resolve_recipient(recipient_type, recipient)
    notification = Notification.objects.create(
        title=title,
        message=message,
        notification_type=notification_type,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        link=link,
        data=data or {},
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    notification_log.publish_on_commit()
    return notification


def send_notification_to_user(user, title, message="", notification_type="info", **options) -> Notification:
    """Notify one user (a user instance or id)."""
    return create_notification(RecipientType.USER, user, title=title, message=message,
                               notification_type=notification_type, **options)


def send_notification_to_role(role, title, message="", notification_type="info", **options) -> Notification:
    """Notify every user holding ``role`` (one row, whatever the number of users)."""
    return create_notification(RecipientType.ROLE, role, title=title, message=message,
                               notification_type=notification_type, **options)


def send_notification_to_all(title, message="", notification_type="info", **options) -> Notification:
    """Notify every user (one row, whatever the number of users)."""
    return create_notification(RecipientType.ALL, None, title=title, message=message,
                               notification_type=notification_type, **options)


def broadcast_notification(notification: Notification) -> None:
    """Push an already saved notification to its audience (after the current transaction commits).

    A notification that was pushed before is not pushed again: clients already have it.
    """
    if notification.pk is None:
        raise ValueError("broadcast_notification needs a saved notification; call .save() first")
    notification_log.publish_on_commit()


def mark_as_read(user_id: int, role: str | None, ids) -> tuple[list[int], list[int]]:
    """Mark visible notifications read; return (ids now read, ids not found for this user).

    Ids the user cannot see are reported as not found, exactly like ids that do not exist.
    """
    ids = list(dict.fromkeys(int(i) for i in ids))
    with transaction.atomic():
        visible = set(
            queries.visible_to(user_id, role).filter(pk__in=ids).values_list("pk", flat=True)
        )
        NotificationRead.objects.bulk_create(
            [NotificationRead(user_id=user_id, notification_id=pk) for pk in visible], ignore_conflicts=True
        )
        read_ids = [i for i in ids if i in visible]
        if read_ids:
            count = queries.unread_count(user_id, role)
            transaction.on_commit(lambda: publish.publish_read_state(user_id, read_ids, count))
    return read_ids, [i for i in ids if i not in visible]


def mark_all_as_read(user_id: int, role: str | None) -> list[int]:
    """Mark everything the user can see as read; return the ids that were unread.

    One watermark upsert covers every sequenced notification, so the cost does not grow with
    the number of broadcasts; the few not yet sequenced get explicit read rows.
    """
    with transaction.atomic():
        head = queries.head_position()
        was_unread = list(queries.unread(user_id, role).values_list("pk", "seq"))
        ReadWatermark.objects.update_or_create(user_id=user_id, defaults={"seq": head})
        unsequenced = [pk for pk, seq in was_unread if seq is None or seq > head]
        NotificationRead.objects.bulk_create(
            [NotificationRead(user_id=user_id, notification_id=pk) for pk in unsequenced], ignore_conflicts=True
        )
        ids = sorted(pk for pk, _ in was_unread)
        transaction.on_commit(lambda: publish.publish_read_state(user_id, ids, 0, all_read=True))
    return ids


asend_notification_to_user = sync_to_async(send_notification_to_user)
asend_notification_to_role = sync_to_async(send_notification_to_role)
asend_notification_to_all = sync_to_async(send_notification_to_all)
abroadcast_notification = sync_to_async(broadcast_notification)
