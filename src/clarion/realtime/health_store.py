"""Where server processes leave their health records for each other, each with an expiry.

Every process writes its own record every ``CLARION["HEALTH_INTERVAL"]`` seconds with a
time-to-live of ``HEALTH_TTL_INTERVALS`` intervals, and reads everyone's. A process that dies
stops writing and its record expires: no process has to notice the death.

- :class:`MemoryHealthStore`: a dict in this process, for the embedded mode (one server
  process, the in-process broker).
- :class:`RedisHealthStore`: one Redis key per process, written with ``SET ... PX`` so that
  Redis itself expires it (no clock comparison between hosts), plus a set indexing the keys so
  that reading is ``SMEMBERS`` + ``MGET``, never a ``SCAN`` of the whole keyspace.

Chosen like the broker (:func:`make_health_store`): the Redis store when ``CLARION["BROKER"]``
is the Redis broker, with the same ``BROKER_OPTIONS`` url and prefix.
"""

import time

import orjson

from clarion.realtime.broker import redis_options


class HealthStore:
    uses_redis = False  # whether ping() measures a Redis server (scale-out) or means nothing

    async def put(self, process_id: str, record: dict, ttl: float) -> None:
        """Write (replace) this process's record; it disappears ``ttl`` seconds later."""
        raise NotImplementedError

    async def all(self) -> list[dict]:
        """Every record that has not expired, in no particular order."""
        raise NotImplementedError

    async def remove(self, process_id: str) -> None:
        """Drop a record at once (graceful shutdown)."""
        raise NotImplementedError

    async def ping(self) -> float | None:
        """Round-trip time of the shared store in seconds, or None when it is not a server."""
        return None

    async def close(self) -> None:
        pass


class MemoryHealthStore(HealthStore):
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._records: dict[str, tuple[float, dict]] = {}

    async def put(self, process_id, record, ttl):
        self._records[process_id] = (self._clock() + ttl, record)

    async def all(self):
        now = self._clock()
        expired = [key for key, (expires, _) in self._records.items() if expires <= now]
        for key in expired:
            del self._records[key]
        return [record for _, record in self._records.values()]

    async def remove(self, process_id):
        self._records.pop(process_id, None)


class RedisHealthStore(HealthStore):
    uses_redis = True

    def __init__(self, url: str, prefix: str = "clarion", timeout: float = 1.0):
        from clarion.realtime import redis_client

        self._redis = redis_client.connect(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        # One hash tag for the records and their index: a Redis Cluster serves MGET and the
        # pipelines below only for keys in one slot (a few records, one per process).
        self._key_prefix = f"{prefix}:{{health}}:"
        self._index = f"{prefix}:{{health}}-index"

    def _key(self, process_id: str) -> str:
        return self._key_prefix + process_id

    async def put(self, process_id, record, ttl):
        key = self._key(process_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key, orjson.dumps(record), px=max(1, int(ttl * 1000)))
            pipe.sadd(self._index, key)
            await pipe.execute()

    async def all(self):
        keys = sorted(await self._redis.smembers(self._index))
        if not keys:
            return []
        values = await self._redis.mget(keys)
        gone = [key for key, value in zip(keys, values) if value is None]
        if gone:  # expired records: forget them in the index too
            await self._redis.srem(self._index, *gone)
        return [orjson.loads(value) for value in values if value is not None]

    async def remove(self, process_id):
        key = self._key(process_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(key)
            pipe.srem(self._index, key)
            await pipe.execute()

    async def ping(self):
        started = time.perf_counter()
        await self._redis.ping()
        return time.perf_counter() - started

    async def close(self):
        await self._redis.aclose()


def make_health_store(timeout: float = 1.0) -> HealthStore:
    options = redis_options()
    if options is not None:
        return RedisHealthStore(options["url"], prefix=options.get("prefix", "clarion"), timeout=timeout)
    return MemoryHealthStore()
