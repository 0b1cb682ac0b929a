"""Who a notification is for, as users: one user, a role's members (CLARION["ROLE_MEMBERS"]),
or every active user. Read in chunks, so a notification to 10,000 readers never holds them all;
the planner and the sender's view (clarion.delivery.report) both list readers this way."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from clarion.roles import members_of

CHUNK = 2000


def _fields() -> list[str]:
    User = get_user_model()
    return list(dict.fromkeys([User._meta.pk.name, User.USERNAME_FIELD, User.get_email_field_name(), "is_active"]))


def readers(notification, narrow=None):
    """The audience ordered by primary key: a QuerySet (its primary key, username, email and
    is_active loaded), or a list when a host's ROLE_MEMBERS answers one. ``narrow`` (a channel's)
    may cut a role's or everyone's audience down in SQL first."""
    User = get_user_model()
    if notification.recipient_type == "user":
        return User._default_manager.filter(pk=notification.recipient_id).only(*_fields())
    if notification.recipient_type == "role":
        members = members_of(notification.recipient_id)
    else:
        members = User._default_manager.filter(is_active=True)
    if isinstance(members, QuerySet):
        if narrow is not None:
            members = narrow(members)
        return members.only(*_fields()).order_by("pk")
    return sorted((user for user in members if getattr(user, "is_active", True)), key=lambda user: user.pk)


def chunks_of(users):
    """Lists of at most CHUNK users, keyset-paged (no OFFSET: a late page costs what the first does)."""
    if isinstance(users, QuerySet):
        last = None
        while True:
            page = list((users if last is None else users.filter(pk__gt=last))[:CHUNK])
            if not page:
                return
            yield page
            last = page[-1].pk
    else:
        for start in range(0, len(users), CHUNK):
            yield users[start:start + CHUNK]


def chunks(notification, narrow=None):
    return chunks_of(readers(notification, narrow))
