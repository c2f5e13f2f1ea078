"""The whole system on real sockets: the Hugo-built site served over HTTP on one free port, a
real daphne on another, and headless Chromium (Debian's, or CHROMIUM_PATH) driven by Playwright."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts.loopback import loopback_system
from scripts.processes import BACKEND_DIR
from tests.e2e.support import visitor_pages

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts"


@dataclass(frozen=True)
class LiveSystem:
    site_url: str  # ends with "/"
    site_origin: str
    backend_port: int
    backend_log: Path
    env: dict[str, str] = field(repr=False)

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.backend_port}"

    def room_url(self, room: str) -> str:
        return f"{self.site_url}room/?name={room}"

    def backend_shell(self, code: str) -> str:
        """Run Python in the backend's Django (its database and channel layer settings), as a
        moderator's admin action would; the chat app's modules are imported for it."""
        script = "from chat import moderation\nfrom chat.models import *\n" + code
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=BACKEND_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="session")
def live_system(tmp_path_factory) -> LiveSystem:
    with loopback_system(
        tmp_path_factory.mktemp("live"), log_path=lambda port: ARTIFACTS_DIR / f"e2e-daphne-{port}.log"
    ) as system:
        yield LiveSystem(
            site_url=system.site_url,
            site_origin=system.site_origin,
            backend_port=system.backend_port,
            backend_log=system.backend_log,
            env=system.env,
        )


@pytest.fixture
def new_page(browser):
    """Open pages in separate browser contexts: separate visitors, separate localStorage."""
    with visitor_pages(browser) as open_page:
        yield open_page
