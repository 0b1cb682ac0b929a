from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from clarion.realtime.routing import websocket_urlpatterns

application = ProtocolTypeRouter({
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter([path("", URLRouter(websocket_urlpatterns))]))),
})
