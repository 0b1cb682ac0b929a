"""JWT verification for sockets, knowing nothing of ASGI.

simplejwt does the cryptography (algorithm pinned by settings, so "none" and algorithm
confusion fail in PyJWT; exp, nbf and an iat in the future are checked there too); this module
adds the checks a socket needs and hides the reason from the peer: every failure is the same
AuthenticationFailed, so there is no oracle.
"""

import time
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from clarion.auth import user_lookup

MAX_TOKEN_CHARS = 4096


class AuthenticationFailed(Exception):
    """Credentials were missing, malformed, expired, revoked or for an unusable user."""


@dataclass(frozen=True)
class Credential:
    """Who a socket authenticated as, and until when that holds."""

    user: Any
    # Seconds since the epoch when the credential stops being valid: the socket is closed
    # with 4401 then (clarion.realtime.limits). None: it does not expire by itself.
    expires_at: float | None
    # When the server checked the credential (time.time()); a session cutoff written after
    # this instant closes the socket (clarion.auth.revocation).
    checked_at: float
    # The web UI session it came from ("": none); signing out of it closes the socket.
    ui_session: str = ""


def session_cutoff(user) -> int:
    """The user's session cutoff in whole epoch seconds (0: none); uses the row loaded with
    the user when the caller asked for it (select_related), else one query."""
    try:
        return user.clarion_session_cutoff.not_before
    except ObjectDoesNotExist:
        return 0


def issued_before_cutoff(user, issued_at) -> bool:
    """Whether a credential issued at ``issued_at`` (the JWT "iat"; missing counts as the
    epoch) predates the user's last logout, password change or deactivation.

    Seconds are whole on both sides (JWT's resolution): a token issued in the very second
    of the cutoff survives it; one issued any earlier does not."""
    cutoff = session_cutoff(user)
    if not cutoff:
        return False
    try:
        issued = int(issued_at or 0)
    except (TypeError, ValueError):
        return True
    return issued < cutoff


# The web UI session an access token was minted from. "sid" is the session-id claim of OpenID
# Connect (Front- and Back-Channel Logout 1.0), which ends tokens per session the same way.
UI_SESSION_CLAIM = "sid"
MAX_UI_SESSION_CHARS = 64


def ui_session_of(payload) -> str | None:
    """The token's UI session id ("" when it has none); None when the claim is malformed."""
    sid = payload.get(UI_SESSION_CLAIM, "")
    if not isinstance(sid, str) or len(sid) > MAX_UI_SESSION_CHARS:
        return None
    return sid


def ui_session_ended(sid: str) -> bool:
    """Whether the web UI session ``sid`` was signed out (one query; none for "")."""
    from clarion.auth.models import EndedUISession

    return bool(sid) and EndedUISession.objects.filter(sid=sid).exists()


def token_revoked(user, payload) -> bool:
    """Whether a valid token of this user was ended since it was issued: by the user's session
    cutoff (logout, password change, deactivation) or by signing out of its web UI session."""
    if issued_before_cutoff(user, payload.get("iat")):
        return True
    sid = ui_session_of(payload)
    return sid is None or ui_session_ended(sid)


def load_user(user_id, field: str | None = None):
    """The user whose ``field`` (default: simplejwt's USER_ID_FIELD) is ``user_id``, with the
    role and the session cutoff in one query; None when there is none."""
    return user_lookup.load(field or jwt_settings.USER_ID_FIELD, user_id)


def authenticate_access_token(raw_token: str) -> Credential:
    """The credential an access token gives; raise AuthenticationFailed otherwise."""
    checked_at = time.time()
    if not raw_token or len(raw_token) > MAX_TOKEN_CHARS:
        raise AuthenticationFailed()
    try:
        token = AccessToken(raw_token)
    except TokenError:
        raise AuthenticationFailed() from None
    user_id = token.payload.get(jwt_settings.USER_ID_CLAIM)
    if user_id is None or isinstance(user_id, (dict, list)):
        raise AuthenticationFailed()
    user = load_user(user_id)
    if user is None or not user.is_active:
        raise AuthenticationFailed()
    if token_revoked(user, token.payload):
        raise AuthenticationFailed()
    exp = token.payload.get("exp")
    return Credential(user=user, expires_at=float(exp) if exp is not None else None, checked_at=checked_at,
                      ui_session=ui_session_of(token.payload))


def user_for_access_token(raw_token: str):
    """The active user an access token names; raise AuthenticationFailed otherwise."""
    return authenticate_access_token(raw_token).user


def access_token_for(user) -> str:
    return str(AccessToken.for_user(user))
