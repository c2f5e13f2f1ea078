"""The PaaS files of the backend, read the way the platforms read them."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from ruamel.yaml import YAML

from backchannel.setting_specs import ENVIRONMENT_SETTINGS

REPO_DIR = Path(__file__).resolve().parents[2]
BACKEND_DIR = REPO_DIR / "backend"
PROCFILE = BACKEND_DIR / "Procfile"
APP_JSON = BACKEND_DIR / "app.json"
RENDER_YAML = REPO_DIR / "render.yaml"

_PROCESS_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>.+)$")


def procfile() -> dict[str, str]:
    """Process type → command, as Heroku parses a Procfile."""
    processes = {}
    for line in PROCFILE.read_text().splitlines():
        match = _PROCESS_LINE.match(line)
        if match:
            processes[match["name"]] = match["command"].strip()
    return processes


def command_for_port(command: str, port: int) -> list[str]:
    """The Procfile command as the platform's shell runs it with PORT set, as argv."""
    return shlex.split(command.replace("$PORT", str(port)))


def app_json() -> dict:
    return json.loads(APP_JSON.read_text())


def render_blueprint() -> dict:
    return YAML(typ="safe").load(RENDER_YAML.read_text())


def settings_variables() -> set[str]:
    """Every environment variable the backend's settings read: its table of settings (settings.py
    reads exactly those, tests/backend/test_documented_settings.py checks)."""
    return {spec.name for spec in ENVIRONMENT_SETTINGS}
