"""Every setting of the backend, once: its environment variable, type, default, bounds and meaning.

``settings.py`` reads each environment setting through this table (``Env.setting``), ``chat.conf``
serves each ``BACKCHANNEL_*`` one from it, and ``tests/backend/test_documented_settings.py`` holds
README.md's configuration table and ARCHITECTURE.md's limits table to it. A default written
anywhere else is a copy that can drift: import it from here instead.

No Django import here: settings.py reads this before Django is configured, and the doctor
(scripts/doctor_backend.py) reads it without Django at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

Kind = Literal["int", "float", "bool", "text", "list", "origins", "choice"]
T = TypeVar("T")

# A development key, accepted only with DEBUG on, so `make run` works on a fresh machine (the
# doctor refuses it in a production environment).
DEVELOPMENT_SECRET_KEY = "development-only-not-secret-backchannel-0123456789abcdefghijkl"


@dataclass(frozen=True)
class SettingSpec(Generic[T]):
    """One setting. ``name`` is the environment variable (and ``chat.conf``'s attribute)."""

    name: str
    kind: Kind
    default: T
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # Stored as BACKCHANNEL_<name> by settings.py's loop and served by chat.conf; False: a Django or
    # process-level setting that settings.py reads by name and shapes itself (DATABASES, LOGGING...).
    prefixed: bool = True
    # False: an internal constant, not read from the environment and not in the README's table.
    # Tests may still set it through Django's settings (conf reads it from there first).
    from_env: bool = True
    # Read only with DEBUG off (the production hardening block of settings.py).
    production_only: bool = False
    # How the docs show a default that is not a plain value (unset, computed at start-up).
    shown_as: str | None = None

    @property
    def setting_name(self) -> str:
        """The name in ``django.conf.settings``."""
        return f"BACKCHANNEL_{self.name}" if self.prefixed else self.name

    @property
    def display_default(self) -> str:
        """The default exactly as README.md's and ARCHITECTURE.md's tables write it."""
        shown = self.shown_as if self.shown_as is not None else _display(self.kind, self.default)
        return f"{shown} (with `DEBUG` off)" if self.production_only else shown


def _display(kind: Kind, value: object) -> str:
    if kind == "bool":
        return "on" if value else "off"
    if value is None:
        return "unset"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 5.0 is written 5
    if isinstance(value, tuple):
        return f"`{','.join(value)}`" if value else "empty"
    return f"`{value}`"


_KIB = 1024
_MINUTE_SECS = 60
_HOUR_SECS = 60 * _MINUTE_SECS
_DAY_SECS = 24 * _HOUR_SECS

# --- Django and the process (settings.py reads each by name) -----------------------------------

DEBUG = SettingSpec("DEBUG", "bool", False, "Django's debug mode; `make run` turns it on.", prefixed=False)
SECRET_KEY: SettingSpec[str | None] = SettingSpec(
    "SECRET_KEY", "text", None, "Signs tokens and sessions; required with DEBUG off.",
    prefixed=False, shown_as="— (a dev key with `DEBUG` on)",
)  # fmt: skip
ALLOWED_HOSTS: SettingSpec[tuple[str, ...]] = SettingSpec(
    "ALLOWED_HOSTS", "list", ("localhost", "127.0.0.1", "[::1]"), "Host names the backend answers to.",
    prefixed=False,
)  # fmt: skip
DATABASE_URL: SettingSpec[str | None] = SettingSpec(
    "DATABASE_URL", "text", None, "The database, as a dj-database-url URL; unset: SQLite beside manage.py.",
    prefixed=False, shown_as="`sqlite:///backend/db.sqlite3`",
)  # fmt: skip
REDIS_URL: SettingSpec[tuple[str, ...]] = SettingSpec(
    "REDIS_URL", "list", (), "Redis URLs for the channel layer (several shard it); the first shares the limits.",
    prefixed=False, shown_as="unset: in-memory layer (one process)",
)  # fmt: skip
REDIS_TLS_VERIFY = SettingSpec(
    "REDIS_TLS_VERIFY", "bool", True, "Verify a rediss:// server's certificate.", prefixed=False
)
# Per Redis client of a process (the layer; the shared limits) and per Redis host. A burst waits for
# a connection rather than failing (chat.redis_pool), so this bounds Redis's client count, not the
# throughput: a hosted Redis counts processes x 2 x this against its plan's client limit.
REDIS_POOL_MAX_CONNECTIONS = SettingSpec(
    "REDIS_POOL_MAX_CONNECTIONS", "int", 32, "Connections each Redis client of a process keeps per host.",
    minimum=2, prefixed=False,
)  # fmt: skip
# Longer than any burst of commands takes to drain through the pool; shorter than a client's
# patience, so a Redis that stopped answering still surfaces as an error.
REDIS_POOL_WAIT_SECS = SettingSpec(
    "REDIS_POOL_WAIT_SECS", "float", 10.0, "How long a Redis command waits for a pooled connection.",
    minimum=0.1, prefixed=False,
)  # fmt: skip
# The layer drops what does not fit without a word (channels' default holds 100): a deep queue.
FANOUT_QUEUE_MESSAGES = SettingSpec(
    "FANOUT_QUEUE_MESSAGES", "int", 10_000, "Room messages a process's fan-out channel may hold unread.",
    minimum=100, prefixed=False,
)  # fmt: skip
SECURE_SSL_REDIRECT = SettingSpec(
    "SECURE_SSL_REDIRECT", "bool", True, "Redirect plain HTTP to HTTPS.", prefixed=False, production_only=True
)
SECURE_HSTS_SECONDS = SettingSpec(
    "SECURE_HSTS_SECONDS", "int", 365 * _DAY_SECS, "HSTS max-age.", minimum=0, prefixed=False, production_only=True
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SettingSpec(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "bool", True, "HSTS for subdomains too.", prefixed=False, production_only=True
)
# The header alone enrols nothing; a domain joins the preload list only when submitted.
SECURE_HSTS_PRELOAD = SettingSpec(
    "SECURE_HSTS_PRELOAD", "bool", True, "HSTS preload flag.", prefixed=False, production_only=True
)
CSRF_TRUSTED_ORIGINS: SettingSpec[tuple[str, ...]] = SettingSpec(
    "CSRF_TRUSTED_ORIGINS", "origins", (), "Origins allowed to post forms to the admin.", prefixed=False,
    production_only=True,
)  # fmt: skip
LOG_LEVEL = SettingSpec("LOG_LEVEL", "text", "INFO", "Root log level.", prefixed=False)
LOG_FORMAT = SettingSpec(
    "LOG_FORMAT", "choice", "plain", "plain, or json: one JSON object per line.", choices=("plain", "json"),
    prefixed=False,
)  # fmt: skip

# --- Backchannel (settings.py stores each as BACKCHANNEL_<name>; chat.conf serves it) ----------

ALLOWED_ORIGINS: SettingSpec[tuple[str, ...]] = SettingSpec(
    "ALLOWED_ORIGINS", "origins", ("http://localhost:1313", "http://127.0.0.1:1313"),
    "Site origins allowed to open sockets and call the API (the WebSocket Origin check and CORS).",
)  # fmt: skip
METRICS_TOKEN: SettingSpec[str | None] = SettingSpec(
    "METRICS_TOKEN", "text", None, "The bearer token /metrics asks for; unset: no /metrics.",
    shown_as="unset: no `/metrics` (404)",
)  # fmt: skip
TRUSTED_PROXY_HOPS = SettingSpec(
    "TRUSTED_PROXY_HOPS", "int", 0, "Proxies in front that append to X-Forwarded-For (0: the header is ignored).",
    minimum=0,
)  # fmt: skip
SHUTDOWN_GRACE_SECS = SettingSpec(
    "SHUTDOWN_GRACE_SECS", "float", 5.0, "On SIGTERM, how long sockets and consumers get to finish.", minimum=0.0
)
SLOW_SOCKET_BUFFER_BYTES = SettingSpec(
    "SLOW_SOCKET_BUFFER_BYTES", "int", 1024 * _KIB, "What is queued for a slow reader before it is dropped.",
    minimum=64 * _KIB,
)  # fmt: skip
MAX_TEXT_CHARS = SettingSpec("MAX_TEXT_CHARS", "int", 2000, "Longest message text, in characters.", minimum=1)
MAX_FRAME_BYTES = SettingSpec(
    "MAX_FRAME_BYTES", "int", 32 * _KIB, "Largest inbound frame; larger ones are refused before parsing.",
    minimum=256,
)  # fmt: skip
MAX_ROOMS_PER_SOCKET = SettingSpec("MAX_ROOMS_PER_SOCKET", "int", 10, "Rooms one socket may join.", minimum=1)
HISTORY_LIMIT = SettingSpec("HISTORY_LIMIT", "int", 50, "Messages in a page (join, older, the API).", minimum=1)
RESUME_LIMIT = SettingSpec(
    "RESUME_LIMIT", "int", 500, "The largest gap a reconnecting client is caught up on message by message.",
    minimum=0,
)  # fmt: skip
TOKEN_TTL_SECS = SettingSpec(
    "TOKEN_TTL_SECS", "int", _HOUR_SECS, "Lifetime of an identity token; a fresh one comes halfway.", minimum=60
)
STAFF_RECHECK_SECS = SettingSpec(
    "STAFF_RECHECK_SECS", "float", 20.0, "How often an open staff socket re-checks its account.", minimum=0.1
)
IDENTITY_POW_BITS = SettingSpec(
    "IDENTITY_POW_BITS", "int", 16, "Proof-of-work difficulty of a token request (0: none).", minimum=0
)
# Enough for a classroom or a site owner's test windows behind one address to pick ~30 names at
# once, and a steady one every 10 s after; a script minting hundreds is refused past that (each
# name also costs it a proof of work).
IDENTITY_BURST = SettingSpec(
    "IDENTITY_BURST", "int", 30, "New names (and staff sign-ins) per IP address at once.", minimum=1
)
IDENTITY_PER_MIN = SettingSpec(
    "IDENTITY_PER_MIN", "float", 6.0, "New names (and staff sign-ins) per IP address per minute.", minimum=0.01
)
RESERVED_NAMES: SettingSpec[tuple[str, ...]] = SettingSpec(
    "RESERVED_NAMES", "list",
    ("admin", "administrator", "backchannel", "mod", "moderator", "official", "owner", "root", "staff",
     "support", "system"),
    "Display names visitors may not take.",
)  # fmt: skip
AUTH_TIMEOUT_SECS = SettingSpec(
    "AUTH_TIMEOUT_SECS", "float", 5.0, "A socket with neither a name nor a room after this is closed.", minimum=0.1
)
MESSAGE_BURST = SettingSpec("MESSAGE_BURST", "int", 10, "Messages per identity at once.", minimum=1)
MESSAGE_PER_SEC = SettingSpec("MESSAGE_PER_SEC", "float", 1.0, "Messages per identity per second.", minimum=0.01)
IP_MESSAGE_BURST = SettingSpec("IP_MESSAGE_BURST", "int", 30, "Messages per IP address at once.", minimum=1)
IP_MESSAGE_PER_SEC = SettingSpec(
    "IP_MESSAGE_PER_SEC", "float", 3.0, "Messages per IP address per second.", minimum=0.01
)
FRAME_BURST = SettingSpec("FRAME_BURST", "int", 40, "Frames of any kind per socket at once.", minimum=1)
FRAME_PER_SEC = SettingSpec("FRAME_PER_SEC", "float", 10.0, "Frames of any kind per socket per second.", minimum=0.01)
FLOOD_STRIKES = SettingSpec(
    "FLOOD_STRIKES", "int", 10, "Refusals in a row after which a socket is closed (4008).", minimum=1
)
MAX_SOCKETS_PER_IP = SettingSpec("MAX_SOCKETS_PER_IP", "int", 20, "Open sockets per IP address.", minimum=1)
# A crashed process's sockets stop counting after this lease; renewed every third of it.
SOCKET_LEASE_SECS = SettingSpec(
    "SOCKET_LEASE_SECS", "float", 30.0, "With Redis: how long a process's socket counts outlive a renewal.",
    minimum=3.0,
)  # fmt: skip
DUPLICATE_WINDOW_SECS = SettingSpec(
    "DUPLICATE_WINDOW_SECS", "int", 60, "The same text again within this is refused (0: off).", minimum=0
)
# Fifteen minutes: long enough to fix a typo noticed after the replies came, short enough that a
# conversation is not rewritten under the people who answered it.
EDIT_WINDOW_SECS = SettingSpec(
    "EDIT_WINDOW_SECS", "int", 15 * _MINUTE_SECS, "How long after sending its author may edit a message (0: never).",
    minimum=0,
)  # fmt: skip
# A century (check backchannel.E012 also holds a value set in code to it): longer is "keep for
# ever", and far larger numbers of days do not fit in a date.
RETENTION_DAYS = SettingSpec(
    "RETENTION_DAYS", "int", 0, "Messages older than this many days are pruned (0: kept for ever).",
    minimum=0, maximum=36_500,
)  # fmt: skip
# A day: a muted or banned visitor who clears storage for a new name the same evening is still
# muted; an address shared by many (a campus, a carrier) is free of it by the next day.
SANCTION_ADDRESS_CARRY_SECS = SettingSpec(
    "SANCTION_ADDRESS_CARRY_SECS", "int", _DAY_SECS, "A sanction also covers new names from its address this long.",
    minimum=0,
)  # fmt: skip
PRESENCE_LIST_LIMIT = SettingSpec(
    "PRESENCE_LIST_LIMIT", "int", 100, "Over this many people online, presence carries only the count.", minimum=0
)
PRESENCE_COUNT_INTERVAL_SECS = SettingSpec(
    "PRESENCE_COUNT_INTERVAL_SECS", "float", 5.0, "Over the list limit, how often a count goes out per process.",
    minimum=0.0,
)  # fmt: skip
TYPING_INTERVAL_SECS = SettingSpec(
    "TYPING_INTERVAL_SECS", "float", 2.0, "At most one typing notice per socket and room this often.", minimum=0.0
)
PRESENCE_STALE_SECS = SettingSpec(
    "PRESENCE_STALE_SECS", "int", 90, "Presence not refreshed this long (its process died) is swept.", minimum=10
)

# --- Internal constants (not environment variables; tests set them through Django's settings) ---

# Under daphne's --websocket-max-message-size (64 KiB, backchannel.websocket_limits), which limits
# outbound frames too, with room for the frame's envelope.
PAGE_BUDGET_BYTES = SettingSpec(
    "PAGE_BUDGET_BYTES", "int", 56 * _KIB, "Largest page of messages (joined, older) sent in one frame.",
    from_env=False,
)  # fmt: skip
# Five minutes to solve a challenge's proof of work and send the token request.
CHALLENGE_TTL_SECS = SettingSpec(
    "CHALLENGE_TTL_SECS", "int", 5 * _MINUTE_SECS, "How long a proof-of-work challenge may be answered.",
    from_env=False,
)  # fmt: skip
# Thirty days: a visitor back within a month keeps their visitor id (and its sanctions) in a new token.
IDENTITY_RENEW_MAX_AGE_SECS = SettingSpec(
    "IDENTITY_RENEW_MAX_AGE_SECS", "int", 30 * _DAY_SECS,
    "How long after expiry a token still carries its visitor id into a new one.", from_env=False,
)  # fmt: skip

# Every SettingSpec above, in the order written (the README's table follows it loosely).
SETTINGS: tuple[SettingSpec, ...] = tuple(value for value in list(globals().values()) if isinstance(value, SettingSpec))
ENVIRONMENT_SETTINGS = tuple(spec for spec in SETTINGS if spec.from_env)
BY_NAME = {spec.name: spec for spec in SETTINGS}
