from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

from clarion.realtime.routing import websocket_application

application = ProtocolTypeRouter({"http": get_asgi_application(), "websocket": websocket_application()})
