"""The broker interface: how a hub reaches the hubs of other processes.

A broker carries encoded events for named groups. The hub subscribes a group when its first
local member joins and unsubscribes when the last one leaves; the broker calls
``hub.dispatch(group, event)`` for every event published to a subscribed group, in publish
order. After a lost connection the broker calls ``hub.resync()`` once it is subscribed
again, because events published in between are gone and members must catch up from the
database. Implementations: broker_memory (one process), broker_redis (several) and
broker_redis_cluster (several, on a Redis Cluster).
"""


class Broker:
    def bind(self, hub) -> None:
        """Called once by the hub that owns this broker."""
        self.hub = hub

    async def publish(self, group: str, event: dict) -> None:
        """Send ``event`` to every process subscribed to ``group`` (this one included)."""
        raise NotImplementedError

    async def publish_many(self, messages: list[tuple[str, dict]]) -> None:
        """Publish (group, event) pairs in order; a broker with round trips makes it one."""
        for group, event in messages:
            await self.publish(group, event)

    def place(self, groups: list[str]) -> list[str]:
        """The hub groups a socket joins for ``groups``: a broker that shards may give each
        socket its own shard's copy of a group many share, so that all of one socket's
        events travel one ordered connection (broker_redis_cluster)."""
        return list(groups)

    def copies(self, group: str) -> list[str]:
        """Every hub group ``place`` can turn ``group`` into."""
        return [group]

    async def subscribe(self, group: str) -> None:
        raise NotImplementedError

    async def unsubscribe(self, group: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections (at shutdown, or after a one-off publish from a script)."""


# -- which broker: resolved here, once, for the hub, presence and the health store ----------------


def broker_class() -> type:
    """The class ``CLARION["BROKER"]`` names (an import string or the class itself)."""
    from django.utils.module_loading import import_string

    from clarion.conf import clarion_settings

    configured = clarion_settings.BROKER
    return import_string(configured) if isinstance(configured, str) else configured


def make_broker() -> Broker:
    from clarion.conf import clarion_settings

    return broker_class()(**clarion_settings.BROKER_OPTIONS)


def local_delivery_only() -> bool:
    """Whether a publish can only reach sockets of this very process (the in-process broker)."""
    from clarion.realtime.broker_memory import MemoryBroker

    return issubclass(broker_class(), MemoryBroker)


def redis_options() -> dict | None:
    """The Redis broker's options (url, prefix) when it is the broker, else None: the presence
    and health stores share its Redis."""
    from clarion.conf import clarion_settings
    from clarion.realtime.broker_redis import RedisBroker
    from clarion.realtime.broker_redis_cluster import RedisClusterBroker

    redis_brokers = (RedisBroker, RedisClusterBroker)
    return dict(clarion_settings.BROKER_OPTIONS) if issubclass(broker_class(), redis_brokers) else None
