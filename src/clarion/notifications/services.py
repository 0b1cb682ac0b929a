"""The Python API: create notifications, mark them read. Every write pushes after commit.

Named as the system Clarion replaces names them. Each call stores first; the live push is
best-effort and never raises into the caller (see clarion.streams).
"""


from datetime import datetime

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clarion.conf import clarion_settings
from clarion.notifications import categories, idempotency, inbox, messages, queries
from clarion.notifications import reader as readers
from clarion.notifications.idempotency import IdempotencyConflict  # noqa: F401  (re-exported as clarion.IdempotencyConflict)
from clarion.notifications.models import (
    Notification,
    NotificationRead,
    NotificationState,
    NotificationType,
    ReadWatermark,
    Receipt,
    RecipientType,
)
from clarion.notifications import log as notification_log
from clarion.realtime import groups, publish
from clarion.validation import json_data_error


class NotificationRefused(ValidationError, ValueError):
    """A create's arguments were refused (a field error each, as a ValidationError); also a
    ValueError, which is what the Python API promises for an unknown category."""


def _check_common(title, message, notification_type, link, data, category=None, topic="", group_key="",
                  expires_at=None):
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
    if category is not None and (problem := categories.category_error(category)):
        errors["category"] = problem
    if problem := categories.topic_error(topic):
        errors["topic"] = problem
    if problem := categories.group_key_error(group_key):
        errors["group_key"] = problem
    if expires_at is not None and (not isinstance(expires_at, datetime) or expires_at.tzinfo is None
                                   or expires_at <= timezone.now()):
        errors["expires_at"] = "expires_at must be a time with a zone, in the future"
    if errors:
        raise NotificationRefused(errors)


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
        # Refused before anything is stored: a row whose role cannot name a group would hold
        # up every later entry of the log behind it.
        if recipient not in clarion_settings.ROLES or not groups.is_valid_role_name(recipient):
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
    recipient_type, recipient=None, *, title="", message="", notification_type="info", link="", data=None,
    created_by=None, idempotency_key=None, category=None, topic="", group_key="", expires_at=None, template="",
    params=None,
) -> Notification:
    """Store a notification and push it to its audience once the transaction commits.

    With ``idempotency_key``, a repeat of the same call within 24 hours returns the notification
    the first one stored (see clarion.notifications.idempotency).
    """
    if idempotency_key is not None:
        entry = {"recipient_type": recipient_type, "recipient": recipient, "title": title, "message": message,
                 "notification_type": notification_type, "link": link, "data": data, "category": category,
                 "topic": topic, "group_key": group_key, "expires_at": expires_at, "template": template,
                 "params": params}
        return _once(created_by, idempotency_key, "create_notification", _canonical(entry),
                     lambda: [create_notification(recipient_type, recipient, title=title, message=message,
                                                  notification_type=notification_type, link=link, data=data,
                                                  created_by=created_by, category=category, topic=topic,
                                                  group_key=group_key, expires_at=expires_at, template=template,
                                                  params=params)])[0]
    title, message = _from_template(template, params, title, message)
    _check_common(title, message, notification_type, link, data, category, topic, group_key, expires_at)
    recipient_id = resolve_recipient(recipient_type, recipient)
    notification = Notification.objects.create(
        category=clarion_settings.DEFAULT_CATEGORY if category is None else category,
        topic=topic,
        group_key=group_key,
        expires_at=expires_at,
        template=template or "",
        params=params if template else None,
        title=title,
        message=message,
        notification_type=notification_type,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        link=link,
        data=data or {},
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    notification_log.publish_on_commit([notification])
    return notification


def _from_template(template, params, title, message) -> tuple[str, str]:
    """The stored title and message of a templated notification: the site's language, unless the
    caller gave their own. Raises NotificationRefused naming ``template`` or ``params``."""
    if not template:
        return title, message
    try:
        messages.check(template, params)
    except messages.TemplateRefused as refused:
        raise NotificationRefused({refused.field: str(refused)}) from None
    rendered_title, rendered_message = messages.render(template, params, messages.default_locale())
    return title or rendered_title, message or rendered_message


def send_notification_to_user(user, title="", message="", notification_type="info", **options) -> Notification:
    """Notify one user (a user instance or id)."""
    return create_notification(RecipientType.USER, user, title=title, message=message,
                               notification_type=notification_type, **options)


def send_notification_to_role(role, title="", message="", notification_type="info", **options) -> Notification:
    """Notify every user holding ``role`` (one row, whatever the number of users)."""
    return create_notification(RecipientType.ROLE, role, title=title, message=message,
                               notification_type=notification_type, **options)


def send_notification_to_all(title="", message="", notification_type="info", **options) -> Notification:
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
        inbox.clear_overrides_on_read(user_id, visible)
        read_ids = [i for i in ids if i in visible]
        if read_ids:
            counts = queries.counts(user_id, role)
            transaction.on_commit(lambda: publish.publish_read_state(user_id, read_ids, counts.as_dict()))
    return read_ids, [i for i in ids if i not in visible]


def mark_all_as_read(user_id: int, role: str | None) -> list[int]:
    """Mark everything the user can see as read; return the ids that were unread in their inbox.

    One watermark upsert covers every sequenced notification, so the cost does not grow with
    the number of broadcasts; the few not yet sequenced get explicit read rows. An item
    snoozed until later is not in the inbox: it still comes back unread.
    """
    now = timezone.now()
    with transaction.atomic():
        head = queries.head_position()
        reader = readers.load(user_id, role)
        was_unread = list(queries.unread(user_id, role, reader).values_list("pk", flat=True))
        unsequenced = list(queries.visible_to(user_id, role, reader).filter(is_read=False)
                           .filter(Q(seq__isnull=True) | Q(seq__gt=head)).values_list("pk", flat=True))
        snoozed = list(NotificationState.objects.filter(user_id=user_id, snoozed_until__gt=now)
                       .values_list("notification_id", flat=True))
        ReadWatermark.objects.update_or_create(user_id=user_id, defaults={"seq": head})
        Receipt.objects.create(user_id=user_id, kind=Receipt.Kind.READ, seq=head, at=now)  # when, for the sender's view
        NotificationRead.objects.bulk_create(
            [NotificationRead(user_id=user_id, notification_id=pk) for pk in unsequenced if pk not in snoozed],
            ignore_conflicts=True,
        )
        inbox.clear_overrides_on_read(user_id, None, keep=snoozed)
        NotificationState.objects.filter(user_id=user_id, notification_id__in=snoozed,
                                         notification__seq__lte=head).update(unread=True)
        ids = sorted(was_unread)
        counts = queries.counts(user_id, role)
        transaction.on_commit(lambda: publish.publish_read_state(user_id, ids, counts.as_dict(), all_read=True))
    return ids


# -- many at once (issue 11) ----------------------------------------------------------------------

class EntryErrors(ValidationError):
    """Entries of a bulk create were refused, so nothing was stored. ``by_index`` maps the index of
    each refused entry to its field errors, e.g. ``{3: {"recipient_id": ["no user with id 99"]}}``."""

    def __init__(self, by_index: dict[int, dict[str, list[str]]]):
        self.by_index = by_index
        super().__init__({f"{index}.{field}": messages
                          for index, fields in by_index.items() for field, messages in fields.items()})


def create_notifications(entries, *, created_by=None, idempotency_key=None) -> list[Notification]:
    """Store many notifications in one transaction, all or none, and push each once it commits.

    ``entries``: mappings of create_notification's arguments (``recipient_type``, ``recipient``,
    ``title``, optionally ``message``, ``notification_type``, ``link``, ``data``, ``category``, ``topic``,
    ``group_key``, ``expires_at``). Returns the rows
    in the order of ``entries``. Raises EntryErrors naming every refused entry. The user recipients
    of the whole batch are checked with one query, and the rows are written with bulk inserts.
    """
    entries = [dict(entry) for entry in entries]
    if idempotency_key is not None:
        return _once(created_by, idempotency_key, "create_notifications", [_canonical(e) for e in entries],
                     lambda: create_notifications(entries, created_by=created_by))
    known_users = _existing_users(entries)
    author = created_by if getattr(created_by, "pk", None) else None
    rows, errors = [], {}
    for index, entry in enumerate(entries):
        try:
            rows.append(_entry_row(entry, known_users, author))
        except ValidationError as exc:
            errors[index] = exc.message_dict
    if errors:
        raise EntryErrors(errors)
    with transaction.atomic():
        Notification.objects.bulk_create(rows)
        notification_log.publish_on_commit(rows)  # one batch numbers them all, in order
    return rows


def send_notification_to_users(users, title="", message="", notification_type="info", *, link="", data=None,
                               created_by=None, idempotency_key=None, category=None, topic="", group_key="",
                               expires_at=None, template="", params=None) -> list[Notification]:
    """Notify each of ``users`` (instances or ids) with one row each, in one transaction; return
    the rows in the order of ``users``. An unknown user refuses the whole call (EntryErrors,
    indexed by position in ``users``)."""
    rendered_title, rendered_message = _from_template(template, params, title, message)
    _check_common(rendered_title, rendered_message, notification_type, link, data, category, topic, group_key,
                  expires_at)
    return create_notifications(
        [{"recipient_type": RecipientType.USER, "recipient": user, "title": title, "message": message,
          "notification_type": notification_type, "link": link, "data": data, "category": category,
          "topic": topic, "group_key": group_key, "expires_at": expires_at, "template": template,
          "params": params} for user in users],
        created_by=created_by, idempotency_key=idempotency_key,
    )


def _entry_row(entry, known_users: set, author) -> Notification:
    title, message = entry.get("title"), entry.get("message", "")
    notification_type, link, data = entry.get("notification_type", "info"), entry.get("link", ""), entry.get("data")
    category, topic = entry.get("category"), entry.get("topic", "")
    group_key, expires_at = entry.get("group_key", ""), entry.get("expires_at")
    template, params = entry.get("template") or "", entry.get("params")
    errors = {}
    try:
        title, message = _from_template(template, params, title or "", message)
        _check_common(title, message, notification_type, link, data, category, topic, group_key, expires_at)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        if entry.get("recipient_type") == RecipientType.USER:
            user_id = _user_pk(entry.get("recipient"))
            if user_id not in known_users:
                raise ValidationError({"recipient_id": f"no user with id {_raw(entry.get('recipient'))}"})
            recipient_id = str(user_id)
        else:  # roles and "all" need no query
            recipient_id = resolve_recipient(entry.get("recipient_type"), entry.get("recipient"))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return Notification(title=title, message=message, notification_type=notification_type,
                        recipient_type=entry["recipient_type"], recipient_id=recipient_id, link=link,
                        data=data or {}, created_by=author,
                        category=clarion_settings.DEFAULT_CATEGORY if category is None else category, topic=topic,
                        group_key=group_key, expires_at=expires_at, template=template,
                        params=params if template else None)


def _raw(recipient):
    return getattr(recipient, "pk", recipient)


def _user_pk(recipient):
    raw = _raw(recipient)
    try:
        # The host's primary key type decides (integer by default, UUID on some sites).
        return get_user_model()._meta.pk.to_python(raw)
    except ValidationError:
        raise ValidationError({"recipient_id": f"expected a user id, got {raw!r}"}) from None


def _existing_users(entries, chunk: int = 1000) -> set:
    """The user recipients of ``entries`` that exist: one query per ``chunk`` distinct users."""
    wanted = set()
    for entry in entries:
        if entry.get("recipient_type") == RecipientType.USER:
            try:
                user_id = _user_pk(entry.get("recipient"))
            except ValidationError:
                continue  # reported with its index by _entry_row
            if user_id is not None:
                wanted.add(user_id)
    wanted, found = list(wanted), set()
    manager = get_user_model()._default_manager
    for start in range(0, len(wanted), chunk):
        found.update(manager.filter(pk__in=wanted[start:start + chunk]).values_list("pk", flat=True))
    return found


def _canonical(entry: dict) -> dict:
    """What identifies a create for its idempotency key: its arguments, a user given by id."""
    recipient = _raw(entry.get("recipient"))
    expires_at = entry.get("expires_at")
    return {**entry, "recipient": None if recipient is None else str(recipient),
            "expires_at": expires_at.isoformat() if isinstance(expires_at, datetime) else expires_at}


def _once(created_by, key, operation: str, arguments, create) -> list[Notification]:
    """Run ``create`` once per (created_by, key) within 24 hours; a repeat gets the first rows back."""
    idempotency.check_key(key)
    owner = idempotency.owner_of(created_by)
    with transaction.atomic():
        stored = idempotency.claim(owner, key, idempotency.fingerprint("python:" + operation, arguments))
        if stored is not None:
            ids = stored.response["ids"]
            found = Notification.objects.in_bulk(ids)
            return [found[pk] for pk in ids if pk in found]
        created = create()
        idempotency.record(owner, key, 201, {"ids": [row.pk for row in created]})
    return created


asend_notification_to_users = sync_to_async(send_notification_to_users)
asend_notification_to_user = sync_to_async(send_notification_to_user)
asend_notification_to_role = sync_to_async(send_notification_to_role)
asend_notification_to_all = sync_to_async(send_notification_to_all)
abroadcast_notification = sync_to_async(broadcast_notification)
