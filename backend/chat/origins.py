"""The WebSocket Origin check: the handshake's Origin must be exactly one of the site origins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from channels.security.websocket import WebsocketDenier

ORIGIN_HEADER = b"origin"


def origin_allowed(headers: Sequence[tuple[bytes, bytes]], allowed_origins: frozenset[str]) -> bool:
    """True when the handshake carries one Origin header whose value is, byte for byte, one of
    ``allowed_origins``.

    Compared as sent, never parsed: a URL parser forgives what a browser never sends
    (``https://site.example?`` and ``…#`` lose their empty query or fragment, ``HTTPS://`` is
    lower-cased, surrounding spaces are stripped) and would admit a value that is not the site's
    origin. Browsers serialise Origin canonically (lower case, default port omitted), and
    ALLOWED_ORIGINS is checked to be in that form at start-up (backchannel/env.py,
    chat/checks.py), so exact comparison refuses nothing a browser on the site sends. A missing
    header, ``null`` (sandboxed frames, file://) and two Origin headers are refused.
    """
    values = [value for name, value in headers if name == ORIGIN_HEADER]
    if len(values) != 1:
        return False
    try:
        origin = values[0].decode("ascii")
    except UnicodeDecodeError:
        return False
    return origin in allowed_origins


class SiteOriginValidator:
    """ASGI middleware: a WebSocket handshake from any other origin is refused (HTTP 403) before
    the application runs. Instead of channels' OriginValidator, whose matcher treats entries as
    patterns (a leading dot admits every subdomain, an entry without a scheme any scheme) and
    parses the header (see ``origin_allowed``)."""

    def __init__(self, application, allowed_origins: Iterable[str]) -> None:
        self.application = application
        self.allowed_origins = frozenset(allowed_origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("SiteOriginValidator guards WebSocket connections only")
        if origin_allowed(scope.get("headers", ()), self.allowed_origins):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
