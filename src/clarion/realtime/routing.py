"""WebSocket routes, and the application a host site mounts under "websocket"."""

from channels.routing import URLRouter
from django.urls import path, re_path

from clarion.auth.middleware import ClarionAuthStack
from clarion.realtime.consumers.base import UnknownStreamConsumer
from clarion.realtime.consumers.collaboration import CollaborationConsumer
from clarion.realtime.consumers.health import SystemHealthConsumer
from clarion.realtime.consumers.notifications import NotificationsConsumer
from clarion.realtime.consumers.projects import ProjectConsumer

# Path parameters are matched loosely and validated by the consumer, so that a malformed id
# or room name is closed with 4404 (readable by a browser) rather than left to the catch-all.
websocket_urlpatterns = [
    path("ws/notifications/", NotificationsConsumer.as_asgi()),
    re_path(r"^ws/projects/(?P<project_id>[^/]*)/$", ProjectConsumer.as_asgi()),
    re_path(r"^ws/collaboration/(?P<room>[^/]*)/$", CollaborationConsumer.as_asgi()),
    path("ws/system-health/", SystemHealthConsumer.as_asgi()),
]


def websocket_application(extra_patterns=()):
    """OriginGuard -> JWT auth -> router, with a 4404 catch-all for unknown /ws/ paths."""
    patterns = [*websocket_urlpatterns, *extra_patterns, re_path(r"^ws/", UnknownStreamConsumer.as_asgi())]
    return ClarionAuthStack(URLRouter(patterns))
