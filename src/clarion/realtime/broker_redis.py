"""Broker across processes: Redis pub/sub, one subscriber connection per process.

Each process subscribes to the groups its sockets are in, once per group however many
sockets share it, so a broadcast crosses Redis once per process, not once per socket (the
per-consumer channels of Channels' layers are what made the seed's fan-out slow).

Redis pub/sub forgets what it could not deliver. When the subscriber connection drops, the
reader reconnects with backoff, subscribes every local group again and then asks the hub to
resync: each socket catches up from the database from its last delivered position, so a
Redis restart costs latency, never notifications.
"""

import asyncio
import logging
import os

import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from clarion.realtime import redis_client
from clarion.realtime.broker import Broker

logger = logging.getLogger("clarion.broker")

_CLOSE_TIMEOUT = 3.0
_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError)


class RedisBroker(Broker):
    def __init__(self, url: str, prefix: str = "clarion", socket_timeout: float = 5.0, **options):
        if redis_client.is_cluster(url):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"{url.split('://')[0]}:// names a Redis Cluster: set CLARION['BROKER'] to "
                                       "'clarion.realtime.broker_redis_cluster.RedisClusterBroker'")
        self.hub = None
        self._url = url
        self._prefix = prefix + ":"
        self._redis = redis_client.connect(url, socket_timeout=socket_timeout,
                                           socket_connect_timeout=socket_timeout, **options)
        # The subscriber must not reconnect behind our back: redis-py's retries would
        # resubscribe silently and hide the messages lost meanwhile. Every drop reaches the
        # reader, which resubscribes and then has every socket catch up from the database.
        self._subscriber = redis_client.connect(url, socket_timeout=socket_timeout,
                                                socket_connect_timeout=socket_timeout,
                                                retry=Retry(NoBackoff(), 0), **options)
        self._confirmations: dict[bytes, asyncio.Future] = {}
        self._confirm_timeout = socket_timeout
        self._groups: set[str] = set()
        self._pubsub = None
        self._reader = None

    def _channel(self, group: str) -> str:
        return self._prefix + group

    async def publish(self, group, event):
        await self._redis.publish(self._channel(group), orjson.dumps(event))

    async def publish_many(self, messages):
        # One round trip for a batch: a bulk create's 1,000 pushes, awaited one PUBLISH at a
        # time, held its stream's lock for 2.3 s (bench.dbload, bulk writer). One connection
        # and no MULTI: Redis runs them in the order sent, which is all the order needed.
        async with self._redis.pipeline(transaction=False) as pipe:
            for group, event in messages:
                pipe.publish(self._channel(group), orjson.dumps(event))
            await pipe.execute()

    async def subscribe(self, group):
        self._groups.add(group)
        self._ensure_reader()
        if self._pubsub is None:
            return  # the reader subscribes every group once it is connected
        try:
            await self._pubsub.subscribe(self._channel(group))
            await self._confirmed(self._pubsub)
        except (*_CONNECTION_ERRORS, asyncio.TimeoutError):
            pass  # the reader notices the broken connection, resubscribes everything, resyncs

    async def unsubscribe(self, group):
        self._groups.discard(group)
        if self._pubsub is None:
            return
        try:
            await self._pubsub.unsubscribe(self._channel(group))
        except _CONNECTION_ERRORS:
            pass

    def _ensure_reader(self):
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read_forever(), name="clarion-broker")

    async def _confirmed(self, pubsub) -> None:
        """Return once Redis has processed what this connection sent before (SUBSCRIBE
        returns when the command is written, not when it is active). Redis answers in order,
        so the answer to a PING sent now proves it; the reader resolves the wait."""
        token = os.urandom(8).hex().encode()
        future = self._confirmations[token] = asyncio.get_running_loop().create_future()
        try:
            await pubsub.ping(token)
            await asyncio.wait_for(future, self._confirm_timeout)
        finally:
            self._confirmations.pop(token, None)

    def _on_pong(self, data) -> None:
        future = self._confirmations.get(data)
        if future is not None and not future.done():
            future.set_result(None)

    async def _connect(self) -> None:
        pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        if self._groups:
            await pubsub.subscribe(*(self._channel(g) for g in self._groups))
        token = os.urandom(8).hex().encode()
        await pubsub.ping(token)  # also establishes the connection, so that failures show here
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._confirm_timeout
        while True:  # until Redis answered: every SUBSCRIBE before the PING is active
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise redis.TimeoutError("no answer to PING after SUBSCRIBE")
            # None also stands for a subscribe confirmation, which is skipped
            message = await pubsub.get_message(timeout=remaining)
            if message is None:
                continue
            if message["type"] == "pong" and message["data"] == token:
                break
            self._handle(message)
        self._pubsub = pubsub

    async def _read_forever(self) -> None:
        delay, first = 0.05, True
        while True:
            try:
                await self._connect()
                if not first:
                    logger.warning("Redis subscriber reconnected; resyncing sockets from the database")
                # Also after the first connect: sockets that joined while it was being made
                # read their snapshot before their groups were live.
                self.hub.resync()
                first, delay = False, 0.05
                while True:
                    message = await self._pubsub.get_message(timeout=5.0)
                    if message is not None:
                        self._handle(message)
            except asyncio.CancelledError:
                raise
            except _CONNECTION_ERRORS as exc:
                logger.warning("Redis subscriber lost (%s); reconnecting in %.2fs", type(exc).__name__, delay)
            except Exception:
                logger.exception("Redis subscriber failed; reconnecting")
            first = False
            await self._drop_pubsub()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _handle(self, message) -> None:
        if message["type"] == "message":
            channel = message["channel"].decode()
            self.hub.dispatch(channel[len(self._prefix):], orjson.loads(message["data"]))
        elif message["type"] == "pong":
            self._on_pong(message["data"])

    async def _drop_pubsub(self):
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception:
                pass

    async def close(self):
        # Bounded: a shutdown must not hang on a Redis that stopped answering (paused, or a
        # half-open connection); what is left is dropped with the process.
        if self._reader is not None:
            self._reader.cancel()
            try:
                await asyncio.wait_for(self._reader, _CLOSE_TIMEOUT)
            except (asyncio.CancelledError, Exception):
                pass
        for closing in (self._drop_pubsub(), self._redis.aclose(), self._subscriber.aclose()):
            try:
                await asyncio.wait_for(closing, _CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, Exception):
                logger.warning("Redis connection did not close within %.0fs; dropping it", _CLOSE_TIMEOUT)
