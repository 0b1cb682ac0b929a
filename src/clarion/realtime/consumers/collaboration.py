"""/ws/collaboration/{room}/: a room's chat (persisted, resumable), presence, typing and
cursors (ephemeral). Room keys are checked before anything reaches the hub (4404)."""

import logging

from django.core.exceptions import PermissionDenied, ValidationError

from clarion.collaboration import access, services
from clarion.collaboration.payloads import room_payload
from clarion.conf import clarion_settings
from clarion.dbthreads import db_sync_to_async
from clarion.protocol import CloseCode, ErrorCode, Ping, ProtocolError
from clarion.protocol.frames import (
    COLLABORATION_CLIENT_FRAMES,
    CursorMove,
    DeleteMessage,
    EditMessage,
    SendMessage,
    ServerFrameType,
    Typing,
)
from clarion.collaboration import log as chat_log
from clarion.realtime import events, groups
from clarion.realtime.consumers.streams import LogStreamConsumer
from clarion.realtime.presence import get_presence
from clarion.realtime.room_limits import chat_allowance, room_limits
from clarion.protocol import encode_frame, server_frame

logger = logging.getLogger("clarion.consumers")


def _relay(hub, room_pk, frame_type, user: dict, key: str):
    """A sender of one user's typing or cursor frames to a room. It holds no socket: the
    throttle it feeds is shared by the user's sockets and may flush after this one closed."""
    async def send(value):
        frame = encode_frame(server_frame(frame_type, {"user": user, key: value}))
        await hub.publish(groups.room_group(room_pk), events.ephemeral(frame))
    return send


class CollaborationConsumer(LogStreamConsumer):
    endpoint = "collaboration"
    client_frames = COLLABORATION_CLIENT_FRAMES
    handlers = {Ping: "on_ping", SendMessage: "on_send", EditMessage: "on_edit", DeleteMessage: "on_delete",
                Typing: "on_typing", CursorMove: "on_cursor"}
    snapshot_type = ServerFrameType.ROOM_SNAPSHOT
    item_type = ServerFrameType.CHAT_MESSAGE
    items_key = "messages"

    presence_id = None
    limits = None  # this user's shared allowances in the room (clarion.realtime.room_limits)

    def resolve(self):
        key = str(self.scope["url_route"]["kwargs"].get("room", ""))
        answer, room = access.resolve_room(self.user, self.role, key)
        if answer == "missing":
            return CloseCode.NOT_FOUND
        if answer == "forbidden":
            return CloseCode.FORBIDDEN
        self.room = room
        return None

    async def admitted(self):
        # Before presence, the snapshot and the hub: a client cycling connects costs a lookup.
        wait = room_limits().admit(self.user_id, self.room.pk)
        if wait:
            logger.debug("refusing a collaboration socket: joins of user %s to room %s over the rate",
                         self.user_id, self.room.pk)
            return CloseCode.RATE_LIMITED
        return None

    def group_names(self):
        return [groups.room_group(self.room.pk)]

    def read(self, after):
        return chat_log.read(self.room, after)

    def snapshot_extra(self):
        return {"room": room_payload(self.room)}

    async def went_live(self):
        self.limits = room_limits().enter(self.user_id, self.room.pk)
        self.presence = get_presence()
        self.presence_id, first_tab = await self.presence.enter(self.room.pk, self.user_id, self.user.get_username())
        # This socket learns the room's state first; the join announcement (which it hears
        # too) follows, so that a client can treat every later presence frame as a change.
        await self.send_frame(ServerFrameType.PRESENCE, {"event": "state", "user": None,
                                                         "online": await self.presence.online(self.room.pk)})
        if first_tab:
            await self.presence.announce_join(self.room.pk, self.user_id, self.user.get_username())

    async def disconnect(self, code):
        if self.limits is not None:
            self.limits = None
            room_limits().leave(self.user_id, self.room.pk)
        if self.presence_id is not None:
            presence_id, self.presence_id = self.presence_id, None
            try:
                await self.presence.exit(presence_id)
            except Exception:  # the entry expires by itself within the TTL
                pass
        await super().disconnect(code)

    # -- chat -----------------------------------------------------------------------

    async def _check_rate(self):
        if self.limits is None:
            raise ProtocolError(ErrorCode.FORBIDDEN, "this socket is not in the room")
        wait = await chat_allowance(self.user_id, self.room.pk, self.limits)
        if wait:
            raise ProtocolError(ErrorCode.RATE_LIMITED,
                                f"at most {clarion_settings.CHAT_RATE:g} messages per second; retry in {wait:.1f} s")

    async def _write(self, change, *args):
        try:
            await db_sync_to_async(change)(self.room, self.user, *args)
        except services.MessageNotFound:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no message {args[0]} in this room", ids=[args[0]]) from None
        except PermissionDenied:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only the author may change a message", ids=[args[0]]) from None
        except ValidationError as exc:
            raise ProtocolError(ErrorCode.INVALID_DATA, "; ".join(exc.messages)) from None

    async def on_send(self, frame: SendMessage):
        await self._check_rate()
        await self._write(lambda room, user: services.post_message(room, user, frame.body, frame.client_id))

    async def on_edit(self, frame: EditMessage):
        await self._check_rate()
        await self._write(services.edit_message, frame.id, frame.body)

    async def on_delete(self, frame: DeleteMessage):
        await self._check_rate()
        await self._write(services.delete_message, frame.id)

    # -- ephemeral --------------------------------------------------------------------

    # Throttled per user and room, not per socket: docs/protocol.md promises one typing frame
    # per TYPING_INTERVAL and one cursor frame per CURSOR_INTERVAL per user.

    def _throttle(self, frame_type, interval, key):
        me = {"id": self.user_id, "username": self.user.get_username()}
        return self.limits.throttle(frame_type, float(interval),
                                    lambda: _relay(self.hub, self.room.pk, frame_type, me, key))

    async def on_typing(self, frame: Typing):
        if self.limits is None:  # refused or closing: nobody to relay for
            return
        await self._throttle(ServerFrameType.TYPING, clarion_settings.TYPING_INTERVAL, "active").submit(frame.active)

    async def on_cursor(self, frame: CursorMove):
        if self.limits is None:
            return
        await self._throttle(ServerFrameType.CURSOR, clarion_settings.CURSOR_INTERVAL, "position").submit(
            frame.position)
