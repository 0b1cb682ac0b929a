"""The Python API of projects. Every change stores an event; the event is sequenced in the
project's log and pushed to the project's sockets after commit, and the people concerned
get a notification where it helps them.

``publish_project_event`` is the entry point a host site calls for its own kinds of event.
"""

import re

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from clarion.notifications import services as notifications
from clarion.notifications.categories import project_topic
from clarion.projects.access import may_advise
from clarion.projects.models import Project, ProjectEvent, ProjectEventKind, ProjectMembership, ProjectStatus
from clarion.realtime import groups
from clarion.validation import json_data_error
from clarion.projects.log import PROJECT_LOG
from clarion.streams import sequencer
from clarion.realtime.publish import publish_control_on_commit

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _check_data(data) -> dict:
    if data is None:
        return {}
    problem = json_data_error(data)
    if problem:
        raise ValidationError({"data": problem})
    return data


def publish_project_event(project, kind: str, data=None, actor=None) -> ProjectEvent:
    """Store an event of ``project`` and push it to its subscribers once the transaction commits."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise ValidationError({"kind": "kind must be 1-32 lowercase letters, digits or '_', starting with a letter"})
    project_id = getattr(project, "pk", project)
    with transaction.atomic():
        hold_project(project_id)
        event = ProjectEvent.objects.create(
            project_id=project_id, kind=kind, data=_check_data(data),
            actor=actor if getattr(actor, "pk", None) else None,
        )
        sequencer.on_commit(PROJECT_LOG, PROJECT_LOG.key(project_id), [event])
    return event


class ProjectGone(Http404):
    """The project was deleted while this change was being made (a 404 over REST)."""


def hold_project(project_id) -> None:
    """Inside a transaction: keep the project from being deleted until it commits, or raise
    ProjectGone. Without it, an event or change racing a DELETE made the DELETE's commit fail
    on the foreign key (found by schemathesis: a 500), or a save re-created the project."""
    if not list(Project.objects.select_for_update(no_key=True).filter(pk=project_id).values_list("pk", flat=True)):
        raise ProjectGone(f"project {project_id} no longer exists")


def delete_project(project) -> None:
    """Delete the project with its events, memberships and room; changes racing it wait."""
    with transaction.atomic():
        if list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True)):
            project.delete()


apublish_project_event = sync_to_async(publish_project_event)


def _notify(users, template, params, project, *, kind, actor=None, category="project_update"):
    """Tell ``users`` (not the actor) about the project, each in their language (a template of
    clarion.notifications.messages). Notifications of one project and ``kind`` share a group key,
    so a list shows three comments as one row ("3 new comments on …")."""
    data = {"project": project.pk}
    # nobody needs to be told about what they just did
    readers = sorted({u if isinstance(u, int) else u.pk for u in users if u is not None} - {getattr(actor, "pk", None)})
    if readers:
        notifications.send_notification_to_users(
            readers, template=template, params={"project": project.title, **params},
            link=f"/projects/{project.pk}/", data=data, created_by=actor,
            category=category, topic=project_topic(project.pk), group_key=f"{project_topic(project.pk)}:{kind}",
        )


def _status(slug) -> ProjectStatus:
    status = ProjectStatus.objects.filter(slug=slug).first()
    if status is None:
        known = ", ".join(ProjectStatus.objects.values_list("slug", flat=True))
        raise ValidationError({"status": f"unknown status {slug!r}; expected one of: {known}"})
    return status


def _users(ids, field="members"):
    User = get_user_model()
    ids = list(dict.fromkeys(ids))
    found = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError({field: f"no users with ids {missing}"})
    return [found[i] for i in ids]


def _check_advisor(advisor) -> None:
    if advisor is not None and not may_advise(advisor):
        raise ValidationError({"advisor": f"user {advisor.pk} cannot advise a project: only active users with "
                                          "the advisor or admin role can"})


def student_ids(project) -> list[int]:
    return list(project.memberships.values_list("user_id", flat=True))


@transaction.atomic
def create_project(*, title, description="", status="proposal", advisor=None, members=(), actor=None) -> Project:
    _check_advisor(advisor)
    project = Project.objects.create(title=title, description=description, status=_status(status), advisor=advisor)
    people = _users([getattr(m, "pk", m) for m in members])
    ProjectMembership.objects.bulk_create([ProjectMembership(project=project, user=u) for u in people])
    publish_project_event(project, ProjectEventKind.CREATED, {"title": title, "status": project.status_id}, actor)
    _notify([*people, advisor], "project.added", {}, project, actor=actor, kind="membership")
    return project


@transaction.atomic
def update_project(project, *, actor=None, **changes) -> Project:
    """Change title, description, status or advisor; one event per kind of change."""
    with transaction.atomic():
        hold_project(project.pk)
        return _update_project(project, actor=actor, **changes)


def _update_project(project, *, actor=None, **changes) -> Project:
    old_status = project.status_id
    old_advisor = project.advisor_id
    details = {}
    for name in ("title", "description"):
        if name in changes and changes[name] != getattr(project, name):
            setattr(project, name, changes[name])
            details[name] = changes[name]
    if "status" in changes and changes["status"] != old_status:
        project.status = _status(changes["status"])
    if "advisor" in changes:
        advisor = changes["advisor"]
        if advisor is not None and advisor.pk != old_advisor:
            _check_advisor(advisor)
        project.advisor = advisor
    project.save()
    if details:
        publish_project_event(project, ProjectEventKind.UPDATED, details, actor)
    if project.status_id != old_status:
        publish_project_event(project, ProjectEventKind.STATUS_CHANGED,
                              {"from": old_status, "to": project.status_id}, actor)
        _notify(student_ids(project), "project.status_changed",
                {"status": project.status.label, "old": old_status, "new": project.status_id}, project, actor=actor,
                kind="status")
    if project.advisor_id != old_advisor:
        publish_project_event(project, ProjectEventKind.UPDATED, {"advisor": project.advisor_id}, actor)
        if old_advisor is not None:
            _revoke(project, old_advisor)
        _notify([project.advisor_id], "project.advisor", {}, project, actor=actor, kind="membership")
    return project


@transaction.atomic
def add_member(project, user, actor=None) -> bool:
    _, created = ProjectMembership.objects.get_or_create(project=project, user=user)
    if created:
        publish_project_event(project, ProjectEventKind.MEMBER_ADDED, {"user": user.pk, "username": user.get_username()}, actor)
        _notify([user], "project.added", {}, project, actor=actor, kind="membership")
    return created


def _revoke(project, user_id) -> None:
    """Close the removed person's sockets on the project's stream and room, after commit
    (unless they still have access another way: an admin, say; the consumer re-checks)."""
    payload = {"action": "revoke", "user_id": user_id}
    publish_control_on_commit(groups.project_group(project.pk), payload)
    from clarion.collaboration.models import Room

    room_id = Room.objects.filter(project=project).values_list("pk", flat=True).first()
    if room_id is not None:
        publish_control_on_commit(groups.room_group(room_id), payload)


@transaction.atomic
def remove_member(project, user, actor=None) -> bool:
    deleted, _ = ProjectMembership.objects.filter(project=project, user=user).delete()
    if deleted:
        publish_project_event(project, ProjectEventKind.MEMBER_REMOVED,
                              {"user": user.pk, "username": user.get_username()}, actor)
        _revoke(project, user.pk)
    return bool(deleted)


@transaction.atomic
def add_comment(project, text: str, actor) -> ProjectEvent:
    """A comment on the project's stream; its members and advisor (not the author) are told."""
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        raise ValidationError({"text": "text must be a non-empty string of at most 4000 characters"})
    event = publish_project_event(project, ProjectEventKind.COMMENT, {"text": text}, actor)
    who = actor.get_username() if actor is not None else "someone"
    excerpt = text if len(text) <= 200 else text[:199] + "…"
    _notify([*student_ids(project), project.advisor_id], "project.comment", {"author": who, "excerpt": excerpt},
            project, actor=actor, category="comment", kind="comment")
    return event


@transaction.atomic
def submit(project, *, kind: str, title: str, url: str = "", note: str = "", actor=None) -> ProjectEvent:
    """A file or milestone submission; the advisor is told."""
    if kind not in (ProjectEventKind.SUBMISSION, ProjectEventKind.MILESTONE):
        raise ValidationError({"kind": "expected 'submission' or 'milestone'"})
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise ValidationError({"title": "title must be a non-empty string of at most 200 characters"})
    event = publish_project_event(project, kind, {"title": title, "url": url, "note": note}, actor)
    who = actor.get_username() if actor is not None else "someone"
    _notify([project.advisor_id], f"project.{kind}", {"author": who, "title": title}, project, actor=actor,
            category="submission", kind=kind)
    return event
