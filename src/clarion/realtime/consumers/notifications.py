"""/ws/notifications/: a user's notifications, live, with resume by cursor.

Thin by design: queries and writes live in clarion.notifications, group names in
clarion.realtime.groups. Why subscribe before reading: see clarion.realtime.publish.
"""

from channels.db import database_sync_to_async

from clarion.conf import clarion_settings
from clarion.notifications import queries, services
from clarion.notifications.payloads import annotated_payload
from clarion.protocol import (
    CloseCode,
    ErrorCode,
    MarkAllAsRead,
    MarkAsRead,
    Ping,
    ProtocolError,
    encode_cursor,
)
from clarion.observability import metrics
from clarion.protocol.frames import ServerFrameType, encode_frame, encode_frame_skipping, server_frame
from clarion.realtime import groups, relay
from clarion.realtime.consumers.base import ClarionConsumer


def _snapshot_payloads(user_id, role, after):
    snap = queries.snapshot(
        user_id,
        role,
        after=after,
        recent_limit=clarion_settings.RECENT_LIMIT,
        resume_limit=clarion_settings.RESUME_LIMIT,
    )
    recent = [annotated_payload(n) for n in snap.recent]
    missed = None if snap.missed is None else [annotated_payload(n) for n in snap.missed]
    return snap, recent, missed


class NotificationsConsumer(ClarionConsumer):
    endpoint = "notifications"
    handlers = {Ping: "on_ping", MarkAsRead: "on_mark_as_read", MarkAllAsRead: "on_mark_all_as_read"}

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse(CloseCode.UNAUTHORIZED)
        relay.ensure_started()
        self.user_id = user.pk
        self.role = self.scope.get("clarion_role")

        raw_cursor, after, cursor_error = self.requested_cursor()

        # Subscribe first, read second: anything published after the read arrives live, and
        # the hub drops held events at or below the head we read, as already sent.
        await self.join(groups.groups_of_user(self.user_id, self.role), on_resync=self.catch_up)
        await self.open()
        snap, recent, missed = await database_sync_to_async(_snapshot_payloads)(self.user_id, self.role, after)

        if cursor_error is not None:
            await self.send_error(cursor_error)
        if snap.cursor_expired:
            await self.send_error(
                ProtocolError(
                    ErrorCode.CURSOR_EXPIRED,
                    f"more than {clarion_settings.RESUME_LIMIT} notifications were missed; "
                    "sending a fresh snapshot (page older ones from GET /api/notifications/)",
                )
            )
        if missed is None:
            await self._send_recent(snap, recent)
        else:
            await self._send_resumed(snap, missed, raw_cursor)
        self.ready(snap.head)

    async def _send_recent(self, snap, recent):
        data = {"notifications": recent, "unread_count": snap.unread_count, "cursor": encode_cursor(snap.head)}
        text, skipped = encode_frame_skipping(ServerFrameType.RECENT_NOTIFICATIONS, data, "notifications")
        if skipped:  # rows the relay parks: not shown, so not counted either
            metrics.SNAPSHOT_SKIPPED.labels(endpoint=self.endpoint).inc(len(skipped))
            data = {**data, "notifications": [n for n in recent if not any(n is bad for bad in skipped)],
                    "unread_count": max(0, snap.unread_count - len(skipped))}
            text = encode_frame(server_frame(ServerFrameType.RECENT_NOTIFICATIONS, data))
        await self.send_text(text)

    async def _send_resumed(self, snap, missed, raw_cursor):
        await self.send_frame(
            ServerFrameType.RECENT_NOTIFICATIONS,
            {
                "notifications": [],
                "unread_count": snap.unread_count,
                "cursor": raw_cursor if missed else encode_cursor(snap.head),
                "resumed": True,
            },
        )
        await self.send_item_frames(ServerFrameType.NOTIFICATION, missed)

    async def catch_up(self):
        """The hub may have lost events (its broker reconnected): send what this socket
        missed since the last position it delivered, then go live again."""
        try:
            snap, recent, missed = await database_sync_to_async(_snapshot_payloads)(
                self.user_id, self.role, self.subscription.last_seq
            )
        except Exception:
            # Cannot read the log now: let the client reconnect and resume by cursor.
            await self.close(code=int(CloseCode.TRY_AGAIN_LATER))
            return
        if missed is None:
            await self.send_error(ProtocolError(ErrorCode.CURSOR_EXPIRED, "too much was missed; fresh snapshot"))
            await self._send_recent(snap, recent)
        else:
            await self.send_item_frames(ServerFrameType.NOTIFICATION, missed)
        self.ready(snap.head)

    # -- client frames --------------------------------------------------------------

    async def on_ping(self, frame):
        await self.send_frame(ServerFrameType.PONG)

    async def on_mark_as_read(self, frame: MarkAsRead):
        _, not_found = await database_sync_to_async(services.mark_as_read)(self.user_id, self.role, frame.ids)
        if not_found:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no notifications with ids {not_found} for this user")

    async def on_mark_all_as_read(self, frame):
        await database_sync_to_async(services.mark_all_as_read)(self.user_id, self.role)
