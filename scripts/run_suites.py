"""Run the test suites one after the other, a line per suite with its time (`make test`,
`make test-fast`, `make test-postgres`, `make test-mysql`).

    python -m scripts.run_suites                 every suite (the engine runs when their URL is set)
    python -m scripts.run_suites js backend      the named suites only
    python -m scripts.run_suites --together js units   both at once (`make test-fast`)
    python -m scripts.run_suites --list          the suites, what each runs, and its usual time

Each suite's own output (node's, pytest's) goes straight to the terminal. A suite that fails does
not stop the others; the run ends with a table of every suite's time and result, names the suites
that failed, and exits 1 when any did.

Every directory of tests must belong to one SQLite suite: a new one that does not stops the run
before it starts, naming it (add it to SUITES).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
TEST_ROOTS = ("tests", "bench")  # pytest.ini's testpaths
NO_ENGINE_URLS = {"TEST_POSTGRES_URL": "", "TEST_MYSQL_URL": ""}
# The slowest tests of each pytest suite are listed after it (pytest's --durations, those over this).
SLOW_TEST_SECS = 10


@dataclass(frozen=True)
class Suite:
    name: str
    what: str
    command: tuple[str, ...]
    usual_secs: int  # measured on a 2-core machine; only for the estimate printed up front
    paths: tuple[str, ...] = ()  # the test directories an SQLite suite covers
    env: dict[str, str] = field(default_factory=dict)
    needs: str = ""  # an environment variable without which the suite is left out of a full run
    in_full_run: bool = True


def pytest(*arguments: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "pytest", *arguments)


def sqlite_suite(name: str, what: str, paths: tuple[str, ...], usual_secs: int) -> Suite:
    durations = ("--durations=10", f"--durations-min={SLOW_TEST_SECS}")
    return Suite(name, what, pytest(*durations, *paths), usual_secs, paths=paths, env=NO_ENGINE_URLS)


# In the order they run: the quick ones first, so that a broken build shows in seconds.
SUITES = [
    # A JS test that never settles would hang the run: node's own per-test timeout ends it.
    Suite("js", "the widget's units: node --test", ("node", "--test", "--test-timeout=60000", "tests/js/"), 7),
    sqlite_suite(
        "backend", "the backend on SQLite (channels' communicator, no server)", ("tests/backend", "bench"), 50
    ),
    sqlite_suite("site", "the real Hugo builds", ("tests/site",), 15),
    sqlite_suite(
        "servers",
        "real daphne, gunicorn, honcho: deploy, the doctor, hostile clients",
        ("tests/deploy", "tests/doctor", "tests/hostile"),
        110,
    ),
    sqlite_suite(
        "redis",
        "redis-servers under several daphnes: Redis, scale-out, chaos",
        ("tests/redis", "tests/scale", "tests/chaos"),
        245,
    ),
    sqlite_suite("browser", "headless Chromium end to end, nginx, supervisord", ("tests/e2e", "tests/selfhost"), 200),
    Suite(
        "postgres",
        "the `engine` tests on PostgreSQL (tests/selection.py)",
        pytest("--create-db", "-m", "engine"),
        30,
        env={"TEST_MYSQL_URL": ""},
        needs="TEST_POSTGRES_URL",
    ),
    Suite(
        "mysql",
        "the `engine` tests on MySQL/MariaDB (tests/selection.py)",
        pytest("--create-db", "-m", "engine"),
        30,
        env={"TEST_POSTGRES_URL": ""},
        needs="TEST_MYSQL_URL",
    ),
    Suite(
        "units",
        "pytest --units: no process started, no committed data (tests/selection.py; make test-fast)",
        pytest("--units", "-q"),
        15,
        env=NO_ENGINE_URLS,
        in_full_run=False,
    ),
]
BY_NAME = {suite.name: suite for suite in SUITES}

EXAMPLE_URLS = {
    "TEST_POSTGRES_URL": "postgres://postgres@127.0.0.1:5432/test",
    "TEST_MYSQL_URL": "mysql://root@127.0.0.1:3306/test",
}


def unassigned_test_directories() -> list[str]:
    """Directories holding test modules that no SQLite suite covers."""
    covered = {Path(path) for suite in SUITES for path in suite.paths}
    missing = set()
    for root in TEST_ROOTS:
        for module in (REPO_DIR / root).rglob("test_*.py"):
            relative = module.relative_to(REPO_DIR)
            if not any(parent in covered for parent in (relative, *relative.parents)):
                missing.add(str(relative.parent))
    return sorted(missing)


def minutes(secs: float) -> str:
    secs = round(secs)
    return f"{secs} s" if secs < 60 else f"{secs // 60} min {secs % 60:02d} s"


def shown_python() -> str:
    """This Python as a command to show: relative to the repository when it is the project's own."""
    try:
        return str(Path(sys.executable).relative_to(REPO_DIR))
    except ValueError:
        return sys.executable


def banner(text: str) -> None:
    print(f"\n━━ {text}", flush=True)


def shown_command(suite: Suite) -> str:
    return "   " + " ".join(Path(part).name if part == sys.executable else part for part in suite.command)


def finished(suite: Suite, elapsed: float, returncode: int) -> tuple[Suite, float, int]:
    verdict = "passed" if returncode == 0 else f"FAILED (exit {returncode})"
    banner(f"{suite.name}: {verdict} in {minutes(elapsed)} (usually ~{minutes(suite.usual_secs)})")
    return suite, elapsed, returncode


def run_in_turn(chosen: list[Suite]) -> list[tuple[Suite, float, int]]:
    results = []
    for index, suite in enumerate(chosen, 1):
        banner(f"[{index}/{len(chosen)}] {suite.name}: {suite.what}")
        print(shown_command(suite), flush=True)
        suite_started = time.monotonic()
        returncode = subprocess.run(suite.command, cwd=REPO_DIR, env={**os.environ, **suite.env}).returncode
        results.append(finished(suite, time.monotonic() - suite_started, returncode))
    return results


def run_together(chosen: list[Suite]) -> list[tuple[Suite, float, int]]:
    """All at once: the last suite's output streams; each other's goes to a file, printed after."""
    *quiet, streamed = chosen
    runs = []
    for suite in chosen:
        output = tempfile.TemporaryFile() if suite is not streamed else None
        process = subprocess.Popen(
            suite.command,
            cwd=REPO_DIR,
            env={**os.environ, **suite.env},
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
        )
        runs.append((suite, process, output, time.monotonic(), {}))

    def wait(process: subprocess.Popen, begun: float, ended: dict) -> None:
        process.wait()
        ended["secs"] = time.monotonic() - begun

    waiters = [threading.Thread(target=wait, args=(process, begun, ended)) for _, process, _, begun, ended in runs]
    for waiter in waiters:
        waiter.start()
    banner(f"{streamed.name}: {streamed.what} (beside {', '.join(suite.name for suite in quiet)})")
    print(shown_command(streamed), flush=True)
    for waiter in waiters:
        waiter.join()
    results = []
    for suite, process, output, _, ended in runs:
        if output is not None:
            banner(f"{suite.name}: {suite.what}")
            print(shown_command(suite), flush=True)
            output.seek(0)
            sys.stdout.buffer.write(output.read())
            sys.stdout.flush()
            output.close()
        results.append(finished(suite, ended["secs"], process.returncode))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="*", help=f"suite names ({', '.join(BY_NAME)}); default: a full run")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument(
        "--together",
        action="store_true",
        help="run the named suites at the same time (make test-fast: js beside units); the last one's "
        "output streams, the others' is printed when it ends",
    )
    options = parser.parse_args()

    if options.list:
        for suite in SUITES:
            when = "" if suite.in_full_run else " (not in a full run)"
            needs = f" (needs {suite.needs})" if suite.needs else ""
            print(f"{suite.name:9} ~{minutes(suite.usual_secs):>10}  {suite.what}{needs}{when}")
        return 0

    unknown = [name for name in options.suites if name not in BY_NAME]
    if unknown:
        parser.error(f"no suite named {', '.join(unknown)}; the suites: {', '.join(BY_NAME)}")
    missing = unassigned_test_directories()
    if missing:
        print(f"Tests in {', '.join(missing)} belong to no suite: add the directory to one in scripts/run_suites.py.")
        return 2

    if options.suites:
        chosen = [BY_NAME[name] for name in options.suites]
        for suite in chosen:
            if suite.needs and not os.environ.get(suite.needs, "").strip():
                print(
                    f"The {suite.name} suite needs {suite.needs}, e.g. {suite.needs}={EXAMPLE_URLS[suite.needs]} "
                    f'make test-{suite.name} (the README\'s "What the tests cover")'
                )
                return 2
    else:
        chosen = []
        for suite in SUITES:
            if not suite.in_full_run:
                continue
            if suite.needs and not os.environ.get(suite.needs, "").strip():
                print(
                    f"{suite.needs} is not set: the {suite.name} suite is left out (e.g. "
                    f'{suite.needs}={EXAMPLE_URLS[suite.needs]}; the README\'s "What the tests cover")'
                )
                continue
            chosen.append(suite)
    if any(suite.command[0] == "node" for suite in chosen) and shutil.which("node") is None:
        print("Node.js 18+ is needed for the JS tests: sudo apt-get install nodejs (macOS: brew install node)")
        return 2

    usual = sum(suite.usual_secs for suite in chosen)
    if options.together:
        usual = max(suite.usual_secs for suite in chosen)
    print(
        f"{len(chosen)} suite{'s' * (len(chosen) != 1)}{' at once' * options.together}: "
        f"{', '.join(suite.name for suite in chosen)}; usually about {minutes(usual)} on 2 cores "
        f"(this machine: {os.cpu_count()})",
        flush=True,
    )

    started = time.monotonic()
    results = run_together(chosen) if options.together else run_in_turn(chosen)

    failed = [suite.name for suite, _, returncode in results if returncode != 0]
    print("\nsuite      time        result")
    for suite, elapsed, returncode in results:
        print(f"{suite.name:10} {minutes(elapsed):>10}  {'passed' if returncode == 0 else 'FAILED'}")
    print(f"{'all':10} {minutes(time.monotonic() - started):>10}  {'FAILED' if failed else 'passed'}")
    if failed:
        many = len(failed) > 1
        print(
            f"\nFAILED: the {' and '.join(failed)} suite{'s' * many} ({'their' if many else 'its'} output is above; "
            f"again on {'their' if many else 'its'} own: {shown_python()} -m scripts.run_suites {' '.join(failed)})"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
