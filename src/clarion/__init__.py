"""Clarion: real-time notifications for Django, with the database as the source of truth.

The public Python API (``send_notification_to_user`` and friends) lives in
:mod:`clarion.notifications.services`; it is re-exported here lazily so that importing
``clarion`` never needs Django to be configured (the CLI and the protocol use it bare).
"""

__version__ = "0.1.0"

_SERVICES = (
    "send_notification_to_user",
    "send_notification_to_role",
    "send_notification_to_all",
    "send_notification_to_users",
    "broadcast_notification",
    "asend_notification_to_user",
    "asend_notification_to_role",
    "asend_notification_to_all",
    "asend_notification_to_users",
    "abroadcast_notification",
    "IdempotencyConflict",
)
_PROJECT_SERVICES = ("publish_project_event", "apublish_project_event")

__all__ = ["__version__", *_SERVICES, *_PROJECT_SERVICES]


def __getattr__(name):
    if name in _SERVICES:
        from clarion.notifications import services

        return getattr(services, name)
    if name in _PROJECT_SERVICES:
        from clarion.projects import services as project_services

        return getattr(project_services, name)
    raise AttributeError(f"module 'clarion' has no attribute {name!r}")
