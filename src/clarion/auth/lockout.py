"""Sign-in lockout per account: after SIGNIN_LOCKOUT_FAILURES failed sign-ins for one username
within SIGNIN_LOCKOUT_WINDOW seconds, that username is refused (429, Retry-After) until the
window that began with its first failure has passed, even with the right password.

Why by hand, not django-axes: axes locks through an authentication backend and a middleware of
its own and keeps attempts in database tables; Clarion needs the count in Django's cache (Redis
on a scale-out deployment, so every process shares it), the answer as an HTTP 429 of its two
sign-in endpoints (POST /api/auth/token/ and the web UI's POST /ui/session/), and nothing a host
project must add to AUTHENTICATION_BACKENDS. What it does is a counter with an expiry.

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

from django.core.cache import cache

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
    digest = hashlib.sha256(str(username)[:_MAX_USERNAME].casefold().encode()).hexdigest()[:32]
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
