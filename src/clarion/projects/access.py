"""Who may see and change a project. One rule set for REST, sockets and the Python API.

Admins (CLARION["ADMIN_ROLES"] or superusers) see and change every project; an advisor the
projects they advise; a student the projects they belong to (students may edit the title and
description, not the status, the advisor or the members).
"""

from django.db.models import Exists, OuterRef, Q

from clarion.conf import clarion_settings
from clarion.projects.models import Project, ProjectMembership
from clarion.roles import role_of


def is_admin(user, role) -> bool:
    return bool(getattr(user, "is_superuser", False)) or role in clarion_settings.ADMIN_ROLES


def participant_filter(user) -> Q:
    return Q(advisor_id=user.pk) | Q(Exists(ProjectMembership.objects.filter(project=OuterRef("pk"), user_id=user.pk)))


def visible_projects(user, role):
    projects = Project.objects.select_related("status", "advisor")
    return projects if is_admin(user, role) else projects.filter(participant_filter(user))


def access_to(user, role, project_id) -> str:
    """"allowed", "forbidden" or "missing", decided by one query whichever it is, so that the
    time taken does not tell a probing student more than the answer does."""
    allowed = Q(pk__isnull=False) if is_admin(user, role) else participant_filter(user)
    row = Project.objects.filter(pk=project_id).annotate(allowed=Exists(
        Project.objects.filter(allowed, pk=OuterRef("pk"))
    )).values_list("allowed", flat=True).first()
    if row is None:
        return "missing"
    return "allowed" if row else "forbidden"


def may_view(user, role, project) -> bool:
    return access_to(user, role, project.pk) == "allowed"


def may_manage(user, role, project) -> bool:
    """Change status, advisor and members, or delete."""
    return is_admin(user, role) or (project.advisor_id is not None and project.advisor_id == user.pk)


def may_create(user, role) -> bool:
    return is_admin(user, role) or role == "advisor"


def may_advise(user) -> bool:
    """Whether ``user`` may be a project's advisor: the advisor's powers (status, members)
    go with the field, so only users who hold them anyway may be named in it (issue 10)."""
    role = role_of(user)
    return getattr(user, "is_active", True) and (is_admin(user, role) or role == "advisor")
