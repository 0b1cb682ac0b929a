"""Web Push endpoints: the server's public key, a browser's subscription, and the read link of a
push (clients/web/src/push.ts and sw.ts use them; docs/delivery-push.md)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from clarion.conf import clarion_settings
from clarion.delivery import vapid
from clarion.delivery.channels.push import read_target
from clarion.delivery.models import PushSubscription
from clarion.notifications import services
from clarion.roles import role_of

# A browser profile holds one subscription per site; more than this for one user are old ones
# nobody unsubscribed (a reinstalled browser): the least recently used go, so that one push
# never fans out to a pile of dead endpoints.
MAX_SUBSCRIPTIONS_PER_USER = 20
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _push_service(host: str) -> bool:
    """Whether ``host`` is one of CLARION["PUSH_SERVICE_HOSTS"] (a ".domain" entry matches its
    subdomains; "*" any host): the server posts to subscription endpoints, so they are kept to
    the browsers' push services rather than anything a user names, the site's own network
    included."""
    for entry in clarion_settings.PUSH_SERVICE_HOSTS:
        entry = entry.lower()
        if entry == "*" and not _is_loopback(host):
            return True
        if host == entry or (entry.startswith(".") and host.endswith(entry)):
            return True
    return False


class PushKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField(max_length=200, help_text="The browser's P-256 public key: base64url of the "
                                                             "65-byte uncompressed point.")
    auth = serializers.CharField(max_length=100, help_text="The browser's auth secret: base64url of 16 bytes.")

    def validate_p256dh(self, value):
        try:
            raw = vapid.b64url_decode(value)
        except ValueError:
            raise serializers.ValidationError("expected base64url text (the browser's keys.p256dh)") from None
        if len(raw) != 65 or raw[0] != 4:
            raise serializers.ValidationError(f"expected an uncompressed P-256 point of 65 bytes starting with 0x04, "
                                              f"got {len(raw)} bytes")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise serializers.ValidationError("not a point on the P-256 curve") from None
        return value.rstrip("=")

    def validate_auth(self, value):
        try:
            raw = vapid.b64url_decode(value)
        except ValueError:
            raise serializers.ValidationError("expected base64url text (the browser's keys.auth)") from None
        if len(raw) != 16:
            raise serializers.ValidationError(f"expected a 16-byte secret, got {len(raw)} bytes")
        return value.rstrip("=")


class PushSubscriptionSerializer(serializers.Serializer):
    """The browser's ``PushSubscription.toJSON()``."""

    endpoint = serializers.CharField(max_length=1000, help_text="Where the push service takes pushes for this "
                                                                "browser: https (http only to a loopback host).")
    expirationTime = serializers.FloatField(allow_null=True, required=False,  # noqa: N815 (the browser's name)
                                            help_text="Milliseconds since the epoch, or null; not used.")
    keys = PushKeysSerializer()

    def validate_endpoint(self, value):
        parts = urlsplit(value)
        try:
            URLValidator(schemes=["https", "http"])(value)
        except DjangoValidationError:
            raise serializers.ValidationError("expected an absolute URL such as https://push.example.com/...") from None
        if parts.username or parts.password:
            raise serializers.ValidationError("an endpoint carries no user name or password")
        host = (parts.hostname or "").lower()
        if not _push_service(host):
            raise serializers.ValidationError(
                f"{host} is not a push service this site posts to (CLARION[\"PUSH_SERVICE_HOSTS\"])")
        if parts.scheme == "http" and not _is_loopback(host):
            raise serializers.ValidationError("the endpoint must be https (http only to a loopback host)")
        return value


class PushEndpointSerializer(serializers.Serializer):
    endpoint = serializers.CharField(max_length=1000)


class PushReadSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=500, help_text="The read_token of the push's payload.")


class PushSubscriptionRateThrottle(SimpleRateThrottle):
    """Subscription writes per user: a browser makes one when desktop notifications are turned
    on, so the rate only bounds a script. DRF's DEFAULT_THROTTLE_RATES["clarion_push_subscription"]
    changes it."""

    scope = "clarion_push_subscription"
    default_rate = "30/minute"

    def get_rate(self):
        return (api_settings.DEFAULT_THROTTLE_RATES or {}).get(self.scope, self.default_rate)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"user-{request.user.pk}"}


class VapidPublicKeyView(APIView):
    """The server's VAPID public key: the applicationServerKey browsers subscribe with."""

    permission_classes = [AllowAny]  # a public key; a host page may ask before signing in

    @extend_schema(responses={200: inline_serializer("VapidPublicKey", {
        "public_key": serializers.CharField(help_text="base64url of the 65-byte uncompressed P-256 point"),
    })})
    def get(self, request):
        return Response({"public_key": vapid.keys().public_key})


class PushSubscriptionsView(APIView):
    """The caller's Web Push subscriptions: one per browser that turned desktop notifications on."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [PushSubscriptionRateThrottle]

    @extend_schema(request=PushSubscriptionSerializer, responses={
        201: inline_serializer("PushSubscriptionSaved", {
            "endpoint": serializers.CharField(),
            "created": serializers.BooleanField(help_text="false: the endpoint was known and is updated (and now "
                                                          "belongs to the caller)"),
        }),
        400: OpenApiResponse(description="Field errors: endpoint not https, keys that are not a P-256 point "
                                         "and a 16-byte secret."),
    })
    def post(self, request):
        given = PushSubscriptionSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        user_agent = (request.headers.get("User-Agent") or "")[:300]
        with transaction.atomic():
            # The endpoint names one browser profile: posted again (new keys, another user signed
            # in on it) it is that row, updated and moved to the caller.
            row, created = PushSubscription.objects.update_or_create(
                endpoint=data["endpoint"],
                defaults={"user": request.user, "p256dh": data["keys"]["p256dh"], "auth": data["keys"]["auth"],
                          "user_agent": user_agent})
            extra = list(PushSubscription.objects.filter(user=request.user)
                         .order_by(Coalesce("last_used_at", "created_at").desc(), "-pk")
                         .values_list("pk", flat=True)[MAX_SUBSCRIPTIONS_PER_USER:])
            if extra:
                PushSubscription.objects.filter(pk__in=extra).delete()
        return Response({"endpoint": row.endpoint, "created": created}, status=status.HTTP_201_CREATED)

    @extend_schema(request=PushEndpointSerializer, responses={
        204: None, 404: OpenApiResponse(description="No subscription of the caller's has this endpoint."),
    })
    def delete(self, request):
        given = PushEndpointSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        deleted, _ = PushSubscription.objects.filter(user=request.user,
                                                     endpoint=given.validated_data["endpoint"]).delete()
        if not deleted:
            return Response({"detail": "No subscription of yours has this endpoint."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PushReadView(APIView):
    """Mark the notification of a push read, from its system notification: the token is the
    sign-in (it names one user and one notification, signed by this site)."""

    permission_classes = [AllowAny]
    # No session or token is read: the service worker has neither, and without a session
    # there is no CSRF to check.
    authentication_classes = []

    @extend_schema(request=PushReadSerializer, responses={
        204: None,
        400: OpenApiResponse(description="The token is not one this site signed, or it is older than 30 days."),
        404: OpenApiResponse(description="The notification is gone (deleted, expired) or no longer the user's."),
    })
    def post(self, request):
        given = PushReadSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            user_id, notification_id = read_target(given.validated_data["token"])
        except signing.BadSignature:
            raise ValidationError({"token": ["not a valid read token (or older than 30 days)"]}) from None
        User = get_user_model()
        try:
            user = User._default_manager.get(pk=user_id)
        except (User.DoesNotExist, ValueError, DjangoValidationError):
            user = None
        if user is None or not getattr(user, "is_active", True):
            raise ValidationError({"token": ["the user of this token no longer exists"]})
        read, _ = services.mark_as_read(user.pk, role_of(user), [notification_id])
        if not read:
            return Response({"detail": "This notification is gone."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)
