"""Close codes and error codes, with the reconnect policy written once.

Codes 4000-4999 are private-use per RFC 6455 section 7.4.2; Clarion mirrors HTTP status
numbers in them (4401 ~ 401) so that they read without a table.
"""

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003  # binary frame on a JSON endpoint
    MESSAGE_TOO_BIG = 1009  # frame over CLARION["MAX_FRAME_BYTES"]
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # graceful shutdown: reconnect (to another process)
    TRY_AGAIN_LATER = 1013  # a dependency (database) is down: reconnect with backoff
    SLOW_CONSUMER = 4008  # the client stopped reading and its queue filled: reconnect and resume
    RATE_LIMITED = 4029
    UNAUTHORIZED = 4401  # no, bad or expired credentials: do not retry with the same token
    FORBIDDEN = 4403  # authenticated, but not allowed on this stream
    NOT_FOUND = 4404  # the stream (project, room) does not exist


# Terminal codes: reconnecting with the same credentials can only fail the same way.
# 4401 becomes retryable once the client holds a new token (the clients handle that).
_TERMINAL = frozenset({CloseCode.UNAUTHORIZED, CloseCode.FORBIDDEN, CloseCode.NOT_FOUND})


def should_reconnect(code: int | None) -> bool:
    """Whether a client should reconnect (with backoff) after the socket closed with ``code``."""
    if code is None:
        return True
    return code not in _TERMINAL


class ErrorCode(StrEnum):
    """The ``data.code`` of an ``error`` frame; the socket stays open after each."""

    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_DATA = "invalid_data"
    NOT_FOUND = "not_found"
    INVALID_CURSOR = "invalid_cursor"
    CURSOR_EXPIRED = "cursor_expired"
    INTERNAL_ERROR = "internal_error"
    FORBIDDEN = "forbidden"  # the frame is valid, but this user may not do that (edit another's message)
    RATE_LIMITED = "rate_limited"  # too many messages: the message says how long to wait
