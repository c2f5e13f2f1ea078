"""WebSocket routes (the ASGI app in backchannel/asgi.py puts them behind the Origin check)."""

from django.urls import path

from chat.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/", ChatConsumer.as_asgi()),
]
