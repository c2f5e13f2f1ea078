"""Typed access to the chat app's settings, with their defaults.

Settings are read on every access (not cached) so ``override_settings`` in tests just works.
"""

from __future__ import annotations

from django.conf import settings

# Defaults settings.py also reads (one source each). Enough for a classroom or a site owner's
# test windows behind one address to pick ~30 names at once, and a steady one every 10 s after;
# a script minting hundreds is refused past that (each name also costs it a proof of work).
DEFAULT_IDENTITY_BURST = 30
DEFAULT_IDENTITY_PER_MIN = 6.0

# A day: a muted or banned visitor who clears storage for a new name the same evening is still
# muted; an address shared by many (a campus, a carrier) is free of it by the next day.
DEFAULT_SANCTION_ADDRESS_CARRY_SECS = 24 * 3600

# Fifteen minutes: long enough to fix a typo noticed after the replies came, short enough that a
# conversation is not rewritten under the people who answered it.
DEFAULT_EDIT_WINDOW_SECS = 15 * 60

# Messages are kept for ever unless a site sets RETENTION_DAYS (chat.retention).
DEFAULT_RETENTION_DAYS = 0
# The longest retention accepted (check backchannel.E012): a century; longer is "keep for ever",
# and far larger numbers of days do not fit in a date.
RETENTION_MAX_DAYS = 36_500

# Per Redis client of a process (the layer; the shared limits) and per Redis host. A burst waits for
# a connection rather than failing (chat.redis_pool), so this bounds Redis's client count, not the
# throughput: a hosted Redis counts processes x 2 x this against its plan's client limit.
DEFAULT_REDIS_POOL_MAX_CONNECTIONS = 32
# Longer than any burst of commands takes to drain through the pool; shorter than a client's
# patience, so a Redis that stopped answering still surfaces as an error.
DEFAULT_REDIS_POOL_WAIT_SECS = 10.0

# The shortest METRICS_TOKEN accepted (check backchannel.E011): a bearer token is all that guards
# /metrics, so it must not be guessable.
METRICS_TOKEN_MIN_CHARS = 32

DEFAULT_RESERVED_NAMES = [
    "admin", "administrator", "backchannel", "mod", "moderator", "official", "owner", "root", "staff",
    "support", "system",
]  # fmt: skip


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
    def PAGE_BUDGET_BYTES(self) -> int:
        """Largest page of messages (``joined``, ``older``) sent in one frame. It must stay under
        daphne's --websocket-max-message-size (64 KiB here), which limits outbound frames too."""
        return int(getattr(settings, "BACKCHANNEL_PAGE_BUDGET_BYTES", 56 * 1024))

    @property
    def SLOW_SOCKET_BUFFER_BYTES(self) -> int:
        """What the server queues for a socket whose reader cannot keep up (beyond the 64 KiB
        Twisted buffers before it calls the socket full) before it drops the connection
        (backchannel.serve). The client then resumes from its last seq."""
        return int(getattr(settings, "BACKCHANNEL_SLOW_SOCKET_BUFFER_BYTES", 1024 * 1024))

    @property
    def TRUSTED_PROXY_HOPS(self) -> int:
        """Proxies in front of the backend that append the address they saw to X-Forwarded-For
        (chat.proxy). 0: the header is ignored, the TCP peer is the client."""
        return int(getattr(settings, "BACKCHANNEL_TRUSTED_PROXY_HOPS", 0))

    @property
    def SHUTDOWN_GRACE_SECS(self) -> float:
        """On SIGTERM, how long open sockets get to close (1012) and their consumers to finish
        before the process exits (backchannel.serve)."""
        return float(getattr(settings, "BACKCHANNEL_SHUTDOWN_GRACE_SECS", 5.0))

    @property
    def METRICS_TOKEN(self) -> str | None:
        """The bearer token /metrics asks for (chat.metrics_view); None: no /metrics (404)."""
        return getattr(settings, "BACKCHANNEL_METRICS_TOKEN", None) or None

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

    # --- Identity ------------------------------------------------------------------------------

    @property
    def TOKEN_TTL_SECS(self) -> int:
        """How long an identity token is accepted; the server hands out a fresh one halfway."""
        return int(getattr(settings, "BACKCHANNEL_TOKEN_TTL_SECS", 3600))

    @property
    def IDENTITY_RENEW_MAX_AGE_SECS(self) -> int:
        """How old an expired token may be and still carry its visitor id into a new one."""
        return int(getattr(settings, "BACKCHANNEL_IDENTITY_RENEW_MAX_AGE_SECS", 30 * 24 * 3600))

    @property
    def IDENTITY_POW_BITS(self) -> int:
        """Leading zero bits the proof of work of a token request needs (0: no proof of work)."""
        return int(getattr(settings, "BACKCHANNEL_IDENTITY_POW_BITS", 16))

    @property
    def CHALLENGE_TTL_SECS(self) -> int:
        return int(getattr(settings, "BACKCHANNEL_CHALLENGE_TTL_SECS", 300))

    @property
    def IDENTITY_BURST(self) -> int:
        """New names (tokens for a new visitor id) one IP address may get at once, and staff
        sign-in attempts (a bucket of their own)..."""
        return int(getattr(settings, "BACKCHANNEL_IDENTITY_BURST", DEFAULT_IDENTITY_BURST))

    @property
    def IDENTITY_PER_MIN(self) -> float:
        """...and then per minute."""
        return float(getattr(settings, "BACKCHANNEL_IDENTITY_PER_MIN", DEFAULT_IDENTITY_PER_MIN))

    @property
    def RESERVED_NAMES(self) -> list[str]:
        """Display names visitors may not take (compared case- and width-insensitively)."""
        return list(getattr(settings, "BACKCHANNEL_RESERVED_NAMES", DEFAULT_RESERVED_NAMES))

    # --- Abuse limits --------------------------------------------------------------------------

    @property
    def AUTH_TIMEOUT_SECS(self) -> float:
        """A socket that has neither sent a valid ``auth`` nor joined a room (a reader) this long
        after the handshake is closed."""
        return float(getattr(settings, "BACKCHANNEL_AUTH_TIMEOUT_SECS", 5))

    @property
    def MESSAGE_BURST(self) -> int:
        return int(getattr(settings, "BACKCHANNEL_MESSAGE_BURST", 10))

    @property
    def MESSAGE_PER_SEC(self) -> float:
        return float(getattr(settings, "BACKCHANNEL_MESSAGE_PER_SEC", 1.0))

    @property
    def IP_MESSAGE_BURST(self) -> int:
        return int(getattr(settings, "BACKCHANNEL_IP_MESSAGE_BURST", 30))

    @property
    def IP_MESSAGE_PER_SEC(self) -> float:
        return float(getattr(settings, "BACKCHANNEL_IP_MESSAGE_PER_SEC", 3.0))

    @property
    def FRAME_BURST(self) -> int:
        return int(getattr(settings, "BACKCHANNEL_FRAME_BURST", 40))

    @property
    def FRAME_PER_SEC(self) -> float:
        return float(getattr(settings, "BACKCHANNEL_FRAME_PER_SEC", 10.0))

    @property
    def FLOOD_STRIKES(self) -> int:
        """``rate_limited`` refusals in a row after which the socket is closed (4008)."""
        return int(getattr(settings, "BACKCHANNEL_FLOOD_STRIKES", 10))

    @property
    def MAX_SOCKETS_PER_IP(self) -> int:
        return int(getattr(settings, "BACKCHANNEL_MAX_SOCKETS_PER_IP", 20))

    @property
    def SOCKET_LEASE_SECS(self) -> float:
        """With Redis: how long a process's count of open sockets per address outlives its last
        renewal (it renews every third of this). A crashed process's sockets stop counting
        against their addresses within this."""
        return float(getattr(settings, "BACKCHANNEL_SOCKET_LEASE_SECS", 30))

    @property
    def LIMITS_REDIS_URL(self) -> str | None:
        """Where the per-address limits are shared (chat.shared_limits): the first of the
        channel layer's REDIS_URLs; None without Redis (each process keeps its own)."""
        urls = list(getattr(settings, "REDIS_URLS", []))
        return urls[0] if urls else None

    @property
    def REDIS_POOL_MAX_CONNECTIONS(self) -> int:
        """Connections each Redis client of the process keeps per host (chat.redis_pool)."""
        return int(getattr(settings, "REDIS_POOL_MAX_CONNECTIONS", DEFAULT_REDIS_POOL_MAX_CONNECTIONS))

    @property
    def REDIS_POOL_WAIT_SECS(self) -> float:
        """How long a Redis command waits for a free pooled connection before it fails."""
        return float(getattr(settings, "REDIS_POOL_WAIT_SECS", DEFAULT_REDIS_POOL_WAIT_SECS))

    @property
    def REDIS_TLS_VERIFY(self) -> bool:
        return bool(getattr(settings, "REDIS_TLS_VERIFY", True))

    @property
    def STAFF_RECHECK_SECS(self) -> float:
        """How often a staff socket checks that its account is still active staff: a demoted or
        deleted account loses staff powers on its open sockets within this."""
        return float(getattr(settings, "BACKCHANNEL_STAFF_RECHECK_SECS", 20))

    @property
    def SANCTION_ADDRESS_CARRY_SECS(self) -> int:
        """For this long after a mute or ban of an identity, a new identity issued to the address
        it was seen at gets the same sanction (0: never). Its cost: others sharing that address
        who pick a name then get it too (chat.moderation.carry_over). A bad value is reported by
        system check backchannel.E006 and read as the default."""
        value = getattr(settings, "BACKCHANNEL_SANCTION_ADDRESS_CARRY_SECS", DEFAULT_SANCTION_ADDRESS_CARRY_SECS)
        return value if sanction_carry_problem(value) is None else DEFAULT_SANCTION_ADDRESS_CARRY_SECS

    @property
    def EDIT_WINDOW_SECS(self) -> int:
        """How long after sending its author may edit a message (0: never; deleting it is allowed
        at any time). A bad value is reported by system check backchannel.E007 and read as the
        default."""
        value = getattr(settings, "BACKCHANNEL_EDIT_WINDOW_SECS", DEFAULT_EDIT_WINDOW_SECS)
        return value if whole_secs_problem(value) is None else DEFAULT_EDIT_WINDOW_SECS

    @property
    def RETENTION_DAYS(self) -> int:
        """Messages older than this many days are deleted by ``manage.py prune_messages`` (a
        prefix of each room's log; chat.retention); 0 keeps them for ever. A bad value is reported
        by system check backchannel.E012 and read as 0 (nothing is deleted)."""
        value = getattr(settings, "BACKCHANNEL_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
        return value if retention_days_problem(value) is None else DEFAULT_RETENTION_DAYS

    @property
    def DUPLICATE_WINDOW_SECS(self) -> int:
        return int(getattr(settings, "BACKCHANNEL_DUPLICATE_WINDOW_SECS", 60))

    # --- Presence ------------------------------------------------------------------------------

    @property
    def PRESENCE_LIST_LIMIT(self) -> int:
        """Over this many people online, ``presence`` events carry only the count."""
        return int(getattr(settings, "BACKCHANNEL_PRESENCE_LIST_LIMIT", 100))

    @property
    def PRESENCE_COUNT_INTERVAL_SECS(self) -> float:
        """In a room over the list limit, a count update goes out at most this often per process."""
        return float(getattr(settings, "BACKCHANNEL_PRESENCE_COUNT_INTERVAL_SECS", 5))

    @property
    def PRESENCE_STALE_SECS(self) -> int:
        """A presence row not refreshed by a ping this long belongs to a dead process: swept."""
        return int(getattr(settings, "BACKCHANNEL_PRESENCE_STALE_SECS", 90))

    @property
    def TYPING_INTERVAL_SECS(self) -> float:
        """At most one ``typing`` relayed per socket and room this often."""
        return float(getattr(settings, "BACKCHANNEL_TYPING_INTERVAL_SECS", 2))


def sanction_carry_problem(value: object) -> str | None:
    """Why ``value`` cannot be SANCTION_ADDRESS_CARRY_SECS, or None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return f"must be a whole number of seconds, not {value!r}"
    if value < 0:
        return f"must be 0 (off) or more, not {value}"
    return None


def whole_secs_problem(value: object) -> str | None:
    """Why ``value`` cannot be a number of seconds that is 0 (off) or more, or None."""
    return sanction_carry_problem(value)


def retention_days_problem(value: object) -> str | None:
    """Why ``value`` cannot be RETENTION_DAYS, or None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return f"must be a whole number of days, not {value!r}"
    if not 0 <= value <= RETENTION_MAX_DAYS:
        return f"must be 0 (keep messages for ever) or 1 to {RETENTION_MAX_DAYS} days, not {value}"
    return None


conf = Settings()
