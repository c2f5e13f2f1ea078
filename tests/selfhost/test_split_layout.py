"""The split layout for real: the shipped deploy/selfhost/supervisor.conf in a real supervisord
(Debian's package) runs daphne for the sockets and gunicorn (backchannel.wsgi) for plain HTTP, both
reading one env file with one REDIS_URL (a private redis-server); the shipped nginx.conf, with its
backchannel_http upstream set to gunicorn, sends /ws/ to daphne and everything else to gunicorn.

Two Chromium visitors chat through it; the identity API and a moderator's staff sign-in, delete and
mute are served by gunicorn (its access log says so, daphne's does not), and the moderation done in
the WSGI process reaches the visitors' open pages through Redis.

As in conftest.py, the shipped files are rendered (paths, ports, certificate) and a rendering that
no longer finds a placeholder fails; only supervisord's and nginx's main configs, which a server
already has, are written here.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from scripts.processes import (
    BACKEND_DIR,
    backend_env,
    daphne_command,
    free_port,
    http_ok,
    progress,
    run_manage,
    start_redis,
    stop_process,
    wait_until,
)
from scripts.site import build_site
from tests.certificates import make_self_signed_certificate
from tests.e2e.support import enter_room_as, message_texts, send, visitor_pages
from tests.identity_client import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV
from tests.selfhost.conftest import (
    DEPLOY_DIR,
    MANAGE_TIMEOUT_SECS,
    MIME_TYPES,
    NGINX_INSTALL_HINT,
    NGINX_START_TIMEOUT_SECS,
    SHIPPED_ENV_EXAMPLE,
    UNIT_EXTRA_DAPHNE_ARGS,
    https_answers_200,
    nginx_executable,
    render_backend_env,
    render_main_config,
    render_site_config,
    replace_placeholder,
    tls_client_context,
    unit_directives,
)

pytestmark = pytest.mark.e2e

SHIPPED_SUPERVISOR_CONF = DEPLOY_DIR / "supervisor.conf"
# startsecs (5 s) and then some, on a loaded machine.
SUPERVISOR_RUNNING_DEADLINE_SECS = 20
SHIPPED_HTTP_UNIT = DEPLOY_DIR / "backchannel-http.service"
SHIPPED_ENV_FILE_PATH = "/etc/backchannel/backchannel.env"
SHIPPED_VENV_PYTHON = "/srv/backchannel/venv/bin/python"
SUPERVISOR_INSTALL_HINT = (
    "Install it with `sudo apt-get install supervisor` (the test runs its own supervisord with a private "
    "config and socket; the system's supervisor service need not run), or set SUPERVISORD_PATH."
)
SERVERS_START_TIMEOUT_SECS = 60
SUPERVISORD_STOP_TIMEOUT_SECS = 30
# Moderation reaches open pages "within a second or two"; Playwright polls until then.
MODERATION_DEADLINE_MS = 3_000
MODERATOR = "sue"


def supervisor_executables() -> tuple[str, str]:
    """supervisord and supervisorctl; a missing supervisor fails the run with the install command."""
    configured = os.environ.get("SUPERVISORD_PATH")
    supervisord = configured or shutil.which("supervisord") or "/usr/bin/supervisord"
    if not os.access(supervisord, os.X_OK):
        pytest.fail(
            f"The split-layout test needs supervisord (not found: {supervisord}). {SUPERVISOR_INSTALL_HINT}",
            pytrace=False,
        )
    supervisorctl = str(Path(supervisord).with_name("supervisorctl"))
    if not os.access(supervisorctl, os.X_OK):
        pytest.fail(f"supervisorctl is missing beside {supervisord}. {SUPERVISOR_INSTALL_HINT}", pytrace=False)
    return supervisord, supervisorctl


def render_supervisor_config(*, env_file: Path, daphne_port: int, gunicorn_port: int, log_dir: Path) -> str:
    """The shipped program file for this machine: the test's env file, Python and ports, logs in
    ``log_dir``, and no ``user=`` (there is no backchannel user here)."""
    text = SHIPPED_SUPERVISOR_CONF.read_text()
    for placeholder, value, count in (
        (f". {SHIPPED_ENV_FILE_PATH} ", f". {env_file} ", 2),
        (SHIPPED_VENV_PYTHON, sys.executable, 3),
        ("directory=/srv/backchannel/app/backend  ; EDIT", f"directory={BACKEND_DIR}", 2),
        ("user=backchannel\n", "", 2),
        ("-b 127.0.0.1 -p 8000 ", f"-b 127.0.0.1 -p {daphne_port} ", 1),
        ("--bind 127.0.0.1:8001 ", f"--bind 127.0.0.1:{gunicorn_port} ", 1),
        ("/var/log/supervisor/", f"{log_dir}/", 2),
    ):
        text = replace_placeholder(text, placeholder, value, count=count, source=SHIPPED_SUPERVISOR_CONF)
    return text


def render_supervisord_main_config(prefix: Path, program_file: Path) -> str:
    """What Debian's /etc/supervisor/supervisord.conf is to conf.d/, with every path in ``prefix``."""
    return f"""\
[supervisord]
nodaemon=true
logfile={prefix / "supervisord.log"}
pidfile={prefix / "supervisord.pid"}
childlogdir={prefix}
{"user=root" if os.geteuid() == 0 else ""}

[unix_http_server]
file={prefix / "supervisor.sock"}
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{prefix / "supervisor.sock"}

[include]
files = {program_file}
"""


def supervisor_program_commands() -> dict[str, list[str]]:
    """Each shipped program's server command (what its `sh -c` finally execs), as argv."""
    commands = {}
    text = SHIPPED_SUPERVISOR_CONF.read_text()
    for name, command in re.findall(r"^\[program:([\w-]+)\].*?^command=(.+?)$", text, re.S | re.M):
        [shell_script] = shlex.split(command)[2:]
        commands[name] = shlex.split(shell_script.rsplit("exec ", 1)[1])
    return commands


@dataclass(frozen=True)
class SplitHost:
    https_port: int
    daphne_log: Path
    gunicorn_log: Path
    env: dict[str, str]
    certificate: Path
    supervisorctl: tuple[str, ...]

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def room_url(self, room: str) -> str:
        return f"{self.origin}/room/?name={room}"

    def manage(self, *arguments: str, env_overrides: dict[str, str] | None = None) -> None:
        result = run_manage({**self.env, **(env_overrides or {})}, *arguments, timeout_secs=MANAGE_TIMEOUT_SECS)
        assert result.returncode == 0, result.stderr


def stop_supervisord(process: subprocess.Popen) -> None:
    """SIGTERM to supervisord (our child, by pid): it stops its programs (daphne's shutdown grace
    included) before it exits. Only if it hangs is it killed, and the test then fails."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SUPERVISORD_STOP_TIMEOUT_SECS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"supervisord (pid {process.pid}) did not stop in {SUPERVISORD_STOP_TIMEOUT_SECS} s")


@pytest.fixture(scope="module")
def split_host(tmp_path_factory):
    nginx = nginx_executable()
    if not MIME_TYPES.is_file():
        pytest.fail(f"{MIME_TYPES} is missing (it comes with nginx). {NGINX_INSTALL_HINT}", pytrace=False)
    supervisord, supervisorctl = supervisor_executables()
    work_dir = tmp_path_factory.mktemp("split")
    https_port, http_port, daphne_port, gunicorn_port, redis_port = (free_port() for _ in range(5))
    origin = f"https://127.0.0.1:{https_port}"

    redis = start_redis(port=redis_port, data_dir=work_dir / "redis")
    supervisor_process = nginx_process = None
    try:
        # ONE env file for both programs: the shipped example, filled in, with the Redis both need.
        settings = {
            **render_backend_env(origin=origin, database_path=work_dir / "db.sqlite3"),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            **TEST_IDENTITY_ENV,
            **UNLIMITED_MESSAGES_ENV,
        }
        env_file = work_dir / "backchannel.env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        env = backend_env(settings)

        prefix = work_dir / "supervisor"
        prefix.mkdir()
        program_file = prefix / "backchannel.conf"
        program_file.write_text(
            render_supervisor_config(
                env_file=env_file, daphne_port=daphne_port, gunicorn_port=gunicorn_port, log_dir=prefix
            )
        )
        main_config = prefix / "supervisord.conf"
        main_config.write_text(render_supervisord_main_config(prefix, program_file))
        # supervisord's own environment carries none of the backend's settings: they come from the file.
        supervisor_process = subprocess.Popen(
            [supervisord, "-n", "-c", str(main_config)],
            env=backend_env({}),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        # The site is built while daphne migrates.
        site_root = build_site(f"wss://127.0.0.1:{https_port}", work_dir / "public", f"{origin}/")
        acme_root = work_dir / "acme"
        acme_root.mkdir()
        tls = make_self_signed_certificate(work_dir, ["127.0.0.1"])
        nginx_prefix = work_dir / "nginx"
        nginx_prefix.mkdir()
        site_config = nginx_prefix / "backchannel.conf"
        site_config.write_text(
            render_site_config(
                https_port=https_port,
                http_port=http_port,
                daphne_port=daphne_port,
                backend_http_port=gunicorn_port,
                site_root=site_root,
                acme_root=acme_root,
                certificate=tls.certificate,
                private_key=tls.private_key,
            )
        )
        nginx_main = nginx_prefix / "nginx.conf"
        nginx_main.write_text(render_main_config(nginx_prefix, site_config))
        daphne_log, gunicorn_log = prefix / "backchannel-daphne.log", prefix / "backchannel-http.log"
        for port, what, log in (
            (daphne_port, "daphne under supervisor", daphne_log),
            (gunicorn_port, "gunicorn under supervisor", gunicorn_log),
        ):
            wait_until(
                lambda port=port: http_ok(f"http://127.0.0.1:{port}/healthz"),
                what=what,
                process=supervisor_process,
                log_path=log,
                timeout_secs=SERVERS_START_TIMEOUT_SECS,
            )
        nginx_process = subprocess.Popen(
            [nginx, "-p", str(nginx_prefix), "-c", str(nginx_main), "-e", str(nginx_prefix / "error.log"),
             "-g", f"daemon off; pid {nginx_prefix / 'nginx.pid'};"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        context = tls_client_context(tls.certificate)
        wait_until(
            lambda: https_answers_200(f"{origin}/healthz", context),
            what=f"nginx on port {https_port}",
            process=nginx_process,
            log_path=nginx_prefix / "error.log",
            timeout_secs=NGINX_START_TIMEOUT_SECS,
        )
        yield SplitHost(
            https_port=https_port,
            daphne_log=daphne_log,
            gunicorn_log=gunicorn_log,
            env=env,
            certificate=tls.certificate,
            supervisorctl=(supervisorctl, "-c", str(main_config)),
        )
    finally:
        if nginx_process is not None:
            stop_process(nginx_process, what="nginx")
        if supervisor_process is not None:
            progress("stopping supervisord (it stops daphne and gunicorn)")
            stop_supervisord(supervisor_process)
        stop_process(redis, what="redis-server")


@pytest.fixture
def visitor_page(browser, split_host):
    with visitor_pages(browser, ignore_https_errors=True) as open_page:
        yield open_page


def sign_in_as_staff(page: Page, username: str, password: str) -> None:
    """The staff sign-in beside the widget's name picker (POST /api/identity/staff/)."""
    page.locator("form.bc-composer textarea").fill("…")
    page.locator("details.bc-staff summary").click()
    login = page.locator("form.bc-staff-login")
    login.locator("input[name=username]").fill(username)
    login.locator("input[name=password]").fill(password)
    login.locator("input[name=password]").press("Enter")
    expect(page.locator(".bc-identity .bc-staff-badge")).to_be_visible()
    page.locator("form.bc-composer textarea").fill("")


def act(page: Page, text: str, action: str, reason: str) -> None:
    """A staff page's ⋯ menu on the message ``text``: ``action``, with a reason (POST
    /api/moderation/actions/)."""
    page.locator(".bc-message", has_text=text).locator(".bc-menu-button").click()
    page.locator(".bc-menu").get_by_role("button", name=action, exact=True).click()
    page.locator(".bc-menu__reason").fill(reason)
    page.locator(".bc-menu__form button[type=submit]").click()


def access_lines(log: Path, path: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if f" {path}" in line]


# --- the shipped files agree ----------------------------------------------------------------------


def test_supervisor_and_the_units_run_the_same_server_commands():
    """supervisor.conf and the systemd units are two ways to run one thing: the same daphne command
    (the one every launcher and test uses, plus --proxy-headers) and the same gunicorn command."""
    commands = supervisor_program_commands()
    assert set(commands) == {"backchannel-daphne", "backchannel-http"}
    daphne = commands["backchannel-daphne"]
    assert daphne[0] == SHIPPED_VENV_PYTHON
    assert daphne[1:] == daphne_command(8000, extra_args=UNIT_EXTRA_DAPHNE_ARGS)[1:]
    assert daphne == unit_directives("ExecStart")[0].split()
    [http_exec_start] = [
        line.removeprefix("ExecStart=")
        for line in SHIPPED_HTTP_UNIT.read_text().splitlines()
        if line.startswith("ExecStart=")
    ]
    assert commands["backchannel-http"] == http_exec_start.split()
    assert commands["backchannel-http"][-1] == "backchannel.wsgi:application"
    # Both programs read the one env file the units read, so they share DATABASE_URL and REDIS_URL.
    assert SHIPPED_SUPERVISOR_CONF.read_text().count(f". {SHIPPED_ENV_FILE_PATH} ") == 2
    assert f"EnvironmentFile={SHIPPED_ENV_FILE_PATH}" in SHIPPED_HTTP_UNIT.read_text()
    assert "REDIS_URL" in SHIPPED_ENV_EXAMPLE.read_text()


def test_supervisor_runs_daphne_and_gunicorn(split_host):
    # supervisord says RUNNING once a program has stayed up its startsecs (5 s in the shipped
    # config), which may be after both already answer: STARTING is fine until then.
    expected = {"backchannel:backchannel-daphne": "RUNNING", "backchannel:backchannel-http": "RUNNING"}
    deadline = time.monotonic() + SUPERVISOR_RUNNING_DEADLINE_SECS
    while True:
        status = subprocess.run([*split_host.supervisorctl, "status"], capture_output=True, text=True, timeout=20)
        lines = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines() if line.strip()}
        if lines == expected or time.monotonic() > deadline or "FATAL" in lines.values():
            break
        time.sleep(0.5)
    assert lines == expected, status


# --- visitors and a moderator through nginx -------------------------------------------------------


def test_visitors_chat_and_a_moderator_on_the_wsgi_side_reaches_their_open_pages(split_host, visitor_page):
    password = secrets.token_urlsafe(16)
    split_host.manage(
        "createsuperuser",
        "--noinput",
        "--username",
        MODERATOR,
        "--email",
        "sue@example.com",
        env_overrides={"DJANGO_SUPERUSER_PASSWORD": password},
    )
    room = "split-lobby"
    ann = visitor_page(split_host.room_url(room))
    bob = visitor_page(split_host.room_url(room))
    enter_room_as(ann, "Ann")
    enter_room_as(bob, "Bob")
    send(ann, "Hello through gunicorn and daphne")
    send(bob, "buy cheap pills")
    for page in (ann, bob):
        expect(message_texts(page)).to_have_text(["Hello through gunicorn and daphne", "buy cheap pills"])

    sue = visitor_page(split_host.room_url(room))
    sign_in_as_staff(sue, MODERATOR, password)
    expect(message_texts(sue)).to_have_count(2)

    # Done in gunicorn's process, told to daphne's sockets through the shared Redis.
    act(sue, "buy cheap pills", "Delete", "spam")
    for page in (ann, bob, sue):
        expect(message_texts(page)).to_have_text(["Hello through gunicorn and daphne"], timeout=MODERATION_DEADLINE_MS)
    send(bob, "why?")
    expect(message_texts(sue)).to_contain_text(["why?"])
    act(sue, "why?", "Mute for an hour", "cool down")
    expect(bob.locator(".bc-notice[data-kind=muted]")).to_contain_text("cool down", timeout=MODERATION_DEADLINE_MS)
    expect(bob.locator("form.bc-composer textarea")).to_be_disabled()
    send(ann, "Ann is still here")
    expect(message_texts(bob)).to_contain_text(["Ann is still here"])
    for page in (ann, bob, sue):
        assert page.console_errors == []

    # gunicorn served the identity API, the staff sign-in and the moderation; daphne none of them.
    for path, count in (("/api/identity/", 2), ("/api/identity/staff/", 1), ("/api/moderation/actions/", 2)):
        served = [line for line in access_lines(split_host.gunicorn_log, path) if '"POST ' in line]
        assert len(served) >= count and all('" 200 ' in line for line in served), (path, served)
        assert access_lines(split_host.daphne_log, path) == [], path
    assert access_lines(split_host.daphne_log, "/ws/"), "daphne serves the sockets"
