"""JWT verification for sockets, knowing nothing of ASGI.

simplejwt does the cryptography (algorithm pinned by settings, so "none" and algorithm
confusion fail in PyJWT); this module adds the checks a socket needs and hides the reason
from the peer: every failure is the same AuthenticationFailed, so there is no oracle.
"""

from django.contrib.auth import get_user_model
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken


class AuthenticationFailed(Exception):
    """Credentials were missing, malformed, expired, revoked or for an unusable user."""


def user_for_access_token(raw_token: str):
    """The active user an access token names; raise AuthenticationFailed otherwise."""
    if not raw_token or len(raw_token) > 4096:
        raise AuthenticationFailed()
    try:
        token = AccessToken(raw_token)
    except TokenError:
        raise AuthenticationFailed() from None
    user_id = token.payload.get(jwt_settings.USER_ID_CLAIM)
    if user_id is None:
        raise AuthenticationFailed()
    # The default role resolver reads clarion_role: load it in the same query.
    # No ordering and no count: a primary-key match needs neither, and compiling them was a
    # measurable share of connect set-up.
    users = get_user_model().objects.select_related("clarion_role").order_by()
    found = list(users.filter(**{jwt_settings.USER_ID_FIELD: user_id})[:1])
    user = found[0] if found else None
    if user is None or not user.is_active:
        raise AuthenticationFailed()
    return user


def access_token_for(user) -> str:
    return str(AccessToken.for_user(user))
