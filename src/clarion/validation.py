"""What application data Clarion can store and send back, checked before anything is written.

Shared by the notification and project services (and the REST serializers), so that the
Python API refuses exactly what the REST API refuses.
"""

import json

from clarion.conf import clarion_settings
from clarion.protocol.json_limits import depth_error


def json_data_error(data) -> str | None:
    """Why ``data`` (a notification's or an event's ``data``) is refused, or None."""
    if not isinstance(data, dict):
        return f"data must be a JSON object, got {type(data).__name__}"
    too_deep = depth_error(data)  # before json.dumps, which would recurse until RecursionError
    if too_deep:
        return f"data {too_deep}"
    try:
        size = len(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return f"data must be JSON-serializable: {exc}"
    if size > clarion_settings.MAX_DATA_BYTES:
        return f"data is {size} bytes of JSON; at most {clarion_settings.MAX_DATA_BYTES}"
    problem = unstorable_text(data)
    return f"data {problem}" if problem else None


def unstorable_text(value) -> str | None:
    """Why a JSON value cannot be stored and sent back (None: it can). PostgreSQL text and
    jsonb refuse NUL; a lone UTF-16 surrogate is no Unicode at all (the UTF-8 encoders of the
    database drivers and of the response refuse it): either made a 500, after the row was
    stored when the response rendering failed (found by schemathesis)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "must not contain NUL characters"
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return "must not contain lone UTF-16 surrogates"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None
