"""The Python client's polling fallback against a real server (issue 15, item 4).

Between the client and the server sits a proxy that passes HTTP and can start refusing
WebSocket upgrades (502, as a proxy that does not do WebSockets answers) and drop the
upgraded connections it carries: what a network that stops WebSockets but not HTTP does.
The client falls back to polling ``?after=``, keeps delivering, and goes back to its socket
once the proxy lets it through: every notification once, in order."""

import asyncio
import contextlib

import pytest

from clarion.client import Backoff, Client, Connected, Notification, NotificationsRead, Polling, RecentNotifications

pytestmark = pytest.mark.integration


class WebSocketBlockingProxy:
    """A TCP proxy to ``upstream`` that refuses WebSocket upgrades while ``blocked``."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.blocked = False
        self.refused = 0
        self.upgraded: set[asyncio.StreamWriter] = set()
        self.server = None

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self):
        self.server.close()
        for writer in list(self.upgraded):
            writer.close()
        await self.server.wait_closed()

    def block(self):
        self.blocked = True
        for writer in list(self.upgraded):  # mid-stream: the open socket goes too
            writer.transport.abort()
        self.upgraded.clear()

    async def _serve(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        upgrade = b"upgrade: websocket" in head.lower()
        if upgrade and self.blocked:
            self.refused += 1
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(head)
        if upgrade:
            self.upgraded.add(writer)

        async def pipe(src, dst):
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.upgraded.discard(writer)


async def test_client_polls_while_websockets_are_blocked_and_goes_back_losing_and_repeating_nothing(server, tokens):
    admin, alice_token = tokens["dave"], tokens["alice"]
    alice = str(server.request("GET", "/api/me/", token=alice_token)[1]["id"])
    proxy = WebSocketBlockingProxy(server.port)
    await proxy.start()
    client = Client(f"http://127.0.0.1:{proxy.port}", token=alice_token, heartbeat_interval=None,
                    backoff=Backoff(base=0.05, cap=0.2),
                    fallback=Polling(after_failures=3, interval=0.3, retry_interval=2.0, page_size=2))
    received, connects, reads = [], [], []

    async def collect():
        async for event in client.events():
            if isinstance(event, Notification):
                received.append(event)
            elif isinstance(event, Connected):
                connects.append(event.transport)
            elif isinstance(event, NotificationsRead):
                reads.append(event)
            elif isinstance(event, RecentNotifications) and not connects_ready.is_set():
                connects_ready.set()

    async def until(predicate, timeout=15.0):
        async def wait():
            while not predicate():
                await asyncio.sleep(0.05)
        await asyncio.wait_for(wait(), timeout)

    def send(title, read_elsewhere=False):
        created = server.notify(admin, title=title, recipient_type="user", recipient_id=alice)
        if read_elsewhere:
            assert server.request("POST", f"/api/notifications/{created['id']}/read/", token=alice_token)[0] == 200
        return created["id"]

    connects_ready = asyncio.Event()
    collector = asyncio.create_task(collect())
    try:
        client.start()
        await asyncio.wait_for(connects_ready.wait(), 10)
        sent = [send("over the socket")]
        await until(lambda: len(received) == 1)

        proxy.block()
        sent += [send("while switching"), send("while switching, read elsewhere", read_elsewhere=True),
                 send("while switching, 3")]
        await until(lambda: client.transport == "polling" and len(received) == 4)
        assert proxy.refused >= 3 and connects[-1] == "polling"
        sent.append(send("while polling"))
        await until(lambda: len(received) == 5)
        # An action while polling goes over REST, and its answer is the socket's frame.
        await client.mark_as_read([sent[1]])
        await until(lambda: any(sent[1] in r.ids for r in reads))

        proxy.blocked = False
        await until(lambda: client.transport == "websocket" and client.connected, timeout=10)
        sent.append(send("over the socket again"))
        await until(lambda: len(received) == 6)
        await asyncio.sleep(0.5)  # a repeat, if any, would arrive in this time

        assert [n.id for n in received] == sent  # each once, in the order published
        assert [n.is_read for n in received] == [False, False, True, False, False, False]
        assert connects[0] == "websocket" and "polling" in connects and connects[-1] == "websocket"
    finally:
        await client.close()
        collector.cancel()
        with contextlib.suppress(BaseException):
            await collector
        await proxy.stop()
