"""`make run`: migrate, build the site, start the backend and serve the site; Ctrl-C stops both.

    SITE_PORT=1313 BACKEND_PORT=8000 python -m scripts.run [--processes N] [--backend-only]

Uses the embedded defaults (SQLite in backend/db.sqlite3, the in-memory channel layer) unless
DATABASE_URL / REDIS_URL are set. The site is built against this backend and served as plain
files, the way GitHub Pages serves it.

``--processes N`` (N > 1) runs N daphne processes accepting on the one backend port, sharing a
Redis channel layer: REDIS_URL, or a private redis-server started here. That is the scale-out
set-up on one machine; on several machines, point each one's REDIS_URL and DATABASE_URL at the
same servers.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from scripts.processes import (
    REPO_DIR,
    ServerFailed,
    backend_env,
    free_port,
    migrate,
    progress,
    serve_directory,
    shared_listen_socket,
    start_daphne,
    start_redis,
    stop_process,
)
from scripts.site import SiteBuildError, build_site


def main() -> int:
    parser = argparse.ArgumentParser(description="Run Backchannel locally: the backend and the site.")
    parser.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("PROCESSES", "1")),
        help="daphne processes sharing the backend port (over 1: with Redis)",
    )
    parser.add_argument("--backend-only", action="store_true", help="start only the backend")
    options = parser.parse_args()
    if options.processes < 1:
        parser.error("--processes must be at least 1")
    site_port = int(os.environ.get("SITE_PORT", "1313"))
    backend_port = int(os.environ.get("BACKEND_PORT", "8000"))
    site_url = f"http://localhost:{site_port}/"
    # Both spellings of the local site, since browsers send whichever the visitor typed.
    site_origins = f"http://localhost:{site_port},http://127.0.0.1:{site_port}"

    env = backend_env(
        {
            "DEBUG": os.environ.get("DEBUG", "1"),
            "ALLOWED_ORIGINS": os.environ.get("ALLOWED_ORIGINS", site_origins),
            **{
                key: os.environ[key]
                for key in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")
                if key in os.environ
            },
        }
    )
    public_dir = REPO_DIR / "public"
    artifacts = REPO_DIR / "artifacts"

    with ExitStack() as running:
        try:
            migrate(env)
            if not options.backend_only:
                build_site(f"ws://localhost:{backend_port}", public_dir, site_url)
            if options.processes > 1 and "REDIS_URL" not in env:
                redis_port = free_port()
                redis = start_redis(port=redis_port, data_dir=artifacts / "redis")
                running.callback(stop_process, redis, what="redis-server")
                env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            backends = start_backends(options.processes, backend_port, env, artifacts, running)
        except (ServerFailed, SiteBuildError, OSError) as error:
            progress(f"could not start: {error}")
            progress("Is another program using the port? Pick others: make run SITE_PORT=1414 BACKEND_PORT=8100")
            return 1

        if not options.backend_only:
            try:
                site = serve_directory(public_dir, port=site_port)
            except OSError as error:
                progress(f"could not serve the site on port {site_port}: {error}. Try make run SITE_PORT=1414")
                return 1
            running.callback(site.shutdown)

        layer = f"Redis at {env['REDIS_URL']}" if env.get("REDIS_URL") else "in-memory channel layer"
        print(
            "\nBackchannel is running.\n"
            + ("" if options.backend_only else f"  Site:    {site_url}   <- open this\n")
            + f"  Backend: http://localhost:{backend_port}/healthz  (admin at /admin/)\n"
            f"           {options.processes} daphne process(es), {layer}; logs in artifacts/daphne-*.log\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        try:
            # Ctrl-C and a plain `kill` both stop cleanly, even when started from a shell that
            # ignores SIGINT for background jobs.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            stopped = wait_for_any(backends)
            progress(f"a backend process stopped by itself (status {stopped.returncode}); see artifacts/")
            return 1
        except (KeyboardInterrupt, SystemExit):
            progress("stopping")
            return 0


def start_backends(
    count: int, port: int, env: dict[str, str], artifacts: Path, running: ExitStack
) -> list[subprocess.Popen]:
    """One daphne on ``port``, or ``count`` of them accepting on one shared listening socket."""
    listener = shared_listen_socket(port) if count > 1 else None
    if listener is not None:
        running.callback(listener.close)
    backends = []
    for number in range(1, count + 1):
        daphne = start_daphne(port=port, env=env, log_path=artifacts / f"daphne-{number}.log", listen_socket=listener)
        running.callback(stop_process, daphne, what=f"daphne {number}")
        backends.append(daphne)
    return backends


def wait_for_any(processes: list[subprocess.Popen]) -> subprocess.Popen:
    while True:
        for process in processes:
            try:
                process.wait(timeout=0.5)
                return process
            except subprocess.TimeoutExpired:
                continue


if __name__ == "__main__":
    sys.exit(main())
