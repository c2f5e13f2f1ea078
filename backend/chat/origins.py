"""The WebSocket Origin check: the handshake's Origin must be exactly one of the site origins."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator


class SiteOriginValidator(OriginValidator):
    """channels' OriginValidator with exact matching.

    The stock matcher also treats entries as patterns (a leading dot admits every subdomain, an
    entry without scheme admits any scheme) and raises on a malformed port such as
    ``http://localhost:1313.evil``. Browsers serialise Origin canonically (lower case, default
    port omitted), so comparing strings is both exact and complete; ALLOWED_ORIGINS is checked
    to be in that canonical form at start-up (backchannel/env.py, chat/checks.py).
    """

    def __init__(self, application, allowed_origins: Iterable[str]) -> None:
        super().__init__(application, frozenset(allowed_origins))

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        # A missing header parses to None; "null" (sandboxed frames, file://) is not in the list.
        return parsed_origin is not None and parsed_origin.geturl() in self.allowed_origins
