"""The tutorial project's settings, cut to what its chat uses; the channel layer from the env.

TUTORIAL_DB_PATH: the SQLite file (the tutorial's default database; its chat never queries it,
but channels closes stale connections before every message all the same). REDIS_URL, when set,
selects channels_redis' core layer with the same host settings as ours.
"""

import os

SECRET_KEY = os.environ.get("SECRET_KEY", "bench-tutorial-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
]
MIDDLEWARE = []
ROOT_URLCONF = "bench.tutorial.urls"
ASGI_APPLICATION = "bench.tutorial.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TUTORIAL_DB_PATH", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"  # log times match ours'

_redis_url = os.environ.get("REDIS_URL")
if _redis_url:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8's default 5 s socket timeout would close idle sockets (field notes).
            "CONFIG": {"hosts": [{"address": _redis_url, "socket_timeout": None}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
