"""Broker across processes on a Redis Cluster: sharded pub/sub (SPUBLISH / SSUBSCRIBE).

Plain PUBLISH in a cluster is copied to every node over the cluster bus, so it cannot scale
out; a shard channel lives on the master that owns its hash slot and costs only that shard.
A process subscribes on the masters its groups live on, one connection per master.

Ordering. The hub drops an event whose ``seq`` is not above the last one it gave a socket
(docs/architecture.md, "No gap, no duplicate"), which is only safe if all of one socket's
events arrive over one ordered connection. Redis orders what one node sends one connection,
nothing across nodes. So a socket's notification groups share a hash slot: its personal
channel lives in one of ``buckets`` slots (``{b<k>}``, chosen from the user), and a group
that reaches many users (everyone, a role) is published once per bucket; ``place`` gives the
socket the copy of its own bucket. Project and room sockets have one group each, in its own
slot. Broadcasts cost ``buckets`` publishes instead of one.

Recovery. As in broker_redis, no connection reconnects behind our back: a lost shard
connection, a server-initiated SUNSUBSCRIBE (the slot moved) or a slot map that changed
(checked every ``TOPOLOGY_CHECK`` seconds) sends the supervisor to read the slot map again,
move every displaced channel to its owner, wait until that owner confirms, and only then ask
the hub to resync. After a failover, sockets catch up from the database.
"""

import asyncio
import logging
import os
from collections import defaultdict

import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisError

from clarion.realtime import groups, redis_client
from clarion.realtime.broker import Broker

logger = logging.getLogger("clarion.broker")

TOPOLOGY_CHECK = 5.0  # seconds between slot-map checks when nothing failed
_CLOSE_TIMEOUT = 3.0
_ERRORS = (RedisError, ConnectionError, OSError, asyncio.TimeoutError)


class RedisClusterBroker(Broker):
    def __init__(self, url: str, prefix: str = "clarion", socket_timeout: float = 5.0, buckets: int = 16,
                 **options):
        if int(buckets) < 1:
            raise ValueError(f"BROKER_OPTIONS['buckets'] must be 1 or more, got {buckets!r}")
        self.hub = None
        self._prefix = prefix + ":"
        self._buckets = int(buckets)
        self._timeout = socket_timeout
        self._node_options = {**redis_client.parse_cluster_url(url).client_options(), **options}
        self._cluster = redis_client.connect(url, socket_timeout=socket_timeout,
                                             socket_connect_timeout=socket_timeout, **options)
        self._channels: dict[str, str] = {}  # channel -> hub group, for every group with local sockets
        # Channels whose subscribe() is still on its way: not missing, so the periodic check
        # does not take a connect storm for lost subscriptions (it resynced every socket
        # every 5 s while 5,000 sockets connected).
        self._pending: dict[str, int] = defaultdict(int)
        self._shards: dict[str, _Shard] = {}  # node name -> its subscriber connection
        self._trouble = asyncio.Event()
        self._owe_resync = False
        self._supervisor: asyncio.Task | None = None

    # -- names ------------------------------------------------------------------------

    def _bucket_of(self, group: str) -> int:
        return key_slot(group.encode()) % self._buckets

    def place(self, group_names):
        names = list(group_names)
        user = next((g for g in names if groups.is_user_group(g)), None)
        bucket = self._bucket_of(user) if user is not None else 0
        return [f"{g}@{bucket}" if groups.reaches_many(g) else g for g in names]

    def copies(self, group):
        if groups.reaches_many(group):
            return [f"{group}@{bucket}" for bucket in range(self._buckets)]
        return [group]

    def _channel(self, hub_group: str) -> str:
        """The shard channel of a hub group: bucketed groups carry their slot in a hash tag."""
        group, at, bucket = hub_group.partition("@")
        if at:
            return f"{self._prefix}{{b{bucket}}}:{group}"
        if groups.is_user_group(group):
            return f"{self._prefix}{{b{self._bucket_of(group)}}}:{group}"
        return self._prefix + group

    def _published_channels(self, group: str) -> list[str]:
        return [self._channel(name) for name in self.copies(group)]

    # -- publishing -------------------------------------------------------------------

    async def publish(self, group, event):
        await self.publish_many([(group, event)])

    async def publish_many(self, messages):
        # One pipeline: redis-py sends each node its commands in order, the nodes in parallel.
        # Order across nodes does not matter (see the module docstring).
        async with self._cluster.pipeline(transaction=False) as pipe:
            for group, event in messages:
                data = orjson.dumps(event)
                for channel in self._published_channels(group):
                    pipe.spublish(channel, data)
            await pipe.execute()

    # -- subscribing ------------------------------------------------------------------

    async def subscribe(self, group):
        channel = self._channel(group)
        self._channels[channel] = group
        self._ensure_supervisor()
        self._pending[channel] += 1
        try:
            await self._ensure_initialized()
            shard = self._shard_for(channel)
            await shard.add([channel])
        except _ERRORS as exc:
            # The supervisor places it once the cluster answers, then resyncs every socket.
            self._report(f"subscribe {channel}: {type(exc).__name__}: {exc}")
        finally:
            self._pending[channel] -= 1
            if not self._pending[channel]:
                del self._pending[channel]

    async def unsubscribe(self, group):
        channel = self._channel(group)
        self._channels.pop(channel, None)
        for shard in list(self._shards.values()):
            if channel in shard.channels:
                await shard.remove(channel)

    async def _ensure_initialized(self) -> None:
        if not self._cluster.nodes_manager.slots_cache:
            await self._cluster.initialize()

    def _owner(self, channel: str):
        return self._cluster.nodes_manager.get_node_from_slot(key_slot(channel.encode()))

    def _shard_for(self, channel: str) -> "_Shard":
        node = self._owner(channel)
        shard = self._shards.get(node.name)
        if shard is None:
            shard = self._shards[node.name] = _Shard(self, node.name, node.host, node.port)
        elif shard.broken:  # replacing it is the supervisor's job, which resyncs afterwards
            raise redis.ConnectionError(f"shard {node.name} is broken")
        return shard

    # -- recovery ---------------------------------------------------------------------

    def _ensure_supervisor(self) -> None:
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="clarion-broker")

    def _report(self, why: str) -> None:
        logger.warning("Redis Cluster subscriber: %s; re-placing subscriptions", why)
        self._owe_resync = True
        self._trouble.set()

    async def _supervise(self) -> None:
        delay = 0.05
        while True:
            try:
                await asyncio.wait_for(self._trouble.wait(), TOPOLOGY_CHECK)
            except asyncio.TimeoutError:
                pass
            self._trouble.clear()
            try:
                await self._repair()
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except _ERRORS as exc:
                logger.warning("Redis Cluster subscriber: repair failed (%s: %s); again in %.2fs",
                               type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._trouble.set()
            except Exception:
                logger.exception("Redis Cluster subscriber: repair failed; again in %.2fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._trouble.set()

    async def _repair(self) -> None:
        """Every wanted channel subscribed on the master that owns its slot now, confirmed;
        then, if any subscription was lost or moved on the way, one resync."""
        if not self._channels and not self._shards:
            return
        await self._cluster.nodes_manager.initialize()  # the slot map as the cluster sees it now
        placed: dict[str, str] = {}
        for name, shard in list(self._shards.items()):
            if shard.broken:
                del self._shards[name]
                await shard.close()
                continue
            for channel in list(shard.channels):
                if channel not in self._channels:
                    continue
                if self._owner(channel).name != name:  # the slot moved: its messages go elsewhere now
                    self._owe_resync = True
                    await shard.remove(channel)
                else:
                    placed[channel] = name
        missing = [channel for channel in self._channels if channel not in placed and channel not in self._pending]
        if missing:
            self._owe_resync = True
        by_shard = defaultdict(list)
        for channel in missing:
            by_shard[self._shard_for(channel)].append(channel)
        for shard, channels in by_shard.items():
            await shard.add(channels)
        for name, shard in list(self._shards.items()):
            if not shard.channels and not shard.adding:  # nothing left to hear from this master
                del self._shards[name]
                await shard.close()
        if self._owe_resync and not self._trouble.is_set():
            self._owe_resync = False
            logger.warning("Redis Cluster subscriptions placed again; resyncing sockets from the database")
            self.hub.resync()

    def _deliver(self, channel: bytes, data: bytes) -> None:
        group = self._channels.get(channel.decode())
        if group is not None:
            self.hub.dispatch(group, orjson.loads(data))

    async def close(self):
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await asyncio.wait_for(self._supervisor, _CLOSE_TIMEOUT)
            except (asyncio.CancelledError, Exception):
                pass
        closing = [shard.close() for shard in self._shards.values()] + [self._cluster.aclose()]
        self._shards.clear()
        for job in closing:
            try:
                await asyncio.wait_for(job, _CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, Exception):
                logger.warning("Redis connection did not close within %.0fs; dropping it", _CLOSE_TIMEOUT)


class _Shard:
    """The SSUBSCRIBE connection to one master and the task reading it. Once broken (an error,
    a channel the server unsubscribed) it is never reused: the supervisor replaces it."""

    def __init__(self, broker: RedisClusterBroker, name: str, host: str, port: int):
        self.broker, self.name = broker, name
        self.client = redis.Redis(host=host, port=port, socket_timeout=broker._timeout,
                                  socket_connect_timeout=broker._timeout, retry=Retry(NoBackoff(), 0),
                                  **broker._node_options)
        self.pubsub = self.client.pubsub()
        self.channels: set[str] = set()
        # SUNSUBSCRIBEs we sent and Redis has not answered yet, per channel: those answers are
        # no surprise, even when the channel was subscribed again meanwhile (a tab reloaded).
        self.leaving: dict[str, int] = defaultdict(int)
        self.broken = False
        self.adding = 0  # add() calls under way: an empty shard about to be used is not idle
        self._lock = asyncio.Lock()
        self._pongs: dict[bytes, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def add(self, channels: list[str]) -> None:
        """Subscribe and return once the master confirmed it (a PING answered after them).

        Only the writes are serialized: many sockets connecting at once wait for their
        confirmations together (holding the lock across the round trip made 1,000 connects
        take 8 s instead of 2.6 s)."""
        self.adding += 1
        try:
            async with self._lock:
                if self.broken:
                    raise redis.ConnectionError(f"shard {self.name} is broken")
                by_slot = defaultdict(list)  # one SSUBSCRIBE may not span slots (CROSSSLOT)
                for channel in channels:
                    by_slot[key_slot(channel.encode())].append(channel)
                for slot_channels in by_slot.values():
                    await self.pubsub.ssubscribe(*slot_channels)
                self.channels.update(channels)
                if self._reader is None:
                    self._reader = asyncio.get_running_loop().create_task(self._read(), name="clarion-shard")
            await self._confirmed()
        except _ERRORS:
            self._break()
            raise
        finally:
            self.adding -= 1

    async def remove(self, channel: str) -> None:
        self.channels.discard(channel)
        if self.broken:
            return
        self.leaving[channel] += 1
        try:
            async with self._lock:
                await self.pubsub.sunsubscribe(channel)
        except _ERRORS:
            self._break()

    async def _confirmed(self) -> None:
        token = os.urandom(8).hex().encode()
        future = self._pongs[token] = asyncio.get_running_loop().create_future()
        try:
            await self.pubsub.ping(token)
            await asyncio.wait_for(future, self.broker._timeout)
        finally:
            self._pongs.pop(token, None)

    async def _read(self) -> None:
        try:
            while True:
                message = await self.pubsub.get_message(timeout=5.0)
                if message is None:
                    continue
                kind = message["type"]
                if kind == "smessage":
                    self.broker._deliver(message["channel"], message["data"])
                elif kind == "pong":
                    future = self._pongs.get(message["data"])
                    if future is not None and not future.done():
                        future.set_result(None)
                elif kind == "sunsubscribe":
                    channel = message["channel"].decode()
                    if self.leaving.get(channel, 0) > 0:
                        self.leaving[channel] -= 1
                        if not self.leaving[channel]:
                            del self.leaving[channel]
                    elif channel in self.channels:
                        # Redis unsubscribes a slot's shard channels when the slot leaves this node.
                        raise redis.ConnectionError(f"{channel} was unsubscribed by the server")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._break()
            self.broker._report(f"shard {self.name} lost ({type(exc).__name__}: {exc})")

    def _break(self) -> None:
        self.broken = True
        for future in self._pongs.values():
            if not future.done():
                future.set_exception(redis.ConnectionError(f"shard {self.name} is broken"))

    async def close(self) -> None:
        self.broken = True
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        try:
            await asyncio.wait_for(self.pubsub.aclose(), _CLOSE_TIMEOUT)
        except (asyncio.TimeoutError, Exception):
            pass
        try:
            await asyncio.wait_for(self.client.aclose(), _CLOSE_TIMEOUT)
        except (asyncio.TimeoutError, Exception):
            pass
