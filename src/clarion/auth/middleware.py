"""ASGI wrappers for sockets, composed outside-in: OriginGuard(JWTAuthMiddleware(router)).

The origin guard refuses at the handshake (HTTP 403). Authentication never refuses the
handshake: it records the outcome in the scope, and the consumer accepts and closes with
4401, because a browser cannot read an HTTP status from a failed WebSocket handshake but
can read a close code. Authentication completes at the handshake: there is no in-band
login, so no socket is ever open unauthenticated (docs/security.md).
"""

from urllib.parse import parse_qs

from channels.security.websocket import WebsocketDenier
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from clarion.auth import redact
from clarion.auth.origins import origin_allowed
from clarion.auth.tickets import redeem_ticket_credential
from clarion.auth.tokens import MAX_TOKEN_CHARS, AuthenticationFailed, authenticate_access_token
from clarion.dbthreads import db_sync_to_async
from clarion.protocol import CloseCode
from clarion.realtime import limits
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
            if self._cooling_down(scope):
                # A flooder reconnecting: refused with 4029 before any database work.
                scope.update(user=AnonymousUser(), clarion_role=None, clarion_credential=None,
                             clarion_refusal=CloseCode.RATE_LIMITED)
                return await self.app(scope, receive, send)
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

    @staticmethod
    def _cooling_down(scope) -> bool:
        """Whether the access token names a user in a flood cool-down (clarion.realtime.limits);
        checks the signature only, and only while some user is cooling down."""
        if not limits.anyone_cooling() or jwt_settings.USER_ID_FIELD not in ("id", "pk"):
            return False
        query = _query(scope)
        raw = bearer_token(scope) or (None if "ticket" in query else query.get("token"))
        if not raw or len(raw) > MAX_TOKEN_CHARS:
            return False
        try:
            user_id = AccessToken(raw).payload.get(jwt_settings.USER_ID_CLAIM)
        except TokenError:
            return False
        return user_id is not None and limits.is_cooling(user_id)

    @db_sync_to_async
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
