"""One-click unsubscribe (RFC 8058): a signed link that turns one category's email off for one
reader, with no sign-in.

The link carries the user and the category, signed with the site's key (django.core.signing),
so it cannot be forged or pointed at someone else. GET shows a page with a button: mail
scanners and link previews fetch links, and must not unsubscribe anyone. POST (the button, or
the mail provider's ``List-Unsubscribe=One-Click``) turns it off.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.urls import reverse

from clarion.conf import clarion_settings
from clarion.notifications import preferences
from clarion.notifications.models import Preferences
from clarion.roles import role_of

SALT = "clarion.delivery.unsubscribe"
ALL_CATEGORIES = "*"  # a digest's link: email off for every category that can be turned off


def token(user_id, category: str) -> str:
    return signing.dumps({"u": str(user_id), "c": category}, salt=SALT, compress=True)


def path(user_id, category: str) -> str:
    return reverse("clarion-unsubscribe", args=[token(user_id, category)])


def read(value: str) -> tuple[str, str] | None:
    """(user id, category) of a valid token, else None."""
    try:
        data = signing.loads(value, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("c"), str):
        return None
    return data["u"], data["c"]


def turn_off(user_id, category: str) -> list[str]:
    """Turn email off for ``category`` (or every unlocked one); return the categories changed.
    Locked categories (deadlines, account notices) stay on: they are not optional."""
    keys = [key for key, spec in clarion_settings.CATEGORIES.items()
            if (category == ALL_CATEGORIES or key == category) and not spec.get("locked")]
    with transaction.atomic():
        row, _ = Preferences.objects.select_for_update().get_or_create(user_id=user_id)
        channels = {key: dict(value) for key, value in (row.channels or {}).items()}
        for key in keys:
            defaults = clarion_settings.CATEGORIES[key].get("channels", ["in_app"])
            entry = channels.setdefault(key, {})
            if "email" in defaults:
                entry["email"] = False
            else:
                entry.pop("email", None)
            if not entry:
                del channels[key]
        row.channels = channels
        row.save()
        user = get_user_model()._default_manager.get(pk=user_id)
        preferences.announce_on_commit(user_id, role_of(user))
    return keys
