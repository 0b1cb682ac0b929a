"""Roles: which role a user holds, resolved through CLARION["ROLE_RESOLVER"].

A host site whose user model carries its own notion of role points the setting at a
callable of its own; the default reads the RoleAssignment row Clarion provides.
"""

import logging

from django.core.exceptions import ObjectDoesNotExist

from clarion.conf import clarion_settings

logger = logging.getLogger("clarion.roles")


def assigned_role(user):
    """Default resolver: the role stored in Clarion's RoleAssignment, or None.

    Uses the row loaded with the user when the caller asked for it (select_related, as the
    socket authentication does), else one query.
    """
    try:
        return user.clarion_role.role
    except ObjectDoesNotExist:
        return None


def assigned_members(role):
    """Default CLARION["ROLE_MEMBERS"]: the active users whose RoleAssignment is ``role``."""
    from django.contrib.auth import get_user_model

    return get_user_model()._default_manager.filter(clarion_role__role=role, is_active=True)


def members_of(role):
    """The users holding ``role``, through CLARION["ROLE_MEMBERS"] (a host project's own notion
    of role brings its own list, as it brings its own ROLE_RESOLVER)."""
    return clarion_settings.ROLE_MEMBERS(role)


def role_of(user):
    """The user's role if it is one of CLARION["ROLES"], else None (and a warning, once per
    value, that the resolver answered a role the settings do not list)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    role = clarion_settings.ROLE_RESOLVER(user)
    if role in clarion_settings.ROLES:
        return role
    if role is not None:
        _warn_unlisted(role)
    return None


# Values already warned about; bounded, since a resolver may hand back anything a user typed.
_warned_roles: set = set()
MAX_WARNED_ROLES = 100


def _warn_unlisted(role) -> None:
    try:
        if role in _warned_roles or len(_warned_roles) >= MAX_WARNED_ROLES:
            return
        _warned_roles.add(role)
    except TypeError:  # an unhashable value: warn each time rather than fail the request
        pass
    logger.warning("CLARION['ROLE_RESOLVER'] returned %r, which is not in CLARION['ROLES'] %s: users with it "
                   "count as having no role; add it to ROLES or change the resolver",
                   role, list(clarion_settings.ROLES))


def is_notification_admin(user) -> bool:
    """May this user create notifications through the REST API?"""
    if not getattr(user, "is_authenticated", False):
        return False
    # The role first: for an admin it decides, and has_perm costs two permission queries
    # (the user's and their groups') on a cold user object (issue 11).
    if user.is_superuser or role_of(user) in clarion_settings.ADMIN_ROLES:
        return True
    return user.has_perm("clarion.add_notification")


_RESOLVE = object()


def is_health_viewer(user, role=_RESOLVE) -> bool:
    """May this user watch /ws/system-health/? Superusers and users of an ADMIN_ROLES role.

    ``role``: the role already resolved for this user (a socket's scope holds it, and async
    code must not resolve again: a resolver may query the database); resolved when omitted.
    """
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    if role is _RESOLVE:
        role = role_of(user)
    return role is not None and role in clarion_settings.ADMIN_ROLES


def set_role(user, role):
    """Store a role with the default resolver's model (used by the CLI and demo data)."""
    from clarion.models import RoleAssignment

    if role not in clarion_settings.ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of: {', '.join(clarion_settings.ROLES)}")
    RoleAssignment.objects.update_or_create(user=user, defaults={"role": role})
