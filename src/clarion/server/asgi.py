"""ASGI entry point of the standalone server: HTTP to Django, /ws/ to Clarion's router."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarion.server.settings")

from channels.routing import ProtocolTypeRouter  # noqa: E402

from clarion.server.http import http_application  # noqa: E402

django_http = http_application()  # sets Django up before the routing imports models

from clarion.realtime.lifespan import RealtimeLifespan  # noqa: E402
from clarion.realtime.routing import websocket_application  # noqa: E402

from clarion.server.warmup import warm  # noqa: E402

application = RealtimeLifespan(ProtocolTypeRouter({"http": django_http, "websocket": websocket_application()}))
warm()  # the first request costs what a later one does (issue 11); last, so gc.freeze() keeps it all
