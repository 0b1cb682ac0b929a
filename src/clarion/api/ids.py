"""Ids and text from URLs and request bodies, bounded to what the database stores.

A number that does not fit a 64-bit signed integer column (PostgreSQL bigint, SQLite INTEGER)
overflows in the driver; Python's ``int()`` happily parses one. Such an id names nothing, so
it is a 404 or a field error, never a 500 (found by schemathesis, tests/security/test_live.py).
"""

from clarion.validation import unstorable_text  # noqa: F401  (re-exported for the serializers)

MAX_DB_ID = 2**63 - 1


def db_id(raw) -> int | None:
    """A positive integer that fits the database, or None."""
    try:
        value = int(str(raw), 10)
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_DB_ID else None
