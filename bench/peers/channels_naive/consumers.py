"""The consumer as it is commonly written: join two groups, re-encode JSON per client."""

from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        uid = parse_qs(self.scope["query_string"].decode()).get("uid", ["0"])[0]
        self.joined = ["notifications_all", f"notifications_{uid}"]
        for name in self.joined:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for name in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def notify(self, event):
        await self.send_json(event["data"])
