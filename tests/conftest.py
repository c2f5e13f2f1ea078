"""Test-wide set-up: a known environment for the backend settings.

DJANGO_SETTINGS_MODULE is set here, not in pytest.ini, so that Django reads its settings only
after this module has set the environment they come from (pytest-django's late set-up).
"""

import os

import django
import pytest

# The suite runs the production code path (DEBUG off) with a throwaway key; a developer's own
# REDIS_URL / DATABASE_URL must not leak into tests that expect the embedded defaults.
os.environ["DJANGO_SETTINGS_MODULE"] = "backchannel.settings"
os.environ["SECRET_KEY"] = "test-only-secret-key-" + "x" * 40
os.environ.pop("DEBUG", None)
os.environ.pop("REDIS_URL", None)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("ALLOWED_ORIGINS", None)

# Set Django up now, so test modules that import models collect even when run on their own.
django.setup()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """A SQLite test database in a file, not in memory: the shared-cache in-memory database locks
    whole tables and fails concurrent writers that a real SQLite file (WAL, IMMEDIATE) serves."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")
