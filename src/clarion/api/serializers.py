from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from clarion.api.ids import unstorable_text
from clarion.conf import clarion_settings
from clarion.notifications.models import NotificationType, RecipientType
from clarion.notifications.payloads import annotated_payload, notification_payload
from clarion.notifications.services import EntryErrors, create_notification, create_notifications


class NotificationSerializer(serializers.Serializer):
    """Output: the same payload the socket sends (one builder for both)."""

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)
    notification_type = serializers.ChoiceField(choices=NotificationType.choices, read_only=True)
    recipient_type = serializers.ChoiceField(choices=RecipientType.choices, read_only=True)
    recipient_id = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    created_by = serializers.IntegerField(read_only=True, allow_null=True)
    is_read = serializers.BooleanField(read_only=True)
    is_seen = serializers.BooleanField(read_only=True, help_text="Seen in a list the reader opened (the badge counts unseen ones).")
    is_archived = serializers.BooleanField(read_only=True)
    snoozed_until = serializers.DateTimeField(read_only=True, allow_null=True,
                                              help_text="Out of the list and the counts until then; null when not snoozed.")
    link = serializers.CharField(read_only=True)
    data = serializers.DictField(read_only=True)
    category = serializers.CharField(read_only=True, help_text="A key of CLARION['CATEGORIES'].")
    topic = serializers.CharField(read_only=True, help_text='What it is about, e.g. "project:7"; "" for nothing in particular.')
    group_key = serializers.CharField(read_only=True, help_text='Items with one key show as one group ("" for none).')
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Gone from lists and counts after this; null: never.")
    cursor = serializers.CharField(read_only=True, allow_null=True, help_text="Resume position for ?cursor= on the socket; null until published.")

    def to_representation(self, instance):
        # in the reader's language (a templated notification), as the view decided
        locale = self.context.get("locale")
        if hasattr(instance, "is_read"):
            return annotated_payload(instance, locale)
        return notification_payload(instance, is_read=False, locale=locale)


class NotificationCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False,
                                  help_text="Required unless a template is given (then: the text stored for search).")
    message = serializers.CharField(max_length=5000, allow_blank=True, required=False, default="")
    notification_type = serializers.ChoiceField(choices=NotificationType.choices, default=NotificationType.INFO)
    recipient_type = serializers.ChoiceField(choices=RecipientType.choices)
    recipient_id = serializers.CharField(
        max_length=64, allow_blank=True, required=False, default="",
        help_text="A user id for 'user', a role name for 'role', empty for 'all'.",
    )
    link = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    data = serializers.DictField(required=False, default=dict)
    category = serializers.CharField(
        max_length=32, required=False,
        help_text="A key of CLARION['CATEGORIES'] (by default deadline, project_update, comment, submission, review, "
                  "announcement, system); CLARION['DEFAULT_CATEGORY'] (announcement) when omitted.",
    )
    topic = serializers.CharField(
        max_length=100, allow_blank=True, required=False, default="",
        help_text='What the notification is about, e.g. "project:7" or "room:thesis-a": a kind, then '
                  "':'-separated letters, digits, '_', '-' or '.'.",
    )

    group_key = serializers.CharField(
        max_length=100, allow_blank=True, required=False, default="",
        help_text='Items with one key show as one group in ?grouped=true lists, e.g. "project:7:comment".',
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="When it stops mattering: then it leaves lists, counts and open tabs (in the future).",
    )

    template = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="",
        help_text="A message template (e.g. project.status_changed): each reader gets title and message in their "
                  "language. Clarion's own are listed in docs/protocol.md.",
    )
    params = serializers.DictField(required=False, default=dict, help_text="The template's parameters.")

    def validate(self, attrs):
        if not attrs.get("template") and not attrs.get("title"):
            raise serializers.ValidationError({"title": ["This field is required."]})
        return attrs

    def validate_data(self, value):
        problem = unstorable_text(value)
        if problem:
            raise serializers.ValidationError(f"data {problem}")
        return value

    def create(self, validated_data):
        try:
            return create_notification(
                validated_data["recipient_type"],
                validated_data.get("recipient_id") or None,
                title=validated_data.get("title", ""),
                message=validated_data.get("message", ""),
                notification_type=validated_data["notification_type"],
                link=validated_data.get("link", ""),
                data=validated_data.get("data") or None,
                created_by=self.context["request"].user,
                category=validated_data.get("category"),
                topic=validated_data.get("topic", ""),
                group_key=validated_data.get("group_key", ""),
                expires_at=validated_data.get("expires_at"),
                template=validated_data.get("template", ""),
                params=validated_data.get("params") if validated_data.get("template") else None,
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None

    def to_representation(self, instance):
        # What NotificationSerializer answers for a new row, without building (and deep-copying
        # the fields of) a second serializer per create.
        return notification_payload(instance, is_read=False)


MAX_BULK = 1000


class BoundedListField(serializers.ListField):
    """A ListField that refuses too long a list before validating a single entry of it."""

    def to_internal_value(self, data):
        if self.max_length is not None and isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class NotificationBulkCreateSerializer(serializers.Serializer):
    """Input of POST /api/notifications/bulk/. Field errors of entries come keyed by index:
    ``{"notifications": {"3": {"title": ["..."]}}}`` (DRF's ListField shape)."""

    notifications = BoundedListField(child=NotificationCreateSerializer(), min_length=1, max_length=MAX_BULK,
                                     help_text=f"1 to {MAX_BULK} notifications, each as in a single create.")

    def create(self, validated_data):
        entries = [
            {"recipient_type": entry["recipient_type"], "recipient": entry.get("recipient_id") or None,
             "title": entry.get("title", ""), "message": entry.get("message", ""),
             "notification_type": entry["notification_type"], "link": entry.get("link", ""),
             "data": entry.get("data") or None, "category": entry.get("category"), "topic": entry.get("topic", ""),
             "group_key": entry.get("group_key", ""), "expires_at": entry.get("expires_at"),
             "template": entry.get("template", ""), "params": entry.get("params") if entry.get("template") else None}
            for entry in validated_data["notifications"]
        ]
        try:
            return create_notifications(entries, created_by=self.context["request"].user)
        except EntryErrors as exc:
            raise serializers.ValidationError({"notifications": exc.by_index}) from None


class BulkCreatedSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(),
                                help_text="The created notifications' ids, in the order of the request.")


class ReadResultSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField())
    unread_count = serializers.IntegerField()
    unseen_count = serializers.IntegerField()


class UnreadCountSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField(help_text="Unread in the inbox (not archived, snoozed or muted).")
    unseen_count = serializers.IntegerField(help_text="Unread and not yet seen in an opened list: the badge.")


class IdsSerializer(serializers.Serializer):
    ids = BoundedListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), min_length=1,
                           max_length=1000, required=False, help_text="Notification ids, 1 to 1,000.")
    group_key = serializers.CharField(max_length=100, required=False,
                                      help_text="Instead of ids: every notification of this group of the caller's.")

    def validate(self, attrs):
        if ("ids" in attrs) == ("group_key" in attrs):
            raise serializers.ValidationError({"ids": ["give either ids or group_key"]})
        return attrs


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField(help_text="When the notification comes back, as new (ISO 8601 with a zone; "
                                                "in the future, within 366 days).")


class StateResultSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="The ids whose state changed.")
    state = serializers.ChoiceField(choices=["seen", "all_seen", "archived", "unarchived", "unread", "snoozed"])
    until = serializers.DateTimeField(required=False, help_text="For snoozed: when they come back.")
    unread_count = serializers.IntegerField()
    unseen_count = serializers.IntegerField()


class CategoryPreferenceSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    locked = serializers.BooleanField(help_text="A locked category cannot be turned off.")
    channels = serializers.DictField(child=serializers.BooleanField(), help_text="in_app, email, push: on or off.")


class QuietHoursSerializer(serializers.Serializer):
    # "from" is a keyword: declared through the fields dict.
    to = serializers.CharField(help_text='End, "HH:MM" in time_zone.')


QuietHoursSerializer._declared_fields["from"] = serializers.CharField(help_text='Start, "HH:MM" in time_zone.')


class PreferencesSerializer(serializers.Serializer):
    locale = serializers.CharField(allow_blank=True, help_text='The reader\'s language ("" for the site\'s).')
    digest = serializers.DictField(child=serializers.ChoiceField(choices=["off", "hourly", "daily"]),
                                   help_text='Per channel: one mail per notification ("off") or one listing what is '
                                             'still unread, "hourly" or "daily" at digest_hour.')
    digest_hour = serializers.IntegerField(min_value=0, max_value=23)
    time_zone = serializers.CharField(allow_blank=True, help_text="IANA zone of digest_hour and quiet_hours; \"\": the site's.")
    quiet_hours = QuietHoursSerializer(allow_null=True, help_text="Email and push of unlocked categories wait "
                                                                  "until it ends; null: none.")
    categories = CategoryPreferenceSerializer(many=True)


class PreferencesPatchSerializer(serializers.Serializer):
    locale = serializers.CharField(required=False, allow_blank=True)
    digest = serializers.DictField(required=False, child=serializers.ChoiceField(choices=["off", "hourly", "daily"]))
    digest_hour = serializers.IntegerField(required=False, min_value=0, max_value=23)
    time_zone = serializers.CharField(required=False, allow_blank=True)
    quiet_hours = QuietHoursSerializer(required=False, allow_null=True)
    categories = serializers.DictField(
        required=False, child=serializers.DictField(child=serializers.BooleanField()),
        help_text='Only what changes, e.g. {"comment": {"in_app": false}}.')


class MuteSerializer(serializers.Serializer):
    topic = serializers.CharField(max_length=100, help_text='What to mute, e.g. "project:7".')
    until = serializers.DateTimeField(required=False, allow_null=True,
                                      help_text="When the mute ends; omitted or null: until unmuted.")


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid; it works once.")


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    roles = serializers.ListField(child=serializers.CharField(), help_text="All roles this site knows.")
    can_send = serializers.BooleanField()

    @staticmethod
    def for_user(user, role, can_send):
        return {"id": user.pk, "username": user.get_username(), "role": role,
                "roles": list(clarion_settings.ROLES), "can_send": can_send}
