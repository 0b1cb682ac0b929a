"""WebSocket routes, and the application a host site mounts under "websocket"."""

from channels.routing import URLRouter
from django.urls import path, re_path

from clarion.auth.middleware import ClarionAuthStack
from clarion.realtime.consumers.base import UnknownStreamConsumer
from clarion.realtime.consumers.notifications import NotificationsConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationsConsumer.as_asgi()),
]


def websocket_application(extra_patterns=()):
    """OriginGuard -> JWT auth -> router, with a 4404 catch-all for unknown /ws/ paths."""
    patterns = [*websocket_urlpatterns, *extra_patterns, re_path(r"^ws/", UnknownStreamConsumer.as_asgi())]
    return ClarionAuthStack(URLRouter(patterns))
