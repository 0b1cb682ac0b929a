"""Channel-layer group names, built in one place.

Channels accepts ASCII letters, digits, hyphens, underscores and periods, under 100
characters; anything else is refused here, before it can reach the layer.
"""

import hashlib
import re

ALL_USERS = "clarion.all"
_ROLE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def user_group(user_id) -> str:
    """Integer and UUID primary keys are used as they are; any other key is hashed so that
    a host site's exotic primary key can never produce an invalid or colliding group name."""
    key = str(user_id)
    if not _SAFE_KEY.match(key):
        key = "h" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"clarion.user.{key}"


def role_group(role: str) -> str:
    if not _ROLE_NAME.match(role or ""):
        raise ValueError(f"role name {role!r} must be 1-64 letters, digits, '-' or '_'")
    return f"clarion.role.{role}"


def is_valid_role_name(role: str) -> bool:
    return bool(_ROLE_NAME.match(role or ""))


def is_user_group(name: str) -> bool:
    return name.startswith("clarion.user.")


def reaches_many(name: str) -> bool:
    """Whether a group's events go to many users' notification sockets (everyone, a role): a
    broker that shards by user copies these to every shard (broker_redis_cluster)."""
    return name == ALL_USERS or name.startswith("clarion.role.")


def groups_of_user(user_id, role: str | None) -> list[str]:
    groups = [user_group(user_id), ALL_USERS]
    if role:
        groups.append(role_group(role))
    return groups


def group_for(audience) -> str:
    """The group of a log row's audience (clarion.streams.log.Audience); ValueError when no
    group can carry it (a role name with other characters, an unknown kind)."""
    kind, value = audience
    if kind == "user":
        return user_group(value)
    if kind == "role":
        return role_group(value)
    if kind == "all":
        return ALL_USERS
    if kind == "project":
        return project_group(value)
    if kind == "room":
        return room_group(value)
    raise ValueError(f"no group for an audience of kind {kind!r}")


def project_group(project_id: int) -> str:
    return f"clarion.project.{int(project_id)}"


def room_group(room_id: int) -> str:
    return f"clarion.room.{int(room_id)}"
