"""Django settings for the Backchannel backend, read from environment variables.

Every variable is listed in the README's configuration table. A malformed value stops the
process at start-up with a message naming the variable (see ``env.py``); a combination that is
wrong (for example an ``http://`` site origin in production) is caught by the system checks in
``chat/checks.py``, which ``asgi.py`` runs before it serves anything.
"""

from __future__ import annotations

import fnmatch
import re
import warnings
from pathlib import Path

import dj_database_url

from backchannel.env import Env
from chat.conf import (
    DEFAULT_EDIT_WINDOW_SECS,
    DEFAULT_IDENTITY_BURST,
    DEFAULT_IDENTITY_PER_MIN,
    DEFAULT_REDIS_POOL_MAX_CONNECTIONS,
    DEFAULT_REDIS_POOL_WAIT_SECS,
    DEFAULT_RESERVED_NAMES,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SANCTION_ADDRESS_CARRY_SECS,
)

BASE_DIR = Path(__file__).resolve().parent.parent
env = Env()

# A development key, accepted only with DEBUG on, so `make run` works on a fresh machine.
_DEVELOPMENT_SECRET_KEY = "development-only-not-secret-backchannel-0123456789abcdefghijkl"

DEBUG = env.boolean("DEBUG", False)
if DEBUG:
    SECRET_KEY = env.text("SECRET_KEY") or _DEVELOPMENT_SECRET_KEY
else:
    SECRET_KEY = env.required_text(
        "SECRET_KEY",
        "a long random string; make one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`",
    )
ALLOWED_HOSTS = env.items("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves the ASGI app (WebSockets included)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "channels",
    "chat",
]

MIDDLEWARE = [
    # First: platform health checkers send internal IPs as Host and plain http.
    "chat.middleware.HealthCheckMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's CSS and JS, served by the backend itself: a PaaS has no web server for them.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backchannel.urls"
ASGI_APPLICATION = "backchannel.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# conn_max_age stays 0: under ASGI each sync_to_async call may land on another thread, and
# persistent connections would be held per thread without a request cycle to close them.
DATABASES = {
    "default": dj_database_url.parse(
        env.text("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # Take the write lock when a transaction starts: with the default (deferred), two
            # writers that both read first deadlock and one fails at once with "database is locked".
            "transaction_mode": "IMMEDIATE",
            # Wait for the lock instead of failing; WAL lets readers go on while one writes.
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # MySQL/MariaDB (driver: mysqlclient). Django already talks utf8mb4 and READ COMMITTED; the
    # database itself must be utf8mb4 too (check backchannel.E010), and so is the test database.
    DATABASES["default"].setdefault("TEST", {}).update({"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: in-memory for one process; Redis (several hosts shard the layer) to run many.
# Each process reads all of its room traffic from one channel, "fanout.…" (chat.fanout): give it
# a deep queue, since the layer drops what does not fit without a word (the default holds 100).
FANOUT_QUEUE_MESSAGES = env.integer("FANOUT_QUEUE_MESSAGES", 10_000, minimum=100)
_FANOUT_CHANNEL_GLOB = "fanout.*"
REDIS_URLS = env.items("REDIS_URL", [])
# rediss:// (Redis over TLS) checks the server's certificate unless this is off. Heroku Redis
# serves a self-signed certificate, so a Heroku backend needs REDIS_TLS_VERIFY=0 (app.json sets it).
REDIS_TLS_VERIFY = env.boolean("REDIS_TLS_VERIFY", True)


def _redis_host(url: str) -> dict[str, object]:
    # redis-py 8 defaults socket_timeout to 5 s, which kills the layer's blocking receive and
    # closes every socket idle for that long: wait without a timeout.
    host: dict[str, object] = {"address": url, "socket_timeout": None}
    if url.startswith("rediss://") and not REDIS_TLS_VERIFY:
        host["ssl_cert_reqs"] = None
    return host


# Each Redis client of a process (the layer, the shared limits) keeps at most this many connections
# per Redis host, and a command past them waits up to REDIS_POOL_WAIT_SECS for one (chat.redis_pool):
# a burst (hundreds of sockets closing at once) is served in turn instead of failing.
REDIS_POOL_MAX_CONNECTIONS = env.integer("REDIS_POOL_MAX_CONNECTIONS", DEFAULT_REDIS_POOL_MAX_CONNECTIONS, minimum=2)
REDIS_POOL_WAIT_SECS = env.number("REDIS_POOL_WAIT_SECS", DEFAULT_REDIS_POOL_WAIT_SECS, minimum=0.1)

if REDIS_URLS:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis's core layer over our pools (bounded, waiting, retried).
            "BACKEND": "chat.redis_layer.PooledRedisChannelLayer",
            "CONFIG": {
                "hosts": [_redis_host(url) for url in REDIS_URLS],
                "channel_capacity": {_FANOUT_CHANNEL_GLOB: FANOUT_QUEUE_MESSAGES},
                "pool_max_connections": REDIS_POOL_MAX_CONNECTIONS,
                "pool_wait_secs": REDIS_POOL_WAIT_SECS,
            },
        }
    }
else:
    # channels 4.3's in-memory layer reads channel_capacity as (compiled pattern, size) pairs, not
    # the documented dict of globs (it never compiles them): hand it the pairs.
    _capacities = [(re.compile(fnmatch.translate(_FANOUT_CHANNEL_GLOB)), FANOUT_QUEUE_MESSAGES)]
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"channel_capacity": _capacities}}
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# `manage.py collectstatic` (run by Heroku's Python buildpack) copies the admin's files here.
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise also finds them in the apps, so the admin is styled whether collectstatic ran or not
# (the launchers, the tests and the systemd unit never run it); its "No directory" warning for a
# STATIC_ROOT that was never collected is noise in that case.
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message=f"No directory at: {re.escape(str(STATIC_ROOT))}", category=UserWarning)

# --- Backchannel (read through chat.conf) -------------------------------------------------
# One allow-list of site origins feeds both the WebSocket Origin check and CORS.
BACKCHANNEL_ALLOWED_ORIGINS = env.origins("ALLOWED_ORIGINS", ["http://localhost:1313", "http://127.0.0.1:1313"])
BACKCHANNEL_MAX_TEXT_CHARS = env.integer("MAX_TEXT_CHARS", 2000, minimum=1)
BACKCHANNEL_MAX_FRAME_BYTES = env.integer("MAX_FRAME_BYTES", 32 * 1024, minimum=256)
BACKCHANNEL_MAX_ROOMS_PER_SOCKET = env.integer("MAX_ROOMS_PER_SOCKET", 10, minimum=1)
BACKCHANNEL_HISTORY_LIMIT = env.integer("HISTORY_LIMIT", 50, minimum=1)
BACKCHANNEL_RESUME_LIMIT = env.integer("RESUME_LIMIT", 500, minimum=0)
# Identity tokens (chat.identity) and the abuse limits; ARCHITECTURE.md "Limits" explains each.
BACKCHANNEL_TOKEN_TTL_SECS = env.integer("TOKEN_TTL_SECS", 3600, minimum=60)
BACKCHANNEL_IDENTITY_POW_BITS = env.integer("IDENTITY_POW_BITS", 16, minimum=0)
BACKCHANNEL_IDENTITY_BURST = env.integer("IDENTITY_BURST", DEFAULT_IDENTITY_BURST, minimum=1)
BACKCHANNEL_IDENTITY_PER_MIN = env.number("IDENTITY_PER_MIN", DEFAULT_IDENTITY_PER_MIN, minimum=0.01)
BACKCHANNEL_RESERVED_NAMES = env.items("RESERVED_NAMES", DEFAULT_RESERVED_NAMES)
BACKCHANNEL_AUTH_TIMEOUT_SECS = env.number("AUTH_TIMEOUT_SECS", 5.0, minimum=0.1)
BACKCHANNEL_MESSAGE_BURST = env.integer("MESSAGE_BURST", 10, minimum=1)
BACKCHANNEL_MESSAGE_PER_SEC = env.number("MESSAGE_PER_SEC", 1.0, minimum=0.01)
BACKCHANNEL_IP_MESSAGE_BURST = env.integer("IP_MESSAGE_BURST", 30, minimum=1)
BACKCHANNEL_IP_MESSAGE_PER_SEC = env.number("IP_MESSAGE_PER_SEC", 3.0, minimum=0.01)
BACKCHANNEL_FRAME_BURST = env.integer("FRAME_BURST", 40, minimum=1)
BACKCHANNEL_FRAME_PER_SEC = env.number("FRAME_PER_SEC", 10.0, minimum=0.01)
BACKCHANNEL_FLOOD_STRIKES = env.integer("FLOOD_STRIKES", 10, minimum=1)
BACKCHANNEL_MAX_SOCKETS_PER_IP = env.integer("MAX_SOCKETS_PER_IP", 20, minimum=1)
# With REDIS_URL every process shares the per-address limits (chat.shared_limits); a crashed
# process's sockets stop counting after this lease.
BACKCHANNEL_SOCKET_LEASE_SECS = env.number("SOCKET_LEASE_SECS", 30.0, minimum=3.0)
BACKCHANNEL_DUPLICATE_WINDOW_SECS = env.integer("DUPLICATE_WINDOW_SECS", 60, minimum=0)
# A mute or ban also covers new identities issued to the sanctioned identity's address for this
# long (0: off). The trade-off (people sharing the address) is in README.md and ARCHITECTURE.md.
BACKCHANNEL_SANCTION_ADDRESS_CARRY_SECS = env.integer(
    "SANCTION_ADDRESS_CARRY_SECS", DEFAULT_SANCTION_ADDRESS_CARRY_SECS, minimum=0
)
# How long after sending its author may edit a message (protocol version 3; 0: never).
BACKCHANNEL_EDIT_WINDOW_SECS = env.integer("EDIT_WINDOW_SECS", DEFAULT_EDIT_WINDOW_SECS, minimum=0)
# Messages older than this many days are deleted by `manage.py prune_messages` (0: kept for ever);
# over a century is refused by check backchannel.E012.
BACKCHANNEL_RETENTION_DAYS = env.integer("RETENTION_DAYS", DEFAULT_RETENTION_DAYS, minimum=0)
BACKCHANNEL_STAFF_RECHECK_SECS = env.number("STAFF_RECHECK_SECS", 20.0, minimum=0.1)
BACKCHANNEL_PRESENCE_LIST_LIMIT = env.integer("PRESENCE_LIST_LIMIT", 100, minimum=0)
BACKCHANNEL_PRESENCE_STALE_SECS = env.integer("PRESENCE_STALE_SECS", 90, minimum=10)
BACKCHANNEL_PRESENCE_COUNT_INTERVAL_SECS = env.number("PRESENCE_COUNT_INTERVAL_SECS", 5.0, minimum=0.0)
BACKCHANNEL_TYPING_INTERVAL_SECS = env.number("TYPING_INTERVAL_SECS", 2.0, minimum=0.0)
BACKCHANNEL_SLOW_SOCKET_BUFFER_BYTES = env.integer("SLOW_SOCKET_BUFFER_BYTES", 1024 * 1024, minimum=64 * 1024)
# Proxies in front of the backend that append to X-Forwarded-For (a PaaS router, nginx): the
# client is the address the outermost of them saw. 0 trusts no header (the backend faces visitors).
BACKCHANNEL_TRUSTED_PROXY_HOPS = env.integer("TRUSTED_PROXY_HOPS", 0, minimum=0)
# On SIGTERM (a deploy, a restart) sockets are closed with 1012 "service restart" and their
# consumers finish (presence leaves) for at most this long before the process exits.
BACKCHANNEL_SHUTDOWN_GRACE_SECS = env.number("SHUTDOWN_GRACE_SECS", 5.0, minimum=0.0)
# /metrics (Prometheus text format) answers only a request bearing this token; unset: no /metrics
# (404). Check backchannel.E011 refuses a short one.
BACKCHANNEL_METRICS_TOKEN = env.text("METRICS_TOKEN") or None

CORS_ALLOWED_ORIGINS = BACKCHANNEL_ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/api/.*$"  # CORS for the JSON API only; the admin stays same-origin
CORS_ALLOW_CREDENTIALS = False  # no cookies cross origins: identity travels in tokens

# --- Production hardening (everything here is what `manage.py check --deploy` asks for) ----
if not DEBUG:
    # PaaS routers terminate TLS and say so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # The header alone enrols nothing; a domain joins the preload list only when submitted.
    SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.origins("CSRF_TRUSTED_ORIGINS", [])

# LOG_FORMAT=json: one JSON object per line (chat.jsonlog), for a log platform that parses fields.
LOG_FORMAT = env.choice("LOG_FORMAT", "plain", ["plain", "json"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "chat.jsonlog.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.text("LOG_LEVEL", "INFO")},
}
