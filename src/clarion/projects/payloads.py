"""Projects and project events as payloads: REST and socket frames share them."""

from clarion.protocol import encode_cursor


def _timestamp(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def user_ref(user) -> dict | None:
    return None if user is None else {"id": user.pk, "username": user.get_username()}


def project_payload(project, member_ids=None) -> dict:
    if member_ids is None:
        member_ids = list(project.memberships.order_by("user_id").values_list("user_id", flat=True))
    return {
        "id": project.pk,
        "title": project.title,
        "description": project.description,
        "status": project.status_id,
        "advisor": project.advisor_id,
        "members": member_ids,
        "created_at": _timestamp(project.created_at),
        "updated_at": _timestamp(project.updated_at),
    }


def event_payload(event) -> dict:
    return {
        "id": event.pk,
        "project": event.project_id,
        "kind": event.kind,
        "actor": user_ref(event.actor),
        "data": event.data,
        "created_at": _timestamp(event.created_at),
        "cursor": encode_cursor(event.seq) if event.seq is not None else None,
    }
