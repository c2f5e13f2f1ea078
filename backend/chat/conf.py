"""Typed access to the chat app's settings, with their defaults.

Settings are read on every access (not cached) so ``override_settings`` in tests just works.
"""

from __future__ import annotations

from django.conf import settings


class Settings:
    @property
    def ALLOWED_ORIGINS(self) -> list[str]:
        """Site origins (``scheme://host[:port]``) allowed to open sockets and call the API."""
        return list(getattr(settings, "BACKCHANNEL_ALLOWED_ORIGINS", []))

    @property
    def MAX_TEXT_CHARS(self) -> int:
        """Longest message text, in characters (code points)."""
        return int(getattr(settings, "BACKCHANNEL_MAX_TEXT_CHARS", 2000))

    @property
    def MAX_FRAME_BYTES(self) -> int:
        """Largest inbound WebSocket frame; larger ones are refused before parsing."""
        return int(getattr(settings, "BACKCHANNEL_MAX_FRAME_BYTES", 32 * 1024))

    @property
    def MAX_ROOMS_PER_SOCKET(self) -> int:
        return int(getattr(settings, "BACKCHANNEL_MAX_ROOMS_PER_SOCKET", 10))

    @property
    def HISTORY_LIMIT(self) -> int:
        """How many messages a page holds: the latest page on join, each older page, the API."""
        return int(getattr(settings, "BACKCHANNEL_HISTORY_LIMIT", 50))

    @property
    def RESUME_LIMIT(self) -> int:
        """The largest gap a rejoining client is caught up on message by message; past it, the
        client gets the latest page instead (and loads older pages if it wants them)."""
        return int(getattr(settings, "BACKCHANNEL_RESUME_LIMIT", 500))


conf = Settings()
