"""Who a notification is for, as users: one user, a role's members (CLARION["ROLE_MEMBERS"]),
or every active user. Read in chunks, so a notification to 10,000 readers never holds them all."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from clarion.roles import members_of

CHUNK = 2000


def _fields() -> list[str]:
    User = get_user_model()
    return [User._meta.pk.name, User.get_email_field_name(), "is_active"]


def chunks(notification, narrow=None):
    """Yield lists of users (with their primary key, email and is_active loaded); ``narrow``
    (a channel's) may cut a role's or everyone's audience down in SQL first."""
    User = get_user_model()
    if notification.recipient_type == "user":
        users = list(User._default_manager.filter(pk=notification.recipient_id).only(*_fields()))
        if users:
            yield users
        return
    if notification.recipient_type == "role":
        members = members_of(notification.recipient_id)
    else:
        members = User._default_manager.filter(is_active=True)
    if isinstance(members, QuerySet):
        if narrow is not None:
            members = narrow(members)
        last = None
        base = members.only(*_fields()).order_by("pk")
        while True:
            page = list((base if last is None else base.filter(pk__gt=last))[:CHUNK])
            if not page:
                return
            yield page
            last = page[-1].pk
    else:  # a host's resolver may answer a list
        members = [user for user in members if getattr(user, "is_active", True)]
        for start in range(0, len(members), CHUNK):
            yield members[start:start + CHUNK]
