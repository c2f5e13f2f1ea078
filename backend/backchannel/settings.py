"""Django settings for the Backchannel backend, read from environment variables.

Every variable, with its default and bounds, is declared once in ``setting_specs.py`` (and listed
in the README's configuration table, which a test holds to it). A malformed value stops the
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

from backchannel import setting_specs as specs
from backchannel.env import Env

BASE_DIR = Path(__file__).resolve().parent.parent
env = Env()

DEBUG: bool = env.setting(specs.DEBUG)
if DEBUG:
    SECRET_KEY = env.setting(specs.SECRET_KEY) or specs.DEVELOPMENT_SECRET_KEY
else:
    SECRET_KEY = env.required_text(
        specs.SECRET_KEY.name,
        "a long random string; make one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`",
    )
ALLOWED_HOSTS: list[str] = env.setting(specs.ALLOWED_HOSTS)

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
        env.setting(specs.DATABASE_URL) or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
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
FANOUT_QUEUE_MESSAGES: int = env.setting(specs.FANOUT_QUEUE_MESSAGES)
_FANOUT_CHANNEL_GLOB = "fanout.*"
REDIS_URLS: list[str] = env.setting(specs.REDIS_URL)
# rediss:// (Redis over TLS) checks the server's certificate unless this is off. Heroku Redis
# serves a self-signed certificate, so a Heroku backend needs REDIS_TLS_VERIFY=0 (app.json sets it).
REDIS_TLS_VERIFY: bool = env.setting(specs.REDIS_TLS_VERIFY)


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
REDIS_POOL_MAX_CONNECTIONS: int = env.setting(specs.REDIS_POOL_MAX_CONNECTIONS)
REDIS_POOL_WAIT_SECS: float = env.setting(specs.REDIS_POOL_WAIT_SECS)

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
# Each one BACKCHANNEL_<name>, parsed and bounded as setting_specs.py declares; chat.conf serves
# them typed and ARCHITECTURE.md "Limits" explains them. Internal constants (PAGE_BUDGET_BYTES...)
# are not read here: chat.conf takes their default unless a test sets one.
for _spec in specs.SETTINGS:
    if _spec.prefixed and _spec.from_env:
        globals()[_spec.setting_name] = env.setting(_spec)
del _spec

# One allow-list of site origins feeds both the WebSocket Origin check and CORS.
CORS_ALLOWED_ORIGINS: list[str] = globals()[specs.ALLOWED_ORIGINS.setting_name]
CORS_URLS_REGEX = r"^/api/.*$"  # CORS for the JSON API only; the admin stays same-origin
CORS_ALLOW_CREDENTIALS = False  # no cookies cross origins: identity travels in tokens

# --- Production hardening (everything here is what `manage.py check --deploy` asks for) ----
if not DEBUG:
    # PaaS routers terminate TLS and say so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT: bool = env.setting(specs.SECURE_SSL_REDIRECT)
    SECURE_HSTS_SECONDS: int = env.setting(specs.SECURE_HSTS_SECONDS)
    SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.setting(specs.SECURE_HSTS_INCLUDE_SUBDOMAINS)
    # The header alone enrols nothing; a domain joins the preload list only when submitted.
    SECURE_HSTS_PRELOAD: bool = env.setting(specs.SECURE_HSTS_PRELOAD)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS: list[str] = env.setting(specs.CSRF_TRUSTED_ORIGINS)

# LOG_FORMAT=json: one JSON object per line (chat.jsonlog), for a log platform that parses fields.
LOG_FORMAT: str = env.setting(specs.LOG_FORMAT)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "chat.jsonlog.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.setting(specs.LOG_LEVEL)},
}
