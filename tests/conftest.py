"""Test-wide set-up: a known environment for the backend settings.

DJANGO_SETTINGS_MODULE is set here, not in pytest.ini, so that Django reads its settings only
after this module has set the environment they come from (pytest-django's late set-up).
"""

import os
import shutil

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


# --- Browsers (tests/e2e, tests/chaos) ---------------------------------------------------------

CHROMIUM_INSTALL_HINT = (
    "Install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`) or set CHROMIUM_PATH to a "
    "Chromium or Chrome binary. Playwright's own browser download is not used."
)
# Flags for headless Chromium on a machine without outside network, possibly as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    """CHROMIUM_PATH, else Debian's chromium; a missing browser fails the run with the fix."""
    configured = os.environ.get("CHROMIUM_PATH")
    candidates = [configured] if configured else ["/usr/bin/chromium", shutil.which("chromium"),
                                                  shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    where = f"CHROMIUM_PATH={configured!r} is not an executable" if configured else "no chromium on PATH"
    pytest.fail(f"Browser tests need Chromium ({where}). {CHROMIUM_INSTALL_HINT}", pytrace=False)


# Module scope, not session: Playwright's sync API keeps an event loop running on the main thread
# while it is open, and tests in other modules call asyncio.run().
@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
