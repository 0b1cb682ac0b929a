"""Credential endpoints: token pair, refresh, logout, each throttled (clarion.api.throttling).

Refresh also refuses a refresh token issued before the user's session cutoff (so logout and a
password change end the refresh tokens too), and a refresh token of a deleted user is a 401,
not simplejwt's 500. Logout ends every session of the user (docs/security.md, "Ending sessions").
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from clarion.api.throttling import AuthRateThrottle
from clarion.auth import lockout
from clarion.auth.revocation import end_sessions
from clarion.auth.tokens import issued_before_cutoff, load_user

BLACKLIST_APP = "rest_framework_simplejwt.token_blacklist"


def _user_of_refresh(token: RefreshToken):
    user_id = token.payload.get(jwt_settings.USER_ID_CLAIM)
    user = None if user_id is None or isinstance(user_id, (dict, list)) else load_user(user_id)
    if user is None or not user.is_active or issued_before_cutoff(user, token.payload.get("iat")):
        raise AuthenticationFailed("No active account found for the given token.", code="no_active_account")
    return user


class RefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        _user_of_refresh(RefreshToken(attrs["refresh"]))  # TokenError: the view answers 401
        return super().validate(attrs)


def _username_as_signed_in(data) -> str | None:
    """The username as the token serializer's CharField reads it (a number becomes its text,
    whitespace is trimmed), so that no spelling of a name escapes that name's lockout."""
    value = data.get(get_user_model().USERNAME_FIELD) if hasattr(data, "get") else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value).strip() or None


class ThrottledTokenObtainPairView(TokenObtainPairView):
    """Throttled per address, and locked per account after repeated failures
    (clarion.auth.lockout): 429 with Retry-After, even to the right password."""

    throttle_classes = [AuthRateThrottle]

    def post(self, request, *args, **kwargs):
        username = _username_as_signed_in(request.data)
        if not username:
            return super().post(request, *args, **kwargs)  # the serializer's field error
        try:
            lockout.check(username)
        except lockout.Locked as locked:
            return Response({"detail": locked.message}, status=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={"Retry-After": str(locked.retry_after)})
        # A wrong password is counted by the user_login_failed signal that authenticate() sends.
        response = super().post(request, *args, **kwargs)
        if response.status_code == status.HTTP_200_OK:
            lockout.succeeded(username)  # simplejwt signs in without login(): no user_logged_in
        return response


class ThrottledTokenRefreshView(TokenRefreshView):
    serializer_class = RefreshSerializer
    throttle_classes = [AuthRateThrottle]


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField(required=False, max_length=4096,
                                    help_text="The refresh token to blacklist (when simplejwt's blacklist app is "
                                              "installed); it also authenticates the request when no access token "
                                              "is sent.")


class LogoutView(APIView):
    """End every session of the caller: all their access and refresh tokens issued until now
    stop working and all their open sockets close with 4401, on every device."""

    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=LogoutSerializer, responses={204: None, 401: None})
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user if request.user.is_authenticated else None
        raw = serializer.validated_data.get("refresh")
        if raw:
            try:
                refresh = RefreshToken(raw)
            except TokenError as exc:
                raise InvalidToken(exc.args[0]) from None
            owner = _user_of_refresh(refresh)
            if user is not None and owner.pk != user.pk:
                raise PermissionDenied("The refresh token belongs to another user.")
            user = owner
            if BLACKLIST_APP in settings.INSTALLED_APPS:
                refresh.blacklist()
        if user is None:
            raise NotAuthenticated()
        end_sessions(user, "logout")
        return Response(status=status.HTTP_204_NO_CONTENT)
