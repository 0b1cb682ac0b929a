"""REST authentication that honours ended sessions (clarion.auth.revocation).

simplejwt's JWTAuthentication accepts an access token until it expires; this subclass also
refuses one issued before the user's session cutoff (logout, password change), as the sockets
do. Use it in REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] in place of simplejwt's
(docs/security.md, "Ending sessions"). It costs one primary-key query per request.
"""

from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from clarion.auth.tokens import issued_before_cutoff


class JWTAuthentication(SimpleJWTAuthentication):
    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if issued_before_cutoff(user, validated_token.get("iat")):
            raise AuthenticationFailed("Token is no longer valid.", code="token_not_valid")
        return user
