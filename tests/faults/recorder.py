"""What a user sees: a real client (clarion.client: reconnect, resume, dedupe) per socket,
recording every notification it shows, and checks of the fault suite's end condition."""

import asyncio
import base64
import os
import threading
import time

from clarion.client import Backoff, Client, Notification, RecentNotifications


def seq_of(cursor: str) -> int:
    return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()[3:])


class Recorder:
    """Runs one client in the background; ``shown`` lists notifications in the order shown."""

    def __init__(self, server, token, *, prefix: str):
        self.server, self.token, self.prefix = server, token, prefix
        self.shown: list[Notification] = []
        self.connects = 0
        self._task = None
        self._client = None

    async def start(self):
        self._client = Client(self.server.ws_url, token=self.token, backoff=Backoff(base=0.1, cap=1.0),
                              heartbeat_interval=1.0, heartbeat_timeout=2.0)
        self._task = asyncio.get_running_loop().create_task(self._run())
        deadline = time.monotonic() + 10
        while self.connects == 0:
            assert time.monotonic() < deadline, "the client did not connect"
            await asyncio.sleep(0.05)
        return self

    async def _run(self):
        async with self._client:
            async for event in self._client.events():
                if isinstance(event, RecentNotifications):
                    self.connects += 1
                    for notification in reversed(event.notifications):
                        self._show(notification)
                elif isinstance(event, Notification):
                    self._show(event)

    def _show(self, notification):
        if notification.title.startswith(self.prefix):
            self.shown.append(notification)

    async def wait_for(self, ids, timeout: float) -> float:
        """Wait until every id is shown; return how long it took."""
        started = time.monotonic()
        wanted = set(ids)
        while not wanted <= {n.id for n in self.shown}:
            if time.monotonic() - started > timeout:
                missing = sorted(wanted - {n.id for n in self.shown})
                raise AssertionError(f"{len(missing)} notifications never shown: {missing[:20]}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    def assert_exactly_once_in_order(self, ids):
        shown_ids = [n.id for n in self.shown]
        assert sorted(shown_ids) == sorted(set(ids)), "lost or extra notifications"
        assert len(shown_ids) == len(set(shown_ids)), "a notification was shown twice"
        seqs = [seq_of(n.cursor) for n in self.shown]
        assert seqs == sorted(seqs), "shown out of log order"

    async def stop(self):
        if self._client is not None:
            await self._client.close()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)


class Publisher:
    """Creates notifications over REST from a thread at a steady rate, round-robin over the
    servers; records what was committed (201) and every failure."""

    def __init__(self, servers, admin_token, *, prefix: str, recipient: dict, rate: float = 20.0):
        self.servers, self.admin_token, self.prefix = servers, admin_token, prefix
        self.recipient, self.rate = recipient, rate
        self.created: list[int] = []
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        i = 0
        while not self._stop.is_set():
            server = self.servers[i % len(self.servers)]
            started = time.monotonic()
            try:
                status, body = server.request("POST", "/api/notifications/",
                                              {"title": f"{self.prefix} {i}", **self.recipient}, self.admin_token)
            except Exception as exc:  # the request itself failed (timeout, refused)
                status, body = None, repr(exc)
            self.latencies.append(time.monotonic() - started)
            if status == 201:
                self.created.append(body["id"])
            else:
                self.failures.append(f"{status}: {str(body)[:120]}")
            i += 1
            self._stop.wait(max(0.0, 1 / self.rate - (time.monotonic() - started)))

    def stop(self):
        self._stop.set()
        self._thread.join(30)


def open_fds(server) -> int:
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


def rss_mb(server) -> float:
    with open(f"/proc/{server.process.pid}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def baseline(servers) -> list[tuple[int, float]]:
    return [(open_fds(s), rss_mb(s)) for s in servers]


async def assert_back_to_baseline(servers, before, *, fd_slack=4, rss_slack_mb=30.0, settle=1.0):
    """Open file descriptors and memory of each server are back where they were (after the
    clients of the scenario left): nothing leaked by the fault."""
    import asyncio

    await asyncio.sleep(settle)
    for (fds, rss), server in zip(before, servers):
        assert open_fds(server) <= fds + fd_slack, f"file descriptors leaked: {fds} -> {open_fds(server)}"
        assert rss_mb(server) <= rss + rss_slack_mb, f"memory kept growing: {rss:.0f} -> {rss_mb(server):.0f} MB"
