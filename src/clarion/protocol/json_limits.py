"""How deep a JSON value may nest: one limit for everything Clarion stores or forwards.

Why a limit at all: orjson refuses to encode past 255 levels, and Python's json recurses
until RecursionError. A notification's ``data`` nested 300 deep passed the size check, was
stored, and then could never be encoded into a frame, so it stalled its stream (issue 10).
A cursor ``position`` nested 254 deep decoded fine and failed only once wrapped in the
outgoing frame. Checking at the door, with a margin for the envelope a value is later
wrapped in, keeps every stored or forwarded value encodable.

Stdlib only: the REST parser, the Python API's validator and the frame decoder share it.
"""

from __future__ import annotations

import json
from typing import Any

# Real notification data, events and cursor positions nest a handful of levels; 32 leaves
# room for any honest use and keeps far below the encoders' limits once wrapped in a frame.
MAX_JSON_DEPTH = 32


class TooDeep(ValueError):
    """A JSON document nested deeper than allowed."""


def json_depth(value: Any) -> int:
    """How many levels of objects and arrays ``value`` nests (a scalar is 0). Iterative, so a
    value nested deeper than Python's recursion limit is measured, not crashed on."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def depth_error(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``value`` nests too deep (a message naming the limit), or None."""
    if json_depth(value) > limit:
        return f"nests deeper than {limit} levels of objects and arrays"
    return None


def _text_depth_exceeds(text: str | bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``: checked before parsing,
    so a 100,000-deep document costs one linear scan, never a RecursionError."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case: too few brackets to nest that deep at all
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def loads(text: str | bytes, *, limit: int = MAX_JSON_DEPTH, **kwargs: Any) -> Any:
    """``json.loads`` that refuses documents nested deeper than ``limit`` with :class:`TooDeep`
    (a ValueError), before parsing them."""
    if _text_depth_exceeds(text, limit):
        raise TooDeep(f"JSON nests deeper than {limit} levels of objects and arrays")
    return json.loads(text, **kwargs)
