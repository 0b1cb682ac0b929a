"""ASGI wrappers for sockets, composed outside-in: OriginGuard(JWTAuthMiddleware(router)).

The origin guard refuses at the handshake (HTTP 403). Authentication never refuses the
handshake: it records the outcome in the scope, and the consumer accepts and closes with
4401, because a browser cannot read an HTTP status from a failed WebSocket handshake but
can read a close code. Authentication completes at the handshake: there is no in-band
login, so no socket is ever open unauthenticated (docs/security.md).
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError

from clarion.auth import redact
from clarion.auth.origins import origin_allowed
from clarion.auth.tickets import redeem_ticket_credential
from clarion.auth.tokens import AuthenticationFailed, authenticate_access_token
from clarion.roles import role_of


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _query(scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {key: values[0] for key, values in parse_qs(raw).items()}


def bearer_token(scope) -> str | None:
    header = _header(scope, b"authorization")
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


class OriginGuard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not self._allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)

    @staticmethod
    def _allowed(scope) -> bool:
        origin = _header(scope, b"origin")
        if origin is None:
            return bearer_token(scope) is not None
        return origin_allowed(origin, host_header=_header(scope, b"host"), scope_scheme=scope.get("scheme", "ws"))


class JWTAuthMiddleware:
    """Puts ``user`` (AnonymousUser on failure), ``clarion_role`` and ``clarion_credential``
    (a clarion.auth.tokens.Credential, None on failure) into the scope."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            scope = dict(scope)
            try:
                credential, role = await self._authenticate(scope)
            except DatabaseError:
                # Not a refusal of the credentials: the consumer closes with 1013, try again later.
                credential, role = None, None
                scope["clarion_unavailable"] = True
            scope["user"] = credential.user if credential is not None else AnonymousUser()
            scope["clarion_role"] = role
            scope["clarion_credential"] = credential
        return await self.app(scope, receive, send)

    @database_sync_to_async
    def _authenticate(self, scope):
        query = _query(scope)
        try:
            token = bearer_token(scope)
            if token is not None:
                credential = authenticate_access_token(token)
            elif "ticket" in query:
                credential = redeem_ticket_credential(query["ticket"], _header(scope, b"origin"))
            elif "token" in query:
                credential = authenticate_access_token(query["token"])
            else:
                raise AuthenticationFailed()
        except AuthenticationFailed:
            return None, None
        return credential, role_of(credential.user)


def ClarionAuthStack(app):
    # Wherever the socket stack is mounted, the ASGI server's handshake log lines (which
    # carry the query string, ?token= and ?ticket= included) are redacted.
    redact.install()
    return OriginGuard(JWTAuthMiddleware(app))
