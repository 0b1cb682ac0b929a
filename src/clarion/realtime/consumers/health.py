"""/ws/system-health/: live health of every server process, for administrators.

Thin by design: figures, aggregation and the report loop live in clarion.realtime.health_monitor and clarion.observability;
this consumer checks who may watch and registers the socket with the process's monitor.
"""

from clarion.realtime import health_monitor as health
from clarion.protocol import CloseCode, Ping
from clarion.protocol.frames import ServerFrameType
from clarion.realtime.consumers.base import ClarionConsumer
from clarion.roles import is_health_viewer


class SystemHealthConsumer(ClarionConsumer):
    endpoint = "system_health"
    client_frames = {Ping.type: Ping}
    handlers = {Ping: "on_ping"}

    monitor = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse(CloseCode.UNAUTHORIZED)
        if not is_health_viewer(user, self.scope.get("clarion_role")):
            return await self.refuse(CloseCode.FORBIDDEN)
        self.monitor = health.ensure_started()
        # No stream groups, only the user's sessions group: ending the sessions closes it.
        await self.join([], on_resync=self._no_log_to_resync)
        self.ready(0)
        await self.open()
        await self.monitor.watch(self)  # the latest snapshot at once, if there is one yet

    async def _no_log_to_resync(self):
        self.ready(0)

    async def disconnect(self, code):
        if self.monitor is not None:
            self.monitor.unwatch(self)
            self.monitor = None
        await super().disconnect(code)

    async def on_ping(self, frame):
        await self.send_frame(ServerFrameType.PONG)
