"""The sender's view of a notification's deliveries, and the one-click unsubscribe link.

Thin views over clarion.delivery.report and clarion.delivery.unsubscribe.
"""

from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from clarion.api.ids import db_id
from clarion.conf import clarion_settings
from clarion.delivery import audience, report, unsubscribe
from clarion.notifications import messages
from clarion.notifications.models import Notification, Preferences
from clarion.roles import is_notification_admin, role_of


class ReaderPages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100


_channel = inline_serializer("DeliveryChannelState", {
    "status": serializers.ChoiceField(["pending", "sending", "sent", "skipped", "failed"]),
    "reason": serializers.CharField(help_text="Why it was skipped (read, preference_off, muted, no_address, "
                                              "no_subscription, online, snoozed, expired, gone)."),
    "error": serializers.CharField(help_text="What the last failed attempt got."),
    "attempts": serializers.IntegerField(),
    "due_at": serializers.DateTimeField(),
    "sent_at": serializers.DateTimeField(allow_null=True),
}, allow_null=True)


class DeliveriesView(APIView):
    """Per reader of one notification: delivered, seen, read, emailed and pushed; with totals.
    For administrators and the notification's sender."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: inline_serializer("Deliveries", {
        "notification": inline_serializer("DeliveriesNotification", {
            "id": serializers.IntegerField(), "title": serializers.CharField(),
            "recipient_type": serializers.CharField(), "recipient_id": serializers.CharField(),
            "category": serializers.CharField(), "created_at": serializers.DateTimeField()}),
        "totals": serializers.DictField(child=serializers.IntegerField(),
                                        help_text="audience, delivered, seen, read, emailed, pushed, pending, "
                                                  "failed, skipped"),
        "summary": serializers.CharField(help_text='"41 of 60 students read, 12 emailed, 3 failed"'),
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": inline_serializer("DeliveryReader", {
            "user": inline_serializer("DeliveryUser", {"id": serializers.IntegerField(),
                                                       "username": serializers.CharField()}),
            "delivered_at": serializers.DateTimeField(allow_null=True),
            "seen_at": serializers.DateTimeField(allow_null=True),
            "read_at": serializers.DateTimeField(allow_null=True),
            "channels": inline_serializer("DeliveryChannels", {"email": _channel, "push": _channel}),
        }, many=True),
    }), 403: OpenApiResponse(description="Neither an administrator nor the sender"),
        404: OpenApiResponse(description="No such notification")})
    def get(self, request, pk):
        notification = Notification.objects.filter(pk=db_id(pk)).first()
        if notification is None:
            raise Http404
        if not (_is_admin(request.user) or (notification.created_by_id == request.user.pk
                                            and is_notification_admin(request.user))):
            raise PermissionDenied("only administrators and the notification's sender can see its deliveries")
        readers = audience.readers(notification)
        pages = ReaderPages()
        page = pages.paginate_queryset(readers, request, view=self)
        counts = report.totals(notification, readers)
        return Response({
            "notification": {"id": notification.pk, "title": notification.title,
                             "recipient_type": notification.recipient_type,
                             "recipient_id": notification.recipient_id, "category": notification.category,
                             "created_at": report._timestamp(notification.created_at)},
            "totals": counts,
            "summary": report.summary(notification, counts),
            "count": pages.page.paginator.count,
            "next": pages.get_next_link(),
            "previous": pages.get_previous_link(),
            "results": report.reader_rows(notification, page),
        })


def _is_admin(user) -> bool:
    return user.is_superuser or role_of(user) in clarion_settings.ADMIN_ROLES


@csrf_exempt  # the signed token is the authority; mail providers post without a CSRF token (RFC 8058)
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token):
    """GET: a page with a button (link scanners fetch links and must not unsubscribe anyone);
    POST: the button, or the mail provider's one-click ``List-Unsubscribe=One-Click``."""
    found = unsubscribe.read(token)
    user = None
    if found is not None:
        user = get_user_model()._default_manager.filter(pk=found[0]).first()
    if user is None:
        return render(request, "clarion/unsubscribe.html", {"invalid": True}, status=400)
    user_id, category = found
    spec = clarion_settings.CATEGORIES.get(category)
    if category != unsubscribe.ALL_CATEGORIES and spec is None:
        return render(request, "clarion/unsubscribe.html", {"invalid": True}, status=400)
    label = spec.get("label", category) if spec else None
    locale = messages.locale_of(user, Preferences.objects.filter(user_id=user.pk).values_list("locale", flat=True)
                                .first() or "")
    with translation.override(locale):
        if request.method == "POST":
            unsubscribe.turn_off(user.pk, category)
            return render(request, "clarion/unsubscribe.html", {"done": True, "label": label})
        return render(request, "clarion/unsubscribe.html", {"label": label, "token": token})
