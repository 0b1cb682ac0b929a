"""REST for projects and rooms. Thin: permissions from clarion.projects.access and
clarion.collaboration.access, writes through the services (which push after commit)."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from clarion.api import resume
from clarion.api.ids import MAX_DB_ID, db_id
from clarion.api.pagination import NewestFirst
from clarion.api.throttling import RoomCreateRateThrottle
from clarion.collaboration import access as room_access
from clarion.collaboration import log as chat_log
from clarion.collaboration import services as chat
from clarion.collaboration.models import ChatMessage, Room
from clarion.collaboration.payloads import message_payload, room_payload
from clarion.conf import clarion_settings
from clarion.projects import access, services
from clarion.projects import log as project_log
from clarion.projects.models import ProjectEvent, ProjectStatus
from clarion.projects.payloads import event_payload, project_payload
from clarion.protocol import encode_cursor
from clarion.roles import role_of


def _field_errors(exc: DjangoValidationError):
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


def _user(user_id, field):
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise ValidationError({field: f"no user with id {user_id}"})
    return user


def _user_or_none(raw_id):
    user_id = db_id(raw_id)
    return None if user_id is None else get_user_model().objects.filter(pk=user_id).first()


class ProjectWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=10000, allow_blank=True, required=False, default="")
    status = serializers.SlugField(max_length=32, required=False, default="proposal")
    advisor = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_DB_ID)
    members = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_DB_ID), required=False,
                                    default=list,
                                    max_length=200)


class ProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    advisor = serializers.IntegerField(allow_null=True)
    members = serializers.ListField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class MemberSerializer(serializers.Serializer):
    user = serializers.IntegerField(min_value=1, max_value=MAX_DB_ID)


class CommentSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)


class SubmissionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["submission", "milestone"])
    title = serializers.CharField(max_length=200)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class ProjectEventSerializer(serializers.Serializer):
    """The project event payload (docs/protocol.md), the same object the socket sends."""

    id = serializers.IntegerField()
    project = serializers.IntegerField()
    kind = serializers.CharField()
    actor = UserRefSerializer(allow_null=True)
    data = serializers.DictField()
    created_at = serializers.DateTimeField()
    cursor = serializers.CharField(allow_null=True)


_EVENTS = ProjectEventSerializer(many=True)
_EVENTS_RESUME = resume.envelope_serializer(
    "ProjectEventsResume", ProjectEventSerializer,
    snapshot_help="With cursor_expired: the project_snapshot a socket's fresh connect sends ({project, events, cursor}).")


class ProjectViewSet(viewsets.ViewSet):
    """Projects: admins see and change all; advisors the projects they advise; students the
    projects they belong to (title and description only)."""

    permission_classes = [IsAuthenticated]
    serializer_class = ProjectSerializer  # for the OpenAPI schema; payloads come from project_payload
    lookup_value_regex = r"[0-9]+"

    @property
    def role(self):
        if not hasattr(self, "_role"):
            self._role = role_of(self.request.user)
        return self._role

    def _project(self, pk):
        project_id = db_id(pk)
        if project_id is None:
            raise Http404
        project = access.visible_projects(self.request.user, self.role).filter(pk=project_id).first()
        if project is None:
            raise Http404
        return project

    def _manage(self, project):
        if not access.may_manage(self.request.user, self.role, project):
            raise PermissionDenied("only the project's advisor or an admin may do this")

    @extend_schema(responses={200: ProjectSerializer(many=True)})
    def list(self, request):
        projects = access.visible_projects(request.user, self.role).prefetch_related("memberships")
        return Response([project_payload(p, sorted(m.user_id for m in p.memberships.all())) for p in projects])

    @extend_schema(responses={200: ProjectSerializer})
    def retrieve(self, request, pk=None):
        return Response(project_payload(self._project(pk)))

    @extend_schema(request=ProjectWriteSerializer, responses={201: ProjectSerializer})
    def create(self, request):
        if not access.may_create(request.user, self.role):
            raise PermissionDenied("only advisors and admins may create projects")
        body = ProjectWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        advisor = _user(data["advisor"], "advisor") if data.get("advisor") else None
        if advisor is None and self.role == "advisor":
            advisor = request.user
        try:
            project = services.create_project(title=data["title"], description=data["description"],
                                              status=data["status"], advisor=advisor,
                                              members=data["members"], actor=request.user)
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        return Response(project_payload(project), status=status.HTTP_201_CREATED)

    @extend_schema(request=ProjectWriteSerializer(partial=True), responses={200: ProjectSerializer})
    def partial_update(self, request, pk=None):
        project = self._project(pk)
        body = ProjectWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        changes.pop("members", None)
        if {"status", "advisor"} & set(changes):
            self._manage(project)
        if "advisor" in changes:
            changes["advisor"] = _user(changes["advisor"], "advisor") if changes["advisor"] else None
        try:
            project = services.update_project(project, actor=request.user, **changes)
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        return Response(project_payload(project))

    def destroy(self, request, pk=None):
        project = self._project(pk)
        if not access.is_admin(request.user, self.role):
            raise PermissionDenied("only admins may delete projects")
        services.delete_project(project)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=MemberSerializer, responses={200: ProjectSerializer})
    @action(detail=True, methods=["post"])
    def members(self, request, pk=None):
        project = self._project(pk)
        self._manage(project)
        body = MemberSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.add_member(project, _user(body.validated_data["user"], "user"), actor=request.user)
        return Response(project_payload(project))

    @extend_schema(request=None, responses={200: ProjectSerializer})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<user_id>[0-9]+)")
    def remove_member(self, request, pk=None, user_id=None):
        project = self._project(pk)
        self._manage(project)
        user = _user_or_none(user_id)
        if user is None or not services.remove_member(project, user, actor=request.user):
            raise Http404
        return Response(project_payload(project))

    @extend_schema(request=CommentSerializer, responses={201: None})
    @action(detail=True, methods=["post"])
    def comments(self, request, pk=None):
        project = self._project(pk)
        body = CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        event = services.add_comment(project, body.validated_data["text"], request.user)
        return Response(event_payload(event), status=status.HTTP_201_CREATED)

    @extend_schema(request=SubmissionSerializer, responses={201: None})
    @action(detail=True, methods=["post"])
    def submissions(self, request, pk=None):
        project = self._project(pk)
        body = SubmissionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            event = services.submit(project, actor=request.user, **body.validated_data)
        return Response(event_payload(event), status=status.HTTP_201_CREATED)

    @extend_schema(parameters=resume.AFTER_PARAMETERS, responses={200: PolymorphicProxySerializer(
        component_name="ProjectEventsOrResume", serializers=[_EVENTS, _EVENTS_RESUME], resource_type_field_name=None,
        many=False)})
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The project's events in log order (the first 500). With ``?after=<cursor>``: those
        published after it, in the resume envelope (docs/protocol.md, "Polling resume")."""
        project = self._project(pk)
        resumed = resume.requested(request)
        if resumed is not None:
            after, limit = resumed
            return resume.page_response(
                project_log.page(project.pk, after, limit),
                expired_snapshot=lambda: _project_snapshot(project))
        rows = ProjectEvent.objects.filter(project=project, seq__isnull=False).select_related("actor").order_by("seq")
        return Response([event_payload(e) for e in rows[:500]])


class StatusSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    label = serializers.CharField()


class StatusViewSet(viewsets.ViewSet):
    permission_classes = [IsAuthenticated]
    serializer_class = StatusSerializer

    def list(self, request):
        return Response([{"slug": s.slug, "label": s.label} for s in ProjectStatus.objects.all()])


class RoomWriteSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    members = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_DB_ID), required=False,
                                    default=list, max_length=500)

    def validate_title(self, value):
        problem = chat.title_error(value)
        if problem:
            raise ValidationError(problem)
        return value


class RoomSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    project = serializers.IntegerField(allow_null=True)
    members = serializers.ListField(child=serializers.IntegerField())
    created_by = serializers.IntegerField(allow_null=True)


class ChatMessageSerializer(serializers.Serializer):
    """The chat message payload (docs/protocol.md), the same object the socket sends."""

    id = serializers.IntegerField()
    room = serializers.CharField()
    event = serializers.ChoiceField(choices=["created", "edited", "deleted"])
    author = UserRefSerializer(allow_null=True)
    body = serializers.CharField()
    client_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()
    cursor = serializers.CharField(allow_null=True)


_MESSAGES = ChatMessageSerializer(many=True)
_MESSAGES_RESUME = resume.envelope_serializer(
    "RoomMessagesResume", ChatMessageSerializer,
    snapshot_help="With cursor_expired: the room_snapshot a socket's fresh connect sends ({room, messages, cursor}).")


_MEMBERS_DENIED = "only the room's creator or an admin may change its members; members may remove themselves"


class RoomViewSet(viewsets.ViewSet):
    """Rooms with an explicit member list (project rooms exist by themselves: project-<id>).

    A room the caller may not enter is 404 everywhere, like a key that names nothing."""

    permission_classes = [IsAuthenticated]
    serializer_class = RoomSerializer  # for the OpenAPI schema; payloads come from room_payload
    pagination_class = NewestFirst
    lookup_value_regex = r"[^/]+"

    def get_throttles(self):
        return [RoomCreateRateThrottle()] if self.action == "create" else super().get_throttles()

    def _room(self, key) -> Room:
        answer, room = room_access.resolve_room(self.request.user, role_of(self.request.user), key)
        if answer != "allowed":
            raise Http404
        return room

    def _manage(self, room, message):
        if room.project_id is not None or not room_access.may_manage(self.request.user, role_of(self.request.user),
                                                                      room):
            raise PermissionDenied(message)

    @extend_schema(responses={200: RoomSerializer(many=True)})
    def list(self, request):
        """The rooms the caller is in (every room for admins), newest first, in cursor pages."""
        paginator = self.pagination_class()
        rooms = room_access.visible_rooms(request.user, role_of(request.user)).prefetch_related("memberships")
        page = paginator.paginate_queryset(rooms, request, view=self)
        return paginator.get_paginated_response(
            [room_payload(r, sorted(m.user_id for m in r.memberships.all())) for r in page])

    def retrieve(self, request, pk=None):
        return Response(room_payload(self._room(pk)))

    @extend_schema(request=RoomWriteSerializer, responses={201: RoomSerializer})
    def create(self, request):
        """Create a room; the caller is its creator and a member. A taken key is 400 whoever
        asks; over CLARION["ROOM_CREATE_THROTTLE_RATE"] 429, over CLARION["MAX_ROOMS_PER_USER"] 403
        (administrators are exempt from both)."""
        body = RoomWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        members = [_user(pk, "members") for pk in dict.fromkeys(data["members"])]
        role = role_of(request.user)
        max_rooms = 0 if access.is_admin(request.user, role) else clarion_settings.MAX_ROOMS_PER_USER
        try:
            room = chat.create_room(key=data["key"], title=data["title"], members=members, creator=request.user,
                                    max_rooms=max_rooms)
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        except chat.RoomLimitReached as exc:
            raise PermissionDenied(str(exc), code="room_limit") from None
        return Response(room_payload(room), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None, 403: None, 404: None})
    def destroy(self, request, pk=None):
        """Delete the room, its messages with it (its creator or an admin); its sockets close
        with 4404. A project's room goes with its project (403)."""
        room = self._room(pk)
        self._manage(room, "only the room's creator or an admin may delete it; a project's room goes with its project")
        chat.delete_room(room)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=MemberSerializer, responses={200: RoomSerializer})
    @action(detail=True, methods=["post"])
    def members(self, request, pk=None):
        room = self._room(pk)
        self._manage(room, "only the room's creator or an admin may change its members")
        body = MemberSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        chat.add_room_member(room, _user(body.validated_data["user"], "user"))
        return Response(room_payload(room))

    @extend_schema(request=None, responses={200: RoomSerializer, 204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<user_id>[0-9]+)")
    def remove_member(self, request, pk=None, user_id=None):
        """Remove a member (the room's creator or an admin), or leave the room (any member,
        their own id: 204, and their sockets on the room close with 4403). The creator cannot
        leave the room they keep: they delete it."""
        room = self._room(pk)
        if room.project_id is None and db_id(user_id) == request.user.pk:
            if room.created_by_id == request.user.pk:
                raise PermissionDenied("you created this room: delete it instead of leaving it")
            if not chat.remove_room_member(room, request.user):
                raise Http404  # an administrator who was never a member
            return Response(status=status.HTTP_204_NO_CONTENT)
        self._manage(room, _MEMBERS_DENIED)
        user = _user_or_none(user_id)
        if user is None or not chat.remove_room_member(room, user):
            raise Http404
        return Response(room_payload(room))

    @extend_schema(parameters=resume.AFTER_PARAMETERS, responses={200: PolymorphicProxySerializer(
        component_name="RoomMessagesOrResume", serializers=[_MESSAGES, _MESSAGES_RESUME],
        resource_type_field_name=None, many=False)})
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        """The room's messages in log order, the latest state of each (the first 500). With
        ``?after=<cursor>``: the changes published after it, in the resume envelope
        (docs/protocol.md, "Polling resume")."""
        room = self._room(pk)
        resumed = resume.requested(request)
        if resumed is not None:
            after, limit = resumed
            return resume.page_response(chat_log.page(room, after, limit),
                                        expired_snapshot=lambda: _room_snapshot(room))
        rows = ChatMessage.objects.filter(room=room, seq__isnull=False).select_related("author").order_by("seq")
        return Response([message_payload(m, room.key) for m in rows[:500]])


def _project_snapshot(project) -> dict:
    """The project_snapshot a socket's connect without a cursor sends."""
    snap = project_log.read(project.pk, None)
    return {"project": project_payload(project), "events": snap.recent, "cursor": encode_cursor(snap.head)}


def _room_snapshot(room) -> dict:
    """The room_snapshot a socket's connect without a cursor sends."""
    snap = chat_log.read(room, None)
    return {"room": room_payload(room), "messages": snap.recent, "cursor": encode_cursor(snap.head)}
