"""The whole system on real sockets: the Hugo-built site served over HTTP on one free port, a
real daphne on another, and headless Chromium (Debian's, or CHROMIUM_PATH) driven by Playwright."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.processes import (
    backend_env,
    free_port,
    migrate,
    serve_directory,
    start_daphne,
    stop_process,
)
from scripts.site import build_site

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
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts"


@dataclass(frozen=True)
class LiveSystem:
    site_url: str  # ends with "/"
    site_origin: str
    backend_port: int
    backend_log: Path

    def room_url(self, room: str) -> str:
        return f"{self.site_url}room/?name={room}"


def chromium_executable() -> str:
    configured = os.environ.get("CHROMIUM_PATH")
    candidates = [configured] if configured else ["/usr/bin/chromium", shutil.which("chromium"),
                                                  shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    where = f"CHROMIUM_PATH={configured!r} is not an executable" if configured else "no chromium on PATH"
    pytest.fail(f"Browser tests need Chromium ({where}). {CHROMIUM_INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def live_system(tmp_path_factory) -> LiveSystem:
    work_dir = tmp_path_factory.mktemp("live")
    site_port, backend_port = free_port(), free_port()
    site_origin = f"http://127.0.0.1:{site_port}"
    env = backend_env({
        # Production code path (DEBUG off) over plain http on loopback.
        "SECRET_KEY": "e2e-only-" + "s" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_ORIGINS": site_origin,
        "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
    })
    migrate(env)
    backend_log = ARTIFACTS_DIR / f"e2e-daphne-{backend_port}.log"
    daphne = start_daphne(port=backend_port, env=env, log_path=backend_log)
    public_dir = build_site(f"ws://127.0.0.1:{backend_port}", work_dir / "public", f"{site_origin}/")
    site = serve_directory(public_dir, port=site_port)
    yield LiveSystem(site_url=f"{site_origin}/", site_origin=site_origin, backend_port=backend_port,
                     backend_log=backend_log)
    site.shutdown()
    stop_process(daphne, what="daphne")


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


@pytest.fixture
def new_page(browser):
    """Open pages in separate browser contexts: separate visitors, separate localStorage."""
    contexts = []

    def open_page(url: str):
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
