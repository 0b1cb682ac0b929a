"""WebSocket mechanics shared by every Clarion endpoint, written once.

A subclass declares its ``endpoint`` name and a ``handlers`` table mapping client frame
classes to method names, and implements ``connect``. The base enforces the frame size
limit (1009), refuses binary frames (1003), decodes and validates JSON, dispatches, and
turns every refusal into an ``error`` frame: a bad frame never costs the socket or the worker.
It also enforces the abuse limits of clarion.realtime.limits (connections per user and per
address, frames per second: 4029) and ends the socket with 4401 when its credential expires or
the user's sessions are ended (clarion.auth.revocation); docs/security.md.
"""

import asyncio
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from clarion.auth import revocation
from clarion.conf import clarion_settings
from clarion.observability import metrics
from clarion.realtime import limits, runtime
from clarion.realtime.hub import get_hub
from clarion.realtime.outbox import Outbox
from clarion.protocol import (
    CloseCode,
    ErrorCode,
    InvalidCursor,
    ProtocolError,
    decode_cursor,
    decode_client_frame,
    encode_frame,
    server_frame,
)
from clarion.protocol.frames import CLIENT_FRAMES, ENCODE_ERRORS, ServerFrameType, encode_frame_skipping

logger = logging.getLogger("clarion.consumers")

_FRAMES_IN: dict = {}


def _frames_in(endpoint: str):
    """The frames-in counter of an endpoint, looked up once: labels() takes a lock and builds a
    key on every call, on the path of every inbound frame."""
    counter = _FRAMES_IN.get(endpoint)
    if counter is None:
        counter = _FRAMES_IN[endpoint] = metrics.FRAMES_IN.labels(endpoint=endpoint)
    return counter


class ClarionConsumer(AsyncWebsocketConsumer):
    endpoint = "base"
    # client frame class -> name of the coroutine method handling it
    handlers: dict = {}
    client_frames = CLIENT_FRAMES
    # No per-socket channel-layer channel: the process's hub delivers (clarion.realtime.hub).
    channel_layer_alias = "__clarion_hub_only__"

    subscription = None
    _counted = False
    _slot = None  # this socket's place in the connection limits
    _bucket = None  # its frame allowance
    _expiry = None  # timer closing it when its credential expires
    _ending = False  # closed by a limit: later frames are dropped unread

    async def websocket_connect(self, message):
        # A process holding sockets can deliver through the in-process broker; one that only
        # imported the ASGI module (a script, a worker) cannot, and leaves that to the relay.
        runtime.mark_serving()
        self.hub = get_hub()
        self.outbox = Outbox(self.base_send, limit=clarion_settings.OUTBOX_LIMIT, on_overflow=self._too_slow)
        refusal = self.scope.get("clarion_refusal")  # set by the auth middleware (cool-down)
        if refusal is None:
            self._slot, refusal = await limits.admit(self.scope)
        if refusal is not None:
            # debug, not info: a flood must not become a flood of log lines (the refusal is
            # counted in clarion_refused_connections_total{code="4029"})
            logger.debug("refusing a %s socket: connection limit or cool-down", self.endpoint)
            await self.refuse(refusal)
            return
        self._bucket = limits.message_bucket()
        if self.scope.get("clarion_unavailable"):
            await self.refuse(CloseCode.TRY_AGAIN_LATER)  # the database could not be asked
            return
        try:
            await super().websocket_connect(message)
        except DatabaseError:
            # The database went away during the connect: the client backs off and resumes.
            logger.warning("refusing a %s socket: the database is unavailable", self.endpoint)
            if self._counted:
                await self.close(code=int(CloseCode.TRY_AGAIN_LATER))
            else:
                await self.refuse(CloseCode.TRY_AGAIN_LATER)

    async def __call__(self, scope, receive, send):
        # Channels' loop (await_many_dispatch) waits on a fresh task per message with
        # asyncio.wait, built to listen to a channel layer too. Clarion's sockets have none (the
        # hub delivers), so one await on the socket's receive does the same: a fifth of the cost
        # of each inbound frame, which 10,000 sockets acknowledging a broadcast pay 10,000 times
        # (docs/benchmarks.md, Delivery).
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message):
        # Channels' dispatch hops to a thread to close stale database connections before every
        # message. Clarion touches the database only through db_sync_to_async, which does
        # that itself, so the extra hop only cost time (a third of a connect's thread hops).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    def requested_cursor(self):
        """The ``?cursor=`` of the connect: (raw text, decoded position, error to report).

        A cursor the server did not issue is not fatal: the socket gets a fresh snapshot and
        an ``invalid_cursor`` error frame telling the client why."""
        raw = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("cursor", [None])[0]
        if raw is None:
            return None, None, None
        try:
            return raw, decode_cursor(raw), None
        except InvalidCursor as exc:
            return raw, None, ProtocolError(ErrorCode.INVALID_CURSOR, f"{exc}; sending a fresh snapshot instead")

    # -- connection lifecycle -------------------------------------------------------

    async def refuse(self, code: CloseCode) -> None:
        """Accept, then close with a code the client can read (a refused handshake has none)."""
        metrics.REFUSED.labels(endpoint=self.endpoint, code=str(int(code))).inc()
        await self.accept()
        await self.close(code=int(code))

    async def open(self) -> None:
        await self.accept()
        metrics.CONNECTIONS.labels(endpoint=self.endpoint).inc()
        self._counted = True
        self._close_when_credential_expires()

    async def join(self, group_names, on_resync, on_control=None) -> None:
        """Subscribe this socket to hub groups; hold their events until ``ready``.

        Ending the user's sessions must reach this socket: the control event goes to the
        user's notification group and to their sessions group, and a socket not in the first
        joins the second (control events only; ``on_control`` sees every other control event).
        So a notifications socket, the common case, subscribes to no extra group."""
        self._on_stream_control = on_control
        self.subscription = self.hub.attach(self.outbox, on_resync, self._on_control)
        group_names = list(group_names)
        await self.hub.join(self.subscription, [*group_names, *self._session_groups(group_names)])

    def _session_groups(self, group_names) -> list[str]:
        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            return []
        if revocation.user_group(user.pk) in group_names:
            return []
        return [revocation.sessions_group(user.pk)]

    async def _on_control(self, payload: dict) -> None:
        if payload.get("action") == revocation.END_SESSIONS:
            user = self.scope.get("user")
            credential = self.scope.get("clarion_credential")
            if user is None or str(payload.get("user_id")) != str(user.pk):
                return
            if self._ended_by(payload, credential):
                logger.info("closing a %s socket: the user's sessions were ended", self.endpoint)
                await self.close(code=int(CloseCode.UNAUTHORIZED))
            return
        handler = getattr(self, "_on_stream_control", None)
        if handler is not None:
            await handler(payload)

    @staticmethod
    def _ended_by(payload: dict, credential) -> bool:
        """Whether an end-sessions event covers this socket: one naming a web UI session ends
        the sockets of that session; any other, those authenticated before its instant."""
        ui_session = payload.get("ui_session")
        if ui_session:
            return credential is not None and credential.ui_session == ui_session
        checked_at = credential.checked_at if credential is not None else 0.0
        return checked_at < float(payload.get("at") or 0)

    def _close_when_credential_expires(self) -> None:
        credential = self.scope.get("clarion_credential")
        if credential is None or credential.expires_at is None:
            return
        delay = max(0.0, credential.expires_at - time.time())
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(delay, lambda: loop.create_task(self._credential_expired()))

    async def _credential_expired(self) -> None:
        self._expiry = None
        self._ending = True
        await self.close(code=int(CloseCode.UNAUTHORIZED))

    def ready(self, head: int) -> None:
        """The snapshot up to log position ``head`` is sent: release the held live events."""
        self.hub.mark_ready(self.subscription, head)

    def _too_slow(self) -> None:
        metrics.SLOW_CONSUMERS.inc()
        logger.info("closing a %s socket whose client stopped reading", self.endpoint)
        asyncio.get_running_loop().create_task(self.close(code=int(CloseCode.SLOW_CONSUMER)))

    async def websocket_disconnect(self, message):
        # Channels' own version closes stale database connections in one more hop to its single
        # shared thread: after every socket, so a reconnect storm queued its disconnects there.
        # db_sync_to_async closes them around each call already; the groups it discards are
        # Channels' layer groups, which a Clarion socket never joins (the hub's are left below).
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._slot is not None:
            slot, self._slot = self._slot, None
            await slot.release()
        if self._counted:
            metrics.CONNECTIONS.labels(endpoint=self.endpoint).dec()
            self._counted = False
        if self.subscription is not None:
            await self.hub.detach(self.subscription)
            self.subscription = None

    # -- inbound frames -------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self._ending:
            return
        if self._bucket is not None and self._bucket.take():
            self._ending = True
            await limits.cool_down(self.scope)
            metrics.PROTOCOL_ERRORS.labels(endpoint=self.endpoint, code="rate_limited").inc()
            logger.debug("closing a %s socket that sent more than %s frames per second", self.endpoint,
                         clarion_settings.MESSAGE_RATE)
            await self.close(code=int(CloseCode.RATE_LIMITED))
            return
        if bytes_data is not None:
            await self.close(code=int(CloseCode.UNSUPPORTED_DATA))
            return
        limit = clarion_settings.MAX_FRAME_BYTES
        try:
            size = len(text_data) if len(text_data) > limit else len(text_data.encode())
        except UnicodeEncodeError:  # a lone surrogate: no server decoding UTF-8 delivers one
            await self.send_error(ProtocolError(ErrorCode.INVALID_JSON, "frame is not valid UTF-8 text"))
            return
        if size > limit:
            await self.close(code=int(CloseCode.MESSAGE_TOO_BIG))
            return
        _frames_in(self.endpoint).inc()
        try:
            frame = decode_client_frame(text_data, self.client_frames)
            method_name = self.handlers.get(type(frame))
            if method_name is None:
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{frame.type!r} is not accepted on {self.endpoint}")
            await getattr(self, method_name)(frame)
        except ProtocolError as error:
            await self.send_error(error)
        except Exception:
            logger.exception("handler failed on %s", self.endpoint)
            await self.send_error(ProtocolError(ErrorCode.INTERNAL_ERROR, "the server could not handle this frame"))

    # -- outbound frames ------------------------------------------------------------

    async def send_frame(self, frame_type: str, data=None) -> None:
        await self.send_text(encode_frame(server_frame(frame_type, data)))

    async def send_items_frame(self, frame_type: str, data: dict, items_key: str, adjust=None) -> list:
        """A snapshot frame; items whose stored data cannot be encoded are left out (and
        returned), never the whole frame (the relay parks such rows: docs/protocol.md).
        ``adjust(skipped)``: the other fields of ``data`` once those are left out."""
        text, skipped = encode_frame_skipping(frame_type, data, items_key)
        if skipped:
            metrics.SNAPSHOT_SKIPPED.labels(endpoint=self.endpoint).inc(len(skipped))
            if adjust is not None:
                kept = [item for item in data[items_key] if not any(item is bad for bad in skipped)]
                text = encode_frame(server_frame(frame_type, {**data, **adjust(skipped), items_key: kept}))
        await self.send_text(text)
        return skipped

    async def send_item_frames(self, frame_type: str, items: list) -> None:
        """One frame per item (a resume's replay), skipping items that cannot be encoded."""
        for item in items:
            try:
                text = encode_frame(server_frame(frame_type, item))
            except ENCODE_ERRORS:
                metrics.SNAPSHOT_SKIPPED.labels(endpoint=self.endpoint).inc()
                continue
            await self.send_text(text)

    async def send_text(self, text: str) -> None:
        # Through the outbox, so that replies and live frames keep one order per socket.
        metrics.FRAMES_OUT.labels(endpoint=self.endpoint).inc()
        self.outbox.push(text)

    async def send_error(self, error: ProtocolError) -> None:
        metrics.PROTOCOL_ERRORS.labels(endpoint=self.endpoint, code=str(error.code)).inc()
        await self.send_frame(ServerFrameType.ERROR, error.data())


class UnknownStreamConsumer(ClarionConsumer):
    """Any /ws/ path without a route: closed with 4404 instead of an HTTP 500."""

    endpoint = "unknown"

    async def connect(self):
        await self.refuse(CloseCode.NOT_FOUND)
