"""Django model registry for the ``clarion`` app; each model lives beside the code that owns it."""

from django.conf import settings
from django.db import models

from clarion.auth.models import ConnectTicket
from clarion.collaboration.models import ChatMessage, Room, RoomMember
from clarion.delivery.models import Delivery, PlannerCursor, PushSubscription
from clarion.notifications.models import Receipt
from clarion.notifications.idempotency import IdempotencyRecord
from clarion.notifications.models import Notification, NotificationRead, ReadWatermark
from clarion.streams.models import ParkedEntry, StreamHead
from clarion.projects.models import Project, ProjectEvent, ProjectMembership, ProjectStatus

__all__ = [
    "RoleAssignment", "ConnectTicket", "Notification", "NotificationRead", "ReadWatermark", "StreamHead", "ParkedEntry",
    "IdempotencyRecord", "Delivery", "PlannerCursor", "PushSubscription", "Receipt",
    "ProjectStatus", "Project", "ProjectMembership", "ProjectEvent", "Room", "RoomMember", "ChatMessage",
]


class RoleAssignment(models.Model):
    """The role of a user, for sites whose user model has none (the default role resolver)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clarion_role")
    role = models.CharField(max_length=64)

    class Meta:
        app_label = "clarion"

    def __str__(self):
        return f"{self.user_id}: {self.role}"
