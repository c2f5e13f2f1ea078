"""The self-host alternative, for real: the shipped deploy/selfhost/nginx.conf in a real nginx, over
TLS, in front of a real daphne run as the shipped unit runs it, with headless Chromium chatting
through it on one origin (the site, the API and the sockets on one host name)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets
from playwright.sync_api import expect
from websockets.exceptions import InvalidStatus

from backchannel.serve import PING_INTERVAL_SECS as SERVER_PING_INTERVAL_SECS
from scripts.processes import REPO_DIR, daphne_command
from tests.e2e.support import enter_room_as, message_texts, send
from tests.selfhost.conftest import SHIPPED_NGINX_CONF, UNIT_EXTRA_DAPHNE_ARGS, unit_directives

pytestmark = pytest.mark.e2e

CLIENT_SOCKET_JS = REPO_DIR / "themes" / "backchannel" / "assets" / "backchannel" / "js" / "socket.js"
FOREIGN_ORIGIN = "https://evil.example"
FORGED_ADDRESS = "203.0.113.9"  # TEST-NET-3: nobody's address
# Each test that counts per-address budgets speaks from its own loopback address, so the others'
# requests (the browsers' are from 127.0.0.1) do not count against it.
FORWARDING_CLIENT_ADDRESS = "127.0.0.2"
SOCKET_HOARDER_ADDRESS = "127.0.0.3"
API_HAMMER_ADDRESS = "127.0.0.4"
LARGE_BODY_ADDRESS = "127.0.0.5"
REQUEST_TIMEOUT_SECS = 10
LOG_WAIT_SECS = 5
FREED_SLOT_WAIT_SECS = 3
MODERATOR = "moderator"


def run_async(coroutine):
    # Playwright's sync API keeps an event loop running in this thread while the module's browser
    # is open: run ours in another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def shipped_location_block(location: str) -> str:
    """The body of ``location <location> { ... }`` in the shipped config (no nested blocks there)."""
    match = re.search(rf"location {re.escape(location)} \{{(.*?)\n    \}}", SHIPPED_NGINX_CONF.read_text(), re.S)
    assert match, f"no `location {location}` block in {SHIPPED_NGINX_CONF}"
    return match.group(1)


def shipped_number(block: str, pattern: str) -> int:
    match = re.search(pattern, block)
    assert match, f"{pattern!r} not found (deploy/selfhost/nginx.conf or socket.js changed shape)"
    return int(match.group(1))


def https_connection(self_host, *, source_address: str | None = None):
    """One keep-alive connection to nginx's TLS port, from ``source_address`` when given."""
    return contextlib.closing(
        http.client.HTTPSConnection(
            "127.0.0.1",
            self_host.https_port,
            context=self_host.tls_context(),
            timeout=REQUEST_TIMEOUT_SECS,
            source_address=(source_address, 0) if source_address else None,
        )
    )


def fetch(
    connection: http.client.HTTPConnection,
    path: str,
    *,
    method: str = "GET",
    headers: dict | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.headers, response.read()


# --- the config itself ---------------------------------------------------------------------------


def test_nginx_accepts_the_rendered_shipped_config(self_host):
    result = self_host.nginx_config_test()
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    assert "test is successful" in result.stderr


def test_the_unit_runs_daphne_with_the_options_these_tests_run_it_with():
    """The tests start daphne as daphne_command(..., extra_args=UNIT_EXTRA_DAPHNE_ARGS): the
    shipped unit must run that same command (its own Python, port 8000)."""
    [exec_start] = unit_directives("ExecStart")
    unit_command = exec_start.split()
    assert unit_command[0].endswith("/bin/python")
    expected = daphne_command(8000, extra_args=UNIT_EXTRA_DAPHNE_ARGS)
    assert unit_command[1:] == expected[1:]


def test_an_idle_socket_outlasts_both_ping_intervals():
    """A quiet socket carries only pings: the widget's every PING_INTERVAL_MS, the server's every
    PING_INTERVAL_SECS (backchannel.serve). nginx must not call it dead between two of them."""
    client_interval_secs = shipped_number(CLIENT_SOCKET_JS.read_text(), r"PING_INTERVAL_MS = ([\d_]+);") / 1000
    socket_block = shipped_location_block("/ws/")
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        timeout_secs = shipped_number(socket_block, rf"{directive} (\d+)s;")
        assert timeout_secs > max(client_interval_secs, SERVER_PING_INTERVAL_SECS), directive


# --- visitors ------------------------------------------------------------------------------------


def test_two_visitors_chat_through_nginx_over_tls(self_host, visitor_page):
    ann = visitor_page(self_host.room_url("selfhost-lobby"))
    bob = visitor_page(self_host.room_url("selfhost-lobby"))
    enter_room_as(ann, "Ann")
    enter_room_as(bob, "Bob")

    send(ann, "Hello through nginx")
    for page in (ann, bob):
        expect(message_texts(page)).to_have_text(["Hello through nginx"], timeout=5_000)
    send(bob, "Hi Ann, loud and clear")
    for page in (ann, bob):
        expect(message_texts(page)).to_have_text(["Hello through nginx", "Hi Ann, loud and clear"], timeout=5_000)
    for page in (ann, bob):
        assert page.console_errors == []


def test_a_moderator_signs_in_to_the_styled_admin_through_nginx(self_host, visitor_page):
    password = secrets.token_urlsafe(16)
    self_host.manage(
        "createsuperuser",
        "--noinput",
        "--username",
        MODERATOR,
        "--email",
        "moderator@example.com",
        env_overrides={"DJANGO_SUPERUSER_PASSWORD": password},
    )
    stylesheets = []
    page = visitor_page("about:blank")
    page.on("response", lambda reply: reply.request.resource_type == "stylesheet" and stylesheets.append(reply))
    page.goto(f"{self_host.origin}/admin/login/")

    # The admin's CSS is Django's static files (/static/admin/...), which nginx hands to daphne.
    admin_stylesheets = [response for response in stylesheets if "/static/admin/" in response.url]
    assert admin_stylesheets, [response.url for response in stylesheets]
    for response in admin_stylesheets:
        assert response.status == 200, response.url
        assert response.headers["content-type"].startswith("text/css"), response.url

    # Signing in is a POST that Django's CSRF check compares with the Host nginx passes on, over a
    # session cookie marked Secure: it works only if nginx forwards Host and X-Forwarded-Proto.
    page.locator("#id_username").fill(MODERATOR)
    page.locator("#id_password").fill(password)
    page.locator("#login-form [type=submit]").click()
    expect(page).to_have_url(f"{self_host.origin}/admin/")
    expect(page.locator("#content h1")).to_have_text("Site administration")


# --- the backend's paths through nginx -----------------------------------------------------------


def test_the_health_check_answers_through_nginx(self_host):
    with https_connection(self_host) as connection:
        status, _, body = fetch(connection, "/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "ok"


def test_a_socket_from_a_foreign_origin_is_refused_and_one_from_the_site_is_not(self_host):
    async def handshake_status(origin: str) -> int | dict:
        try:
            async with websockets.connect(self_host.socket_url, origin=origin, ssl=self_host.tls_context()) as socket:
                return json.loads(await asyncio.wait_for(socket.recv(), REQUEST_TIMEOUT_SECS))
        except InvalidStatus as refused:
            return refused.response.status_code

    assert run_async(handshake_status(FOREIGN_ORIGIN)) == 403
    assert run_async(handshake_status(self_host.origin))["type"] == "ready"


def test_daphne_sees_the_visitor_address_and_not_one_the_visitor_forged(self_host):
    log_size_before = self_host.daphne_log.stat().st_size
    with https_connection(self_host, source_address=FORWARDING_CLIENT_ADDRESS) as connection:
        status, _, _ = fetch(connection, "/api/identity/challenge/", headers={"X-Forwarded-For": FORGED_ADDRESS})
    assert status == 200

    # daphne's access log names the client --proxy-headers took from nginx's X-Forwarded-For (nginx
    # itself connects to daphne from 127.0.0.1, so the visitor's address can only come from there).
    deadline = time.monotonic() + LOG_WAIT_SECS
    while True:
        with self_host.daphne_log.open(errors="replace") as log:
            log.seek(log_size_before)
            new_lines = [line for line in log if "/api/identity/challenge/" in line]
        if new_lines or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert new_lines, "daphne logged no access line for the request"
    assert all(line.startswith(f"{FORWARDING_CLIENT_ADDRESS}:") for line in new_lines), new_lines
    assert not any(FORGED_ADDRESS in line for line in new_lines), new_lines


# --- plain http ----------------------------------------------------------------------------------


def test_plain_http_is_redirected_to_https_except_certbots_challenge(self_host):
    plain_connection = http.client.HTTPConnection("127.0.0.1", self_host.http_port, timeout=REQUEST_TIMEOUT_SECS)
    with contextlib.closing(plain_connection) as connection:
        status, headers, _ = fetch(connection, "/room/?name=lobby")
        assert status == 301
        assert headers["Location"] == "https://127.0.0.1/room/?name=lobby"

        token = "selfhost-test-token"
        challenge_dir = self_host.acme_root / ".well-known" / "acme-challenge"
        challenge_dir.mkdir(parents=True, exist_ok=True)
        (challenge_dir / token).write_text("the key authorization")
        status, _, body = fetch(connection, f"/.well-known/acme-challenge/{token}")
        assert (status, body) == (200, b"the key authorization")


# --- caching and headers -------------------------------------------------------------------------


def test_pages_are_revalidated_and_fingerprinted_assets_kept_for_a_year(self_host):
    with https_connection(self_host) as connection:
        status, headers, body = fetch(connection, "/room/?name=lobby")
        assert status == 200
        assert headers["Cache-Control"] == "no-cache"
        assert headers["Server"] == "nginx"  # server_tokens off: no version
        # The page's stylesheet, icon and script, and the widget's strings; the widget's own
        # stylesheet, write chunk and conversation chunk are named in the script.
        assets = re.findall(
            r'(?:href|src|strings)="?(/backchannel(?:-site)?/[^" >]+\.(?:css|js|svg|json))(?=[" >])', body.decode()
        )
        assert {asset.rsplit(".", 1)[1] for asset in assets} == {"css", "js", "svg", "json"}, assets
        script = next(asset for asset in assets if asset.endswith(".js"))
        assets += re.findall(r'"(/backchannel/(?:css|js)/[^"]+\.(?:css|js))"', fetch(connection, script)[2].decode())
        assert len(assets) == 7, assets

        for asset in assets:
            status, headers, _ = fetch(connection, asset)
            assert status == 200, asset
            assert headers["Cache-Control"] == "public, max-age=31536000, immutable", asset
        css = next(asset for asset in assets if asset.endswith(".css"))
        assert fetch(connection, css)[1]["Content-Type"].startswith("text/css")


# --- per-address budgets -------------------------------------------------------------------------


def test_sockets_over_the_per_address_limit_are_refused_until_one_closes(self_host):
    socket_limit = shipped_number(shipped_location_block("/ws/"), r"limit_conn backchannel_conn_per_ip (\d+);")

    async def scenario() -> None:
        def connect():
            return websockets.connect(
                self_host.socket_url,
                origin=self_host.origin,
                ssl=self_host.tls_context(),
                local_addr=(SOCKET_HOARDER_ADDRESS, 0),
            )

        sockets = []
        try:
            for _ in range(socket_limit):
                socket = await connect()
                sockets.append(socket)
                assert json.loads(await asyncio.wait_for(socket.recv(), REQUEST_TIMEOUT_SECS))["type"] == "ready"
            with pytest.raises(InvalidStatus) as refused:
                await connect()
            assert refused.value.response.status_code == 429

            await sockets.pop().close()
            # nginx frees the slot once it has finished the closed socket's request.
            deadline = time.monotonic() + FREED_SLOT_WAIT_SECS
            while True:
                try:
                    sockets.append(await connect())
                    break
                except InvalidStatus:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await asyncio.gather(*(socket.close() for socket in sockets))

    run_async(scenario())


def test_api_requests_over_the_rate_are_refused(self_host):
    api_block = shipped_location_block("/api/")
    burst = shipped_number(api_block, r"burst=(\d+)")
    statuses = []
    with https_connection(self_host, source_address=API_HAMMER_ADDRESS) as connection:
        for _ in range(burst * 3):
            statuses.append(fetch(connection, "/api/identity/challenge/")[0])
    # The burst always gets through (the backend's own limits are lifted in these tests, so every
    # 429 is nginx's); well past it, at the configured rate, requests are refused.
    assert statuses[: burst + 1] == [200] * (burst + 1)
    assert 429 in statuses[burst + 1 :]
    assert set(statuses) == {200, 429}


def test_an_oversized_request_body_is_refused_by_nginx(self_host):
    body_limit_kib = shipped_number(SHIPPED_NGINX_CONF.read_text(), r"client_max_body_size\s+(\d+)k;")
    with https_connection(self_host, source_address=LARGE_BODY_ADDRESS) as connection:
        status, _, _ = fetch(
            connection,
            "/api/identity/",
            method="POST",
            body=b"x" * (body_limit_kib * 1024 + 1),
            headers={"Content-Type": "application/json"},
        )
    assert status == 413
