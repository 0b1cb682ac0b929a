"""Rooms and chat messages as payloads: REST and socket frames share them."""

from clarion.projects.payloads import user_ref
from clarion.protocol import encode_cursor


def _timestamp(value) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def room_payload(room, member_ids=None) -> dict:
    if member_ids is None:
        member_ids = list(room.memberships.order_by("user_id").values_list("user_id", flat=True))
    return {"key": room.key, "title": room.title, "project": room.project_id,
            "members": member_ids, "created_by": room.created_by_id}


def message_payload(message, room_key: str) -> dict:
    if message.deleted:
        event = "deleted"
    elif message.edited_at is not None:
        event = "edited"
    else:
        event = "created"
    return {
        "id": message.pk,
        "room": room_key,
        "event": event,
        "author": user_ref(message.author),
        "body": "" if message.deleted else message.body,
        "client_id": message.client_id,
        "created_at": _timestamp(message.created_at),
        "edited_at": _timestamp(message.edited_at),
        "deleted": message.deleted,
        "cursor": encode_cursor(message.seq) if message.seq is not None else None,
    }
