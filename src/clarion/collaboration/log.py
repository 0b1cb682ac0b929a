"""A room's chat log: one stream per room. A message takes a new place each time it changes."""

from clarion.collaboration.models import ChatMessage
from clarion.collaboration.payloads import message_payload
from clarion.conf import clarion_settings
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.streams import read as logread
from clarion.streams.log import SequencedLog
from clarion.streams.read import LogPage, LogSnapshot


def _frame(message) -> str:
    return encode_frame(server_frame(ServerFrameType.CHAT_MESSAGE, message_payload(message, message.room.key)))


CHAT_LOG = SequencedLog(
    "chat_message",
    ChatMessage,
    stream_kind="room",
    stream_field="room_id",
    audience=lambda message: ("room", message.room_id),
    frame=_frame,
    queryset=lambda: ChatMessage.objects.select_related("author", "room"),
)


def stream_of(room_id):
    return CHAT_LOG.key(room_id)


# -- reading the stream: one path for the socket (snapshot, replay) and REST (?after=) ------


def _rows(room):
    return ChatMessage.objects.filter(room=room).select_related("author")


def read(room, after: int | None) -> LogSnapshot:
    """What a socket gets at connect: the latest messages, or the changes after ``after``."""
    snap = logread.read_log(stream_of(room.pk), _rows(room), after=after,
                            recent=lambda rows: rows.filter(deleted=False).order_by("-id"),
                            recent_limit=clarion_settings.CHAT_HISTORY, resume_limit=clarion_settings.RESUME_LIMIT)
    snap.recent = [message_payload(m, room.key) for m in snap.recent]
    if snap.missed is not None:
        snap.missed = [message_payload(m, room.key) for m in snap.missed]
    return snap


def page(room, after: int, limit: int) -> LogPage:
    """A page of the changes after ``after`` (payloads), under the socket's resume rule."""
    result = logread.read_page(stream_of(room.pk), _rows(room), after=after, limit=limit,
                               resume_limit=clarion_settings.RESUME_LIMIT)
    result.items = [message_payload(m, room.key) for m in result.items]
    return result
