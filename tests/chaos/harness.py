"""Pieces every chaos scenario uses: real servers that can be killed and restarted on the same
port, a thread running the Python clients' asyncio loop (so a scenario's own code is plain
synchronous code, next to Playwright's sync API if it drives browsers), and the wait that
watches all clients until they have recovered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scripts.processes import (
    backend_env,
    free_port,
    kill_process,
    migrate,
    start_daphne,
    start_redis,
    stop_process,
    wait_port_free,
)
from tests.chaos.client import ChaosClient, ClientView, log
from tests.chaos.verify import Observed, Verdict, caught_up, judge, observe_python, read_log
from tests.identity_client import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts"
# Far above any room's message count in these scenarios: a page that loads (or reloads) gets the
# whole log in `joined`, so "every message on every client" needs no "load older".
HISTORY_LIMIT = 1000
POLL_SECS = 0.2


# --- servers ------------------------------------------------------------------------------


class Daphne:
    """One daphne process on a fixed port that can be SIGKILLed and started again on that port."""

    def __init__(self, *, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.env = env
        self.log_path = log_path
        self.process = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def start(self) -> None:
        wait_port_free(self.port, what=f"daphne on {self.port}")
        self.process = start_daphne(port=self.port, env=self.env, log_path=self.log_path)

    def kill(self) -> None:
        kill_process(self.process, what=f"daphne on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, what=f"daphne on port {self.port}")


class Redis:
    def __init__(self, *, port: int, data_dir: Path) -> None:
        self.port = port
        self.data_dir = data_dir
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        wait_port_free(self.port, what=f"redis-server on {self.port}")
        self.process = start_redis(port=self.port, data_dir=self.data_dir)

    def kill(self) -> None:
        kill_process(self.process, what=f"redis-server on port {self.port}")

    def flushall(self) -> None:
        """Forget every key (so every channel-layer group) without dropping any connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(b"FLUSHALL\r\n")
            answer = connection.recv(64)
        if not answer.startswith(b"+OK"):
            raise AssertionError(f"redis-server answered FLUSHALL with {answer!r}")
        log(f"redis-server on port {self.port}: FLUSHALL (every group forgotten, connections kept)")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, what=f"redis-server on port {self.port}")


@dataclass
class Backend:
    """daphne process(es) sharing one SQLite database (and one Redis when there are several)."""

    name: str
    work_dir: Path
    site_origin: str
    daphnes: list[Daphne]
    redis: Redis | None = None

    @property
    def db_path(self) -> Path:
        return self.work_dir / "db.sqlite3"

    def stop(self) -> None:
        for daphne in self.daphnes:
            daphne.stop()
        if self.redis is not None:
            self.redis.stop()


def start_backend(
    name: str,
    work_dir: Path,
    *,
    site_origin: str,
    processes: int = 1,
    with_redis: bool = False,
    ports: list[int] | None = None,
    cleanup: list[Callable[[], None]],
) -> Backend:
    """Start the backend; ``cleanup`` gets its stop function first, so a failed start is cleaned up too."""
    backend = Backend(name=name, work_dir=work_dir, site_origin=site_origin, daphnes=[])
    cleanup.append(backend.stop)
    overrides = {
        "SECRET_KEY": f"chaos-{name}-" + "c" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_ORIGINS": site_origin,
        "DATABASE_URL": f"sqlite:///{backend.db_path}",
        "HISTORY_LIMIT": str(HISTORY_LIMIT),
        # The chaos suite is about delivery, not abuse: limits sized so they never refuse its load.
        **TEST_IDENTITY_ENV,
        **UNLIMITED_MESSAGES_ENV,
    }
    if with_redis:
        backend.redis = Redis(port=free_port(), data_dir=work_dir / "redis")
        backend.redis.start()
        overrides["REDIS_URL"] = backend.redis.url
    env = backend_env(overrides)
    migrate(env)
    for port in ports or [free_port() for _ in range(processes)]:
        daphne = Daphne(port=port, env=env, log_path=ARTIFACTS_DIR / f"chaos-{name}-daphne-{port}.log")
        backend.daphnes.append(daphne)
        daphne.start()
    return backend


# --- the clients' event loop --------------------------------------------------------------


class LoopThread:
    """An asyncio loop on a daemon thread. ``run`` executes a coroutine there and waits (bounded)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="chaos-clients", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"{coroutine!r} did not finish in {timeout} s") from None

    def call(self, function: Callable[[], Any], timeout: float = 10) -> Any:
        async def call():
            return function()

        return self.run(call(), timeout)

    def close(self) -> None:
        async def cancel_all():
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(cancel_all(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


@dataclass
class Swarm:
    """The Python clients of one scenario, driven from the test's (synchronous) thread."""

    loop: LoopThread
    origin: str
    room: str
    clients: dict[str, ChaosClient] = field(default_factory=dict)
    _talkers: list[asyncio.Task] = field(default_factory=list)
    _stop_talking: asyncio.Event | None = None

    def add(self, label: str, url: str, *, client_class: type[ChaosClient] = ChaosClient, **options) -> ChaosClient:
        async def add():
            client = client_class(label=label, url=url, origin=self.origin, room=self.room, **options)
            client.start()
            return client

        self.clients[label] = self.loop.run(add())
        return self.clients[label]

    def wait_joined(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while True:
            joined = self.loop.call(lambda: {label: c.is_joined for label, c in self.clients.items()})
            if all(joined.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Python clients not joined after {timeout} s: {[label for label, ok in joined.items() if not ok]}"
                )
            time.sleep(POLL_SECS)

    def type(self, label: str, text: str) -> str:
        return self.loop.call(lambda: self.clients[label].type(text))

    def talk(self, label: str, *, every: float, max_messages: int = 400) -> None:
        """Start a talker: ``label`` types "<label> #n" every ``every`` seconds until stop_talking()."""

        async def talker(client: ChaosClient, stop: asyncio.Event):
            for number in range(1, max_messages + 1):
                client.type(f"{client.label} #{number}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every)
                if stop.is_set():
                    return

        async def start():
            if self._stop_talking is None:
                self._stop_talking = asyncio.Event()
            self._talkers.append(
                asyncio.get_running_loop().create_task(talker(self.clients[label], self._stop_talking))
            )

        self.loop.run(start())

    def stop_talking(self) -> None:
        async def stop():
            if self._stop_talking is not None:
                self._stop_talking.set()
            await asyncio.gather(*self._talkers, return_exceptions=True)
            self._talkers.clear()
            self._stop_talking = None

        self.loop.run(stop())

    def views(self) -> dict[str, ClientView]:
        return self.loop.call(lambda: {label: client.view() for label, client in self.clients.items()})

    def observe(self) -> list[Observed]:
        """What every client shows now, in the form the verdict reads."""
        return [observe_python(view) for view in self.views().values()]

    def close(self) -> None:
        async def close():
            if self._stop_talking is not None:
                self._stop_talking.set()
            await asyncio.gather(*(client.stop() for client in self.clients.values()), return_exceptions=True)

        with contextlib.suppress(Exception):
            self.loop.run(close(), 15)


# --- waiting for recovery -----------------------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    """How long the clients took to catch up after a fault ended; ``problem`` when they did not."""

    seconds: float | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def wait_recovered(
    observe: Callable[[], list[Observed]],
    must_show: set[str],
    *,
    what: str,
    deadline_secs: float,
    since: float | None = None,
) -> Recovery:
    """Poll until every client shows every text in ``must_show`` (no holes), timing it from
    ``since`` (default: now). After the deadline, the Recovery says what each client still lacks
    (the scenario goes on to its final check and report, then fails)."""
    started = since if since is not None else time.monotonic()
    next_report = time.monotonic() + 2
    while True:
        behind = caught_up(observe(), must_show)
        now = time.monotonic()
        if not behind:
            log(f"{what}: all clients caught up after {now - started:.1f} s")
            return Recovery(now - started)
        if now - started > deadline_secs:
            problem = (
                f"{what}: clients had not recovered {deadline_secs:.0f} s after the fault ended "
                f"({len(must_show)} messages typed before then): {'; '.join(behind)}"
            )
            log(problem)
            return Recovery(None, problem)
        if now >= next_report:
            log(f"{what}: waiting for recovery ({now - started:.0f} s): {'; '.join(behind)}")
            next_report = now + 2
        time.sleep(POLL_SECS)


def assert_delivered(title: str, verdict: Verdict, *recoveries: Recovery, details: list[str] = ()) -> None:
    """Fail (without a traceback) listing every recovery that timed out and every problem the
    verdict found, then ``details`` (client statuses and counters) for context."""
    lines = [recovery.problem for recovery in recoveries if not recovery.ok] + verdict.problems
    if lines:
        pytest.fail(f"{title}:\n  " + "\n  ".join(lines + [f"(context) {detail}" for detail in details]), pytrace=False)


def wait_converged(
    observe: Callable[[], list[Observed]], db_path: Path, room: str, *, what: str, deadline_secs: float = 15
) -> Verdict:
    """Poll until ``judge`` finds nothing wrong (returns that verdict), or return the last,
    failing verdict once the deadline passes."""
    started = time.monotonic()
    next_report = started + 2
    while True:
        verdict = judge(read_log(db_path, room), observe())
        now = time.monotonic()
        if verdict.ok or now - started > deadline_secs:
            return verdict
        if now >= next_report:
            log(f"{what}: converging ({now - started:.0f} s), still: {verdict.problems[:3]}")
            next_report = now + 2
        time.sleep(POLL_SECS)


def countdown(seconds: float, *, what: str, tick: Callable[[float], None] | None = None) -> None:
    """Sleep ``seconds`` with progress on stderr every few seconds (``tick`` sleeps, if given)."""
    end = time.monotonic() + seconds
    next_report = time.monotonic()
    while (left := end - time.monotonic()) > 0:
        if time.monotonic() >= next_report:
            log(f"{what}: {left:.0f} s left")
            next_report = time.monotonic() + 5
        (tick or time.sleep)(min(0.5, left))
