"""Thin views: validate, call a service, serialize. Writes push live after commit."""

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from clarion.api import idempotency, resume
from clarion.api.filters import NotificationFilter
from clarion.api.ids import db_id
from clarion.api.pagination import GroupPages, NewestFirst
from clarion.api.permissions import CanSendNotifications
from clarion.api.throttling import TicketRateThrottle
from clarion.api.serializers import (
    BulkCreatedSerializer,
    IdsSerializer,
    MeSerializer,
    MuteSerializer,
    PreferencesPatchSerializer,
    PreferencesSerializer,
    SnoozeSerializer,
    StateResultSerializer,
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
from clarion.notifications import grouping, inbox, messages, preferences, queries, services
from clarion.notifications import reader as readers
from clarion.notifications import resume as notification_resume
from clarion.protocol import encode_cursor
from clarion.roles import is_notification_admin, role_of


# The list's own filters and pages: a resume (?after=) follows the socket's rule instead.
_LIST_ONLY = ("unread", "category", "topic", "q", "archived", "snoozed", "include_muted", "grouped", "cursor",
              "page_size")

SnapshotSerializer = inline_serializer("NotificationSnapshot", {
    "notifications": NotificationSerializer(many=True, help_text="The newest unread, newest first."),
    "unread_count": serializers.IntegerField(),
    "unseen_count": serializers.IntegerField(),
    "cursor": serializers.CharField(help_text="Poll from here with ?after=, or resume a socket with ?cursor=."),
})

NotificationPageSerializer = inline_serializer("NotificationPage", {
    "next": serializers.URLField(allow_null=True),
    "previous": serializers.URLField(allow_null=True),
    "results": NotificationSerializer(many=True),
})

_RESUME_SERIALIZER = resume.envelope_serializer(
    "NotificationResume", NotificationSerializer, counts=True,
    snapshot_help="With cursor_expired: the fresh snapshot, as GET /api/notifications/snapshot/ answers it.")


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
        return queries.visible_to(self.request.user.pk, self.role, self.reader)

    @property
    def reader(self):
        # The reader (watermarks, mutes, language) is read once and shared with the list's filters.
        if not hasattr(self.request, "clarion_reader"):
            self.request.clarion_reader = readers.load(self.request.user.pk, self.role)
        return self.request.clarion_reader

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action in ("list", "retrieve"):
            context["locale"] = messages.locale_of(self.request.user, self.reader.locale)
        return context

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    @extend_schema(
        parameters=resume.AFTER_PARAMETERS,
        responses={200: PolymorphicProxySerializer(
            component_name="NotificationListOrResume",
            serializers=[NotificationPageSerializer, _RESUME_SERIALIZER], resource_type_field_name=None,
            many=False)},
        description=(
            "The caller's inbox, newest first. With grouped=true the results are groups instead: "
            "{group_key, count, unread_count, summary, latest, actors} (docs/protocol.md, Grouping). "
            "With after=<cursor>: what was published after the cursor, oldest first, as a socket's "
            "resume replays it (docs/protocol.md, Polling resume)."))
    def list(self, request, *args, **kwargs):
        resumed = resume.requested(request, alone=_LIST_ONLY)
        if resumed is not None:
            return self._resume(request, *resumed)
        if request.query_params.get("grouped", "").lower() in ("true", "1", "yes"):
            rows = self.filter_queryset(self.get_queryset())
            paginator = GroupPages()
            page = paginator.paginate_queryset(grouping.grouped(rows), request, view=self)
            locale = messages.locale_of(request.user, self.reader.locale)
            return paginator.get_paginated_response(grouping.describe(rows, page, locale))
        return super().list(request, *args, **kwargs)

    def _resume(self, request, after, limit):
        page, counts = notification_resume.page(request.user, self.role, after, limit)
        return resume.page_response(page, extra=counts.as_dict() if counts else None,
                                    expired_snapshot=lambda: self._snapshot_data(request, page.expired_because))

    def _snapshot_data(self, request, expired_because=""):
        snap = notification_resume.snapshot(request.user, self.role, None)
        data = {"notifications": snap.log.recent, **snap.extra, "cursor": encode_cursor(snap.log.head)}
        if expired_because:
            data["cursor_expired"] = expired_because
        return data

    @extend_schema(responses={200: SnapshotSerializer})
    @action(detail=False, methods=["get"])
    def snapshot(self, request):
        """What a socket's connect without a cursor sends first (recent_notifications): the newest
        unread, the counts, and the cursor to poll from with ?after=."""
        return Response(self._snapshot_data(request))

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
        return Response({"ids": read_ids, **queries.counts(request.user.pk, self.role).as_dict()})

    @extend_schema(request=None, responses={200: ReadResultSerializer})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        ids = services.mark_all_as_read(request.user.pk, self.role)
        return Response({"ids": ids, **queries.counts(request.user.pk, self.role).as_dict()})

    @extend_schema(responses={200: UnreadCountSerializer})
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        """Unread and unseen counts of the caller's inbox."""
        return Response(queries.counts(request.user.pk, self.role).as_dict())

    # -- inbox states: the socket's actions, over HTTP (clarion.notifications.inbox) ---------

    @extend_schema(request=IdsSerializer, responses={200: StateResultSerializer, 404: None})
    @action(detail=False, methods=["post"])
    def seen(self, request):
        """Mark these notifications seen (what a list shows when it opens)."""
        return self._change(request, inbox.SEEN)

    @extend_schema(request=None, responses={200: StateResultSerializer})
    @action(detail=False, methods=["post"], url_path="seen-all")
    def seen_all(self, request):
        """Everything so far is seen: the badge goes to 0."""
        inbox.mark_all_seen(request.user.pk, self.role)
        return Response({"ids": [], "state": inbox.ALL_SEEN, **queries.counts(request.user.pk, self.role).as_dict()})

    @extend_schema(request=IdsSerializer, responses={200: StateResultSerializer, 404: None})
    @action(detail=False, methods=["post"])
    def archive(self, request):
        """Move these notifications out of the default list (?archived=true lists them)."""
        return self._change(request, inbox.ARCHIVED)

    @extend_schema(request=IdsSerializer, responses={200: StateResultSerializer, 404: None})
    @action(detail=False, methods=["post"])
    def unarchive(self, request):
        return self._change(request, inbox.UNARCHIVED)

    @extend_schema(request=IdsSerializer, responses={200: StateResultSerializer, 404: None})
    @action(detail=False, methods=["post"])
    def unread(self, request):
        """Mark these notifications unread again (they stay seen)."""
        return self._change(request, inbox.UNREAD)

    @extend_schema(request=inline_serializer("SnoozeRequest", {
        "ids": IdsSerializer().fields["ids"], "until": SnoozeSerializer().fields["until"]}),
        responses={200: StateResultSerializer, 404: None})
    @action(detail=False, methods=["post"])
    def snooze(self, request):
        """Out of the list and the counts until ``until``; then back as new, live to open tabs."""
        until = SnoozeSerializer(data=request.data)
        until.is_valid(raise_exception=True)
        return self._change(request, inbox.SNOOZED, until.validated_data["until"])

    @extend_schema(request=IdsSerializer, responses={200: ReadResultSerializer, 404: None}, operation_id="notifications_read_many")
    @action(detail=False, methods=["post"], url_path="read")
    def read_many(self, request):
        """Mark these notifications (or one group's) read."""
        ids = self._requested_ids(request)
        read_ids, not_found = services.mark_as_read(request.user.pk, self.role, ids)
        if not read_ids:
            return Response({"detail": "No notifications with these ids for this user.", "ids": not_found},
                            status=status.HTTP_404_NOT_FOUND)
        body = {"ids": read_ids, **queries.counts(request.user.pk, self.role).as_dict()}
        if not_found:
            body["not_found"] = not_found
        return Response(body)

    def _requested_ids(self, request):
        given = IdsSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        if "group_key" in given.validated_data:
            return inbox.ids_of_group(request.user.pk, self.role, given.validated_data["group_key"])
        return given.validated_data["ids"]

    def _change(self, request, state, until=None):
        ids = self._requested_ids(request)
        try:
            changed, not_found = inbox.change(request.user.pk, self.role, state, ids, until=until)
        except inbox.SnoozeRefused as refused:
            raise ValidationError({"until": [str(refused)]}) from None
        if not changed:
            return Response({"detail": "No notifications with these ids for this user.", "ids": not_found},
                            status=status.HTTP_404_NOT_FOUND)
        body = {"ids": changed, "state": state, **queries.counts(request.user.pk, self.role).as_dict()}
        if until is not None:
            body["until"] = until
        if not_found:
            body["not_found"] = not_found
        return Response(body)


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


class PreferencesView(APIView):
    """The caller's preferences: per category and channel on or off, and their language."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: PreferencesSerializer})
    def get(self, request):
        return Response(preferences.document(readers.load(request.user.pk, role_of(request.user))))

    @extend_schema(request=PreferencesPatchSerializer, responses={200: PreferencesSerializer})
    def patch(self, request):
        """Change some of them; a locked category cannot be turned off (400 naming it)."""
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ['expected a JSON object like {"categories": {"comment": '
                                                        '{"in_app": false}}}']})
        try:
            return Response(preferences.update(request.user.pk, role_of(request.user), dict(request.data)))
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None


class MutesView(APIView):
    """The topics the caller muted: their notifications are stored but neither pushed nor counted."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MuteSerializer(many=True)})
    def get(self, request):
        return Response(preferences.mutes_document(readers.load(request.user.pk, role_of(request.user))))

    @extend_schema(request=MuteSerializer, responses={201: MuteSerializer})
    def post(self, request):
        mute = MuteSerializer(data=request.data)
        mute.is_valid(raise_exception=True)
        try:
            body = preferences.mute(request.user.pk, role_of(request.user), mute.validated_data["topic"],
                                    mute.validated_data.get("until"))
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(body, status=status.HTTP_201_CREATED)


class MuteDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None, 404: OpenApiResponse(description="The topic is not muted.")})
    def delete(self, request, topic):
        if not preferences.unmute(request.user.pk, role_of(request.user), topic):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)
