"""Keep credentials out of log lines.

uvicorn logs every WebSocket handshake with its query string at INFO ('"WebSocket
/ws/notifications/?token=eyJ..." [accepted]', on the ``uvicorn.error`` logger) and every HTTP
request line on ``uvicorn.access``: a ``?token=`` or ``?ticket=`` would be written to the log
file. ``RedactCredentials`` rewrites the values of credential parameters, ``Bearer`` headers
and anything shaped like a JWT to ``[redacted]`` in the message and its arguments, keeping
the arguments' shape (uvicorn's access formatter unpacks them).

``install()`` puts the filter on the loggers of the ASGI servers Clarion runs under; Clarion's
socket stack calls it when it is built (clarion.auth.middleware.ClarionAuthStack), so a host
site that mounts it is covered too. docs/security.md, "Credentials in logs".
"""

import logging
import re

REDACTED = "[redacted]"

# ?token=..., &ticket=..., access=..., refresh=... up to the next separator.
_PARAM = re.compile(r"(?i)\b(token|ticket|access|refresh|access_token|refresh_token|password)=([^&\s\"']+)")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
# Three base64url parts, the first a JSON header ("eyJ" is '{"' encoded).
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

LOGGERS = ("uvicorn.access", "uvicorn.error", "daphne.server", "daphne.http_protocol", "daphne.ws_protocol",
           "django.request", "django.server", "channels.server")


def redact(text: str) -> str:
    text = _PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JWT.sub(REDACTED, text)


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("latin-1"))
    return value


class RedactCredentials(logging.Filter):
    """A logging filter that never drops a record, only blanks the credentials in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(value) for key, value in record.args.items()}
        return True


_FILTER = RedactCredentials()


def install(logger_names=LOGGERS) -> None:
    """Add the filter to these loggers (idempotent). A logger's filters see only records
    logged on that very logger, so each server logger is named."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
