"""Broker for one process: a publish is a local dispatch."""

from clarion.realtime.broker import Broker


class MemoryBroker(Broker):
    def __init__(self, **options):
        self.hub = None

    async def publish(self, group, event):
        self.hub.dispatch(group, event)

    async def subscribe(self, group):
        pass

    async def unsubscribe(self, group):
        pass
