from channels.generic.websocket import WebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/chat/", WebsocketConsumer.as_asgi())])})
