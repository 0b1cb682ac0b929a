"""Notifications and per-user read state.

One row per notification whatever its audience: a broadcast to 100,000 users is one insert.
Read state is stored per reader, lazily: a ReadWatermark says "everything up to seq W is
read" (mark-all-as-read is one upsert) and NotificationRead rows record single reads above it.
"""

from django.conf import settings
from django.db import models


class NotificationType(models.TextChoices):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


class RecipientType(models.TextChoices):
    USER = "user"
    ROLE = "role"
    ALL = "all"


class Notification(models.Model):
    title = models.CharField(max_length=200)
    message = models.TextField(max_length=5000)
    notification_type = models.CharField(max_length=16, choices=NotificationType.choices, default=NotificationType.INFO)
    recipient_type = models.CharField(max_length=8, choices=RecipientType.choices)
    # User id (as text) or role name; empty for all users.
    recipient_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    link = models.CharField(max_length=500, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    # A key of CLARION["CATEGORIES"] (what a reader turns on or off), and what the notification
    # is about ("project:7"; "" for nothing in particular), which a reader can mute. Defaults in
    # the database too: a process of the previous release, still running during a rolling
    # deploy, or a script's own INSERT, stores rows without these columns.
    category = models.CharField(max_length=32, default="announcement", db_default="announcement")
    topic = models.CharField(max_length=100, blank=True, default="", db_default="")
    # Items with one key show as one group in a list ("3 new comments on <project>"); "" for none.
    group_key = models.CharField(max_length=100, blank=True, default="", db_default="")
    # A message template (clarion.notifications.messages) and its parameters: each reader gets the
    # title and message in their language; title and message hold the site's. "" for literal text.
    template = models.CharField(max_length=100, blank=True, default="", db_default="")
    params = models.JSONField(null=True, blank=True, default=None)  # NULL: an older release wrote the row
    # Gone from lists, counts and snapshots once passed (and deleted by `clarion prune`).
    expires_at = models.DateTimeField(null=True, blank=True)
    # Position in the commit-ordered log, assigned after commit by clarion.streams.sequencer
    # under the stream's lock; NULL until then. Resume cursors and read watermarks use it, never
    # the primary key, because PostgreSQL commits ids out of order.
    seq = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        app_label = "clarion"
        indexes = [
            models.Index(fields=["recipient_type", "recipient_id", "seq"], name="clarion_notif_audience_seq"),
            models.Index(fields=["recipient_type", "recipient_id", "id"], name="clarion_notif_audience_id"),
            models.Index(
                fields=["id"], name="clarion_notif_unpublished", condition=models.Q(seq__isnull=True)
            ),
            # Each server process looks for items expiring now; prune deletes them first.
            models.Index(fields=["expires_at"], name="clarion_notif_expiring",
                         condition=models.Q(expires_at__isnull=False)),
            # Retention deletes by age; the id order is the creation order.
            models.Index(fields=["created_at"], name="clarion_notif_created"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.title!r} -> {self.recipient_type}:{self.recipient_id}"


class NotificationRead(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="reads")
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "clarion"
        constraints = [models.UniqueConstraint(fields=["user", "notification"], name="clarion_read_once")]


class ReadWatermark(models.Model):
    """Every notification visible to ``user`` with seq <= ``seq`` counts as read, and every one
    with seq <= ``seen_seq`` as seen (the badge), unless a NotificationState row says otherwise."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    seq = models.BigIntegerField(default=0)
    seen_seq = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        app_label = "clarion"


class NotificationState(models.Model):
    """One reader's state of one notification beyond "read": written only when that reader acts
    (docs/decisions/0010-inbox-state.md), so a role or all-users notification stays one row.

    ``seen``: None follows the seen watermark (and read implies seen); True or False overrides
    it (a snoozed item comes back unseen). ``unread``: unread although at or below the read
    watermark (mark_unread after a mark-all). ``archived_at``: out of the default list and the
    counts. ``snoozed_until``: out of the list and the counts until then."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="states")
    seen = models.BooleanField(null=True, default=None)
    unread = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # When this reader marked it seen (the sender's delivery view); NULL: not seen one by one.
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "clarion"
        constraints = [models.UniqueConstraint(fields=["user", "notification"], name="clarion_state_once")]
        indexes = [
            # Each server process looks for snoozes ending now (clarion.notifications.timers).
            models.Index(fields=["snoozed_until"], name="clarion_state_snoozed",
                         condition=models.Q(snoozed_until__isnull=False)),
        ]


class Preferences(models.Model):
    """What a reader wants: channels per category (overrides of CLARION["CATEGORIES"]' defaults),
    muted topics, and their language. One row per user who changed anything, read with the
    watermarks in the one query of a connect (clarion.notifications.reader)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # {"comment": {"in_app": false}}: only what differs from the category's defaults.
    channels = models.JSONField(default=dict, blank=True)
    # {"project:7": "2026-12-05T10:00:00Z" or null (until unmuted)}.
    mutes = models.JSONField(default=dict, blank=True)
    locale = models.CharField(max_length=16, blank=True, default="")
    # Per channel: "off" (one message per notification), "hourly" or "daily" (one message listing
    # what is still unread, at digest_hour in time_zone). {"email": "daily"}.
    digest = models.JSONField(default=dict, blank=True)
    digest_hour = models.PositiveSmallIntegerField(default=8)
    # An IANA zone ("Asia/Bangkok"); "" is the site's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    # {"from": "22:00", "to": "07:00"} in time_zone: email and push of unlocked categories wait
    # until it ends. None: no quiet hours.
    quiet_hours = models.JSONField(null=True, blank=True, default=None)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "clarion"


class Receipt(models.Model):
    """"Everything of the notification log up to ``seq`` was <kind> by this reader at ``at``":
    acknowledged by a client (delivered), or marked all seen / all read. Per-item reads keep
    their own time (NotificationRead.read_at, NotificationState.seen_at). Appended, at most one
    row per reader per second and kind, so a reader's time for an item is the first receipt at
    or above its seq."""

    class Kind(models.TextChoices):
        DELIVERED = "delivered"
        SEEN = "seen"
        READ = "read"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    seq = models.BigIntegerField()
    at = models.DateTimeField()

    class Meta:
        app_label = "clarion"
        indexes = [models.Index(fields=["user", "kind", "seq"], name="clarion_receipt_user_seq")]
