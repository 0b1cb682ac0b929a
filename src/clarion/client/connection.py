"""The client: one background task keeps a socket open, resumes by cursor, and feeds ``events()``.

The connection loop, in short: get a token, open the socket (``Authorization: Bearer``, no
``Origin``: the non-browser way in docs/protocol.md), read frames until the socket closes, then
decide from the close code (``should_reconnect``) whether to reconnect, with backoff, from the
last cursor. A connection counts as working once its first frame arrives: only then is the
backoff reset and are queued actions sent, because the server closes a refused credential with
4401 right after accepting the handshake.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from clarion.client.actions import (
    MARK_ALL_AS_READ,
    MARK_ALL_SEEN,
    PING,
    PendingActions,
    ack_frame,
    ids_frames,
    mark_as_read_frames,
)
from clarion.client import polling
from clarion.client.backoff import Backoff
from clarion.client.dedupe import SeenIds
from clarion.client.errors import AuthenticationError, ClientError, ConnectFailed, StreamClosed, describe
from clarion.client.events import (
    Connected,
    Disconnected,
    Event,
    FrameError,
    Notification,
    Pong,
    RecentNotifications,
    UnknownFrame,
    describe_close,
    parse_frame,
)
from clarion.protocol import CloseCode, should_reconnect

logger = logging.getLogger("clarion.client")

NOTIFICATIONS_PATH = "/ws/notifications/"
ACK_INTERVAL = 1.0  # seconds: the protocol's "at most one ack a second per socket"

TokenProvider = Callable[[], Awaitable[str] | str]

_END = object()  # queued after the last event; events() ends (or raises) when it reads it


def _unreachable(error: BaseException) -> bool:
    """Whether no TCP connection was made: refused, no route, no such host."""
    if isinstance(error, (ConnectionRefusedError, socket.gaierror)):
        return True
    return isinstance(error, OSError) and error.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH)


class _AttemptFailed(Exception):
    """One connection attempt failed in a way the next attempt may not (server down, timeout).
    ``handshake``: the WebSocket handshake itself failed (what counts toward polling)."""

    def __init__(self, message: str, *, handshake: bool = False):
        super().__init__(message)
        self.handshake = handshake


class _TrySocket(Exception):
    """Polling ran ``retry_interval``: time to try the WebSocket again."""


class Client:
    """An asyncio client for one Clarion stream (by default ``/ws/notifications/``).

    Give either ``token`` (a fixed access token: a 4401 stops the client) or ``token_provider``
    (a callable, sync or async, returning an access token; called before every connection
    attempt, so that reconnects use a token that is valid then). Use it as an async context
    manager and read ``events()``::

        async with Client("ws://127.0.0.1:8000", token_provider=get_token) as client:
            async for event in client.events():
                if isinstance(event, Notification):
                    ...
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        token_provider: TokenProvider | None = None,
        path: str = NOTIFICATIONS_PATH,
        cursor: str | None = None,
        backoff: Backoff | None = None,
        heartbeat_interval: float | None = 20.0,
        heartbeat_timeout: float = 10.0,
        dedupe_size: int = 10_000,
        max_pending_actions: int = 100,
        max_queued_events: int = 1000,
        open_timeout: float = 10.0,
        max_frame_bytes: int = 2**24,
        acknowledge: bool = True,
        fallback: polling.Polling | None = polling.Polling(),
    ):
        if (token is None) == (token_provider is None):
            raise ValueError("give exactly one of token and token_provider")
        if heartbeat_interval is not None and (heartbeat_interval <= 0 or heartbeat_timeout <= 0):
            raise ValueError("heartbeat_interval and heartbeat_timeout must be positive")
        if max_queued_events < 1:
            raise ValueError("max_queued_events must be at least 1")
        self._base = _base_url(url)
        self._path = "/" + path.lstrip("/")
        self._token = token
        self._token_provider = token_provider
        self._cursor = cursor
        self._backoff = backoff or Backoff()
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = heartbeat_timeout
        self._seen = SeenIds(dedupe_size)
        self._pending = PendingActions(max_pending_actions)
        self._open_timeout = open_timeout
        self._max_frame_bytes = max_frame_bytes
        # Delivery receipts (the ``ack`` frame): on the notification stream only, at most one a
        # second, carrying the furthest cursor received (the server keeps the furthest anyway).
        self._acknowledge = acknowledge and self._path == NOTIFICATIONS_PATH
        self._ack_cursor: str | None = None
        self._acked: str | None = None
        self._last_ack = float("-inf")
        self._ack_task: asyncio.Task | None = None

        # Unbounded queue, bounded by the semaphore: the end marker must always fit, even when
        # the consumer stopped reading; events take a slot, the marker does not.
        self._queue: asyncio.Queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(max_queued_events)
        self._task: asyncio.Task | None = None
        self._ws = None
        self._ready = False  # the current socket delivered its first frame
        self._delivering = False  # the reader waits for the consumer, not for the server
        self._heartbeat_failure: str | None = None
        self._error: ClientError | None = None
        self._closed = False
        # Polling when handshakes keep failing: the notification stream only (the one REST resumes).
        self._fallback = fallback if self._path == NOTIFICATIONS_PATH else None
        scheme, netloc, base_path = self._base
        self._rest = polling.Rest(urlunsplit(({"ws": "http", "wss": "https"}[scheme], netloc, base_path, "", "")),
                                  timeout=open_timeout)
        self._transport = "websocket"

    # -- public API -----------------------------------------------------------------

    @property
    def cursor(self) -> str | None:
        """The position of the last frame received (its event may still be queued)."""
        return self._cursor

    @property
    def stream_url(self) -> str:
        scheme, netloc, base_path = self._base
        return urlunsplit((scheme, netloc, base_path + self._path, "", ""))

    @property
    def connected(self) -> bool:
        return self._ready

    @property
    def transport(self) -> str:
        """``websocket``, or ``polling`` while WebSocket handshakes fail (see ``fallback``)."""
        return self._transport

    def start(self) -> None:
        if self._closed:
            raise ClientError("the client is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="clarion-client")

    async def __aenter__(self) -> "Client":
        self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def events(self) -> AsyncIterator[Event]:
        """Every event, in order. Ends after ``close()``; raises a ClientError when the client
        stops on its own (refused credentials, a terminal close code, attempts exhausted)."""
        if not self._closed:
            self.start()
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # a second iterator, or the next call, ends too
                if self._error is not None:
                    raise self._error
                return
            self._slots.release()
            yield item

    async def mark_as_read(self, ids: Iterable[int]) -> None:
        """Send ``mark_as_read`` now, or after reconnecting. The server answers with a
        ``NotificationsRead`` event (and a ``ServerError`` ``not_found`` for ids it does not know)."""
        await self._act(mark_as_read_frames(ids))

    async def mark_all_as_read(self) -> None:
        await self._act([MARK_ALL_AS_READ])

    # The inbox actions (issue 13): answered by a NotificationsState event to every tab. Each
    # takes ids, or group_key= for every notification of one group.

    async def mark_seen(self, ids: Iterable[int] | None = None, *, group_key: str | None = None) -> None:
        await self._act(ids_frames("mark_seen", ids, group_key=group_key))

    async def mark_all_seen(self) -> None:
        await self._act([MARK_ALL_SEEN])

    async def archive(self, ids: Iterable[int] | None = None, *, group_key: str | None = None) -> None:
        await self._act(ids_frames("archive", ids, group_key=group_key))

    async def unarchive(self, ids: Iterable[int] | None = None, *, group_key: str | None = None) -> None:
        await self._act(ids_frames("unarchive", ids, group_key=group_key))

    async def mark_unread(self, ids: Iterable[int] | None = None, *, group_key: str | None = None) -> None:
        await self._act(ids_frames("mark_unread", ids, group_key=group_key))

    async def snooze(self, ids: Iterable[int] | None = None, *, until, group_key: str | None = None) -> None:
        """Out of the inbox until ``until`` (an aware datetime or ISO 8601 text), then back as new."""
        await self._act(ids_frames("snooze", ids, group_key=group_key, until=until))

    async def close(self) -> None:
        """Close the socket with 1000 and stop; ``events()`` ends. Queued actions are dropped."""
        if self._closed:
            return
        self._closed = True
        task = self._task
        if task is None:
            self._queue.put_nowait(_END)
        elif not task.done():
            task.cancel()
            await asyncio.wait({task})  # the loop closes its socket on the way out

    # -- connection loop ------------------------------------------------------------

    async def _run(self) -> None:
        refused_in_a_row = 0
        handshakes_failed = 0  # in a row: at ``fallback.after_failures``, poll instead
        try:
            while True:
                poll = self._fallback is not None and handshakes_failed >= self._fallback.after_failures
                try:
                    code, reason, worked = await (self._poll_session() if poll else self._session())
                    if not poll:
                        handshakes_failed = 0  # the handshake completed: WebSockets get through
                except _TrySocket:
                    # One attempt: if its handshake fails too, polling goes on at once.
                    handshakes_failed = self._fallback.after_failures - 1
                    continue
                except _AttemptFailed as failure:
                    code, reason, worked = None, str(failure), False
                    if failure.handshake:
                        handshakes_failed += 1
                        if self._fallback is not None and handshakes_failed == self._fallback.after_failures:
                            continue  # poll now: the next handshake would most likely fail the same way
                if code == CloseCode.UNAUTHORIZED:
                    refused_in_a_row += 1
                    self._check_refusal(refused_in_a_row)
                else:
                    refused_in_a_row = 0
                    if not should_reconnect(code):
                        raise StreamClosed(code, f"the stream {self.stream_url} was {describe_close(code, reason)}; "
                                                 "not reconnecting")
                if not worked:
                    self._backoff.failed()
                delay = self._backoff.delay()
                if delay is None:
                    raise ConnectFailed(f"gave up after {self._backoff.failures} failed connection attempts "
                                        f"in a row; the last: {describe_close(code, reason)}")
                if poll:  # a failed poll: never poll faster than the interval
                    delay = max(delay, self._fallback.interval)
                await self._deliver(Disconnected(code, reason, delay))
                await asyncio.sleep(delay)
        except ClientError as error:
            self._error = error
        except Exception as error:  # a bug must end events(), not hang it
            # At debug level: the error itself reaches the caller as a one-line ClientError,
            # and a command-line tool built on this must not print tracebacks.
            logger.debug("clarion client stopped by an unexpected error", exc_info=True)
            self._error = ClientError(f"the client failed: {type(error).__name__}: {error}")
        finally:
            self._queue.put_nowait(_END)

    def _check_refusal(self, refused_in_a_row: int) -> None:
        if self._token_provider is None:
            raise AuthenticationError("the server refused the token (4401): it is invalid or expired, "
                                      "or the user is inactive")
        # Once is an expired token the provider had cached; twice in a row with fresh tokens
        # is a user or a signing key that no new token will fix.
        if refused_in_a_row >= 2:
            raise AuthenticationError("the server refused two tokens in a row from the token provider "
                                      "(4401): the user is inactive or the tokens are not valid on "
                                      "this server")

    async def _session(self) -> tuple[int | None, str, bool]:
        """One connection, from the token to the close: the close code, the reason, and whether
        the connection worked (delivered a frame)."""
        token = await self._get_token()
        url = self._url()
        try:
            ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                               open_timeout=self._open_timeout, ping_interval=None, close_timeout=5,
                               max_size=self._max_frame_bytes)
        except InvalidStatus as error:
            status = error.response.status_code
            if 400 <= status < 500 and status not in (408, 429):
                raise ConnectFailed(f"the server refused the WebSocket handshake at {url} with HTTP {status}")
            raise _AttemptFailed(f"handshake answered HTTP {status}", handshake=True) from None
        except (OSError, TimeoutError, InvalidHandshake) as error:
            # Only what fails after the server was reached counts toward polling: a server that
            # refuses connections is down (a restart), and its REST API would refuse the same.
            raise _AttemptFailed(describe(error), handshake=not _unreachable(error)) from None

        self._ws = ws
        self._transport = "websocket"
        self._heartbeat_failure = None
        activity = asyncio.Event()
        heartbeat = None
        if self._heartbeat_interval is not None:
            heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(ws, activity))
        try:
            await self._deliver(Connected(url, self._cursor))
            while True:
                text = await ws.recv()
                activity.set()
                await self._handle(text)
                activity.set()
        except ConnectionClosed as closed:
            # Raised by recv(), or by a send while flushing queued actions.
            if self._heartbeat_failure:
                return None, self._heartbeat_failure, self._ready
            if closed.rcvd is None:
                return None, "connection lost", self._ready
            return closed.rcvd.code, closed.rcvd.reason, self._ready
        finally:
            self._ws = None
            self._ready = False
            if self._ack_task is not None:
                self._ack_task.cancel()
                await asyncio.gather(self._ack_task, return_exceptions=True)
                self._ack_task = None
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            # Normally already closed by the server; on close() or an error, a clean 1000.
            await ws.close()

    async def _poll_session(self) -> tuple[int | None, str, bool]:
        """Polling, from the token until ``retry_interval`` has passed (raises _TrySocket) or a
        poll fails: then the close code a socket would have had, the reason, and whether a poll
        was answered."""
        token = await self._get_token()
        loop = asyncio.get_running_loop()
        until = loop.time() + self._fallback.retry_interval
        first = True
        self._transport = "polling"
        try:
            while True:
                try:
                    if self._cursor is None:
                        frames, position = await polling.snapshot(self._rest, token)
                    else:
                        try:
                            frames, position = await polling.read_after(
                                self._rest, token, self._cursor, self._fallback.page_size, resumed=first)
                        except polling.CursorRefused as refused:
                            # What a socket says of a cursor it did not issue, then a fresh snapshot.
                            error = json.dumps({"type": "error", "data": {"code": "invalid_cursor", "message": (
                                f"{refused}; sending a fresh snapshot instead")}})
                            frames, position = await polling.snapshot(self._rest, token)
                            frames = [error, *frames]
                except polling.HttpError as error:
                    if error.status == 401:
                        return int(CloseCode.UNAUTHORIZED), "poll refused: 401", not first
                    if error.status in (403, 404):
                        raise ConnectFailed(f"polling {self._rest.url('/api/notifications/')} answered HTTP "
                                            f"{error.status}: is this a Clarion server with polling resume?")
                    return int(CloseCode.TRY_AGAIN_LATER), f"poll answered HTTP {error.status}", not first
                except polling.Unreachable as error:
                    return None, f"poll failed: {error}", not first
                if first:
                    await self._deliver(Connected(self._rest.url("/api/notifications/"), self._cursor, "polling"))
                for text in frames:
                    await self._handle(text)
                self._cursor = position  # past what this reader cannot see, as a resumed socket is
                first = False
                await self._flush_pending()
                if loop.time() + self._fallback.interval > until:
                    raise _TrySocket()
                await asyncio.sleep(self._fallback.interval)
        finally:
            self._ready = False

    async def _get_token(self) -> str:
        if self._token_provider is None:
            return self._token
        try:
            token = self._token_provider()
            if inspect.isawaitable(token):
                token = await token
        except ClientError:
            raise
        except Exception as error:
            # The provider may be down for the same reason the server is (a restart): retry.
            raise _AttemptFailed(f"the token provider failed: {describe(error)}") from None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"the token provider returned {type(token).__name__}, not a token")
        return token

    def _url(self) -> str:
        query = urlencode({"cursor": self._cursor}) if self._cursor else ""
        return self.stream_url + (f"?{query}" if query else "")

    async def _heartbeat(self, ws, activity: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            activity.clear()
            await ws.send(PING)
            while True:
                try:
                    await asyncio.wait_for(activity.wait(), self._heartbeat_timeout)
                    break
                except TimeoutError:
                    # A reader blocked on a slow consumer is not a dead server: wait on.
                    if not self._delivering:
                        self._heartbeat_failure = f"no frame within {self._heartbeat_timeout:g}s of a ping"
                        # abort, not close: a dead peer would never answer the closing handshake.
                        ws.transport.abort()
                        return

    async def _handle(self, text) -> None:
        try:
            event = parse_frame(text)
        except FrameError as error:
            logger.warning("ignoring a frame from %s: %s", self._path, error)
            return
        cursor = _cursor_of(event)
        if cursor is not None:
            self._cursor = cursor
        if not self._ready:
            # Any frame proves the credential was accepted (a refusal is a close, not a frame).
            self._ready = True
            self._backoff.reset()
            await self._flush_pending()
        if isinstance(event, RecentNotifications):
            for notification in event.notifications:
                self._seen.add(notification.id)
        elif isinstance(event, Notification):
            if not self._seen.add(event.id):
                logger.debug("dropping a second delivery of notification %s", event.id)
                return
        elif isinstance(event, Pong):
            return
        if self._acknowledge:
            # What was received: a live notification, or a snapshot's newest item (not the
            # snapshot's own cursor, which also covers older unread items it did not carry).
            received = event.cursor if isinstance(event, Notification) else (
                event.notifications[0].cursor if isinstance(event, RecentNotifications) and event.notifications
                else None)
            if received:
                self._acknowledge_later(received)
        await self._deliver(event)

    def _acknowledge_later(self, cursor: str) -> None:
        self._ack_cursor = cursor
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.get_running_loop().create_task(self._send_ack(self._ws))

    async def _send_ack(self, ws) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_ack + ACK_INTERVAL - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)  # what arrives meanwhile goes out in this one ack
        cursor = self._ack_cursor
        if cursor is None or cursor == self._acked or ws is None or ws is not self._ws:
            return
        try:
            await ws.send(ack_frame(cursor))
        except ConnectionClosed:
            return  # the next connection resumes from the cursor and acknowledges again
        self._acked, self._last_ack = cursor, loop.time()

    async def _deliver(self, event) -> None:
        self._delivering = True
        try:
            await self._slots.acquire()
        finally:
            self._delivering = False
        self._queue.put_nowait(event)

    # -- actions --------------------------------------------------------------------

    async def _act(self, frames: list[str]) -> None:
        if self._closed:
            raise ClientError("the client is closed")
        if self._ready and self._transport == "polling" and not len(self._pending):
            self._pending.add(frames)
            await self._flush_pending()
            return
        ws = self._ws
        if self._ready and ws is not None and not len(self._pending):
            try:
                for index, frame in enumerate(frames):
                    await ws.send(frame)
                return
            except ConnectionClosed:
                frames = frames[index:]  # the frames not sent wait for the next connection
        self._pending.add(frames)

    async def _flush_pending(self) -> None:
        # A frame leaves the queue only once sent: if the socket drops meanwhile, it waits on.
        while len(self._pending):
            if self._transport == "polling":
                # Over REST, its answer handed over as the frame the socket would have pushed; a
                # request that fails leaves it queued for the next poll (or the next socket).
                try:
                    answers = await polling.carry(self._rest, await self._get_token(), self._pending.peek())
                except (polling.HttpError, polling.Unreachable, _AttemptFailed):
                    return
                self._pending.pop()
                for text in answers:
                    await self._handle(text)
                continue
            await self._ws.send(self._pending.peek())
            self._pending.pop()


def _base_url(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"expected a ws://, wss://, http:// or https:// server address, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the server address takes no query or fragment: {url!r}")
    return scheme, parts.netloc, parts.path.rstrip("/")


def _cursor_of(event) -> str | None:
    # Same rule for every stream: keep the cursor of the last frame that carried one.
    if isinstance(event, (RecentNotifications, Notification)):
        return event.cursor
    if isinstance(event, UnknownFrame) and isinstance(event.data, dict):
        cursor = event.data.get("cursor")
        return cursor if isinstance(cursor, str) and cursor else None
    return None


