"""A room's chat log: one stream per room. A message takes a new place each time it changes."""

from clarion.collaboration.models import ChatMessage
from clarion.collaboration.payloads import message_payload
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.streams.log import SequencedLog


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
