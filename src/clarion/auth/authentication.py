"""REST authentication that honours ended sessions (clarion.auth.revocation).

simplejwt's JWTAuthentication accepts an access token until it expires; this subclass also
refuses one issued before the user's session cutoff (logout, password change) or minted from a
web UI session that was signed out, as the sockets do. Use it in
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] in place of simplejwt's (docs/security.md,
"Ending sessions"). It costs one primary-key query per request, and one more for a token of the
web UI.
"""

from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from clarion.auth.tokens import token_revoked


class JWTAuthentication(SimpleJWTAuthentication):
    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if token_revoked(user, validated_token.payload):
            raise AuthenticationFailed("Token is no longer valid.", code="token_not_valid")
        return user
