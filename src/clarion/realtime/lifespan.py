"""ASGI lifespan for a serving process: start the relay, the health monitor and the delivery
worker at boot, stop them at shutdown.

Without it the relay starts with the first socket (consumers call ``relay.ensure_started``),
which is enough for correctness; with it, notifications committed while the server was down
are sequenced as soon as it is up, so the first client's snapshot already holds them.
"""

from clarion.conf import clarion_settings
from clarion.delivery import receipts
from clarion.delivery import worker as delivery_worker
from clarion.realtime import health_monitor as health
from clarion.realtime import gc_policy, hub, presence, relay, runtime, timers


class RealtimeLifespan:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                runtime.mark_serving()
                hub.get_hub()  # the serving loop's hub exists before the first publish
                relay.ensure_started()
                timers.ensure_started()  # snoozes ending, items expiring, for this process's sockets
                gc_policy.ensure_started()  # full collections stay off the sockets' objects
                health.ensure_started()  # this process's health reports (/ws/system-health/, /metrics)
                if clarion_settings.DELIVERY_WORKER:
                    delivery_worker.ensure_started()  # email when unread, digests, Web Push
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await relay.stop()
                await timers.stop()
                await delivery_worker.stop()
                await receipts.stop()  # writes the acknowledgements still buffered
                await gc_policy.stop()
                await health.stop()  # withdraws this process's record at once
                await presence.close_presence()
                await hub.close_hub()
                await send({"type": "lifespan.shutdown.complete"})
                return
