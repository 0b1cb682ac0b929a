"""The wire contract, stdlib only: frames, close and error codes, the opaque cursor.

Imported by the server, the Python client and the tests; it must never import Django.
docs/protocol.md documents every name defined here.
"""

from clarion.protocol.codes import CloseCode, ErrorCode, should_reconnect
from clarion.protocol.cursor import decode_cursor, encode_cursor, InvalidCursor
from clarion.protocol.frames import (
    Archive,
    ClientFrame,
    MarkAllAsRead,
    MarkAllSeen,
    MarkAsRead,
    MarkSeen,
    MarkUnread,
    Snooze,
    Ack,
    Unarchive,
    Ping,
    ProtocolError,
    ServerFrameType,
    decode_client_frame,
    encode_frame,
    server_frame,
)

__all__ = [
    "CloseCode",
    "ErrorCode",
    "should_reconnect",
    "encode_cursor",
    "decode_cursor",
    "InvalidCursor",
    "ClientFrame",
    "MarkAsRead",
    "MarkAllAsRead",
    "MarkSeen",
    "MarkAllSeen",
    "Archive",
    "Unarchive",
    "MarkUnread",
    "Snooze",
    "Ack",
    "Ping",
    "ProtocolError",
    "ServerFrameType",
    "decode_client_frame",
    "encode_frame",
    "server_frame",
]
