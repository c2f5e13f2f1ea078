"""`honcho start -f Procfile.dev` in backend/, as a developer runs the Procfile locally: web comes
up after migrating and stays up (on the Heroku Procfile, honcho also starts `release`, and when
that exits it stops `web` too).

Procfile.dev's web line is the Procfile's release command, then its web command on loopback: one
set of commands for Heroku, honcho and the Dockerfile (tests/deploy/test_docker.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from scripts.processes import BACKEND_DIR, backend_env, free_port, http_ok, wait_until
from tests.deploy.paas import procfile

pytestmark = [pytest.mark.deploy, pytest.mark.live]

PROCFILE_DEV = BACKEND_DIR / "Procfile.dev"
# honcho stops every process as soon as one exits: a web that outlives migrate by 3 s has stayed up.
STAYS_UP_SECS = 3
HONCHO_INSTALL_HINT = "honcho is in requirements-dev.txt: run `make install` (or `.venv/bin/pip install honcho`)."


def honcho_executable() -> str:
    beside_python = os.path.join(os.path.dirname(sys.executable), "honcho")
    found = beside_python if os.access(beside_python, os.X_OK) else shutil.which("honcho")
    if not found:
        pytest.fail(f"honcho is not installed. {HONCHO_INSTALL_HINT}", pytrace=False)
    return found


def procfile_dev() -> dict[str, str]:
    lines = [line.split(":", 1) for line in PROCFILE_DEV.read_text().splitlines() if line.strip()]
    return {name.strip(): command.strip() for name, command in lines}


def test_procfile_dev_runs_the_procfiles_commands_one_after_the_other():
    heroku = procfile()
    dev = procfile_dev()
    assert set(dev) == {"web"}, "one process: honcho stops everything when any process exits"
    migrate, server = dev["web"].split(" && exec ")
    assert migrate == heroku["release"]
    assert server == heroku["web"].replace("--bind 0.0.0.0", "--bind 127.0.0.1")


def test_honcho_brings_web_up_after_migrating_and_it_stays_up(tmp_path):
    port = free_port()
    database = tmp_path / "db.sqlite3"
    env = backend_env({"DEBUG": "1", "DATABASE_URL": f"sqlite:///{database}"})
    env.pop("PORT", None)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    log_path = tmp_path / "honcho.log"
    with log_path.open("wb") as log:
        honcho = subprocess.Popen(
            [honcho_executable(), "start", "-f", "Procfile.dev", "-p", str(port)],
            cwd=BACKEND_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        health_url = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda: http_ok(health_url), what="honcho's web", process=honcho, log_path=log_path, timeout_secs=90)
        with urllib.request.urlopen(health_url, timeout=5) as response:
            assert json.load(response)["database"] == "ok", "migrated before serving"
        up_since = time.monotonic()
        while time.monotonic() - up_since < STAYS_UP_SECS:
            assert honcho.poll() is None, f"honcho exited:\n{log_path.read_text(errors='replace')[-2000:]}"
            assert http_ok(health_url), f"web stopped answering:\n{log_path.read_text(errors='replace')[-2000:]}"
            time.sleep(1)
    finally:
        # honcho (our child, by its pid) passes SIGTERM on to web and waits for it.
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
            try:
                honcho.wait(timeout=20)
            except subprocess.TimeoutExpired:
                honcho.kill()
                honcho.wait()
    assert not http_ok(f"http://127.0.0.1:{port}/healthz"), "web stopped with honcho"
    assert "web.1" in log_path.read_text(errors="replace")
