"""Delivery records: one per notification, reader and channel, and what a delivery needs.

Rows are written at due time, never per reader when a notification is created: a role or
all-users notification stays one row (docs/decisions/0004-read-state.md), and a reader who read
it in time gets no row at all (one addressed to a single user gets a ``skipped`` row saying so).
"""

from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email"
    PUSH = "push"


class Status(models.TextChoices):
    PENDING = "pending"  # waiting for its due time (or its next retry)
    SENDING = "sending"  # claimed by a worker until lease_until; a dead worker's claim lapses
    SENT = "sent"
    SKIPPED = "skipped"  # with a reason: nothing to send, and why
    FAILED = "failed"  # retries used up; ``error`` says what the last attempt got


class Reason(models.TextChoices):
    READ = "read"  # read (or archived) before its due time
    PREFERENCE_OFF = "preference_off"  # the reader turned this category off on this channel
    MUTED = "muted"  # the topic is muted
    NO_ADDRESS = "no_address"  # no email address
    NO_SUBSCRIPTION = "no_subscription"  # no browser subscribed to Web Push
    ONLINE = "online"  # push: a socket of theirs was open when it was published
    SNOOZED = "snoozed"  # the reader snoozed it: it comes back in the app, not by mail
    EXPIRED = "expired"  # the notification expired before it was due
    GONE = "gone"  # the user was deactivated or the subscription ended
    IN_DIGEST = "in_digest"  # sent as part of another row's digest mail


class Delivery(models.Model):
    notification = models.ForeignKey("clarion.Notification", on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    # When to send (a digest's time, the end of quiet hours, the next retry).
    due_at = models.DateTimeField()
    # Held for the reader's digest on this channel: sent in one mail with their other held rows.
    digest = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The claim holding it while status is "sending" (a token per worker round), and until when:
    # a row is recorded only under its own claim, so a round whose claim lapsed and was taken
    # over records nothing over the new owner's work.
    claim = models.CharField(max_length=32, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "clarion"
        constraints = [
            # Nothing goes out twice, whichever worker or retry gets there.
            models.UniqueConstraint(fields=["notification", "user", "channel"], name="clarion_delivery_once"),
        ]
        indexes = [
            # The worker's claim: due rows, oldest first; rows finished are not in the index.
            models.Index(fields=["due_at"], name="clarion_delivery_due",
                         condition=models.Q(status__in=["pending", "sending"])),
            # A digest gathers one reader's held rows on one channel.
            models.Index(fields=["user", "channel", "due_at"], name="clarion_delivery_digest",
                         condition=models.Q(status="pending", digest=True)),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.channel} of #{self.notification_id} to {self.user_id}: {self.status}"


class PlannerCursor(models.Model):
    """How far along the notification log the planner has made rows, per channel and delay:
    ``email:600`` has planned every notification of the categories mailed 600 s after creation
    up to ``position`` (a seq)."""

    name = models.CharField(max_length=64, primary_key=True)
    position = models.BigIntegerField(default=0)

    class Meta:
        app_label = "clarion"


class PushSubscription(models.Model):
    """A browser's Web Push subscription (PushSubscription.toJSON()): where to post, and the keys
    to encrypt for it (RFC 8291)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "clarion"





class VapidKeyPair(models.Model):
    """The server's VAPID key pair (RFC 8292) when CLARION["VAPID_PRIVATE_KEY"] is not set.

    Kept in the database, not in a process's data folder: browsers subscribe with the public
    key, and a push signed by another key is refused, so every process and machine of a
    deployment must sign with the same one. One row (pk 1); the first process to need it
    inserts it, any other process that raced it reads the winner's (clarion.delivery.vapid)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # base64url without padding: the raw 32-byte private scalar, the 65-byte uncompressed point
    private_key = models.CharField(max_length=64)
    public_key = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "clarion"
        verbose_name = "VAPID key pair"
