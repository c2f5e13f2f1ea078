"""The chat over TLS in a real Chromium: an https page opens its socket with wss:// even when the
site was built with a ws:// backend URL, and two visitors talk through it end to end.

Two made-up host names, www.backchannel.test (the site) and chat.backchannel.test (the backend),
point at 127.0.0.1 inside Chromium only (--host-resolver-rules), with one self-signed certificate
for both, made here. The site (built by Hugo) is served over https from a thread of this process;
daphne serves TLS itself (`python -m backchannel.serve -e ssl:...`), DEBUG off and
SECURE_SSL_REDIRECT on, as in production. The site is built with backend_url
ws://chat.backchannel.test:<port> on purpose: chat.js must upgrade it to wss:// on an https page
(resolveSocketUrl). A control shows the browser rule it works around: on an https page,
`new WebSocket("ws://chat.backchannel.test:...")` throws a SecurityError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from scripts.processes import (
    CHROMIUM_ARGS,
    backend_env,
    free_port,
    migrate,
    serve_directory,
    start_daphne,
    stop_process,
    tls_endpoint,
)
from scripts.site import build_site
from tests.certificates import make_self_signed_certificate
from tests.conftest import chromium_executable
from tests.e2e.support import enter_room_as, message_texts, send, visitor_pages
from tests.identity_client import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV

pytestmark = pytest.mark.e2e

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts"

SITE_HOST = "www.backchannel.test"
BACKEND_HOST = "chat.backchannel.test"
# Chromium resolves both names to loopback; nothing else on the machine does.
HOST_RESOLVER_RULES = f"--host-resolver-rules=MAP {SITE_HOST} 127.0.0.1,MAP {BACKEND_HOST} 127.0.0.1"
# An https page without a CSP, for the control: it tries the ws:// socket the widget never opens.
PROBE_PAGE_NAME = "probe.html"
PROBE_PAGE_HTML = "<!doctype html><html lang=en><head><meta charset=utf-8><title>probe</title></head></html>\n"
TRY_TO_OPEN_SOCKET = """(url) => {
    try {
        new WebSocket(url).close();
        return "opened";
    } catch (error) {
        return `${error.name}: ${error.message}`;
    }
}"""


@dataclass(frozen=True)
class TlsSystem:
    site_origin: str  # https://www.backchannel.test:<port>
    backend_port: int

    @property
    def built_backend_url(self) -> str:
        """What the site was built with: ws://, for a host that is not loopback."""
        return f"ws://{BACKEND_HOST}:{self.backend_port}"

    @property
    def expected_socket_url(self) -> str:
        return f"wss://{BACKEND_HOST}:{self.backend_port}/ws/?protocol=3"

    def room_url(self, room: str) -> str:
        return f"{self.site_origin}/room/?name={room}"


@pytest.fixture(scope="module")
def tls_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSystem]:
    work_dir = tmp_path_factory.mktemp("tls")
    tls = make_self_signed_certificate(work_dir, [SITE_HOST, BACKEND_HOST])
    certificate, private_key = tls.certificate, tls.private_key
    site_port, backend_port = free_port(), free_port()
    site_origin = f"https://{SITE_HOST}:{site_port}"
    env = backend_env(
        {
            "SECRET_KEY": "e2e-only-" + "s" * 50,
            "ALLOWED_ORIGINS": site_origin,
            # 127.0.0.1: the readiness probe asks for /healthz by address.
            "ALLOWED_HOSTS": f"{BACKEND_HOST},127.0.0.1",
            "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
            **TEST_IDENTITY_ENV,
            **UNLIMITED_MESSAGES_ENV,
        }
    )
    migrate(env)
    daphne = start_daphne(
        port=backend_port, env=env, log_path=ARTIFACTS_DIR / f"e2e-tls-daphne-{backend_port}.log",
        endpoint=tls_endpoint(backend_port, certificate=certificate, private_key=private_key), tls=True,
    )  # fmt: skip
    try:
        system = TlsSystem(site_origin=site_origin, backend_port=backend_port)
        public_dir = build_site(system.built_backend_url, work_dir / "public", f"{site_origin}/")
        (public_dir / PROBE_PAGE_NAME).write_text(PROBE_PAGE_HTML, encoding="utf-8")
        site = serve_directory(public_dir, port=site_port, tls=(certificate, private_key))
        try:
            yield system
        finally:
            site.shutdown()
            site.server_close()
    finally:
        stop_process(daphne, what="daphne")


# Module scope, like tests/conftest.py's `browser` (whose launch arguments are fixed): this one
# also maps the two test host names to loopback.
@pytest.fixture(scope="module")
def tls_browser() -> Iterator[Browser]:
    executable = chromium_executable()
    with sync_playwright() as playwright:
        # --no-proxy-server: a proxy from the environment would be asked for the made-up names.
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True,
            args=[*CHROMIUM_ARGS, HOST_RESOLVER_RULES, "--no-proxy-server"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def open_page(tls_browser: Browser):
    """Open a page as a new visitor (its own context) that accepts the self-signed certificate,
    recording its console errors, its WebSocket URLs and every URL it requests (both from the
    start: the page is opened blank, watched, then sent to ``url``)."""
    with visitor_pages(tls_browser, ignore_https_errors=True) as open_blank_page:

        def open_page_at(url: str) -> Page:
            page = open_blank_page("about:blank")
            page.socket_urls = []  # type: ignore[attr-defined]
            page.requested_urls = []  # type: ignore[attr-defined]
            page.on("websocket", lambda socket: page.socket_urls.append(socket.url))
            page.on("request", lambda request: page.requested_urls.append(request.url))
            page.goto(url)
            return page

        yield open_page_at


def test_an_https_page_upgrades_a_ws_backend_to_wss_and_two_visitors_chat(tls_system: TlsSystem, open_page) -> None:
    ann = open_page(tls_system.room_url("tls-lobby"))
    bob = open_page(tls_system.room_url("tls-lobby"))
    for page, name in ((ann, "Ann"), (bob, "Bob")):
        enter_room_as(page, name)

    send(ann, "Hello over TLS")
    for page in (ann, bob):
        expect(message_texts(page)).to_have_text(["Hello over TLS"], timeout=5_000)
    send(bob, "Hi Ann, wss here too")
    expect(message_texts(ann)).to_have_text(["Hello over TLS", "Hi Ann, wss here too"], timeout=5_000)

    for page in (ann, bob):
        assert page.url.startswith(f"{tls_system.site_origin}/room/")
        assert page.socket_urls == [tls_system.expected_socket_url]
        # The identity API too went over https; nothing left TLS.
        assert any(url.startswith(f"https://{BACKEND_HOST}:") for url in page.requested_urls)
        insecure = [url for url in page.requested_urls if url.startswith(("http:", "ws:"))]
        assert insecure == []
        # No mixed-content warning turned error, no SecurityError: no console error at all.
        assert page.console_errors == []


def test_the_browser_refuses_ws_from_an_https_page(tls_system: TlsSystem, open_page) -> None:
    """The control: the rule the widget's upgrade works around holds in this browser, for this
    host. The same page may open wss:// to the same backend."""
    probe = open_page(f"{tls_system.site_origin}/{PROBE_PAGE_NAME}")
    assert probe.url.startswith("https://")
    insecure_attempt = probe.evaluate(TRY_TO_OPEN_SOCKET, f"{tls_system.built_backend_url}/ws/")
    assert insecure_attempt.startswith("SecurityError: "), insecure_attempt
    assert probe.evaluate(TRY_TO_OPEN_SOCKET, tls_system.expected_socket_url) == "opened"
