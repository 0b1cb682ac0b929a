"""The opaque resume cursor.

A cursor names a position in the commit-ordered notification log (``Notification.seq``).
Clients must treat it as an opaque string; the version prefix lets the encoding change
without breaking cursors that clients hold across an upgrade.
"""

import base64
import binascii

_PREFIX = "v1:"
_MAX_LENGTH = 64


class InvalidCursor(ValueError):
    pass


def encode_cursor(seq: int) -> str:
    raw = f"{_PREFIX}{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    if not isinstance(cursor, str) or not cursor or len(cursor) > _MAX_LENGTH:
        raise InvalidCursor("cursor must be a non-empty string as sent by the server")
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidCursor("cursor is not one the server issued") from None
    if not raw.startswith(_PREFIX) or not raw[len(_PREFIX):].isdigit():
        raise InvalidCursor("cursor is not one the server issued")
    return int(raw[len(_PREFIX):])
