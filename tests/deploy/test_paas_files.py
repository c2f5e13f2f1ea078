"""The PaaS files agree with the backend and with each other: a variable the settings do not read,
a start command that is not the Procfile's, or a Python version other than CI's would deploy
something nobody tested."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from backchannel import serve
from scripts.lock import locked_packages
from tests.deploy.paas import BACKEND_DIR, REPO_DIR, app_json, procfile, render_blueprint, settings_variables

pytestmark = pytest.mark.deploy

# Platforms close WebSockets idle this long (Heroku's router; many load balancers use 60 s).
HEROKU_IDLE_TIMEOUT_SECS = 55


def test_the_procfile_runs_our_server_on_the_platform_port_and_migrates_on_release():
    processes = procfile()
    assert set(processes) == {"web", "release"}
    assert processes["web"].startswith("python -m backchannel.serve ")
    assert "--port $PORT" in processes["web"]
    assert "--bind 0.0.0.0" in processes["web"]
    assert processes["web"].endswith(" backchannel.asgi:application")
    # daphne's --proxy-headers trusts the first X-Forwarded-For entry, which the visitor chooses;
    # chat.proxy reads the header instead (TRUSTED_PROXY_HOPS).
    assert "--proxy-headers" not in processes["web"]
    assert processes["release"] == "python manage.py migrate --no-input"


def test_keepalive_pings_come_well_before_the_platform_idle_timeout():
    assert serve.PING_INTERVAL_SECS < HEROKU_IDLE_TIMEOUT_SECS / 2
    widget = (REPO_DIR / "themes/backchannel/assets/backchannel/js/socket.js").read_text()
    assert "export const PING_INTERVAL_MS = 25_000;" in widget


def test_the_python_version_is_the_one_ci_tests():
    pinned = (BACKEND_DIR / ".python-version").read_text().strip()
    travis = YAML(typ="safe").load((REPO_DIR / ".travis.yml").read_text())
    assert str(travis["python"]) == pinned
    render_python = {item["key"]: item.get("value") for item in render_blueprint()["services"][0]["envVars"]}
    assert render_python["PYTHON_VERSION"].startswith(pinned + ".")


def test_app_json_provisions_postgres_redis_and_a_generated_secret():
    manifest = app_json()
    plans = [addon["plan"].split(":")[0] for addon in manifest["addons"]]
    assert plans == ["heroku-postgresql", "heroku-redis"]  # they set DATABASE_URL and REDIS_URL
    env = manifest["env"]
    assert env["SECRET_KEY"] == {**env["SECRET_KEY"], "generator": "secret"}
    assert env["ALLOWED_ORIGINS"]["required"] is True and "value" not in env["ALLOWED_ORIGINS"]
    assert env["TRUSTED_PROXY_HOPS"]["value"] == "1"
    assert env["REDIS_TLS_VERIFY"]["value"] == "0"  # Heroku Redis: rediss:// with a self-signed cert
    assert "DEBUG" not in env  # off unless someone turns it on


@pytest.mark.parametrize("source", ["app.json", "render.yaml"])
def test_every_variable_the_platform_files_set_is_one_the_backend_reads(source):
    if source == "app.json":
        names = set(app_json()["env"])
    else:
        service = render_blueprint()["services"][0]
        names = {item["key"] for item in service["envVars"]} - {"PYTHON_VERSION"}  # Render's own
    assert names <= settings_variables(), f"{source} sets variables the backend never reads"


def test_render_runs_the_procfile_commands_in_the_backend_and_checks_healthz():
    service = render_blueprint()["services"][0]
    processes = procfile()
    assert service["rootDir"] == "backend"
    assert service["startCommand"] == processes["web"]
    assert service["preDeployCommand"] == processes["release"]
    assert service["healthCheckPath"] == "/healthz"
    assert service["buildCommand"] == "pip install -r requirements.txt"
    keyvalue = render_blueprint()["services"][1]
    redis_source = next(item for item in service["envVars"] if item["key"] == "REDIS_URL")["fromService"]
    assert (redis_source["type"], redis_source["name"]) == (keyvalue["type"], keyvalue["name"])
    database_source = next(item for item in service["envVars"] if item["key"] == "DATABASE_URL")["fromDatabase"]
    assert database_source["name"] == render_blueprint()["databases"][0]["name"]


def test_the_backend_requirements_pin_and_hash_every_package_the_platform_installs():
    # What the PaaS installs is the lock (scripts/lock.py checks it against requirements.in): with the
    # dependencies of our dependencies, on which serve.py and chat/db.py rely, pinned and hashed too.
    packages = {package.name: package for package in locked_packages((BACKEND_DIR / "requirements.txt").read_text())}
    assert all(package.version and package.hashed for package in packages.values()), packages
    assert {"django", "channels", "channels-redis", "daphne", "django-cors-headers", "whitenoise"} <= packages.keys()
    assert {"twisted", "autobahn", "asgiref"} <= packages.keys()
