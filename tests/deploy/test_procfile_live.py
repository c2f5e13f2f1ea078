"""The Procfile's own commands, run as the platform runs them, with production settings.

The release command migrates a fresh database; the web command (our daphne, DEBUG off, HTTPS
redirect on, ALLOWED_HOSTS for the app's domain) then answers the platform's health checker
whatever Host it sends, refuses other foreign Hosts, serves the admin styled, and accepts a
WebSocket from the site's origin only.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import subprocess
import sys

import pytest
import websockets

from scripts.processes import BACKEND_DIR, backend_env, free_port, stop_process, wait_until
from tests.deploy.paas import command_for_port, procfile

pytestmark = [pytest.mark.deploy, pytest.mark.live]

SITE_ORIGIN = "https://chat.example.com"
APP_HOST = "backchannel-example.herokuapp.com"
# What a platform's health checker sends: the dyno's internal address as Host, plain http.
CHECKER_HOST = "10.1.2.3:5000"


@pytest.fixture(scope="module")
def web_process(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("procfile")
    env = backend_env({
        "SECRET_KEY": "procfile-" + "k" * 50,
        "ALLOWED_HOSTS": ".herokuapp.com",
        "ALLOWED_ORIGINS": SITE_ORIGIN,
        "TRUSTED_PROXY_HOPS": "1",
        "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
    })  # fmt: skip
    port = free_port()
    env["PORT"] = str(port)
    # "python" in the Procfile is the platform's, with the requirements installed: here, this one.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    processes = procfile()
    release = subprocess.run(
        command_for_port(processes["release"], port),
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert release.returncode == 0, release.stderr
    # The platform binds every interface; here the test binds loopback only.
    command = [("127.0.0.1" if part == "0.0.0.0" else part) for part in command_for_port(processes["web"], port)]
    log_path = work_dir / "web.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=BACKEND_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: get(port, "/healthz", host=CHECKER_HOST)[0] == 200,
            what="the Procfile's web process",
            process=process,
            log_path=log_path,
            timeout_secs=60,
        )
        yield port
    finally:
        stop_process(process, what="the Procfile's web process")


def get(port: int, path: str, *, host: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        return response.status, {key.lower(): value for key, value in response.getheaders()}, response.read()
    except OSError:
        return 0, {}, b""
    finally:
        connection.close()


def https_get(port: int, path: str) -> tuple[int, dict, bytes]:
    """A request as it arrives through the platform's router: TLS ended there, said in a header."""
    return get(port, path, host=APP_HOST, headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})


def test_healthz_answers_the_platform_checker_whatever_host_it_sends(web_process):
    status, _, body = get(web_process, "/healthz", host=CHECKER_HOST)
    assert status == 200
    assert json.loads(body) == {"database": "ok", "channel_layer": "ok", "status": "ok"}


def test_other_paths_refuse_a_foreign_host(web_process):
    status, _, _ = get(web_process, "/admin/login/", host="evil.example", headers={"X-Forwarded-Proto": "https"})
    assert status == 400


def test_plain_http_is_redirected_to_https(web_process):
    status, headers, _ = get(web_process, "/admin/login/", host=APP_HOST)
    assert status == 301
    assert headers["location"] == f"https://{APP_HOST}/admin/login/"


def test_the_admin_is_served_styled_with_hsts(web_process):
    status, headers, body = https_get(web_process, "/admin/login/")
    assert status == 200
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    stylesheets = re.findall(rb'<link[^>]+href="(/static/admin/css/[^"]+\.css)"', body)
    assert stylesheets, "the login page links the admin's stylesheets"
    for stylesheet in stylesheets:
        status, headers, css = https_get(web_process, stylesheet.decode())
        assert status == 200, stylesheet
        assert headers["content-type"].startswith("text/css")
        assert css.strip()


async def handshake(port: int, origin: str) -> str:
    url = f"ws://127.0.0.1:{port}/ws/"
    try:
        async with websockets.connect(url, origin=origin) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))["type"]
    except websockets.InvalidStatus as refused:
        return f"refused {refused.response.status_code}"


def test_a_websocket_from_the_site_origin_is_accepted(web_process):
    assert asyncio.run(handshake(web_process, SITE_ORIGIN)) == "ready"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://chat.example.com", "https://chat.example.com.evil.example"]
)
def test_a_websocket_from_any_other_origin_is_refused(web_process, origin):
    assert asyncio.run(handshake(web_process, origin)) == "refused 403"
