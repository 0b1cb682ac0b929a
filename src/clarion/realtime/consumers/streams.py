"""What every persistent stream beside notifications shares: authorize, subscribe, read the
log, send the snapshot (or what was missed after ``?cursor=``), go live; catch up after a
broker reconnect; close when a control event revokes the user's access.

A subclass names its frames and implements the hooks; it stays a page long.
"""

from channels.db import database_sync_to_async

from clarion.conf import clarion_settings
from clarion.protocol import CloseCode, ErrorCode, ProtocolError, encode_cursor
from clarion.protocol.frames import ServerFrameType
from clarion.realtime import relay
from clarion.realtime.consumers.base import ClarionConsumer


class LogStreamConsumer(ClarionConsumer):
    snapshot_type: str = ""  # frame sent first on every connect
    item_type: str = ""  # frame of one log entry
    items_key: str = "items"  # name of the list in the snapshot frame

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

    async def admitted(self) -> CloseCode | None:
        """After ``resolve`` allowed the socket, before it subscribes: a close code to refuse
        it for what the user did, not who they are (too many joins)."""
        return None

    async def went_live(self) -> None:
        """The snapshot is sent and live frames flow (presence announces itself here)."""

    async def still_allowed(self) -> bool:
        return await database_sync_to_async(self.resolve)() is None

    # -- connect ----------------------------------------------------------------------

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse(CloseCode.UNAUTHORIZED)
        self.user = user
        self.user_id = user.pk
        self.role = self.scope.get("clarion_role")
        refusal = await database_sync_to_async(self.resolve)()
        if refusal is None:
            refusal = await self.admitted()
        if refusal is not None:
            return await self.refuse(refusal)
        relay.ensure_started()

        raw_cursor, after, cursor_error = self.requested_cursor()

        await self.join(self.group_names(), on_resync=self.catch_up, on_control=self.on_control)
        await self.open()
        snap, extra = await database_sync_to_async(self._read_with_extra)(after)
        if cursor_error is not None:
            await self.send_error(cursor_error)
        await self._send_snapshot(snap, extra, raw_cursor)
        self.ready(snap.head)
        await self.went_live()

    def _read_with_extra(self, after):
        return self.read(after), self.snapshot_extra()

    async def _send_snapshot(self, snap, extra, raw_cursor) -> None:
        if snap.cursor_expired:
            await self.send_error(ProtocolError(
                ErrorCode.CURSOR_EXPIRED,
                f"more than {clarion_settings.RESUME_LIMIT} entries were missed; sending a fresh snapshot",
            ))
        if snap.missed is None:
            await self.send_items_frame(self.snapshot_type,
                                        {**extra, self.items_key: snap.recent, "cursor": encode_cursor(snap.head)},
                                        self.items_key)
            return
        await self.send_frame(self.snapshot_type, {
            **extra, self.items_key: [], "resumed": True,
            "cursor": raw_cursor if snap.missed else encode_cursor(snap.head),
        })
        await self.send_item_frames(self.item_type, snap.missed)

    async def catch_up(self):
        """The broker reconnected and may have lost events: send what this socket missed."""
        try:
            snap = await database_sync_to_async(self.read)(self.subscription.last_seq)
        except Exception:
            await self.close(code=int(CloseCode.TRY_AGAIN_LATER))
            return
        if snap.missed is None:
            # Too much missed to replay: the client reconnects and gets a fresh snapshot.
            await self.close(code=int(CloseCode.TRY_AGAIN_LATER))
            return
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
