"""Test-wide set-up: a known environment for the backend settings.

DJANGO_SETTINGS_MODULE is set here, not in pytest.ini, so that Django reads its settings only
after this module has set the environment they come from (pytest-django's late set-up).
"""

import asyncio
import os
import urllib.parse

import django
import pytest
from asgiref.sync import sync_to_async

from scripts.processes import CHROMIUM_ARGS, find_chromium
from tests import selection
from tests.selection import ENGINE_MODULES, NOT_UNITS, needs_committed_data, refuse_servers_in_units_run

# The suite runs the production code path (DEBUG off) with a throwaway key; a developer's own
# REDIS_URL / DATABASE_URL must not leak into tests that expect the embedded defaults.
os.environ["DJANGO_SETTINGS_MODULE"] = "backchannel.settings"
os.environ["SECRET_KEY"] = "test-only-secret-key-" + "x" * 40
os.environ.pop("DEBUG", None)
os.environ.pop("REDIS_URL", None)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("ALLOWED_ORIGINS", None)

# The Postgres run: TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) becomes the
# backend's DATABASE_URL, and pytest-django creates its own test_<name> database on that server.
# Unset or empty: SQLite, and nothing here needs a Postgres. `make test-postgres` runs this way.
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "").strip()
if TEST_POSTGRES_URL:
    os.environ["DATABASE_URL"] = TEST_POSTGRES_URL
# The MySQL/MariaDB run, the same way: TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) becomes
# DATABASE_URL and pytest-django creates test_<name> on that server. `make test-mysql` runs this way.
TEST_MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "").strip()
if TEST_MYSQL_URL and not TEST_POSTGRES_URL:
    os.environ["DATABASE_URL"] = TEST_MYSQL_URL

# Set Django up now, so test modules that import models collect even when run on their own.
django.setup()


def pytest_addoption(parser):
    parser.addoption(
        "--units",
        action="store_true",
        help=f"units only (make test-fast): deselect tests marked {', '.join(NOT_UNITS)} and those with "
        "django_db(transaction=True), and fail any test that starts a server, a browser or the Hugo build "
        "(tests/selection.py)",
    )


def pytest_configure(config):
    """A Postgres run whose Postgres cannot be reached stops at once, saying what to do: it never
    falls back to SQLite or skips, which would pass without testing what was asked for."""
    if TEST_POSTGRES_URL and TEST_MYSQL_URL:
        raise pytest.UsageError(
            "TEST_POSTGRES_URL and TEST_MYSQL_URL are both set: one run tests one database. "
            "`make test` runs each in turn (make test-postgres, make test-mysql)."
        )
    if TEST_POSTGRES_URL:
        check_test_postgres()
    if TEST_MYSQL_URL:
        check_test_mysql()
    if config.getoption("units"):
        selection.units_run = True  # fewer property-test examples (selection.examples)
        refuse_servers_in_units_run()


@pytest.hookimpl(tryfirst=True)  # before `-m` reads the markers
def pytest_collection_modifyitems(config, items):
    """Marks the tests of tests/selection.py's ENGINE_MODULES ``engine`` (the engine runs select
    them with ``-m engine``); with ``--units``, deselects the tests that are not units. Tests marked
    ``mysql`` need a MySQL/MariaDB: deselected (counted as such, not skipped) unless this is the
    MySQL run. `make test` runs them in its MySQL run when TEST_MYSQL_URL is set."""
    root = config.rootpath
    for item in items:
        if item.path.relative_to(root).as_posix() in ENGINE_MODULES:
            item.add_marker(pytest.mark.engine)

    mysql_run = TEST_MYSQL_URL and not TEST_POSTGRES_URL

    def deselected(item) -> bool:
        if item.get_closest_marker("mysql") is not None and not mysql_run:
            return True
        if not config.getoption("units"):
            return False
        return any(item.get_closest_marker(name) for name in NOT_UNITS) or needs_committed_data(item)

    dropped = [item for item in items if deselected(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not deselected(item)]


def redact_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def check_test_postgres() -> None:
    from django.conf import settings

    shown = redact_url(TEST_POSTGRES_URL)
    unset_hint = "or unset TEST_POSTGRES_URL to run on SQLite only"
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise pytest.UsageError(
            f"TEST_POSTGRES_URL={shown} is not a PostgreSQL URL (postgres://user@host:port/db), {unset_hint}."
        )
    try:
        import psycopg
    except ImportError as error:
        raise pytest.UsageError(
            f"TEST_POSTGRES_URL is set but the PostgreSQL driver is missing ({error}): run "
            f"`make install` (it installs backend/requirements.txt), {unset_hint}."
        ) from None
    try:
        psycopg.connect(
            host=database["HOST"] or None,
            port=database["PORT"] or None,
            user=database["USER"] or None,
            password=database["PASSWORD"] or None,
            dbname=database["NAME"],
            connect_timeout=5,
        ).close()
    except psycopg.Error as error:
        raise pytest.UsageError(
            f"TEST_POSTGRES_URL={shown} is set, but that PostgreSQL cannot be reached: {str(error).strip()}\n"
            f"Start PostgreSQL (`pg_isready -h HOST -p PORT` says when it is up), fix the URL (its user must "
            f"be allowed to create databases: the tests create test_<name> beside it), {unset_hint}."
        ) from None


MYSQL_DRIVER_INSTALL = (
    "the MySQL/MariaDB driver (mysqlclient) is missing or cannot load ({error}): install its system "
    "packages (`sudo apt-get install default-libmysqlclient-dev pkg-config build-essential`, macOS: "
    "`brew install mysql-client pkg-config`), then `make install`"
)


def check_test_mysql() -> None:
    from django.conf import settings

    shown = redact_url(TEST_MYSQL_URL)
    unset_hint = "or unset TEST_MYSQL_URL to run on SQLite only"
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.mysql":
        raise pytest.UsageError(
            f"TEST_MYSQL_URL={shown} is not a MySQL/MariaDB URL (mysql://user@host:port/db), {unset_hint}."
        )
    try:
        import MySQLdb
    except ImportError as error:
        raise pytest.UsageError(MYSQL_DRIVER_INSTALL.format(error=error) + f", {unset_hint}.") from None
    try:
        MySQLdb.connect(
            host=database["HOST"] or "127.0.0.1",
            port=int(database["PORT"] or 3306),
            user=database["USER"] or "root",
            password=database["PASSWORD"] or "",
            database=database["NAME"],
            connect_timeout=5,
        ).close()
    except MySQLdb.Error as error:
        raise pytest.UsageError(
            f"TEST_MYSQL_URL={shown} is set, but that MySQL/MariaDB cannot be reached: {error}\n"
            f"Start it (`mysqladmin -h HOST -P PORT ping` says when it is up), fix the URL (its user must be "
            f"allowed to create databases: the tests create test_<name> beside it), {unset_hint}."
        ) from None


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """A SQLite test database in a file, not in memory: the shared-cache in-memory database locks
    whole tables and fails concurrent writers that a real SQLite file (WAL, IMMEDIATE) serves."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """The test database, whose connections are all closed before it is dropped. Async tests reach
    it through asgiref's one shared worker thread (the ORM's ``a…`` methods, ``sync_to_async``
    around the test client), outside any request, so nothing closes that thread's connection; on
    Postgres it would keep the test database from being dropped ("being accessed by other users")."""
    from django.db import connections

    yield
    asyncio.run(sync_to_async(connections.close_all)())


# --- Browsers (tests/e2e, tests/chaos) ---------------------------------------------------------


def chromium_executable() -> str:
    """CHROMIUM_PATH, else Debian's chromium; a missing browser fails the run with the fix."""
    try:
        return find_chromium()
    except FileNotFoundError as error:
        pytest.fail(f"Browser tests: {error}", pytrace=False)


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
