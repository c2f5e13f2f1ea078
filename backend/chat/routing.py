"""WebSocket routes (the ASGI app in backchannel/asgi.py puts them behind the Origin check)."""

from django.urls import path, re_path

from chat.consumers import ChatConsumer

# ASGI's WebSocket denial response: the server lets the application answer a handshake with HTTP.
DENIAL_RESPONSE_EXTENSION = "websocket.http.response"


async def websocket_not_found(scope, receive, send) -> None:
    """Any other path: HTTP 404, quietly. channels' router raises for a path no route matches,
    which daphne turned into a 500 and a traceback in the log for every stray or probing client."""
    await receive()  # websocket.connect
    if DENIAL_RESPONSE_EXTENSION in (scope.get("extensions") or {}):  # our server (backchannel.serve)
        await send({"type": "websocket.http.response.start", "status": 404, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b""})
    else:  # a server without the extension refuses the handshake (daphne: 403)
        await send({"type": "websocket.close"})


websocket_urlpatterns = [
    path("ws/", ChatConsumer.as_asgi()),
    # Last: whatever the routes above do not serve. channels' URLRouter takes ASGI apps in Django's
    # path()/re_path(), whose stubs know only views.
    re_path(r"", websocket_not_found),  # type: ignore[arg-type]
]
