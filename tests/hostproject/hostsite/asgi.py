"""ASGI entry point of the host site: HTTP to Django, WebSockets to Clarion."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostsite.settings")

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi = get_asgi_application()  # sets Django up before Clarion's routing imports models

from clarion.realtime.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi, "websocket": websocket_application()})
