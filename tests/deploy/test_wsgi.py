"""`gunicorn backchannel.wsgi` boots and serves the HTTP side of the split layout (the identity
API, /healthz), with the same start-up checks as the ASGI app."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from scripts.processes import BACKEND_DIR, backend_env, free_port, migrate, start_server, stop_process
from tests.identity_client import TEST_IDENTITY_ENV, fetch_token

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
