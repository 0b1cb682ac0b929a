"""The log filter that keeps credentials out of log lines (clarion.auth.redact)."""

import logging

from clarion.auth.redact import REDACTED, RedactCredentials, install, redact

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def _record(msg, args):
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_redaction_keeps_uvicorn_access_records_intact():
    record = _record('%s - "%s %s HTTP/%s" %d',
                     ("127.0.0.1:5000", "GET", f"/ws/notifications/?cursor=abc&token={JWT}", "1.1", 200))
    assert RedactCredentials().filter(record) is True  # never drops a record
    client, method, path, version, status = record.args  # the shape uvicorn's formatter unpacks
    assert path == f"/ws/notifications/?cursor=abc&token={REDACTED}" and status == 200
    assert JWT not in record.getMessage()

    record = _record('%s - "WebSocket %s" [accepted]', ("127.0.0.1:5000", "/ws/projects/1/?ticket=SkD4P6V8Idv"))
    RedactCredentials().filter(record)
    assert record.getMessage() == f'127.0.0.1:5000 - "WebSocket /ws/projects/1/?ticket={REDACTED}" [accepted]'


def test_what_is_redacted_and_what_is_kept():
    assert redact(f"Authorization: Bearer {JWT}") == f"Authorization: Bearer {REDACTED}"
    assert redact(f"a stray {JWT} in a message") == f"a stray {REDACTED} in a message"
    assert redact("refresh=abc&access=def&password=hunter2") == \
        f"refresh={REDACTED}&access={REDACTED}&password={REDACTED}"
    assert redact("/api/notifications/?unread=true&cursor=c2VxOjE") == "/api/notifications/?unread=true&cursor=c2VxOjE"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%(t)s", None, None)
    record.args = {"t": b"x"}  # dict args and bytes
    RedactCredentials().filter(record)


def test_install_is_idempotent():
    install(["clarion.test.redact"])
    install(["clarion.test.redact"])
    assert len(logging.getLogger("clarion.test.redact").filters) == 1
