"""Typed access to the chat app's settings: ``conf.MAX_TEXT_CHARS`` and so on.

Each attribute serves one entry of ``backchannel.setting_specs`` (its default, its type), read
from ``django.conf.settings``; a setting absent there reads as the table's default. A number, a
flag or a text is kept once read (a join reads a dozen of them, and each read went through
Django's lazy settings and a conversion) for as long as ``settings`` wraps the same object:
``override_settings`` (and pytest-django's ``settings`` fixture) wraps a new one for every change
and puts the old one back after, so tests just work. Lists are read on every access: each caller
gets a list of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings

from backchannel import setting_specs as specs
from backchannel.setting_specs import SettingSpec

T = TypeVar("T")

# The table's defaults under the names the tests import.
DEFAULT_RESERVED_NAMES: list[str] = list(specs.RESERVED_NAMES.default)
DEFAULT_SANCTION_ADDRESS_CARRY_SECS: int = specs.SANCTION_ADDRESS_CARRY_SECS.default
# The longest retention accepted (check backchannel.E012, and the environment's bound).
RETENTION_MAX_DAYS = int(specs.RETENTION_DAYS.maximum or 0)

# The shortest METRICS_TOKEN accepted (check backchannel.E011): a bearer token is all that guards
# /metrics, so it must not be guessable.
METRICS_TOKEN_MIN_CHARS = 32


# Values read so far, by setting name (only immutable ones), and the settings object they were
# read from (see the module's doc).
_kept: dict[str, object] = {}
_kept_from: list[object] = [None]
# LazySettings' own attribute dict, where it keeps the object it wraps (``_wrapped``): read
# directly, since ``settings._wrapped`` goes through LazyObject's __getattribute__ (~0.2 µs).
_lazy_settings_attributes: dict[str, object] = object.__getattribute__(settings, "__dict__")


class _Setting(Generic[T]):
    """A class attribute serving one setting of the table, converted by ``read``; kept once read
    when ``keep`` (an immutable value), else read on each access."""

    def __init__(self, spec: SettingSpec, read: Callable[[object], T], *, keep: bool = True) -> None:
        self.spec = spec
        self._read = read
        self._keep = keep
        self.__doc__ = spec.doc

    def __get__(self, instance: object, owner: type | None = None) -> T:
        name = self.spec.setting_name
        wrapped = _lazy_settings_attributes.get("_wrapped")
        if wrapped is not _kept_from[0]:
            _kept.clear()
            _kept_from[0] = wrapped
        try:
            return _kept[name]  # type: ignore[return-value]
        except KeyError:
            value = self._read(getattr(settings, name, self.spec.default))
            if self._keep:
                _kept[name] = value
            return value


def _int(spec: SettingSpec[int]) -> _Setting[int]:
    return _Setting(spec, int)  # type: ignore[arg-type]


def _float(spec: SettingSpec[float]) -> _Setting[float]:
    return _Setting(spec, float)  # type: ignore[arg-type]


def _flag(spec: SettingSpec[bool]) -> _Setting[bool]:
    return _Setting(spec, bool)


def _items(spec: SettingSpec[tuple[str, ...]]) -> _Setting[list[str]]:
    return _Setting(spec, list, keep=False)  # type: ignore[arg-type]


def _optional_text(spec: SettingSpec[str | None]) -> _Setting[str | None]:
    return _Setting(spec, lambda value: str(value) if value else None)  # blank: unset


def _checked(spec: SettingSpec[int], problem: Callable[[object], str | None]) -> _Setting[int]:
    """A whole number a system check validates (its ``problem`` function): a bad value set in code
    is reported by the check and read as the default meanwhile."""

    def read(value: object) -> int:
        return value if isinstance(value, int) and problem(value) is None else spec.default

    return _Setting(spec, read)


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


class Settings:
    ALLOWED_ORIGINS = _items(specs.ALLOWED_ORIGINS)
    MAX_TEXT_CHARS = _int(specs.MAX_TEXT_CHARS)
    MAX_FRAME_BYTES = _int(specs.MAX_FRAME_BYTES)
    # It must stay under daphne's --websocket-max-message-size, which limits outbound frames too.
    PAGE_BUDGET_BYTES = _int(specs.PAGE_BUDGET_BYTES)
    # Beyond the 64 KiB Twisted buffers before it calls the socket full (backchannel.serve); the
    # client then resumes from its last seq.
    SLOW_SOCKET_BUFFER_BYTES = _int(specs.SLOW_SOCKET_BUFFER_BYTES)
    TRUSTED_PROXY_HOPS = _int(specs.TRUSTED_PROXY_HOPS)  # chat.proxy
    SHUTDOWN_GRACE_SECS = _float(specs.SHUTDOWN_GRACE_SECS)  # backchannel.serve
    METRICS_TOKEN = _optional_text(specs.METRICS_TOKEN)  # chat.metrics_view
    MAX_ROOMS_PER_SOCKET = _int(specs.MAX_ROOMS_PER_SOCKET)
    HISTORY_LIMIT = _int(specs.HISTORY_LIMIT)
    RESUME_LIMIT = _int(specs.RESUME_LIMIT)

    # --- Identity ------------------------------------------------------------------------------

    TOKEN_TTL_SECS = _int(specs.TOKEN_TTL_SECS)
    IDENTITY_RENEW_MAX_AGE_SECS = _int(specs.IDENTITY_RENEW_MAX_AGE_SECS)
    IDENTITY_POW_BITS = _int(specs.IDENTITY_POW_BITS)
    CHALLENGE_TTL_SECS = _int(specs.CHALLENGE_TTL_SECS)
    # Staff sign-in attempts have buckets of their own, of the same sizes.
    IDENTITY_BURST = _int(specs.IDENTITY_BURST)
    IDENTITY_PER_MIN = _float(specs.IDENTITY_PER_MIN)
    # Compared case- and width-insensitively (chat.folding).
    RESERVED_NAMES = _items(specs.RESERVED_NAMES)

    # --- Abuse limits --------------------------------------------------------------------------

    AUTH_TIMEOUT_SECS = _float(specs.AUTH_TIMEOUT_SECS)
    MESSAGE_BURST = _int(specs.MESSAGE_BURST)
    MESSAGE_PER_SEC = _float(specs.MESSAGE_PER_SEC)
    IP_MESSAGE_BURST = _int(specs.IP_MESSAGE_BURST)
    IP_MESSAGE_PER_SEC = _float(specs.IP_MESSAGE_PER_SEC)
    FRAME_BURST = _int(specs.FRAME_BURST)
    FRAME_PER_SEC = _float(specs.FRAME_PER_SEC)
    FLOOD_STRIKES = _int(specs.FLOOD_STRIKES)
    MAX_SOCKETS_PER_IP = _int(specs.MAX_SOCKETS_PER_IP)
    # Renewed every third of it; a crashed process's sockets stop counting within it.
    SOCKET_LEASE_SECS = _float(specs.SOCKET_LEASE_SECS)

    @property
    def LIMITS_REDIS_URL(self) -> str | None:
        """Where the per-address limits are shared (chat.shared_limits): the first of the
        channel layer's REDIS_URLs; None without Redis (each process keeps its own)."""
        urls = list(getattr(settings, "REDIS_URLS", []))
        return urls[0] if urls else None

    REDIS_POOL_MAX_CONNECTIONS = _int(specs.REDIS_POOL_MAX_CONNECTIONS)  # chat.redis_pool
    REDIS_POOL_WAIT_SECS = _float(specs.REDIS_POOL_WAIT_SECS)
    REDIS_TLS_VERIFY = _flag(specs.REDIS_TLS_VERIFY)
    # A demoted or deleted account loses staff powers on its open sockets within this.
    STAFF_RECHECK_SECS = _float(specs.STAFF_RECHECK_SECS)
    # Its cost: others sharing that address who pick a name then get the sanction too
    # (chat.moderation.carry_over). Check backchannel.E006.
    SANCTION_ADDRESS_CARRY_SECS = _checked(specs.SANCTION_ADDRESS_CARRY_SECS, sanction_carry_problem)
    # Deleting is allowed at any time. Check backchannel.E007.
    EDIT_WINDOW_SECS = _checked(specs.EDIT_WINDOW_SECS, whole_secs_problem)
    # A prefix of each room's log goes (chat.retention). Check backchannel.E012; a bad value reads
    # as 0, so nothing is deleted.
    RETENTION_DAYS = _checked(specs.RETENTION_DAYS, retention_days_problem)
    DUPLICATE_WINDOW_SECS = _int(specs.DUPLICATE_WINDOW_SECS)

    # --- Presence ------------------------------------------------------------------------------

    PRESENCE_LIST_LIMIT = _int(specs.PRESENCE_LIST_LIMIT)
    PRESENCE_COUNT_INTERVAL_SECS = _float(specs.PRESENCE_COUNT_INTERVAL_SECS)
    PRESENCE_STALE_SECS = _int(specs.PRESENCE_STALE_SECS)
    TYPING_INTERVAL_SECS = _float(specs.TYPING_INTERVAL_SECS)


conf = Settings()
