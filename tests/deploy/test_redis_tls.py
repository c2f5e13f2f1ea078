"""REDIS_URL over TLS (rediss://), as Heroku Redis serves it: a real redis-server with TLS on and a
self-signed certificate. With REDIS_TLS_VERIFY=0 (app.json's setting) the backend's channel layer
works through it; with verification on (the default) the same certificate is refused, and
/healthz says so instead of the backend serving sockets that cannot reach each other."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest
import websockets

from scripts.processes import (
    BACKEND_DIR,
    backend_env,
    daphne_command,
    free_port,
    migrate,
    redis_server_path,
    start_daphne,
    stop_process,
    wait_until,
)
from tests.certificates import make_self_signed_certificate
from tests.identity_client import TEST_IDENTITY_ENV, fetch_token

pytestmark = [pytest.mark.deploy, pytest.mark.redis]

SITE_ORIGIN = "http://127.0.0.1:1313"


def answers_ping_over_tls(port: int) -> bool:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            with context.wrap_socket(raw) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def tls_redis_url(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("redis-tls")
    certificate = make_self_signed_certificate(work_dir / "tls", ["127.0.0.1", "localhost"])
    port = free_port()
    log_path = work_dir / "redis.log"
    process = subprocess.Popen(
        [redis_server_path(), "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port),
         "--tls-cert-file", str(certificate.certificate), "--tls-key-file", str(certificate.private_key),
         "--tls-ca-cert-file", str(certificate.certificate), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no", "--dir", str(work_dir), "--logfile", str(log_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(
            lambda: answers_ping_over_tls(port),
            what=f"redis-server with TLS on port {port}",
            process=process,
            log_path=log_path,
            timeout_secs=20,
        )
        yield f"rediss://127.0.0.1:{port}/0", work_dir
    finally:
        stop_process(process, what="redis-server (TLS)")


def backend_with(redis_url: str, work_dir, **overrides: str) -> dict[str, str]:
    env = backend_env({
        "SECRET_KEY": "redis-tls-" + "k" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_ORIGINS": SITE_ORIGIN,
        "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        **overrides,
    })  # fmt: skip
    migrate(env)
    return env


def health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_channel_layer_works_over_rediss_without_verification(tls_redis_url):
    redis_url, work_dir = tls_redis_url
    env = backend_with(redis_url, work_dir, REDIS_TLS_VERIFY="0", **TEST_IDENTITY_ENV)
    port = free_port()
    # start_daphne waits for /healthz 200: a message through the layer, so through TLS Redis.
    daphne = start_daphne(port=port, env=env, log_path=work_dir / "daphne-unverified.log")
    try:
        assert health(port) == (200, {"database": "ok", "channel_layer": "ok", "status": "ok"})
        # The shared per-address limits use the same Redis: a token is issued (not 503) and a
        # socket is counted (ready, not refused), both through TLS.
        assert fetch_token(f"http://127.0.0.1:{port}", "Ada")["token"]
        assert asyncio.run(first_event(port))["type"] == "ready"
    finally:
        stop_process(daphne, what="daphne")


async def first_event(port: int) -> dict:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/", origin=SITE_ORIGIN) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


def test_a_certificate_that_cannot_be_verified_is_refused_by_default(tls_redis_url):
    redis_url, work_dir = tls_redis_url
    env = backend_with(redis_url, work_dir)
    port = free_port()
    log_path = work_dir / "daphne-verified.log"
    with log_path.open("wb") as log:
        # Not start_daphne: it waits for a healthy /healthz, which this backend must not give.
        daphne = subprocess.Popen(daphne_command(port), cwd=BACKEND_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: health_status(port) is not None,
            what=f"backend on port {port}",
            process=daphne,
            log_path=log_path,
            timeout_secs=60,
        )
        assert health(port) == (503, {"database": "ok", "channel_layer": "error", "status": "error"})
    finally:
        stop_process(daphne, what="daphne")
    assert "certificate verify failed" in log_path.read_text(errors="replace")


def health_status(port: int) -> int | None:
    try:
        return health(port)[0]
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
