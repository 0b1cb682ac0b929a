"""Idle sockets (docs/security.md, "Floods"; docs/configuration.md, WS_PING_INTERVAL): a socket
whose peer stops answering protocol pings is closed 1011 after the interval and the timeout, and
its server-side state is freed; a peer that answers stays. A short interval for the test."""

import asyncio
import socket
import time
import urllib.request
from urllib.parse import urlencode

import pytest
from websockets.frames import Opcode
from websockets.uri import parse_uri
from websockets.client import ClientProtocol

from tests.integration.harness import private_server

pytestmark = pytest.mark.integration

INTERVAL, TIMEOUT = 0.5, 0.5


@pytest.fixture(scope="module")
def pinging_server(tmp_path_factory):
    yield from private_server(tmp_path_factory, "idle", CLARION_WS_PING_INTERVAL=str(INTERVAL),
                              CLARION_WS_PING_TIMEOUT=str(TIMEOUT))


class SilentPeer:
    """A WebSocket client that reads but never answers a ping: what a frozen tab, a suspended
    laptop or a half-open connection looks like from the server. websockets' sans-I/O protocol
    parses the frames; the pongs it queues are never written."""

    def __init__(self, server, token):
        uri = parse_uri(f"{server.ws_url}/ws/notifications/?{urlencode({'token': token})}")
        self.protocol = ClientProtocol(uri, origin=None)
        request = self.protocol.connect()
        request.headers["Origin"] = server.url
        self.protocol.send_request(request)
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
        self.pings, self.frames = 0, []

    def read_until_closed(self, deadline: float) -> float | None:
        """Read until the server closes the TCP connection; the time it did, or None."""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                return time.monotonic()
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if getattr(event, "opcode", None) is Opcode.PING:
                    self.pings += 1
                elif getattr(event, "opcode", None) is not None:
                    self.frames.append(event)
            self.protocol.data_to_send()  # dropped: the pongs are never sent
        return None


def _open_sockets(server) -> float:
    request = urllib.request.Request(server.url + "/metrics", headers=server.metrics_headers())
    with urllib.request.urlopen(request, timeout=5) as response:
        status, text = response.status, response.read().decode()
    assert status == 200
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("clarion_open_connections{") and 'endpoint="notifications"' in line)


async def test_a_socket_that_stops_answering_pings_is_closed_1011_and_freed(pinging_server):
    server = pinging_server
    token = server.token("alice")
    async with server.socket(token) as answering:  # websockets answers pings by itself
        await answering.recv()
        silent = SilentPeer(server, token)
        opened = time.monotonic()
        closed_at = await asyncio.to_thread(silent.read_until_closed, opened + 10)
        assert closed_at is not None, "the server never closed the silent socket"
        assert silent.pings >= 1
        assert INTERVAL + TIMEOUT - 0.2 <= closed_at - opened <= INTERVAL + TIMEOUT + 3
        assert silent.protocol.close_rcvd is not None and silent.protocol.close_rcvd.code == 1011
        # The server let go of it: only the answering socket is left, and it still works.
        await asyncio.sleep(4 * (INTERVAL + TIMEOUT))
        assert _open_sockets(server) == 1
        await answering.send('{"type": "ping"}')
        while (frame := await asyncio.wait_for(answering.recv(), 5)) and '"pong"' not in frame:
            pass
