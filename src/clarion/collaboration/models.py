"""Rooms and their chat. A room is either a project's (key ``project-<id>``, open to the
project's people) or created with an explicit member list.

A chat message takes a new ``seq`` in its room's log each time it changes (posted, edited,
deleted), so a resume from a cursor returns the latest state of everything that changed
since, edits and deletions included, without a separate edit log.
"""

from django.conf import settings
from django.db import models


class Room(models.Model):
    key = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200, blank=True, default="")
    project = models.OneToOneField("clarion.Project", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="room")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="RoomMember", related_name="clarion_rooms")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "clarion"
        ordering = ["id"]

    def __str__(self):
        return self.key


class RoomMember(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        app_label = "clarion"
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="clarion_room_member_once")]


class ChatMessage(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    # An id the sending client chose, echoed back so it can match its optimistic copy.
    client_id = models.CharField(max_length=64, blank=True, default="")
    seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        app_label = "clarion"
        constraints = [models.UniqueConstraint(fields=["room", "seq"], name="clarion_chat_seq")]
        indexes = [models.Index(fields=["id"], name="clarion_chat_unpublished", condition=models.Q(seq__isnull=True))]
