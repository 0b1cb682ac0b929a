"""Which browser origins may open a socket.

The rule (docs/security.md): a request with an Origin header must come from an allowed
origin or from the same origin as the server; a request without one is accepted only when it
authenticates with the Authorization header, because browsers always send Origin and cannot
set that header on a WebSocket, while query-string tokens and tickets are browser credentials.
"""

from urllib.parse import urlsplit

from clarion.conf import clarion_settings

_WS_TO_HTTP = {"ws": "http", "wss": "https"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalize(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.username:
        return None
    return scheme, host, port


def origin_allowed(origin: str, *, host_header: str | None, scope_scheme: str) -> bool:
    """Whether a present Origin header is acceptable."""
    candidate = _normalize(origin)
    if candidate is None:  # includes the literal "null" of sandboxed frames and file: pages
        return False
    allowed = clarion_settings.ALLOWED_ORIGINS
    if "*" in allowed:
        return True
    if any(_normalize(entry) == candidate for entry in allowed):
        return True
    if clarion_settings.ALLOW_SAME_ORIGIN and host_header:
        own_scheme = _WS_TO_HTTP.get(scope_scheme, scope_scheme)
        return _normalize(f"{own_scheme}://{host_header}") == candidate
    return False
