import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.channels_naive.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

django_http = get_asgi_application()

from bench.peers.channels_naive.consumers import NotificationConsumer  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_http,
    "websocket": URLRouter([path("ws/", NotificationConsumer.as_asgi())]),
})
