"""Which tests run where: the database-engine runs and the units-only run (tests/conftest.py applies
both at collection).

**Engine runs** (`make test-postgres`, `make test-mysql`, and `make test` when TEST_POSTGRES_URL /
TEST_MYSQL_URL are set) run only the tests marked ``engine``: the SQLite run has already run
everything else, and most of it (pure code, protocol, limits, HTTP shapes) reaches the database only
through ORM calls that every engine answers alike. A test belongs to the engine runs when it
depends on what differs between engines:

- the schema (every engine run migrates a fresh test database, so any engine test covers the
  migrations; ``test_database_engines.py`` also runs the model checks on the engine);
- transactions, locks and races: seq/rev allocation, idempotency under concurrent senders,
  several processes on one database;
- collation, character sets and text matching: emoji and reactions, the word filter, search;
- SQL each engine words its own way: NULLS FIRST, correlated subqueries, date windows;
- the property tests whose random interleavings reach all of the above.

Add such a module to ENGINE_MODULES below (one place; a module listed before it exists is fine), or
mark a single test elsewhere with ``@pytest.mark.engine``.

**Units** (`pytest --units`, `make test-fast`, under 20 s): a unit starts no process and runs in
one transaction. So a units run leaves out

- the tests marked with one of NOT_UNITS: those that start a server (daphne, gunicorn, nginx,
  supervisord, honcho), a redis-server, a browser, the Hugo build, or one of the project's own
  commands (a Python and Django start-up, about a second each; pytest.ini says what each marker
  means). In a units run, starting a server, a browser or Hugo fails the test, naming the markers,
  so the slowest kinds cannot slip into the inner loop unnoticed;
- the tests that need committed data, `django_db(transaction=True)`: the consumer through
  channels' communicator, whose database calls run in another thread (the socket tests of
  tests/backend, two thirds of its time; `python scripts/run_suites.py backend` runs them all,
  about 45 s). Nothing to mark: the `django_db` marker says it.
"""

from __future__ import annotations

import os
import sys

# Paths from the repository root. Why each is here, in short:
ENGINE_MODULES = {
    "tests/backend/test_database_engines.py": "model checks on the engine, concurrent first inserts, one client_id "
    "from four sockets, the unique constraint itself, emoji, utf8mb4 (MySQL)",
    "tests/backend/test_services.py": "seq allocation, idempotency under concurrent senders, sanctions by time",
    "tests/backend/test_presence_races.py": "first tab in, last tab out under concurrent transactions",
    "tests/backend/test_conversation.py": "rev allocation, reactions (MySQL's emoji collation), edits, deletes",
    "tests/backend/test_conversation_properties.py": "random interleavings of every change against the database",
    "tests/backend/test_word_filter_socket.py": "the word filter's rules stored and matched, held messages",
    "tests/backend/test_moderation_api.py": "sanctions by time window and address, ordered NULLS FIRST (emulated on "
    "MySQL), reports unique per visitor",
    "tests/backend/test_admin_moderation.py": "the admin's report counts (a correlated subquery), searches by name",
    "tests/backend/test_search.py": "text search, which each engine does its own way",
    "tests/backend/test_retention.py": "pruning by seq ranges in batches while people post",
    "tests/backend/test_export.py": "a room's log read a batch at a time as it streams out",
    "tests/backend/test_join_batch.py": "joins sharing one trip to the database: one transaction each, none on MySQL "
    "(its presence takes named locks)",
    "tests/backend/test_presence_batch.py": "a batch's presence rows in one statement under per-person locks; two "
    "processes' batches at once",
    "tests/redis/test_cluster_order.py": "two processes writing one room at once on one database",
}

# The markers that keep a test out of the units run.
NOT_UNITS = ("e2e", "redis", "slow", "chaos", "scale", "hostile", "live", "hugo", "process")

# Set by tests/conftest.py when this is a units run (`pytest --units`), before test modules load.
units_run = False


def needs_committed_data(item) -> bool:
    """Whether a test runs with ``django_db(transaction=True)`` (not a unit)."""
    marker = item.get_closest_marker("django_db")
    if marker is None:
        return False
    return bool(marker.kwargs.get("transaction", marker.args[0] if marker.args else False))


def examples(full: int) -> int:
    """A property test's ``max_examples``: ``full`` in every run but a units run, which tries a tenth
    (at least 2) to keep the inner loop short; `make test` always tries them all."""
    return max(2, full // 10) if units_run else full


# Programs a unit never starts (the executable's name, or `python -m <name>`).
SERVER_PROGRAMS = {
    "daphne",
    "backchannel.serve",
    "gunicorn",
    "uvicorn",
    "honcho",
    "nginx",
    "supervisord",
    "redis-server",
    "hugo",
    "chromium",
    "docker-compose",
}


def started_program(argv) -> str | None:
    """The server program ``argv`` starts, if it is one of SERVER_PROGRAMS."""
    if isinstance(argv, str | bytes | os.PathLike):
        argv = [argv]
    argv = [os.fsdecode(part) for part in argv]
    if not argv:
        return None
    name = os.path.basename(argv[0])
    if name in SERVER_PROGRAMS:
        return name
    if "-m" in argv[:-1]:
        module = argv[argv.index("-m") + 1]
        if module in SERVER_PROGRAMS:
            return module
    return None


def refuse_servers_in_units_run() -> None:
    """From now on, in this process, starting a server program raises, naming the fix."""

    def hook(event: str, args: tuple) -> None:
        if event != "subprocess.Popen":
            return
        program = started_program(args[1] if args[1] is not None else args[0])
        if program:
            raise RuntimeError(
                f"this test starts {program}, which a units run (`make test-fast`, `pytest --units`) never "
                f"does: mark it with one of {', '.join(NOT_UNITS)} (pytest.ini; tests/selection.py)"
            )

    sys.addaudithook(hook)
