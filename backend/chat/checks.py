"""System checks for the chat settings, with stable IDs (``backchannel.E001`` ...).

They run with every ``manage.py`` command and, through ``fail_on_serious_problems``, when the
ASGI app starts, so a misconfigured server refuses to start instead of misbehaving.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from backchannel.env import origin_problem
from chat.conf import conf

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# JSON framing of a `send` event around its text; a UTF-8 character takes at most 4 bytes.
JSON_MAX_BYTES_PER_CHAR = 6
MESSAGE_EVENT_OVERHEAD_BYTES = 512  # the other fields of a message event
SEND_FRAME_OVERHEAD_BYTES = 512
UTF8_MAX_BYTES_PER_CHAR = 4


@checks.register()
def check_allowed_origins(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    origins = conf.ALLOWED_ORIGINS
    if not origins:
        return [
            checks.Error(
                "BACKCHANNEL_ALLOWED_ORIGINS is empty: no site could open a chat socket.",
                hint="Set ALLOWED_ORIGINS to the site's origin, e.g. https://www.example.com",
                id="backchannel.E001",
            )
        ]
    problems: list[checks.CheckMessage] = []
    for origin in origins:
        problem = origin_problem(origin)
        if problem:
            problems.append(
                checks.Error(
                    f"BACKCHANNEL_ALLOWED_ORIGINS: {origin!r} {problem}.",
                    hint="Write each origin as the browser sends it, e.g. https://www.example.com",
                    id="backchannel.E002",
                )
            )
        elif not settings.DEBUG and is_remote_plain_http(origin):
            problems.append(
                checks.Error(
                    f"BACKCHANNEL_ALLOWED_ORIGINS: {origin!r} is plain http with DEBUG off.",
                    hint="Serve the site over https and list its https:// origin in ALLOWED_ORIGINS.",
                    id="backchannel.E003",
                )
            )
    return problems


def is_remote_plain_http(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS


@checks.register()
def check_limits(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problems = []
    smallest_frame_bytes = conf.MAX_TEXT_CHARS * UTF8_MAX_BYTES_PER_CHAR + SEND_FRAME_OVERHEAD_BYTES
    if conf.MAX_FRAME_BYTES < smallest_frame_bytes:
        problems.append(
            checks.Error(
                f"BACKCHANNEL_MAX_FRAME_BYTES ({conf.MAX_FRAME_BYTES}) cannot carry a message of "
                f"BACKCHANNEL_MAX_TEXT_CHARS ({conf.MAX_TEXT_CHARS}) characters.",
                hint=f"Set MAX_FRAME_BYTES to at least {smallest_frame_bytes} or lower MAX_TEXT_CHARS.",
                id="backchannel.E004",
            )
        )
    # Outbound, a character may cost six bytes (a \u escape); a page must hold one message at least.
    largest_message_bytes = conf.MAX_TEXT_CHARS * JSON_MAX_BYTES_PER_CHAR + MESSAGE_EVENT_OVERHEAD_BYTES
    if conf.PAGE_BUDGET_BYTES < largest_message_bytes:
        problems.append(
            checks.Error(
                f"BACKCHANNEL_PAGE_BUDGET_BYTES ({conf.PAGE_BUDGET_BYTES}) cannot carry one message of "
                f"BACKCHANNEL_MAX_TEXT_CHARS ({conf.MAX_TEXT_CHARS}) characters.",
                hint=f"Lower MAX_TEXT_CHARS to at most {(conf.PAGE_BUDGET_BYTES - MESSAGE_EVENT_OVERHEAD_BYTES) // 6}.",
                id="backchannel.E005",
            )
        )
    return problems


@checks.register(checks.Tags.compatibility, deploy=True)
def check_channel_layer_for_production(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if backend.endswith("InMemoryChannelLayer"):
        return [
            checks.Warning(
                "The in-memory channel layer serves one process only: a second backend process "
                "would split every room in two.",
                hint="Set REDIS_URL to run more than one backend process.",
                id="backchannel.W001",
            )
        ]
    return []


def fail_on_serious_problems() -> None:
    """Raise ImproperlyConfigured with every error-level check message, if there are any."""
    serious = [message for message in checks.run_checks() if message.is_serious() and not message.is_silenced()]
    if serious:
        raise ImproperlyConfigured("\n".join(str(message) for message in serious))
