"""What every persistent stream shares, notifications included: authorize, subscribe, read the
log, send the snapshot (or what was missed after ``?cursor=``), go live; catch up after a
broker reconnect; close when a control event revokes the user's access.

One catch-up and overflow policy for every stream (docs/protocol.md, "What a connect sends"):
up to RESUME_LIMIT missed entries are replayed one frame each; more than that is a
``cursor_expired`` error followed by a fresh snapshot, at connect and after a broker reconnect
alike; a log that cannot be read after a reconnect closes the socket with 1013.

A subclass names its frames and implements the hooks; it stays a page long.
"""


import asyncio

from django.db import OperationalError

from clarion.conf import clarion_settings
from clarion.dbthreads import db_sync_to_async
from clarion.protocol import CloseCode, ErrorCode, ProtocolError, encode_cursor
from clarion.protocol.frames import ServerFrameType
from clarion.realtime import relay
from clarion.realtime.consumers.base import ClarionConsumer


_LOCKED_RETRIES = 5


class LogStreamConsumer(ClarionConsumer):
    snapshot_type: str = ""  # frame sent first on every connect
    item_type: str = ""  # frame of one log entry
    items_key: str = "items"  # name of the list in the snapshot frame
    entries = "entries"  # what the log holds, in the cursor_expired message
    older_hint = ""  # where older entries can be paged, in the cursor_expired message
    authorizes = True  # False: any authenticated user may open it (resolve is not called)

    # -- hooks ------------------------------------------------------------------------

    def resolve(self) -> CloseCode | None:
        """Runs in a worker thread: validate the path, load the stream, check access.
        Return a close code to refuse, None to go on (and set what the other hooks need)."""
        raise NotImplementedError

    def group_names(self) -> list[str]:
        raise NotImplementedError

    def read(self, after):
        """Runs in a worker thread: a clarion.streams.read.LogSnapshot of item payloads."""
        raise NotImplementedError

    def snapshot_extra(self) -> dict:
        """Fields of the snapshot frame besides the items and the cursor (runs in a thread)."""
        return {}

    def read_snapshot(self, after):
        """Runs in a worker thread: (LogSnapshot, extra fields). Override when the extra
        fields come from the same read as the items (the notification log's unread count)."""
        return self.read(after), self.snapshot_extra()

    def without_skipped(self, extra: dict, skipped: list) -> dict:
        """The extra fields once ``skipped`` items (unencodable, parked) are left out."""
        return extra

    async def admitted(self) -> CloseCode | None:
        """After ``resolve`` allowed the socket, before it subscribes: a close code to refuse
        it for what the user did, not who they are (too many joins)."""
        return None

    async def went_live(self) -> None:
        """The snapshot is sent and live frames flow (presence announces itself here)."""

    async def still_allowed(self) -> bool:
        if not self.authorizes:
            return True
        return await db_sync_to_async(self.resolve)() is None

    # -- connect ----------------------------------------------------------------------

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse(CloseCode.UNAUTHORIZED)
        self.user = user
        self.user_id = user.pk
        self.role = self.scope.get("clarion_role")
        refusal = await db_sync_to_async(self.resolve)() if self.authorizes else None
        if refusal is None:
            refusal = await self.admitted()
        if refusal is not None:
            return await self.refuse(refusal)
        relay.ensure_started()

        raw_cursor, after, cursor_error = self.requested_cursor()

        await self.join(self.group_names(), on_resync=self.catch_up, on_control=self.on_control)
        await self.open()
        snap, extra = await self._read_snapshot(after)
        if cursor_error is not None:
            await self.send_error(cursor_error)
        await self._send_snapshot(snap, extra, raw_cursor)
        self.ready(snap.head)
        await self.went_live()

    async def _read_snapshot(self, after):
        """The snapshot, read again when SQLite answers "table is locked": connections sharing a
        cache (an in-memory database) get that at once during another's write instead of waiting
        for it as a file database does; the write is a commit away from done."""
        for attempt in range(_LOCKED_RETRIES):
            try:
                return await db_sync_to_async(self.read_snapshot)(after)
            except OperationalError as exc:
                if "locked" not in str(exc) or attempt == _LOCKED_RETRIES - 1:
                    raise
                await asyncio.sleep(0.02 * (attempt + 1))

    async def _send_snapshot(self, snap, extra, raw_cursor) -> None:
        if snap.cursor_expired:
            await self._cursor_expired(snap.expired_because)
        if snap.missed is None:
            await self._send_fresh(snap, extra)
            return
        await self.send_frame(self.snapshot_type, {
            **extra, self.items_key: [], "resumed": True,
            "cursor": raw_cursor if snap.missed else encode_cursor(snap.head),
        })
        await self.send_item_frames(self.item_type, snap.missed)

    async def _send_fresh(self, snap, extra) -> None:
        data = {**extra, self.items_key: snap.recent, "cursor": encode_cursor(snap.head)}
        await self.send_items_frame(self.snapshot_type, data, self.items_key,
                                    adjust=lambda skipped: self.without_skipped(extra, skipped))

    async def _cursor_expired(self, because: str = "") -> None:
        if because == "retention":
            why = f"the cursor is older than the {self.entries} kept (retention); sending a fresh snapshot"
        else:
            why = f"more than {clarion_settings.RESUME_LIMIT} {self.entries} were missed; sending a fresh snapshot"
        await self.send_error(ProtocolError(ErrorCode.CURSOR_EXPIRED, f"{why}{self.older_hint}"))

    async def catch_up(self):
        """The broker reconnected and may have lost events: send what this socket missed
        since the last position it was sent, or, past RESUME_LIMIT, a fresh snapshot."""
        try:
            snap, extra = await db_sync_to_async(self.read_snapshot)(self.subscription.last_seq)
        except Exception:
            # Cannot read the log now: let the client reconnect and resume by cursor.
            await self.close(code=int(CloseCode.TRY_AGAIN_LATER))
            return
        if snap.missed is None:
            await self._cursor_expired(snap.expired_because)
            await self._send_fresh(snap, extra)
        else:
            await self.send_item_frames(self.item_type, snap.missed)
        self.ready(snap.head)

    async def on_control(self, payload: dict) -> None:
        if payload.get("action") == "gone":  # the stream was deleted: as if it never existed
            await self.close(code=int(CloseCode.NOT_FOUND))
            return
        if payload.get("action") == "revoke" and payload.get("user_id") == self.user_id:
            if not await self.still_allowed():
                await self.close(code=int(CloseCode.FORBIDDEN))

    async def on_ping(self, frame):
        await self.send_frame(ServerFrameType.PONG)
