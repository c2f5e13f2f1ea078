"""Backend test set-up: every test starts with fresh per-process limits and presence state."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat.runtime import reset_runtime


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Staff logins (the admin, the staff token) hash passwords; the real hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Rate buckets, socket counts, spent challenges and presence throttles live in the process;
    without a reset one test's traffic would rate-limit the next. The in-memory channel layer is
    emptied too, so no group outlives the test that filled it."""
    reset_runtime()
    async_to_sync(get_channel_layer().flush)()
    yield
    reset_runtime()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    """The test database as the project's (a SQLite file: WAL, IMMEDIATE), minus the syncs to disk:
    nothing here needs to survive a power cut, and every socket test commits dozens of times."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
