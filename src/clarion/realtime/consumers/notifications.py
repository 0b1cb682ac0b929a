"""/ws/notifications/: a user's notifications, live, with resume by cursor.

A stream like the others (clarion.realtime.consumers.streams): what differs is who may open it
(any signed-in user: no authorization query), whose groups it joins (the user's, their role's,
everyone's), that its snapshot carries the unread count read with it, and the read-state frames.
"""


from clarion.conf import clarion_settings
from clarion.dbthreads import db_sync_to_async
from clarion.notifications import queries, services
from clarion.notifications.payloads import annotated_payload
from clarion.protocol import ErrorCode, MarkAllAsRead, MarkAsRead, Ping, ProtocolError
from clarion.protocol.frames import ServerFrameType
from clarion.realtime import groups
from clarion.realtime.consumers.streams import LogStreamConsumer
from clarion.streams.read import LogSnapshot


class NotificationsConsumer(LogStreamConsumer):
    endpoint = "notifications"
    handlers = {Ping: "on_ping", MarkAsRead: "on_mark_as_read", MarkAllAsRead: "on_mark_all_as_read"}
    snapshot_type = ServerFrameType.RECENT_NOTIFICATIONS
    item_type = ServerFrameType.NOTIFICATION
    items_key = "notifications"
    entries = "notifications"
    older_hint = " (page older ones from GET /api/notifications/)"
    authorizes = False  # every signed-in user has a notification stream: no query to allow it

    def group_names(self):
        return groups.groups_of_user(self.user_id, self.role)

    def read_snapshot(self, after):
        """The snapshot and its unread count, read against one head (queries.snapshot: SQL
        measured for the connect path)."""
        snap = queries.snapshot(self.user_id, self.role, after=after, recent_limit=clarion_settings.RECENT_LIMIT,
                                resume_limit=clarion_settings.RESUME_LIMIT)
        missed = None if snap.missed is None else [annotated_payload(n) for n in snap.missed]
        log = LogSnapshot(head=snap.head, recent=[annotated_payload(n) for n in snap.recent], missed=missed,
                          cursor_expired=snap.cursor_expired)
        return log, {"unread_count": snap.unread_count}

    def without_skipped(self, extra, skipped):
        # The recent list holds unread notifications only: one left out is one less unread.
        return {**extra, "unread_count": max(0, extra["unread_count"] - len(skipped))}

    # -- client frames --------------------------------------------------------------

    async def on_mark_as_read(self, frame: MarkAsRead):
        _, not_found = await db_sync_to_async(services.mark_as_read)(self.user_id, self.role, frame.ids)
        if not_found:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no notifications with ids {not_found} for this user")

    async def on_mark_all_as_read(self, frame):
        await db_sync_to_async(services.mark_all_as_read)(self.user_id, self.role)
