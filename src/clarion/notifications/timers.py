"""What falls due with time: a snoozed notification coming back, a notification expiring.

Registered with clarion.realtime.timers, which runs it in every serving process for the
sockets that process holds. Neither needs a write: from its time on the queries count the
notification again, or no more (clarion.notifications.queries); this only tells open tabs, with a
``notifications_state`` frame: ``returned`` with the notification, as new, and the reader's
counts; ``expired`` with the ids, to every socket of the audience. An expired frame carries no
counts: a role or all-users notification would need one count query per reader, and the client
knows whether the item it drops was unread.
"""

from datetime import datetime, timezone

from asgiref.sync import sync_to_async

from clarion.notifications import inbox, messages, queries
from clarion.notifications import reader as readers
from clarion.notifications.log import NOTIFICATIONS_LOG
from clarion.notifications.models import Notification, NotificationState
from clarion.notifications.payloads import annotated_payload
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.realtime import groups
from clarion.roles import role_of


async def deliver_due(hub, since: float, now: float) -> None:
    await _expire(hub, since, now)
    due = await sync_to_async(_snoozes_ending)(since, now)
    mine = [(user_id, ids) for user_id, ids in due.items() if hub.has_members(groups.user_group(user_id))]
    if not mine:
        return
    for user_id, data in await sync_to_async(_frames)(mine):
        hub.dispatch_local(groups.user_group(user_id), encode_frame(server_frame(ServerFrameType.NOTIFICATIONS_STATE,
                                                                                  data)))


async def _expire(hub, since: float, now: float) -> None:
    by_group = await sync_to_async(_expiring)(since, now)
    for group, ids in by_group.items():
        if hub.has_members(group):
            hub.dispatch_local(group, encode_frame(server_frame(ServerFrameType.NOTIFICATIONS_STATE,
                                                                 {"ids": ids, "state": inbox.EXPIRED})))


def _expiring(since: float, now: float) -> dict:
    rows = Notification.objects.filter(expires_at__gt=_at(since), expires_at__lte=_at(now), seq__isnull=False)
    by_group: dict = {}
    for row in rows.only("id", "recipient_type", "recipient_id").order_by("id"):
        by_group.setdefault(groups.group_for(NOTIFICATIONS_LOG.audience(row)), []).append(row.pk)
    return by_group


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _snoozes_ending(since: float, now: float) -> dict:
    by_user: dict = {}
    rows = NotificationState.objects.filter(snoozed_until__gt=_at(since), snoozed_until__lte=_at(now))
    for user_id, notification_id in rows.values_list("user_id", "notification_id"):
        by_user.setdefault(user_id, []).append(notification_id)
    return by_user


def _frames(due) -> list:
    from django.contrib.auth import get_user_model

    users = get_user_model()._default_manager.in_bulk([user_id for user_id, _ in due])
    frames = []
    for user_id, ids in due:
        user = users.get(user_id)
        if user is None:
            continue
        role = role_of(user)
        reader = readers.load(user_id, role)
        locale = messages.locale_of(user, reader.locale)
        back = list(queries.inbox(user_id, role, reader).filter(pk__in=ids).order_by("seq"))
        if back:
            frames.append((user_id, inbox.state_frame(user_id, role, inbox.RETURNED, [n.pk for n in back],
                                                      notifications=[annotated_payload(n, locale) for n in back])))
    return frames
