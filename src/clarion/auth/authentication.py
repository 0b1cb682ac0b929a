"""REST authentication that honours ended sessions (clarion.auth.revocation).

simplejwt's JWTAuthentication accepts an access token until it expires; this subclass also
refuses one issued before the user's session cutoff (logout, password change) or minted from a
web UI session that was signed out, as the sockets do. Use it in
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] in place of simplejwt's (docs/security.md,
"Ending sessions"). It costs one primary-key query per request (the user with their role and
session cutoff), and one more for a token of the web UI.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from clarion.auth.tokens import load_user, token_revoked


class JWTAuthentication(SimpleJWTAuthentication):
    def get_user(self, validated_token):
        # simplejwt's checks, in its order and with its messages, but the user is loaded with
        # the role and the session cutoff in one query (load_user): the revocation check and
        # the permission check that follow then cost none (issue 11: 3 queries became 1).
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as e:
            raise InvalidToken(_("Token contained no recognizable user identification")) from e
        user = load_user(user_id, api_settings.USER_ID_FIELD)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and (
            validated_token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password)
        ):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        if token_revoked(user, validated_token.payload):
            raise AuthenticationFailed("Token is no longer valid.", code="token_not_valid")
        return user
