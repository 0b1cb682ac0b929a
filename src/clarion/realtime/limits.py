"""Abuse limits of sockets: connections per user and per client address, frames per socket,
and the lifetime of a socket's credential. Enforced by ClarionConsumer (consumers/base.py);
the defaults and the reasons for them are in docs/security.md, "Floods".

Connection counts are kept per server process (per event loop), not across the cluster: a
limit of 50 with 4 processes lets one user hold up to 200 sockets. That bounds what one
account or one address can take from one process, which is what exhausts a process (file
descriptors, memory, fan-out work); a cluster-wide count would need a shared store on the
connect path.
"""

import asyncio
import ipaddress
import time
import weakref
from collections import Counter

from clarion.conf import clarion_settings
from clarion.protocol import CloseCode
from clarion.realtime.throttle import TokenBucket


class _Counts:
    __slots__ = ("by_user", "by_ip", "cooling")

    def __init__(self):
        self.by_user: Counter = Counter()
        self.by_ip: Counter = Counter()
        self.cooling: dict[str, float] = {}  # user key -> monotonic time its cool-down ends


_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Counts]" = weakref.WeakKeyDictionary()


def _counts() -> _Counts:
    loop = asyncio.get_running_loop()
    counts = _per_loop.get(loop)
    if counts is None:
        counts = _per_loop[loop] = _Counts()
    return counts


def client_ip(scope) -> str | None:
    client = scope.get("client")
    if not client:
        return None
    return str(client[0])


def is_exempt_ip(ip: str) -> bool:
    """Whether CLARION["CONNECTION_LIMIT_EXEMPT_IPS"] lists this address (or its network)."""
    return _exempt(ip)


def _exempt(ip: str) -> bool:
    for entry in clarion_settings.CONNECTION_LIMIT_EXEMPT_IPS:
        try:
            if ipaddress.ip_address(ip) in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if ip == entry:
                return True
    return False


class ConnectionSlot:
    """One socket's place in the per-user and per-address counts; release it exactly once."""

    __slots__ = ("_counts", "user_key", "ip", "released")

    def __init__(self, counts, user_key, ip):
        self._counts, self.user_key, self.ip, self.released = counts, user_key, ip, False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        for table, key in ((self._counts.by_user, self.user_key), (self._counts.by_ip, self.ip)):
            if key is None:
                continue
            table[key] -= 1
            if table[key] <= 0:
                del table[key]


def admit(scope) -> tuple[ConnectionSlot | None, CloseCode | None]:
    """Take a slot for a connecting socket, or say why not: (slot, None) or (None, 4029).

    The address counts every socket, authenticated or not; the user counts only sockets that
    authenticated. A limit of 0 turns that count off."""
    counts = _counts()
    ip = client_ip(scope)
    if ip is not None and (not clarion_settings.MAX_CONNECTIONS_PER_IP or _exempt(ip)):
        ip = None
    user = scope.get("user")
    user_key = str(user.pk) if user is not None and getattr(user, "is_authenticated", False) else None
    if not clarion_settings.MAX_CONNECTIONS_PER_USER:
        user_key = None
    if ip is not None and counts.by_ip[ip] >= clarion_settings.MAX_CONNECTIONS_PER_IP:
        return None, CloseCode.RATE_LIMITED
    if user_key is None and user is not None and getattr(user, "is_authenticated", False):
        user_key_for_cooldown = str(user.pk)
    else:
        user_key_for_cooldown = user_key
    if user_key_for_cooldown is not None and _cooling(counts, user_key_for_cooldown):
        return None, CloseCode.RATE_LIMITED
    if user_key is not None and counts.by_user[user_key] >= clarion_settings.MAX_CONNECTIONS_PER_USER:
        return None, CloseCode.RATE_LIMITED
    if ip is not None:
        counts.by_ip[ip] += 1
    if user_key is not None:
        counts.by_user[user_key] += 1
    return ConnectionSlot(counts, user_key, ip), None


def _cooling(counts: _Counts, user_key: str) -> bool:
    until = counts.cooling.get(user_key)
    if until is None:
        return False
    if time.monotonic() < until:
        return True
    del counts.cooling[user_key]
    return False


def anyone_cooling() -> bool:
    """Whether some user of this loop is cooling down (a cheap test before a costlier one)."""
    return bool(_counts().cooling)


def is_cooling(user_key) -> bool:
    return _cooling(_counts(), str(user_key))


def cool_down(scope) -> None:
    """The socket's user flooded: refuse their new sockets on this process (4029) for
    CLARION["RATE_LIMIT_COOLDOWN"] seconds, so that a client cannot make the server pay for a
    connect, a snapshot and a burst of frames again and again by reconnecting at once."""
    seconds = clarion_settings.RATE_LIMIT_COOLDOWN
    user = scope.get("user")
    if not seconds or user is None or not getattr(user, "is_authenticated", False):
        return
    counts = _counts()
    now = time.monotonic()
    if len(counts.cooling) > 10_000:  # bounded: forget the expired ones
        counts.cooling = {key: until for key, until in counts.cooling.items() if until > now}
    counts.cooling[str(user.pk)] = now + float(seconds)


def open_counts() -> dict:
    """This loop's counts (tests, debugging)."""
    counts = _counts()
    return {"by_user": dict(counts.by_user), "by_ip": dict(counts.by_ip)}


def message_bucket() -> TokenBucket | None:
    """The frame allowance of one socket (None: unlimited)."""
    rate = clarion_settings.MESSAGE_RATE
    if not rate:
        return None
    return TokenBucket(float(rate), int(clarion_settings.MESSAGE_BURST))
