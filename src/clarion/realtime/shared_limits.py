"""Limits shared by every process through Redis: sockets per user, the flood cool-down and the
chat allowance per user and room (docs/security.md, "Floods").

Per process, a user who spreads sockets over N processes gets N times each allowance, and a
flooder closed on one process reconnects to another at once. Here each is one key in Redis,
changed by a script, so the count is the same over 1 process or 4. Written by hand: the rate
limit libraries for Python count HTTP requests per key, not leased socket slots that a killed
process must give back by itself, and all that is needed is three short scripts.

- Sockets of a user: a sorted set of slot -> lease end. A process renews the leases of its open
  sockets every LEASE / 3 s, so the slots of a process that was killed lapse within LEASE.
- Cool-down: a key with an expiry; the socket script refuses while it exists.
- Chat: a token bucket (tokens and time in a hash).
Each is one round trip of about 0.1 ms in Redis; at most IN_FLIGHT calls are sent at once.
All the keys of one user share a hash tag, so a script touching several stays in one slot of a
Redis Cluster. Times come from Redis (TIME), so processes on machines whose clocks differ agree.

When Redis does not answer, the caller counts per process instead (clarion.realtime.limits,
room_limits): a limit then allows what it allowed before this module, never refuses everyone
and never holds up delivery. The switch is logged once each way; Redis is tried again after
RETRY seconds, so a Redis that is down costs a connect nothing but a local count.
"""

import asyncio
import logging
import os
import time
import weakref

logger = logging.getLogger("clarion.limits")

LEASE = 60.0  # seconds a socket slot stays counted without renewal (a killed process's slots)
RETRY = 5.0  # seconds after a failure before Redis is asked again
# Seconds one call may take once it is sent. Not shorter: in a connect storm the event loop
# itself is late to read the answers (0.5 s switched to local counting during 5,000 connects).
TIMEOUT = 2.0
# Calls in flight at once. A call takes ~0.1 ms in Redis, so a few connections serve any
# rate this process can make; more would only queue in the pool (a single server's pool waits,
# see redis_client.connect) or fail in a cluster node's, which raises MaxConnectionsError past
# its cap, as a storm of connects once reached.
IN_FLIGHT = 16

# KEYS: sockets zset, cool-down key. ARGV: member, limit (0: count nothing), lease ms.
# Returns 1 admitted, 0 over the limit, -1 cooling down.
_ADMIT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local limit = tonumber(ARGV[2])
if limit == 0 then return 1 end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

# KEYS: sockets zset. ARGV: lease ms, members... Renews the leases of members still present.
_RENEW = """
local now = redis.call('TIME')
local until_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', until_ms, ARGV[i])
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1])) end
return 1
"""

# KEYS: bucket hash. ARGV: rate per second, burst. Returns 0 (taken) or the ms until a token.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""

ADMITTED, FULL, COOLING = 1, 0, -1


class Unavailable(Exception):
    """Redis did not answer (or is being left alone for RETRY seconds after it did not)."""


class SharedLimits:
    def __init__(self, url: str, prefix: str = "clarion"):
        from clarion.realtime.redis_client import connect

        self._redis = connect(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        self._gate = asyncio.Semaphore(IN_FLIGHT)
        self._prefix = prefix
        self._admit = self._redis.register_script(_ADMIT)
        self._renew = self._redis.register_script(_RENEW)
        self._take = self._redis.register_script(_TAKE)
        self._process = f"{os.getpid()}-{os.urandom(4).hex()}"
        self._next_slot = 0
        self._slots: dict[str, set[str]] = {}  # user key -> members of this process's open sockets
        self._renewer: asyncio.Task | None = None
        self._down_until = 0.0  # monotonic time before which Redis is not asked
        self._degraded = False

    # -- keys: one hash tag per user -------------------------------------------------

    def _user_keys(self, user_key: str) -> tuple[str, str]:
        tag = f"{self._prefix}:limits:{{u{user_key}}}"
        return f"{tag}:sockets", f"{tag}:cooling"

    def _chat_key(self, user_key: str, room) -> str:
        return f"{self._prefix}:limits:{{u{user_key}}}:chat:{room}"

    # -- availability ----------------------------------------------------------------

    async def _call(self, script, keys, args):
        if time.monotonic() < self._down_until:
            raise Unavailable()
        try:
            async with self._gate:
                result = await asyncio.wait_for(script(keys=keys, args=args), TIMEOUT)
        except Exception as exc:  # any failure of Redis: count locally, never refuse for it
            self._down_until = time.monotonic() + RETRY
            if not self._degraded:
                self._degraded = True
                logger.warning("Redis did not answer the shared limits (%s); counting per process until it does",
                               type(exc).__name__)
            raise Unavailable() from exc
        if self._degraded:
            self._degraded = False
            logger.warning("Redis answers the shared limits again; counting across processes")
        return result

    # -- sockets per user and the cool-down ------------------------------------------

    async def admit(self, user_key: str, limit: int) -> tuple[int, str | None]:
        """(ADMITTED, member) / (FULL, None) / (COOLING, None); raises Unavailable.
        ``limit`` 0 checks only the cool-down and counts nothing (member None)."""
        self._next_slot += 1
        member = f"{self._process}:{self._next_slot}"
        verdict = int(await self._call(self._admit, self._user_keys(user_key), [member, int(limit), int(LEASE * 1000)]))
        if verdict != ADMITTED or not limit:
            return verdict, None
        self._slots.setdefault(user_key, set()).add(member)
        self._ensure_renewer()
        return ADMITTED, member

    async def release(self, user_key: str, member: str) -> None:
        members = self._slots.get(user_key)
        if members is not None:
            members.discard(member)
            if not members:
                del self._slots[user_key]
        try:
            if time.monotonic() >= self._down_until:
                async with self._gate:
                    await asyncio.wait_for(self._redis.zrem(self._user_keys(user_key)[0], member), TIMEOUT)
        except Exception:
            pass  # not renewed any more: the lease lapses by itself

    async def cool_down(self, user_key: str, seconds: float) -> None:
        if time.monotonic() < self._down_until:
            raise Unavailable()
        try:
            async with self._gate:
                await asyncio.wait_for(self._redis.set(self._user_keys(user_key)[1], 1,
                                                       px=max(1, int(seconds * 1000))), TIMEOUT)
        except Exception as exc:
            self._down_until = time.monotonic() + RETRY
            raise Unavailable() from exc

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever(), name="clarion-limits")

    async def _renew_forever(self) -> None:
        while self._slots:
            await asyncio.sleep(LEASE / 3)
            for user_key, members in list(self._slots.items()):
                if not members:
                    continue
                try:
                    await self._call(self._renew, [self._user_keys(user_key)[0]], [int(LEASE * 1000), *members])
                except Unavailable:
                    break  # the leases may lapse meanwhile; admits count locally until Redis is back

    # -- chat -------------------------------------------------------------------------

    async def take(self, user_key: str, room, rate: float, burst: int) -> float:
        """0 if a chat message may go now, else the seconds until one may; raises Unavailable."""
        wait_ms = int(await self._call(self._take, [self._chat_key(user_key, room)], [float(rate), int(burst)]))
        return wait_ms / 1000.0

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        try:
            await self._redis.aclose()
        except Exception:
            pass


_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedLimits]" = weakref.WeakKeyDictionary()


def shared_limits() -> SharedLimits | None:
    """This event loop's shared limits, or None when there is no Redis to share them through
    (the embedded server: one process, whose own counts are the whole count)."""
    from clarion.realtime.broker import redis_options

    options = redis_options()
    if options is None:
        return None
    loop = asyncio.get_running_loop()
    limits = _per_loop.get(loop)
    if limits is None:
        limits = _per_loop[loop] = SharedLimits(options["url"], options.get("prefix", "clarion"))
    return limits


async def close_shared_limits() -> None:
    """Release this loop's Redis connection (at the end of a loop: shutdown, a test)."""
    limits = _per_loop.pop(asyncio.get_running_loop(), None)
    if limits is not None:
        await limits.close()
