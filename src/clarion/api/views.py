"""Thin views: validate, call a service, serialize. Writes push live after commit."""

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from clarion.api import idempotency
from clarion.api.filters import NotificationFilter
from clarion.api.ids import db_id
from clarion.api.pagination import NewestFirst
from clarion.api.permissions import CanSendNotifications
from clarion.api.throttling import TicketRateThrottle
from clarion.api.serializers import (
    BulkCreatedSerializer,
    MeSerializer,
    NotificationBulkCreateSerializer,
    NotificationCreateSerializer,
    NotificationSerializer,
    ReadResultSerializer,
    TicketSerializer,
    UnreadCountSerializer,
)
from clarion.auth import ui_sessions
from clarion.auth.tickets import issue_ticket
from clarion.auth.tokens import ui_session_of
from clarion.notifications import queries, services
from clarion.roles import is_notification_admin, role_of


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                          viewsets.GenericViewSet):
    """The caller's notifications: personal, their role's and everyone's."""

    permission_classes = [IsAuthenticated, CanSendNotifications]
    pagination_class = NewestFirst

    def get_serializer_class(self):
        if self.action == "bulk":
            return NotificationBulkCreateSerializer
        return NotificationCreateSerializer if self.action == "create" else NotificationSerializer

    @property
    def role(self):
        if not hasattr(self, "_role"):
            self._role = role_of(self.request.user)
        return self._role

    # ?category=&topic=&unread=&q= on the list (clarion.api.filters); the other actions take none.
    filter_backends = [DjangoFilterBackend]
    filterset_class = NotificationFilter

    def get_queryset(self):
        return queries.visible_to(self.request.user.pk, self.role)

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=NotificationCreateSerializer, responses={201: NotificationSerializer},
                   parameters=[idempotency.HEADER_PARAMETER])
    def create(self, request, *args, **kwargs):
        return idempotency.respond_once(request, "POST /api/notifications/",
                                        lambda: super(NotificationViewSet, self).create(request, *args, **kwargs))

    @extend_schema(request=NotificationBulkCreateSerializer, responses={201: BulkCreatedSerializer},
                   parameters=[idempotency.HEADER_PARAMETER])
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Create up to 1,000 notifications in one transaction: all of them, or none and a 400."""
        return idempotency.respond_once(request, "POST /api/notifications/bulk/", lambda: self._bulk(request))

    def _bulk(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = serializer.save()
        return Response({"ids": [row.pk for row in created]}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ReadResultSerializer, 404: None})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification_id = db_id(pk)
        if notification_id is None:
            raise Http404
        read_ids, _ = services.mark_as_read(request.user.pk, self.role, [notification_id])
        if not read_ids:
            raise Http404
        return Response({"ids": read_ids, "unread_count": queries.unread_count(request.user.pk, self.role)})

    @extend_schema(request=None, responses={200: ReadResultSerializer})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        ids = services.mark_all_as_read(request.user.pk, self.role)
        return Response({"ids": ids, "unread_count": queries.unread_count(request.user.pk, self.role)})

    @extend_schema(responses={200: UnreadCountSerializer})
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        return Response({"unread_count": queries.unread_count(request.user.pk, self.role)})


class TicketView(APIView):
    """A single-use connect ticket: open the socket with ?ticket= instead of a JWT in the URL."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [TicketRateThrottle]

    @extend_schema(request=None, responses={201: TicketSerializer})
    def post(self, request):
        # A socket opened with the ticket lives no longer than the credential that asked for it,
        # and closes when the web UI session that credential came from is signed out.
        if hasattr(request.auth, "get"):  # an access token
            exp, sid = request.auth.get("exp"), ui_session_of(request.auth) or ""
        else:  # the session cookie: it expires as a token minted now would
            if ui_sessions.outlived(request.user, request.session):
                raise NotAuthenticated("This session has ended; sign in again.")
            exp, sid = ui_sessions.credential_expiry(), ui_sessions.session_id(request.session)
        ticket, ttl = issue_ticket(request.user, request.headers.get("Origin", ""), auth_expires_at=exp,
                                   ui_session=sid)
        return Response({"ticket": ticket, "expires_in": ttl}, status=status.HTTP_201_CREATED)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        user = request.user
        return Response(MeSerializer.for_user(user, role_of(user), is_notification_admin(user)))
