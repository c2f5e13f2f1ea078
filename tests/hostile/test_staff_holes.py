"""Staff holes a hostile client found (issue 16), attacked again on a real daphne over real sockets:

- password guessing at ``/admin/login/`` (12 of 12 wrong passwords checked, ~0.3 s of hashing
  each): it spends the staff API's budget, per address and per username (IDENTITY_BURST here 5);
  past it the page answers 429 at once, without hashing the password.
- demoted staff keeping staff powers on an open socket: within STAFF_RECHECK_SECS (1 s here) the
  socket gets ``bad_token`` and is closed; the token and the staff API are refused afterwards.

Staff users are written straight into the backend's SQLite file, with Django's default (slow)
password hasher, as ``createsuperuser`` would.

Run: .venv/bin/python -m pytest tests/hostile/test_staff_holes.py -p no:cacheprovider -s
"""

from __future__ import annotations

import asyncio
import http.client
import re
import sqlite3
import time
import urllib.parse
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from scripts.processes import free_port, loopback_backend_env, migrate, start_daphne, stop_process
from tests.hostile.wire import Peer, Server, log, open_authenticated
from tests.identity_client import IdentityRefused, fetch_staff_token

pytestmark = [pytest.mark.hostile]

REPO_DIR = Path(__file__).resolve().parents[2]
IDENTITY_BURST = 5
STAFF_RECHECK_SECS = 1.0
PASSWORD = "correct horse battery staple"
_ips = (f"127.0.4.{n}" for n in range(10, 250))


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("staff-holes") / "db.sqlite3"


@pytest.fixture(scope="module")
def server(database):
    site_port, port = free_port(), free_port()
    origin = f"http://127.0.0.1:{site_port}"
    env = {
        **loopback_backend_env(origin, database, unlimited_messages=False),
        "IDENTITY_BURST": str(IDENTITY_BURST),
        "IDENTITY_PER_MIN": "6",
        "STAFF_RECHECK_SECS": str(STAFF_RECHECK_SECS),
    }
    migrate(env)
    log_path = REPO_DIR / "artifacts" / f"staff-holes-daphne-{port}.log"
    process = start_daphne(port=port, env=env, log_path=log_path)
    yield Server(port=port, origin=origin, pid=process.pid, log_path=log_path)
    stop_process(process, what="daphne")


def create_staff(database: Path, username: str) -> None:
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) VALUES (?, 0, ?, '', '', '', 1, 1, ?)",
            (make_password(PASSWORD), username, timezone.now().isoformat()),
        )


def demote(database: Path, username: str) -> None:
    with sqlite3.connect(database) as db:
        db.execute("UPDATE auth_user SET is_staff = 0 WHERE username = ?", (username,))


def admin_login(server: Server, ip: str, username: str, password: str) -> tuple[int, str, float]:
    """(status, page text, seconds) of one sign-in at the admin's login page, CSRF token and all."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10, source_address=(ip, 0))
    try:
        connection.request("GET", "/admin/login/")
        page = connection.getresponse()
        body = page.read().decode()
        cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie", "")).group(1)
        form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": form_token, "username": username, "password": password, "next": "/admin/"}
        )
        started = time.monotonic()
        connection.request(
            "POST",
            "/admin/login/",
            form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={cookie}",
                "Referer": f"{server.http_url}/admin/login/",
            },
        )
        response = connection.getresponse()
        text = response.read().decode()
        return response.status, text, time.monotonic() - started
    finally:
        connection.close()


def test_admin_password_guessing_is_limited_per_address_and_per_username(server, database, hostile_report):
    create_staff(database, "owner")
    guesser, elsewhere = next(_ips), next(_ips)
    checked = [admin_login(server, guesser, "owner", f"guess {n}") for n in range(IDENTITY_BURST)]
    assert [status for status, _, _ in checked] == [200] * IDENTITY_BURST
    assert all("correct username and password" in text for _, text, _ in checked)
    refused = [admin_login(server, guesser, "owner", guess) for guess in ("guess 6", PASSWORD)]
    assert [status for status, _, _ in refused] == [429, 429], "the right password too, while refused"
    assert all("Too many sign-in attempts" in text for _, text, _ in refused)
    # Another address, the same account: its username's bucket is spent too.
    other_status, _, other_secs = admin_login(server, elsewhere, "owner", PASSWORD)
    assert other_status == 429
    # And the staff API, the other door, refuses that account as well.
    with pytest.raises(IdentityRefused) as api_refused:
        fetch_staff_token(server.http_url, "owner", PASSWORD)
    assert (api_refused.value.status, api_refused.value.error["code"]) == (429, "identity_rate_limited")
    hashed_secs = sorted(secs for _, _, secs in checked)[len(checked) // 2]
    refused_secs = max(secs for _, _, secs in refused)
    figures = (
        f"{IDENTITY_BURST} wrong passwords checked (median {hashed_secs * 1000:.0f} ms each, hashing); "
        f"then 429 in {refused_secs * 1000:.0f} ms (no hashing), the right password included; "
        f"another address for that username: 429; the staff API for it: 429 identity_rate_limited"
    )
    log(figures)
    hostile_report.add(
        "admin login password guessing (one address, then another for the same username)",
        f"IDENTITY_BURST {IDENTITY_BURST} per address and per username, shared with the staff API",
        figures,
        f"{refused_secs * 1000:.0f} ms",
    )
    assert refused_secs < hashed_secs / 2, "a refused sign-in took as long as a hashed one"


def test_a_demoted_staff_socket_loses_staff_within_the_recheck_interval(server, database, hostile_report):
    create_staff(database, "moderator")
    ip = next(_ips)
    token = fetch_staff_token(server.http_url, "moderator", PASSWORD)["token"]

    async def scenario() -> dict:
        peer = await open_authenticated(server, ip, "staff", token, "staff-holes")
        me = [event for _, event in peer.events if event["type"] == "authenticated"][0]
        assert me["staff"] is True
        demote(database, "moderator")
        demoted_at = time.monotonic()
        at, error = await peer.expect("error", code="bad_token", timeout=STAFF_RECHECK_SECS + 2)
        closed_at = await peer.wait_closed(timeout=2)
        fresh_tokens = [event for _, event in peer.events if event["type"] == "token"]
        retry = await Peer.open(server, ip, "retry")
        await retry.expect("ready", timeout=5)
        await retry.send({"type": "auth", "token": token})
        _, refused = await retry.expect("error", code="bad_token", timeout=2)
        await retry.close()
        return {
            "after": at - demoted_at,
            "closed": closed_at - demoted_at,
            "code": peer.close_code,
            "message": error["message"],
            "fresh_tokens": len(fresh_tokens),
            "retry": refused["message"],
        }

    result = asyncio.run(scenario())
    with pytest.raises(IdentityRefused) as api_refused:
        fetch_staff_token(server.http_url, "moderator", PASSWORD)
    assert api_refused.value.status == 403
    assert result["code"] == 1000 and result["fresh_tokens"] == 0
    assert result["after"] < STAFF_RECHECK_SECS + 0.5
    hostile_report.add(
        "staff demoted (is_staff off) while its socket is open",
        f"STAFF_RECHECK_SECS {STAFF_RECHECK_SECS:g}",
        f"error bad_token ({result['message']!r}) {result['after']:.2f} s after, close {result['code']}; "
        f"no fresh token; the same token at auth again: bad_token; the staff API: 403",
        f"{result['closed']:.2f} s",
    )
