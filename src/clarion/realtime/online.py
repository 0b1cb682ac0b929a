"""Who has a /ws/notifications/ socket open on any serving process right now.

Web Push asks it when it plans a push (clarion.delivery.channels.push): a reader looking at the
app gets the notification on their socket and needs no system notification besides.

Every process counts its own sockets per user (``opened`` / ``closed``, called by the
notifications consumer without awaiting anything). With the in-process broker that count is the
whole answer: there is one serving process. With the Redis broker each process also keeps a
Redis set of its online users, ``<prefix>:online:<process id>``: a user is added on their first
socket in the process and removed with their last, by one writer task per process that sends
the changes in order (so a connect is never slowed by a round trip). The set expires ``TTL``
seconds after the process last refreshed it, and the writer rewrites it whole every
``REFRESH`` seconds: a process that dies takes its users offline within ``TTL``, and a write
lost to a Redis restart is mended at the next refresh. An index set lists the process keys; a
check is one Lua script over it (one round trip per 1,000 readers asked about).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import weakref

from clarion.realtime.broker import redis_options

logger = logging.getLogger("clarion.online")

TTL = 15.0  # seconds a process's set outlives its last refresh
REFRESH = 5.0  # seconds between rewrites of a process's whole set

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

# user id -> this process's open notification sockets of that user. Read by the planner's
# worker thread too; a dict lookup needs no lock under the GIL.
_counts: dict = {}


def opened(user_id) -> None:
    """A notification socket of ``user_id`` was admitted in this process."""
    count = _counts.get(user_id, 0) + 1
    _counts[user_id] = count
    if count == 1:
        _note("add", user_id)


def closed(user_id) -> None:
    """One that ``opened`` counted has closed."""
    count = _counts.get(user_id, 0) - 1
    if count > 0:
        _counts[user_id] = count
        return
    _counts.pop(user_id, None)
    _note("remove", user_id)


def online(user_ids) -> set:
    """Which of ``user_ids`` have a notification socket open on some serving process.

    Sync: the planner calls it from a worker thread. When Redis cannot be asked, nobody counts
    as online (and a warning says so): the sockets are not being fed through Redis then either,
    so a push is the reader's only news of it."""
    user_ids = list(user_ids)
    options = redis_options()
    if options is None:
        return {user_id for user_id in user_ids if user_id in _counts}
    if not user_ids:
        return set()
    try:
        return _RedisReader.get(options).online(user_ids)
    except Exception as exc:  # redis-py raises its own errors and OSError alike
        logger.warning("online check: Redis unavailable (%s); treating %d reader(s) as offline",
                       f"{type(exc).__name__}: {exc}", len(user_ids))
        return set()


def _keys(options: dict) -> tuple[str, str]:
    prefix = options.get("prefix", "clarion")
    # One hash tag: the writer's MULTI and the reader's script touch a process's set and the
    # index together, which a Redis Cluster allows only within one slot.
    return f"{prefix}:{{online}}:{PROCESS_ID}", f"{prefix}:{{online}}-index"


# -- writing this process's set (scale-out) -------------------------------------------------------

_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Writer]" = weakref.WeakKeyDictionary()


def _note(op: str, user_id) -> None:
    options = redis_options()
    if options is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no event loop (a sync caller): the next refresh of a serving loop writes it
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = _Writer(options)
    writer.note(op, user_id)


class _Writer:
    """Sends this process's changes to its Redis set, in order, from one task that lives while
    the process has notification sockets."""

    def __init__(self, options: dict):
        from clarion.realtime import redis_client

        self._redis = redis_client.connect(options["url"], socket_timeout=2, socket_connect_timeout=2)
        self.key, self.index = _keys(options)
        self._ops: list[tuple[str, object]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._whole = True  # rewrite the whole set next time (first write, after a failure)
        self._failing = False

    def note(self, op: str, user_id) -> None:
        self._ops.append((op, user_id))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="clarion-online")

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), REFRESH)
            except TimeoutError:
                self._whole = True  # the periodic refresh
            self._wake.clear()
            ops, self._ops = self._ops, []
            try:
                await self._write(ops)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._whole = True
                if not self._failing:
                    logger.warning("online set: Redis unavailable (%s); retrying every %s s", exc, REFRESH)
                self._failing = True
                continue
            if self._failing:
                logger.info("online set: written to Redis again")
                self._failing = False
            if not _counts and not self._ops:
                try:
                    async with self._redis.pipeline(transaction=True) as pipe:
                        pipe.delete(self.key)
                        pipe.srem(self.index, self.key)
                        await pipe.execute()
                except Exception:
                    pass  # it expires by itself
                # No await between this check and the return: a socket opened meanwhile has
                # found this task running and queued its change, so go on for it.
                if not _counts and not self._ops:
                    self._whole = True
                    return

    async def _write(self, ops) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            if self._whole:
                # From the counts as they are now, which already include every queued change.
                pipe.delete(self.key)
                if _counts:
                    pipe.sadd(self.key, *[str(user_id) for user_id in _counts])
            else:
                for op, user_id in ops:
                    (pipe.sadd if op == "add" else pipe.srem)(self.key, str(user_id))
            pipe.pexpire(self.key, int(TTL * 1000))
            pipe.sadd(self.index, self.key)
            await pipe.execute()
        self._whole = False


# -- reading every process's set (sync, the planner's thread) --------------------------------------


# One script, so that forgetting a dead process's key in the index cannot race a live process
# writing its key back: Redis runs it whole.
_CHECK = """
local found, seen = {}, {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[1], key)
  else
    for i, flag in ipairs(redis.call('SMISMEMBER', key, unpack(ARGV))) do
      if flag == 1 and not seen[i] then seen[i] = true; table.insert(found, ARGV[i]) end
    end
  end
end
return found
"""
_CHECK_BATCH = 1000  # ids per script call (Lua's unpack has a limit of a few thousand)


class _RedisReader:
    _lock = threading.Lock()
    _readers: dict[tuple, "_RedisReader"] = {}

    @classmethod
    def get(cls, options: dict) -> "_RedisReader":
        key = (options["url"], options.get("prefix", "clarion"))
        with cls._lock:
            reader = cls._readers.get(key)
            if reader is None:
                reader = cls._readers[key] = cls(options)
            return reader

    def __init__(self, options: dict):
        from clarion.realtime import redis_client

        # redis-py's sync client is safe to share between threads (a connection per command).
        self._redis = redis_client.connect_sync(options["url"], socket_timeout=2, socket_connect_timeout=2,
                                                decode_responses=True)
        _, self.index = _keys(options)
        self._check = self._redis.register_script(_CHECK)

    def online(self, user_ids: list) -> set:
        by_text = {str(user_id): user_id for user_id in user_ids}
        texts = list(by_text)
        found = set()
        for start in range(0, len(texts), _CHECK_BATCH):
            found.update(by_text[text] for text in self._check(keys=[self.index],
                                                                args=texts[start:start + _CHECK_BATCH]))
        return found
