"""The whole system on loopback, for browser tests and `make report`: a fresh backend (daphne with
DEBUG off and a throwaway SQLite database) and the site built for it, each on a free port.

    with loopback_system(work_dir, log_path=...) as system:
        page.goto(system.room_url("lobby"))

Both servers stop on exit, also when the build fails halfway.
"""

from __future__ import annotations

import http.server
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from scripts.processes import free_port, loopback_backend_env, migrate, serve_directory, start_daphne, stop_process
from scripts.site import REPO_ROOT, build_site

# build(backend_url, public_dir, base_url): writes the site into public_dir.
SiteBuilder = Callable[[str, Path, str], object]


@dataclass
class LoopbackSystem:
    site_origin: str  # http://127.0.0.1:<port>, the one origin the backend allows
    backend_port: int
    backend_log: Path
    env: dict[str, str] = field(repr=False)  # the backend's environment, for manage.py commands
    public_dir: Path
    daphne: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def site_url(self) -> str:
        return f"{self.site_origin}/"

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.backend_port}"

    def room_url(self, room: str) -> str:
        return f"{self.site_url}room/?name={room}"

    def start_backend(self) -> None:
        """Start daphne on the system's port (again, after ``stop_backend``), with the same database."""
        self.daphne = start_daphne(port=self.backend_port, env=self.env, log_path=self.backend_log)

    def stop_backend(self) -> None:
        """SIGTERM daphne, as a PaaS does on a deploy: it closes its sockets with 1012."""
        if self.daphne is not None:
            stop_process(self.daphne, what="daphne")
            self.daphne = None


@contextmanager
def loopback_system(
    work_dir: Path,
    *,
    log_path: Callable[[int], Path],
    source: Path = REPO_ROOT,
    build: SiteBuilder | None = None,
) -> Iterator[LoopbackSystem]:
    """Start the backend, build the site (this project's, or the Hugo site at ``source``) against
    it into ``work_dir``/public and serve it. ``log_path(backend_port)`` names daphne's log;
    ``build`` replaces the plain build_site call (`make report` measures an over-budget site too)."""
    site_port, backend_port = free_port(), free_port()
    site_origin = f"http://127.0.0.1:{site_port}"
    env = loopback_backend_env(site_origin, work_dir / "db.sqlite3")
    migrate(env)
    system = LoopbackSystem(
        site_origin=site_origin,
        backend_port=backend_port,
        backend_log=log_path(backend_port),
        env=env,
        public_dir=work_dir / "public",
    )
    if build is None:

        def build(backend_url: str, public_dir: Path, base_url: str) -> object:
            return build_site(backend_url, public_dir, base_url, source=source)

    site: http.server.ThreadingHTTPServer | None = None
    system.start_backend()
    try:
        build(f"ws://127.0.0.1:{backend_port}", system.public_dir, system.site_url)
        site = serve_directory(system.public_dir, port=site_port)
        yield system
    finally:
        if site is not None:
            site.shutdown()
        system.stop_backend()
