"""/ws/notifications/: a user's notifications, live, with resume by cursor.

A stream like the others (clarion.realtime.consumers.streams): what differs is who may open it
(any signed-in user: no authorization query), whose groups it joins (the user's, their role's,
everyone's), that its snapshot carries the unread and unseen counts read with it, the reader's
filter (what they muted, checked by the hub per pushed notification), and the inbox actions.
"""


from clarion.delivery import receipts
from clarion.dbthreads import db_sync_to_async
from clarion.notifications import inbox, messages, reader as readers, resume, services
from clarion.protocol import (
    Ack,
    Archive,
    ErrorCode,
    MarkAllAsRead,
    MarkAllSeen,
    MarkAsRead,
    MarkSeen,
    MarkUnread,
    Ping,
    ProtocolError,
    Snooze,
    Unarchive,
)
from clarion.protocol.frames import ServerFrameType
from clarion.realtime import groups, online, timers
from clarion.realtime.consumers.streams import LogStreamConsumer

_STATE_ACTIONS = {MarkSeen: inbox.SEEN, Archive: inbox.ARCHIVED, Unarchive: inbox.UNARCHIVED,
                  MarkUnread: inbox.UNREAD, Snooze: inbox.SNOOZED}


class NotificationsConsumer(LogStreamConsumer):
    endpoint = "notifications"
    handlers = {Ping: "on_ping", Ack: "on_ack", MarkAsRead: "on_mark_as_read", MarkAllAsRead: "on_mark_all_as_read",
                MarkAllSeen: "on_mark_all_seen", **{frame: "on_state_action" for frame in _STATE_ACTIONS}}
    snapshot_type = ServerFrameType.RECENT_NOTIFICATIONS
    item_type = ServerFrameType.NOTIFICATION
    items_key = "notifications"
    entries = "notifications"
    older_hint = " (page older ones from GET /api/notifications/)"
    authorizes = False  # every signed-in user has a notification stream: no query to allow it
    _reader = None
    locale = None  # the reader's language, decided with the snapshot
    _online = False  # counted in clarion.realtime.online until it closes

    def group_names(self):
        return groups.groups_of_user(self.user_id, self.role)

    async def admitted(self):
        timers.ensure_started()  # snoozes ending and items expiring reach this process's sockets
        online.opened(self.user_id)  # no Web Push for a reader looking at the app (nothing awaited)
        self._online = True
        return None

    async def disconnect(self, code):
        if self._online:
            self._online = False
            online.closed(self.user_id)
        await super().disconnect(code)

    def read_snapshot(self, after):
        """The snapshot, its counts and the reader's settings, read against one head
        (queries.snapshot: SQL measured for the connect path)."""
        snap = resume.snapshot(self.user, self.role, after)
        self._reader, self.locale = snap.reader, snap.locale
        return snap.log, snap.extra

    def ready(self, head):
        # Before the held live events are flushed: they are filtered by what the reader muted.
        if self._reader is not None:
            self.subscription.filter = self._reader.socket_filter()
            self.subscription.locale = None if self.locale == messages.default_locale() else self.locale
        super().ready(head)

    def without_skipped(self, extra, skipped):
        # The recent list holds unread notifications only: one left out is one less unread.
        unseen = sum(1 for item in skipped if not item.get("is_seen"))
        return {**extra, "unread_count": max(0, extra["unread_count"] - len(skipped)),
                "unseen_count": max(0, extra["unseen_count"] - unseen)}

    async def on_control(self, payload: dict) -> None:
        if payload.get("action") == "preferences" and str(payload.get("user_id")) == str(self.user_id):
            # Another tab (or this one) changed what the reader wants: filter by it from now on.
            reader = readers.Reader(self.user_id, self.role, channels=payload.get("channels") or {},
                                    mutes=readers.parse_mutes(payload.get("mutes")))
            if self.subscription is not None:
                self.subscription.filter = reader.socket_filter()
                if "locale" in payload:  # the frames of what comes next, in the language chosen
                    # in a thread: a host's LOCALE_RESOLVER may read the database
                    self.locale = await db_sync_to_async(messages.locale_of)(self.user, payload["locale"])
                    self.subscription.locale = None if self.locale == messages.default_locale() else self.locale
            await self.send_text(payload["frame"])
            return
        await super().on_control(payload)

    # -- client frames --------------------------------------------------------------

    async def on_ack(self, frame: Ack):
        # No further than what this socket was sent: a client cannot claim receipt of the future.
        seq = min(frame.seq, self.subscription.last_seq if self.subscription is not None else 0)
        if seq > 0:
            receipts.note(self.user_id, seq)

    async def on_mark_as_read(self, frame: MarkAsRead):
        ids = await self._ids(frame)
        _, not_found = await db_sync_to_async(services.mark_as_read)(self.user_id, self.role, ids)
        if not_found:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no notifications with ids {not_found} for this user",
                                ids=not_found)

    async def on_mark_all_as_read(self, frame):
        await db_sync_to_async(services.mark_all_as_read)(self.user_id, self.role)

    async def on_mark_all_seen(self, frame):
        await db_sync_to_async(inbox.mark_all_seen)(self.user_id, self.role)

    async def on_state_action(self, frame):
        ids = await self._ids(frame)
        try:
            _, not_found = await db_sync_to_async(inbox.change)(
                self.user_id, self.role, _STATE_ACTIONS[type(frame)], ids, until=getattr(frame, "until", None))
        except inbox.SnoozeRefused as refused:
            raise ProtocolError(ErrorCode.INVALID_DATA, f"{frame.type}: {refused}") from None
        if not_found:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no notifications with ids {not_found} for this user",
                                ids=not_found)

    async def _ids(self, frame) -> tuple[int, ...]:
        if frame.group_key is None:
            return frame.ids
        ids = await db_sync_to_async(inbox.ids_of_group)(self.user_id, self.role, frame.group_key)
        if not ids:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no notifications in group {frame.group_key!r} for this user")
        return ids
