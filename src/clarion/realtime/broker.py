"""The broker interface: how a hub reaches the hubs of other processes.

A broker carries encoded events for named groups. The hub subscribes a group when its first
local member joins and unsubscribes when the last one leaves; the broker calls
``hub.dispatch(group, event)`` for every event published to a subscribed group, in publish
order. After a lost connection the broker calls ``hub.resync()`` once it is subscribed
again, because events published in between are gone and members must catch up from the
database. Implementations: broker_memory (one process) and broker_redis (several).
"""


class Broker:
    def bind(self, hub) -> None:
        """Called once by the hub that owns this broker."""
        self.hub = hub

    async def publish(self, group: str, event: dict) -> None:
        """Send ``event`` to every process subscribed to ``group`` (this one included)."""
        raise NotImplementedError

    async def subscribe(self, group: str) -> None:
        raise NotImplementedError

    async def unsubscribe(self, group: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections (at shutdown, or after a one-off publish from a script)."""
