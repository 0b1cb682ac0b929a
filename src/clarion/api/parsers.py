"""The REST API's JSON parser: DRF's, with Clarion's one nesting limit (protocol/json_limits.py).

DRF's own parser hands the body to ``json.load``, which recurses: a body nested 5,000 deep
raised RecursionError, which is no ValueError, so it escaped as a 500 with a traceback, before
authentication, on the credential endpoints (issue 10). This one measures the nesting first, in
one linear scan, and answers 400 like any other malformed body.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

from clarion.protocol import json_limits

# A body wraps the values the validators check (notification data, cursor positions) in an object
# or two: the margin lets those answer their own field error at 33 levels; far past it, 400 here.
MAX_BODY_DEPTH = json_limits.MAX_JSON_DEPTH + 2


def loads_body(raw: bytes | str, *, strict: bool = True):
    """A request body's JSON, or ValueError (too deep, malformed, NaN/Infinity when strict, bad
    encoding)."""
    try:
        return json_limits.loads(raw, limit=MAX_BODY_DEPTH, parse_constant=strict_constant if strict else None)
    except RecursionError:  # cannot happen past the depth check; never a 500 if it does
        raise ValueError("JSON nests too deep") from None


class JSONParser(parsers.JSONParser):
    """``application/json`` bodies, depth-limited: a ParseError (400) instead of a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            raw = stream.read().decode(encoding) if stream is not None else ""
            return loads_body(raw, strict=self.strict)
        except ValueError as exc:  # UnicodeDecodeError and TooDeep are ValueErrors too
            raise ParseError(f"JSON parse error - {exc}") from None
