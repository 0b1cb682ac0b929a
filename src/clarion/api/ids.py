"""Ids and text from URLs and request bodies, bounded to what the database stores.

A number that does not fit a 64-bit signed integer column (PostgreSQL bigint, SQLite INTEGER)
overflows in the driver; Python's ``int()`` happily parses one. Such an id names nothing, so
it is a 404 or a field error, never a 500 (found by schemathesis, tests/security/test_live.py).
"""

MAX_DB_ID = 2**63 - 1


def db_id(raw) -> int | None:
    """A positive integer that fits the database, or None."""
    try:
        value = int(str(raw), 10)
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_DB_ID else None


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
