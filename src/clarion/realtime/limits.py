"""Abuse limits of sockets: connections per user and per client address, frames per socket,
and the lifetime of a socket's credential. Enforced by ClarionConsumer (consumers/base.py);
the defaults and the reasons for them are in docs/security.md, "Floods".

Sockets per user and the flood cool-down are counted across processes when there is Redis
(clarion.realtime.shared_limits): the allowance is the same over 1 process or 4. Without Redis,
or while it does not answer, they are counted per server process (per event loop), as is the
count per client address always (a client's address reaches one proxy, which spreads it) and
the frames of a socket (a socket lives on one process).
"""

import asyncio
import ipaddress
import time
import weakref
from collections import Counter

from clarion.conf import clarion_settings
from clarion.protocol import CloseCode
from clarion.realtime.shared_limits import ADMITTED, Unavailable, shared_limits
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
    """One socket's place in the per-user and per-address counts; release it exactly once.
    ``shared`` is its slot in Redis when the user was counted there, else the user was counted
    in this process's table."""

    __slots__ = ("_counts", "user_key", "ip", "shared", "released")

    def __init__(self, counts, user_key, ip, shared=None):
        self._counts, self.user_key, self.ip, self.shared, self.released = counts, user_key, ip, shared, False

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        local_user = self.user_key if self.shared is None else None
        for table, key in ((self._counts.by_user, local_user), (self._counts.by_ip, self.ip)):
            if key is None:
                continue
            table[key] -= 1
            if table[key] <= 0:
                del table[key]
        if self.shared is not None:
            store, member = self.shared
            await store.release(self.user_key, member)


async def admit(scope) -> tuple[ConnectionSlot | None, CloseCode | None]:
    """Take a slot for a connecting socket, or say why not: (slot, None) or (None, 4029).

    The address counts every socket, authenticated or not; the user counts only sockets that
    authenticated. A limit of 0 turns that count off."""
    counts = _counts()
    ip = client_ip(scope)
    if ip is not None and (not clarion_settings.MAX_CONNECTIONS_PER_IP or _exempt(ip)):
        ip = None
    user = scope.get("user")
    authenticated = str(user.pk) if user is not None and getattr(user, "is_authenticated", False) else None
    limit = int(clarion_settings.MAX_CONNECTIONS_PER_USER or 0)
    if ip is not None and counts.by_ip[ip] >= clarion_settings.MAX_CONNECTIONS_PER_IP:
        return None, CloseCode.RATE_LIMITED
    if authenticated is not None and _cooling(counts, authenticated):
        return None, CloseCode.RATE_LIMITED
    shared = None
    if authenticated is not None:
        store = shared_limits()
        if store is not None:
            try:
                verdict, member = await store.admit(authenticated, limit)
            except Unavailable:
                pass  # counted below, in this process
            else:
                if verdict != ADMITTED:
                    return None, CloseCode.RATE_LIMITED
                # the address may have filled up while Redis answered
                if ip is not None and counts.by_ip[ip] >= clarion_settings.MAX_CONNECTIONS_PER_IP:
                    if member is not None:
                        await store.release(authenticated, member)
                    return None, CloseCode.RATE_LIMITED
                shared = (store, member) if member is not None else None
                if ip is not None:
                    counts.by_ip[ip] += 1
                return ConnectionSlot(counts, authenticated if shared else None, ip, shared), None
    user_key = authenticated if limit else None
    if user_key is not None and counts.by_user[user_key] >= limit:
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


async def cool_down(scope) -> None:
    """The socket's user flooded: refuse their new sockets (4029) for
    CLARION["RATE_LIMIT_COOLDOWN"] seconds, so that a client cannot make the server pay for a
    connect, a snapshot and a burst of frames again and again by reconnecting at once.

    On this process at once (and before authentication: auth/middleware.py asks is_cooling),
    and on every process through Redis, written before the flooder's socket is closed so that
    its reconnect to another process is refused too."""
    seconds = clarion_settings.RATE_LIMIT_COOLDOWN
    user = scope.get("user")
    if not seconds or user is None or not getattr(user, "is_authenticated", False):
        return
    counts = _counts()
    now = time.monotonic()
    if len(counts.cooling) > 10_000:  # bounded: forget the expired ones
        counts.cooling = {key: until for key, until in counts.cooling.items() if until > now}
    counts.cooling[str(user.pk)] = now + float(seconds)
    store = shared_limits()
    if store is not None:
        try:
            await store.cool_down(str(user.pk), float(seconds))
        except Unavailable:
            pass  # this process still refuses them


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
