"""Django admin for what an operator looks into: notifications, their delivery records, push
subscriptions, receipts and preferences. Read-mostly: deliveries are written by the worker."""

from django.contrib import admin

from clarion.delivery.models import Delivery, PushSubscription
from clarion.notifications.models import Notification, Preferences, Receipt


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("user", "channel", "status", "reason", "error", "attempts", "due_at", "sent_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    max_num = 0  # rows are made by the planner, never by hand


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "recipient_type", "recipient_id", "category", "topic", "created_at", "seq")
    list_filter = ("recipient_type", "category", "notification_type")
    search_fields = ("title", "recipient_id", "topic")
    readonly_fields = ("seq", "created_at")
    raw_id_fields = ("created_by",)
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "notification", "user", "channel", "status", "reason", "attempts", "due_at", "sent_at")
    list_filter = ("channel", "status", "reason", "digest")
    search_fields = ("notification__title", "error")
    raw_id_fields = ("notification", "user")
    readonly_fields = ("claim", "lease_until", "created_at", "updated_at")
    date_hierarchy = "due_at"


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "endpoint", "created_at", "last_used_at")
    search_fields = ("endpoint",)
    raw_id_fields = ("user",)


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "seq", "at")
    list_filter = ("kind",)
    raw_id_fields = ("user",)


@admin.register(Preferences)
class PreferencesAdmin(admin.ModelAdmin):
    list_display = ("user", "locale", "time_zone", "digest_hour", "updated_at")
    raw_id_fields = ("user",)
