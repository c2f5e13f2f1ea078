"""System checks for the chat settings, with stable IDs (``backchannel.E001`` ...).

They run with every ``manage.py`` command and, through ``fail_on_serious_problems``, when the
ASGI app starts, so a misconfigured server refuses to start instead of misbehaving.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from backchannel.env import origin_problem
from chat.conf import (
    METRICS_TOKEN_MIN_CHARS,
    conf,
    retention_days_problem,
    sanction_carry_problem,
    whole_secs_problem,
)

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
    problems: list[checks.CheckMessage] = []
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


@checks.register()
def check_moderation(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    value = getattr(settings, "BACKCHANNEL_SANCTION_ADDRESS_CARRY_SECS", None)
    problem = None if value is None else sanction_carry_problem(value)
    if problem is None:
        return []
    return [
        checks.Error(
            f"BACKCHANNEL_SANCTION_ADDRESS_CARRY_SECS {problem}.",
            hint="Set SANCTION_ADDRESS_CARRY_SECS to 0 (sanctions stay with the identity) or a number of seconds.",
            id="backchannel.E006",
        )
    ]


@checks.register()
def check_edit_window(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    value = getattr(settings, "BACKCHANNEL_EDIT_WINDOW_SECS", None)
    problem = None if value is None else whole_secs_problem(value)
    if problem is None:
        return []
    return [
        checks.Error(
            f"BACKCHANNEL_EDIT_WINDOW_SECS {problem}.",
            hint="Set EDIT_WINDOW_SECS to 0 (no editing) or a number of seconds (the default is 900).",
            id="backchannel.E007",
        )
    ]


@checks.register()
def check_retention(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A retention that cannot be read would delete nothing (0) while the site believes otherwise."""
    value = getattr(settings, "BACKCHANNEL_RETENTION_DAYS", None)
    problem = None if value is None else retention_days_problem(value)
    if problem is None:
        return []
    return [
        checks.Error(
            f"BACKCHANNEL_RETENTION_DAYS {problem}.",
            hint="Set RETENTION_DAYS to 0 (keep every message, the default) or the number of days to keep "
            "messages, and run `manage.py prune_messages` daily.",
            id="backchannel.E012",
        )
    ]


@checks.register()
def check_metrics_token(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A bearer token is all that guards /metrics: a short one could be guessed."""
    token = conf.METRICS_TOKEN
    if token is None or len(token) >= METRICS_TOKEN_MIN_CHARS:
        return []
    return [
        checks.Error(
            f"METRICS_TOKEN is {len(token)} characters long; /metrics needs at least {METRICS_TOKEN_MIN_CHARS}.",
            hint="Make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or unset it "
            "to turn /metrics off.",
            id="backchannel.E011",
        )
    ]


@checks.register(checks.Tags.compatibility, deploy=True)
def check_channel_layer_for_production(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    # A string in every layer's settings; the settings module's literal reads to mypy as a union.
    backend = str(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", ""))
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


# MySQL/MariaDB character sets that hold every Unicode character. utf8mb3 ("utf8" on older
# servers) stops at U+FFFF: a message with an emoji fails to store (1366) while /healthz says ok.
MYSQL_FULL_UNICODE_CHARSET = "utf8mb4"


@checks.register(checks.Tags.database)
def check_database_charset(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """A MySQL/MariaDB database (and the chat's tables, if made already) must be utf8mb4.

    Tagged ``database``: Django runs it for ``migrate`` and ``check --database``, not for a bare
    ``check`` (``make doctor`` checks a production env file where the database is out of reach);
    ``fail_on_serious_problems`` runs it at start-up. A database that cannot be reached is not
    judged here: /healthz reports it."""
    problems: list[checks.CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "mysql":
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT DATABASE(), @@character_set_database")
                name, charset = cursor.fetchone()
                cursor.execute(
                    "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'chat\\_%%'"
                )
                tables = [table for table, collation in cursor.fetchall() if not _is_full_unicode(collation)]
        except (DatabaseError, RuntimeError):  # RuntimeError: no database access allowed here (tests)
            continue
        finally:
            # Start-up runs this on the main thread, whose connection nothing else would close.
            if not connection.in_atomic_block:
                connection.close()
        fix = (
            f"ALTER DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; then, for each "
            "existing table, ALTER TABLE <table> CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        if not _is_full_unicode(charset):
            problems.append(
                checks.Error(
                    f"The MySQL/MariaDB database {name!r} ({alias}) uses the {charset} character set: "
                    "messages with emoji or other characters past U+FFFF would fail to store.",
                    hint=fix,
                    id="backchannel.E010",
                )
            )
        elif tables:
            problems.append(
                checks.Error(
                    f"MySQL/MariaDB tables of {name!r} ({alias}) are not utf8mb4: {', '.join(sorted(tables))}.",
                    hint=fix,
                    id="backchannel.E010",
                )
            )
    return problems


def _is_full_unicode(charset_or_collation: str | None) -> bool:
    return (charset_or_collation or "").lower().startswith(MYSQL_FULL_UNICODE_CHARSET)


def fail_on_serious_problems() -> None:
    """Raise ImproperlyConfigured with every error-level check message, if there are any.
    Besides the checks a bare ``check`` runs, the database character set (it reaches the database
    only when that is MySQL/MariaDB)."""
    found = [*checks.run_checks(), *check_database_charset(databases=[DEFAULT_DB_ALIAS])]
    serious = [message for message in found if message.is_serious() and not message.is_silenced()]
    if serious:
        raise ImproperlyConfigured("\n".join(str(message) for message in serious))
