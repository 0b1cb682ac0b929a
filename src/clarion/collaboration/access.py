"""Which rooms exist and who may enter them.

``project-<id>`` is the room of a project: its members, its advisor and admins may enter,
and the row is created the first time someone does. Any other key names a room created
through REST with an explicit member list (admins may enter every room); to anyone else such a
room is "missing", exactly like a key that names nothing, so that neither REST nor the socket
(4404) tells a probing user which keys exist. Project rooms answer "forbidden" as their
projects do: a project id is a sequential number, so that one exists says nothing a key could.
"""

import re

from django.db import IntegrityError, transaction

from clarion.collaboration.models import Room, RoomMember
from clarion.projects import access as project_access
from clarion.projects.models import Project

ROOM_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PROJECT_ROOM = re.compile(r"^project-([1-9][0-9]{0,17})$")


def is_valid_key(key: str) -> bool:
    return bool(ROOM_KEY.match(key or ""))


def project_room(project: Project) -> Room:
    key = f"project-{project.pk}"
    room = Room.objects.filter(key=key).first()
    if room is None:
        try:
            with transaction.atomic():
                room = Room.objects.create(key=key, title=project.title, project=project)
        except IntegrityError:  # two first visitors at once
            room = Room.objects.get(key=key)
    return room


def resolve_room(user, role, key: str) -> tuple[str, Room | None]:
    """("allowed", room), ("forbidden", None) or ("missing", None)."""
    if not is_valid_key(key):
        return "missing", None
    match = PROJECT_ROOM.match(key)
    if match:
        answer = project_access.access_to(user, role, int(match.group(1)))
        if answer != "allowed":
            return answer, None
        return "allowed", project_room(Project.objects.get(pk=int(match.group(1))))
    room = Room.objects.filter(key=key, project__isnull=True).first()
    if room is None:
        return "missing", None
    if project_access.is_admin(user, role) or RoomMember.objects.filter(room=room, user_id=user.pk).exists():
        return "allowed", room
    return "missing", None


def may_manage(user, role, room: Room) -> bool:
    return project_access.is_admin(user, role) or (room.created_by_id is not None and room.created_by_id == user.pk)


def visible_rooms(user, role):
    rooms = Room.objects.filter(project__isnull=True)
    return rooms if project_access.is_admin(user, role) else rooms.filter(memberships__user_id=user.pk)
