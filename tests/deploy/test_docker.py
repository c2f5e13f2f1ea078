"""backend/Dockerfile and compose.yaml, checked without a Docker engine (there is none where these
tests run): Debian's `docker-compose config` validates and resolves the compose files, MariaDB as
shipped and PostgreSQL through compose.postgres.yaml; the compose commands and the image's CMD are
held to the Procfile's; then those very commands run natively (migrate, the server, the image's
HEALTHCHECK) against a private redis-server, as the containers would run them.

What this does not do: build the image or start the containers (README, "Docker Compose").
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from ruamel.yaml import YAML

from scripts.processes import (
    BACKEND_DIR,
    REPO_DIR,
    backend_env,
    free_port,
    http_ok,
    start_redis,
    stop_process,
    wait_until,
)
from tests.deploy.paas import procfile

pytestmark = [pytest.mark.deploy, pytest.mark.live]

DOCKERFILE = BACKEND_DIR / "Dockerfile"
COMPOSE = REPO_DIR / "compose.yaml"
COMPOSE_POSTGRES = REPO_DIR / "compose.postgres.yaml"
ENV_EXAMPLE = REPO_DIR / "deploy" / "compose" / "env.example"
COMPOSE_INSTALL_HINT = (
    "Install it with `sudo apt-get install docker-compose` (no Docker engine is needed for `config`)."
)
SETTINGS = {"SECRET_KEY": "compose-" + "k" * 50, "DB_PASSWORD": "compose-db-password", "SITE_HOST": "chat.example.com"}


def docker_compose(*files, env_overrides: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail(f"These tests need docker-compose. {COMPOSE_INSTALL_HINT}", pytrace=False)
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS}
    env.update(env_overrides if env_overrides is not None else SETTINGS)
    arguments = [argument for file in files for argument in ("-f", str(file))]
    # --project-directory: ${...} and relative paths resolve beside compose.yaml, as `up` resolves them.
    return subprocess.run(
        [executable, "--project-directory", str(REPO_DIR), *arguments, "config"],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def resolved(*files) -> dict:
    result = docker_compose(*files)
    assert result.returncode == 0, result.stderr
    return YAML(typ="safe").load(result.stdout)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def dockerfile(instruction: str) -> list[str]:
    return [arguments for name, arguments in dockerfile_instructions() if name == instruction]


def image_command() -> list[str]:
    [cmd] = dockerfile("CMD")
    return json.loads(cmd)


def healthcheck_command() -> list[str]:
    [healthcheck] = dockerfile("HEALTHCHECK")
    return json.loads(healthcheck.split(" CMD ", 1)[1])


def as_argv(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


# --- the files ------------------------------------------------------------------------------------


def test_the_image_is_official_python_slim_pinned_non_root_and_health_checked():
    assert [line.split()[0] for line in dockerfile("FROM")] == ["python:3.11-slim", "python:3.11-slim"]
    assert (BACKEND_DIR / ".python-version").read_text().strip() == "3.11", "the image's Python is the PaaS's"
    # The lock, hash-checked, is fetched in the build stage; the run stage installs those wheels only.
    build_run, install_run = [run for run in dockerfile("RUN") if "/wheels" in run]
    assert "--require-hashes" in build_run and "-r /tmp/requirements.txt" in build_run, build_run
    assert "--no-index" in install_run and "--no-deps /wheels/*.whl" in install_run, install_run
    [user] = dockerfile("USER")
    assert user not in ("root", "0")
    assert "/healthz" in " ".join(healthcheck_command())


def test_the_image_runs_the_procfiles_web_command():
    shell, flag, script = image_command()
    assert (shell, flag) == ("/bin/sh", "-c")
    assert script == "exec " + procfile()["web"], "exec: daphne itself gets SIGTERM (1012 to sockets)"


def test_compose_is_valid_and_runs_the_procfiles_commands_in_order():
    config = resolved(COMPOSE)
    services = config["services"]
    assert set(services) == {"nginx", "app", "migrate", "db", "redis"}
    assert as_argv(services["migrate"]["command"]) == shlex.split(procfile()["release"])
    assert "command" not in services["app"], "the app runs the image's CMD, the Procfile's web command"
    assert services["app"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"
    for name in ("app", "migrate"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"] == "mysql://backchannel:compose-db-password@db:3306/chat"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["ALLOWED_ORIGINS"] == "https://chat.example.com"
    assert services["db"]["image"].startswith("mariadb:")
    assert "--character-set-server=utf8mb4" in services["db"]["command"]
    assert set(config["volumes"]) == {"db-data", "redis-data"}
    assert "db-data:/var/lib/mysql" in " ".join(services["db"]["volumes"])
    assert "redis-data:/data" in " ".join(services["redis"]["volumes"])


def test_compose_switches_to_postgresql_with_the_override_file():
    services = resolved(COMPOSE, COMPOSE_POSTGRES)["services"]
    assert services["db"]["image"].startswith("postgres:")
    for name in ("app", "migrate"):
        assert (
            services[name]["environment"]["DATABASE_URL"] == "postgres://backchannel:compose-db-password@db:5432/chat"
        )
    assert "pg_isready" in services["db"]["healthcheck"]["test"]


def test_compose_refuses_to_start_without_its_secrets():
    result = docker_compose(COMPOSE, env_overrides={"DB_PASSWORD": "x", "SITE_HOST": "chat.example.com"})
    assert result.returncode != 0
    assert "set SECRET_KEY in .env" in result.stderr
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and not line.startswith("#")]
    example = {line.split("=", 1)[0] for line in lines}
    assert set(SETTINGS) <= example, "deploy/compose/env.example names every variable compose.yaml requires"


# --- the same commands, natively ------------------------------------------------------------------


def test_the_compose_commands_run_natively_migrate_then_serve_healthy(tmp_path):
    """What `docker compose up` would run, in order, on this machine: the migrate service's command,
    then the image's CMD with the app's environment (the database and Redis swapped for local ones),
    then the image's HEALTHCHECK command, which must exit 0."""
    services = resolved(COMPOSE)["services"]
    redis_port, port = free_port(), free_port()
    redis = start_redis(port=redis_port, data_dir=tmp_path / "redis")
    server = None
    try:
        env = backend_env({
            **{key: str(value) for key, value in services["app"]["environment"].items()},
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        })  # fmt: skip
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        migrate = subprocess.run(
            as_argv(services["migrate"]["command"]),
            cwd=BACKEND_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stderr
        env["PORT"] = str(port)
        # The image binds every interface; here loopback only.
        command = [part.replace("--bind 0.0.0.0", "--bind 127.0.0.1") for part in image_command()]
        log_path = tmp_path / "app.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(command, cwd=BACKEND_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/healthz"),
            what="the image's CMD",
            process=server,
            log_path=log_path,
            timeout_secs=60,
        )
        health = subprocess.run(healthcheck_command(), env=env, capture_output=True, text=True, timeout=10)
        assert health.returncode == 0, health.stderr
    finally:
        if server is not None:
            stop_process(server, what="the image's CMD")  # exec'd: this pid is daphne itself
        stop_process(redis, what="redis-server")
    assert server.returncode == 0, "daphne stopped cleanly on SIGTERM"
