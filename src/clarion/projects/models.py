"""Projects of the final-project management domain, their members and their event log.

Statuses are rows, not an enum: a university adds "on_hold" without a code change. Events
are append-only and take a per-project ``seq`` after commit (clarion.realtime.publish), the
position clients resume from.
"""

from django.conf import settings
from django.db import models


class ProjectStatus(models.Model):
    slug = models.SlugField(max_length=32, primary_key=True)
    label = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        app_label = "clarion"
        ordering = ["position", "slug"]

    def __str__(self):
        return self.slug


class Project(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(max_length=10000, blank=True, default="")
    status = models.ForeignKey(ProjectStatus, on_delete=models.PROTECT, related_name="+", db_column="status")
    advisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="advised_projects"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProjectMembership", related_name="clarion_projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "clarion"
        ordering = ["id"]

    def __str__(self):
        return f"#{self.pk} {self.title}"


class ProjectMembership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "clarion"
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="clarion_project_member_once")]


class ProjectEventKind(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"
    STATUS_CHANGED = "status_changed"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    COMMENT = "comment"
    SUBMISSION = "submission"
    MILESTONE = "milestone"


class ProjectEvent(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Position in the project's commit-ordered log; NULL until sequenced after commit.
    seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        app_label = "clarion"
        constraints = [models.UniqueConstraint(fields=["project", "seq"], name="clarion_project_event_seq")]
        indexes = [models.Index(fields=["id"], name="clarion_pevent_unpublished",
                                condition=models.Q(seq__isnull=True))]
