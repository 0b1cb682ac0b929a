"""Chat and rooms: every change is stored, then sequenced in the room's log and pushed after
commit (clarion.streams). Edits and deletions re-sequence the message, so a client
resuming from a cursor gets its latest state."""

import unicodedata

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clarion.collaboration.access import PROJECT_ROOM, is_valid_key
from clarion.collaboration.models import ChatMessage, Room, RoomMember
from clarion.protocol.frames import MAX_CHAT_BODY
from clarion.realtime import groups
from clarion.collaboration.log import CHAT_LOG
from clarion.streams import sequencer
from clarion.realtime.publish import publish_control_on_commit


class MessageNotFound(Exception):
    pass


def _check_body(body):
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_CHAT_BODY:
        raise ValidationError({"body": f"body must be a non-empty string of at most {MAX_CHAT_BODY} characters"})


def post_message(room, author, body: str, client_id: str = "") -> ChatMessage:
    _check_body(body)
    with transaction.atomic():
        message = ChatMessage.objects.create(room=room, author=author, body=body, client_id=client_id[:64])
        sequencer.on_commit(CHAT_LOG, CHAT_LOG.key(room.pk), [message])
    return message


def _own_message(room, user, message_id) -> ChatMessage:
    message = ChatMessage.objects.select_for_update().filter(pk=message_id, room=room, deleted=False).first()
    if message is None:
        raise MessageNotFound(message_id)
    if message.author_id != user.pk:
        raise PermissionDenied("only the author may change a message")
    return message


def edit_message(room, user, message_id: int, body: str) -> ChatMessage:
    _check_body(body)
    with transaction.atomic():
        message = _own_message(room, user, message_id)
        message.body, message.edited_at, message.seq = body, timezone.now(), None
        message.save(update_fields=["body", "edited_at", "seq"])
        sequencer.on_commit(CHAT_LOG, CHAT_LOG.key(room.pk))
    return message


def delete_message(room, user, message_id: int) -> ChatMessage:
    with transaction.atomic():
        message = _own_message(room, user, message_id)
        # The text goes: a deleted message is a tombstone that tells clients to drop it.
        message.body, message.deleted, message.seq = "", True, None
        message.save(update_fields=["body", "deleted", "seq"])
        sequencer.on_commit(CHAT_LOG, CHAT_LOG.key(room.pk))
    return message


KEY_TAKEN = "this key is taken; choose another"
# Characters a title must not hold: control characters (C0, C1, and with them NUL, which
# PostgreSQL refuses), lone surrogates, line and paragraph separators, and the bidirectional
# embeddings, overrides and isolates that can make a title display as something else.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}


class RoomLimitReached(Exception):
    """The creator keeps as many rooms as they may (CLARION["MAX_ROOMS_PER_USER"])."""

    def __init__(self, limit: int):
        super().__init__(f"you keep {limit} rooms, the most one user may create; delete one of them first")
        self.limit = limit


def title_error(title) -> str | None:
    """Why ``title`` cannot be a room's title, or None."""
    if not isinstance(title, str) or len(title) > 200:
        return "title must be a string of at most 200 characters"
    for ch in title:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"title must not contain control characters (found U+{ord(ch):04X})"
    return None


@transaction.atomic
def create_room(*, key: str, title: str = "", members=(), creator=None, max_rooms: int = 0) -> Room:
    """A room with an explicit member list (the creator is always one). ``max_rooms`` > 0 caps
    how many rooms the creator's existing ones may number (REST passes the setting).

    A taken key is refused with one answer whoever asks, whether or not they could see the room."""
    if not is_valid_key(key) or PROJECT_ROOM.match(key) or key.startswith("project-"):
        raise ValidationError({"key": "key must be 1-64 letters, digits, '-' or '_', and not start with 'project-'"})
    problem = title_error(title)
    if problem:
        raise ValidationError({"title": problem})
    if max_rooms and creator is not None:
        # Lock the creator's row, so that parallel creates by one user count one after another.
        list(get_user_model().objects.select_for_update().filter(pk=creator.pk).values_list("pk", flat=True))
        if Room.objects.filter(created_by=creator, project__isnull=True).count() >= max_rooms:
            raise RoomLimitReached(max_rooms)
    try:
        with transaction.atomic():
            room = Room.objects.create(key=key, title=title, created_by=creator)
    except IntegrityError:
        raise ValidationError({"key": KEY_TAKEN}) from None
    people = {getattr(m, "pk", m) for m in members} | ({creator.pk} if creator is not None else set())
    RoomMember.objects.bulk_create([RoomMember(room=room, user_id=pk) for pk in people])
    return room


def add_room_member(room, user) -> bool:
    _, created = RoomMember.objects.get_or_create(room=room, user=user)
    return created


@transaction.atomic
def remove_room_member(room, user) -> bool:
    """Remove a member (or let one leave): their sockets on the room close with 4403."""
    deleted, _ = RoomMember.objects.filter(room=room, user=user).delete()
    if deleted:
        publish_control_on_commit(groups.room_group(room.pk), {"action": "revoke", "user_id": user.pk})
    return bool(deleted)


@transaction.atomic
def delete_room(room) -> None:
    """Delete a room created with a member list, its messages with it; every socket on it
    closes with 4404, as for a room that never existed. A project's room goes with its project."""
    if room.project_id is not None:
        raise ValueError("a project's room is deleted with its project")
    publish_control_on_commit(groups.room_group(room.pk), {"action": "gone"})
    room.delete()
