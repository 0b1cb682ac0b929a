from rest_framework.permissions import SAFE_METHODS, BasePermission

from clarion.roles import is_notification_admin


class CanSendNotifications(BasePermission):
    """Creating notifications: the admin roles, superusers, or the clarion.add_notification permission."""

    message = "Only administrators may create notifications."

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS or view.action not in ("create", "bulk"):
            return True
        return is_notification_admin(request.user)
