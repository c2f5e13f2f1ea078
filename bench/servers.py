"""Start and stop the three servers under test, each a subprocess on free 127.0.0.1 ports.

- ours: the real backend under daphne (scripts/processes.py launches it as `make run` does),
  production-like settings, limits lifted so the benchmark's one address is never refused;
- tutorial: bench/tutorial under the same daphne command line and the same channel layer;
- bare: bench/bare_server.py (one process only).

Two processes means two daphne processes sharing one private redis-server (and, for ours, one
SQLite file). Every server logs to a file of its own in the results folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import BENCH_ENV, ROOM, SITE_ORIGIN
from scripts.processes import (  # the limits: the server must never refuse the benchmark's load
    DAPHNE_MAX_MESSAGE_BYTES,
    REPO_DIR,
    TEST_IDENTITY_ENV,
    UNLIMITED_MESSAGES_ENV,
    backend_env,
    free_port,
    http_ok,
    migrate,
    start_daphne,
    start_redis,
    stop_process,
    wait_until,
)

SERVER_START_TIMEOUT_SECS = 60.0
# Lines of a server log that deserve a look in the report.
LOG_PROBLEM_MARKERS = (" ERROR ", " CRITICAL ", "Traceback", "Exception")


@dataclass
class RunningServer:
    kind: str  # "ours" | "tutorial" | "bare"
    ports: list[int]
    processes: list[subprocess.Popen]  # the server processes, one per port
    log_paths: list[Path]
    redis: subprocess.Popen | None = None
    extra_cleanup: list[Path] = field(default_factory=list)

    @property
    def ws_urls(self) -> list[str]:
        path = {"ours": "/ws/", "tutorial": f"/ws/chat/{ROOM}/", "bare": "/"}[self.kind]
        return [f"ws://127.0.0.1:{port}{path}" for port in self.ports]

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def server_pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    @property
    def redis_pid(self) -> int | None:
        return self.redis.pid if self.redis is not None else None

    def stop(self) -> None:
        """Stop what we started, by pid: the servers first (they close their sockets), then Redis."""
        for process in self.processes:
            stop_process(process, what=f"{self.kind} server (pid {process.pid})")
        if self.redis is not None:
            stop_process(self.redis, what=f"redis-server (pid {self.redis.pid})")
        for path in self.extra_cleanup:
            shutil.rmtree(path, ignore_errors=True)

    def log_problems(self, limit: int = 5) -> tuple[int, list[str]]:
        """How many log lines look like errors, and the first few of them."""
        count, first = 0, []
        for path in self.log_paths:
            with suppress(FileNotFoundError), path.open(errors="replace") as log:
                for line in log:
                    if any(marker in line for marker in LOG_PROBLEM_MARKERS):
                        count += 1
                        if len(first) < limit:
                            first.append(f"{path.name}: {line.strip()[:300]}")
        return count, first


def ours_env(*, work_dir: Path, redis_url: str | None) -> dict[str, str]:
    overrides = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ALLOWED_ORIGINS": SITE_ORIGIN,
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"sqlite:///{work_dir / 'bench.sqlite3'}",
        **TEST_IDENTITY_ENV,
        **UNLIMITED_MESSAGES_ENV,
        **BENCH_ENV,
    }
    if redis_url:
        overrides["REDIS_URL"] = redis_url
    return backend_env(overrides)


def prepare_ours_template(template_dir: Path) -> Path:
    """A migrated SQLite database, made once and copied for every start (migrate takes ~1 s)."""
    template_dir.mkdir(parents=True, exist_ok=True)
    migrate(ours_env(work_dir=template_dir, redis_url=None))
    return template_dir / "bench.sqlite3"


def _start_redis_if(processes: int, work_dir: Path) -> tuple[subprocess.Popen | None, str | None]:
    if processes < 2:
        return None, None
    port = free_port()
    return start_redis(port=port, data_dir=work_dir / "redis"), f"redis://127.0.0.1:{port}/0"


def start_ours(*, work_dir: Path, log_dir: Path, label: str, processes: int, template_db: Path) -> RunningServer:
    work_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template_db, work_dir / "bench.sqlite3")
    server = RunningServer("ours", [], [], [], extra_cleanup=[work_dir])
    try:
        server.redis, redis_url = _start_redis_if(processes, work_dir)
        env = ours_env(work_dir=work_dir, redis_url=redis_url)
        for index in range(processes):
            port = free_port()
            log_path = log_dir / f"{label}-ours-p{index}.log"
            server.processes.append(
                start_daphne(port=port, env=env, log_path=log_path, timeout_secs=SERVER_START_TIMEOUT_SECS)
            )
            server.ports.append(port)
            server.log_paths.append(log_path)
    except BaseException:
        server.stop()
        raise
    return server


def _spawn_and_wait(
    command: list[str], *, env: dict[str, str], log_path: Path, what: str, ready: Callable[[], bool]
) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=REPO_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(ready, what=what, process=process, log_path=log_path, timeout_secs=SERVER_START_TIMEOUT_SECS)
    except BaseException:
        stop_process(process, what=what)
        raise
    return process


def tutorial_command(port: int) -> list[str]:
    """Stock daphne, with the frame limits every launcher of ours passes (scripts/processes.py)."""
    return [
        sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
        "--websocket-max-message-size", str(DAPHNE_MAX_MESSAGE_BYTES),
        "--websocket-max-frame-size", str(DAPHNE_MAX_MESSAGE_BYTES),
        "bench.tutorial.asgi:application",
    ]  # fmt: skip


def start_tutorial(*, work_dir: Path, log_dir: Path, label: str, processes: int) -> RunningServer:
    work_dir.mkdir(parents=True, exist_ok=True)
    server = RunningServer("tutorial", [], [], [], extra_cleanup=[work_dir])
    try:
        server.redis, redis_url = _start_redis_if(processes, work_dir)
        env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        # bench.tutorial imports from the working directory (REPO_DIR): `python -m` puts it on the path.
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "bench.tutorial.settings",
                "TUTORIAL_DB_PATH": str(work_dir / "tutorial.sqlite3"),
            }
        )
        if redis_url:
            env["REDIS_URL"] = redis_url
        for index in range(processes):
            port = free_port()
            command = tutorial_command(port)
            log_path = log_dir / f"{label}-tutorial-p{index}.log"
            server.processes.append(_spawn_and_wait(
                command, env=env, log_path=log_path, what=f"tutorial on port {port}",
                ready=lambda port=port: http_ok(f"http://127.0.0.1:{port}/healthz"),
            ))  # fmt: skip
            server.ports.append(port)
            server.log_paths.append(log_path)
    except BaseException:
        server.stop()
        raise
    return server


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_bare(*, log_dir: Path, label: str) -> RunningServer:
    port = free_port()
    log_path = log_dir / f"{label}-bare.log"
    process = _spawn_and_wait(
        [sys.executable, "-m", "bench.bare_server", "--port", str(port)],
        env=dict(os.environ), log_path=log_path, what=f"bare server on port {port}",
        ready=lambda: _accepts_connections(port),
    )  # fmt: skip
    return RunningServer("bare", [port], [process], [log_path])


def start_server(
    kind: str, *, work_dir: Path, log_dir: Path, label: str, processes: int, template_db: Path | None
) -> RunningServer:
    if kind == "ours":
        if template_db is None:
            raise ValueError("ours needs the migrated template database")
        return start_ours(work_dir=work_dir, log_dir=log_dir, label=label, processes=processes, template_db=template_db)
    if kind == "tutorial":
        return start_tutorial(work_dir=work_dir, log_dir=log_dir, label=label, processes=processes)
    if kind == "bare":
        if processes != 1:
            raise ValueError("the bare server runs as one process only")
        return start_bare(log_dir=log_dir, label=label)
    raise ValueError(f"unknown server {kind!r}")
