"""Sign-in lockout per account: after SIGNIN_LOCKOUT_FAILURES failed sign-ins for one username
within SIGNIN_LOCKOUT_WINDOW seconds, that username is refused (429, Retry-After) until the
window that began with its first failure has passed, even with the right password.

Failures are counted from Django's ``user_login_failed`` signal, so every ``authenticate()`` of
the process counts (the token endpoint, the web UI's sign-in, the Django admin's login form, a
host project's own login views); a success (``user_logged_in``, or the token endpoint's explicit
call) resets the count. Clarion's two sign-in endpoints ask ``check`` first and answer 429;
``LockoutBackend``, first in AUTHENTICATION_BACKENDS, makes every other ``authenticate()``
refuse a locked username too (the standalone server lists it; a host project adds it).

Why by hand, not django-axes: axes keeps attempts in database tables and answers lockouts from
a middleware of its own; Clarion needs the count in Django's cache (Redis on a scale-out
deployment, so every process shares it) and the answer as an HTTP 429 of its own endpoints.
What it does is a counter with an expiry and two signal receivers.

The per-address throttle (clarion.api.throttling.AuthRateThrottle) stays beside it. It cannot
stop guessing on its own: behind a reverse proxy on the same machine every client has the
proxy's address, which is exempt, so the count per account applies from every address.

Unknown usernames are counted and locked the same way, so a 429 reveals nothing about who has
an account. Usernames are compared case-folded: an authentication backend that ignores case
would otherwise give each spelling its own allowance.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from clarion.auth.client_address import client_address
from clarion.conf import clarion_settings

logger = logging.getLogger("clarion.security")

_KEY = "clarion:signin:{kind}:{digest}"
_MAX_USERNAME = 1024  # longer names are no one's; hash only a bounded prefix


@dataclass(frozen=True)
class Locked(Exception):
    """The account is locked for ``retry_after`` more seconds."""

    retry_after: int

    @property
    def message(self) -> str:
        return f"Too many failed sign-ins for this account; try again in {self.retry_after} s."


def _enabled() -> bool:
    return bool(clarion_settings.SIGNIN_LOCKOUT_FAILURES) and bool(clarion_settings.SIGNIN_LOCKOUT_WINDOW)


def _keys(username: str) -> tuple[str, str, str]:
    # Hashed: a username is user input of any length and alphabet, cache keys are not.
    digest = hashlib.sha256(str(username)[:_MAX_USERNAME].strip().casefold().encode()).hexdigest()[:32]
    return tuple(_KEY.format(kind=kind, digest=digest) for kind in ("start", "count", "locked"))


def check(username: str) -> None:
    """Raise Locked while ``username`` is locked; before the password is looked at."""
    if not _enabled():
        return
    until = cache.get(_keys(username)[2])
    if until is None:
        return
    left = float(until) - time.time()
    if left > 0:
        raise Locked(max(1, math.ceil(left)))


def failed(username: str, address: str) -> None:
    """Count one failed sign-in for ``username``; lock it at the limit (logged once per lockout)."""
    if not _enabled():
        return
    window = float(clarion_settings.SIGNIN_LOCKOUT_WINDOW)
    start_key, count_key, locked_key = _keys(username)
    now = time.time()
    if cache.add(start_key, now, timeout=window):
        # A new window: a count left from the previous one (a cache whose incr resets expiry)
        # must not carry over.
        cache.set(count_key, 0, timeout=window)
    else:
        cache.add(count_key, 0, timeout=window)
    try:
        count = cache.incr(count_key)  # atomic on Redis: processes racing each count once
    except ValueError:  # expired between add and incr: this failure opens a new count
        cache.set(count_key, 1, timeout=window)
        count = 1
    if count < int(clarion_settings.SIGNIN_LOCKOUT_FAILURES):
        return
    start = cache.get(start_key) or now
    until = float(start) + window
    if until <= now:
        return
    if count == int(clarion_settings.SIGNIN_LOCKOUT_FAILURES):
        # %r: a username is attacker input and must not forge log lines; never the password.
        logger.warning("sign-in locked for username %r after %d failed attempts in %.0f s; last from %s; "
                       "unlocked in %.0f s", username, count, window, address, until - now)
    cache.set(locked_key, until, timeout=until - now)


def succeeded(username: str) -> None:
    """A right password for an unlocked account: its count starts again."""
    if not _enabled():
        return
    cache.delete_many(list(_keys(username)[:2]))


# -- every authenticate() of the process -------------------------------------------------------


def _username_of(credentials: dict) -> str | None:
    from django.contrib.auth import get_user_model

    value = credentials.get(get_user_model().USERNAME_FIELD, credentials.get("username"))
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value)


def on_login_failed(sender, credentials, request=None, **kwargs):
    username = _username_of(credentials)
    if username:
        failed(username, client_address(request))


def on_logged_in(sender, request=None, user=None, **kwargs):
    if user is not None:
        succeeded(user.get_username())


class LockoutBackend(ModelBackend):
    """First in AUTHENTICATION_BACKENDS: a locked username is refused by every authenticate(),
    before any password is checked (Django stops at a backend's PermissionDenied). It signs
    nobody in itself; it is a ModelBackend otherwise, so that sessions stored under its name
    (``Client.force_login`` and ``login()`` pick the first backend) load their user."""

    def authenticate(self, request, username=None, password=None, **credentials):
        name = _username_of({"username": username, **credentials})
        if name:
            try:
                check(name)
            except Locked:
                raise PermissionDenied() from None
        return None
