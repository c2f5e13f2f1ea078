"""`gunicorn backchannel.wsgi` boots and serves the HTTP side of the split layout (the identity
API, /healthz), with the same start-up checks as the ASGI app."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from chat.challenge import solve
from scripts.processes import BACKEND_DIR, backend_env, free_port, migrate, start_server, stop_process
from tests.identity_client import TEST_IDENTITY_ENV, fetch_token

pytestmark = [pytest.mark.deploy, pytest.mark.live]

SITE_ORIGIN = "http://127.0.0.1:1313"


def test_gunicorn_serves_the_wsgi_application(tmp_path):
    env = backend_env(
        {
            "SECRET_KEY": "wsgi-" + "k" * 50,
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_ORIGINS": SITE_ORIGIN,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            **TEST_IDENTITY_ENV,
        }
    )
    migrate(env)
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "backchannel.wsgi:application"]
    process = start_server(command, port=port, env=env, log_path=tmp_path / "gunicorn.log", what="gunicorn (WSGI)")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert json.load(response)["status"] == "ok"
        identity = fetch_token(f"http://127.0.0.1:{port}", "Ann")
        assert identity["name"] == "Ann" and identity["token"]
    finally:
        stop_process(process, what="gunicorn")


def test_the_wsgi_application_refuses_to_start_misconfigured(tmp_path):
    env = backend_env({"SECRET_KEY": "wsgi-" + "k" * 50, "ALLOWED_ORIGINS": "http://site.example.com"})
    started = subprocess.run(
        [sys.executable, "-c", "import backchannel.wsgi"], cwd=BACKEND_DIR, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert started.returncode != 0 and "backchannel.E003" in started.stderr, started.stderr[-1500:]


def ask_for_a_name(base_url: str, name: str, *, forwarded_for: str) -> int:
    """POST /api/identity/ as a visitor behind nginx (which sets X-Forwarded-For); the HTTP status."""
    with urllib.request.urlopen(f"{base_url}/api/identity/challenge/", timeout=10) as response:
        challenge = json.load(response)
    body = {
        "name": name,
        "challenge": challenge["challenge"],
        "nonce": solve(challenge["challenge"], challenge["difficulty_bits"]),
    }
    request = urllib.request.Request(
        f"{base_url}/api/identity/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_behind_a_proxy_the_wsgi_side_limits_each_visitor_address_not_the_proxys(tmp_path):
    """Behind nginx every request reaches gunicorn from 127.0.0.1: with TRUSTED_PROXY_HOPS the
    WSGI side must read the visitor's address from X-Forwarded-For as daphne's side does, or one
    visitor's new names use up everyone's budget (and address bans and carries miss)."""
    env = backend_env(
        {
            "SECRET_KEY": "wsgi-" + "k" * 50,
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_ORIGINS": SITE_ORIGIN,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "TRUSTED_PROXY_HOPS": "1",
            **TEST_IDENTITY_ENV,
            "IDENTITY_BURST": "1",
            "IDENTITY_PER_MIN": "1",
        }
    )
    migrate(env)
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "backchannel.wsgi:application"]
    process = start_server(command, port=port, env=env, log_path=tmp_path / "gunicorn.log", what="gunicorn (WSGI)")
    base_url = f"http://127.0.0.1:{port}"
    try:
        assert ask_for_a_name(base_url, "Ann", forwarded_for="203.0.113.1") == 200
        assert ask_for_a_name(base_url, "Ann2", forwarded_for="203.0.113.1") == 429, "one address, one name a minute"
        # Another visitor, through the same proxy (the same TCP peer): a budget of its own.
        assert ask_for_a_name(base_url, "Bob", forwarded_for="203.0.113.2") == 200
        # What a visitor writes into the header themselves is to the left of what nginx appends.
        assert ask_for_a_name(base_url, "Ann3", forwarded_for="198.51.100.7, 203.0.113.1") == 429
    finally:
        stop_process(process, what="gunicorn")
