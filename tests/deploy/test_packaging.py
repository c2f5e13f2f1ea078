"""The project as an installable package (pyproject.toml; `make install-run` installs it editable):
`backchannel` and `chat` import from anywhere, with the version and the dependencies written once,
and no file of ours edits sys.path or PYTHONPATH to find them."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import backchannel
from scripts.lock import LOCKS, direct_requirements
from tests.deploy.paas import BACKEND_DIR, REPO_DIR

pytestmark = pytest.mark.deploy

PYPROJECT = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())
SEARCHED_DIRS = ("backend", "scripts", "tests", "bench")
PATH_EDIT = re.compile(r"sys\.path\s*(\.insert|\.append|\.extend|\[[^\]]*\]\s*=|\s*[+]?=)|[\"']PYTHONPATH[\"']")


def test_the_project_takes_its_version_licence_and_dependencies_from_their_one_source():
    project = PYPROJECT["project"]
    assert project["name"] == "backchannel"
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "backchannel.__version__"}
    # The runtime set: backend/requirements.in, the .in of the lock the platforms install.
    assert dynamic["dependencies"] == {"file": [LOCKS[0].source]}
    assert project["license"] == "MIT" and (REPO_DIR / "LICENSE").read_text().startswith("MIT License")
    python = (BACKEND_DIR / ".python-version").read_text().strip()
    assert project["requires-python"] == f">={python}", "the oldest Python is the one the platforms run"


def test_the_installed_project_is_this_checkout_at_its_version():
    # `make install-run` installs it editable: pyproject.toml's metadata as pip recorded it.
    from importlib.metadata import distribution

    installed = distribution("backchannel")
    assert installed.version == backchannel.__version__
    required = {re.split(r"[\[=<>]", line)[0].lower() for line in installed.requires or []}
    assert required == set(direct_requirements(REPO_DIR / LOCKS[0].source))


@pytest.mark.process
def test_the_backend_packages_import_from_outside_the_checkout(tmp_path):
    # A fresh interpreter in another directory: no working directory, no pytest, no sys.path edit.
    result = subprocess.run(
        [sys.executable, "-c", "import backchannel, chat.apps; print(backchannel.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stderr}\nRun `make install-run` (it installs the project editable)."
    assert result.stdout.strip() == str(BACKEND_DIR / "backchannel" / "__init__.py")


def test_no_file_of_ours_edits_sys_path_or_pythonpath():
    edits = [
        f"{path.relative_to(REPO_DIR)}:{number}: {line.strip()}"
        for directory in SEARCHED_DIRS
        for path in sorted((REPO_DIR / directory).rglob("*.py"))
        if path != Path(__file__) and "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PATH_EDIT.search(line)
    ]
    assert edits == [], "Import through the installed project (pyproject.toml) or `python -m` from the root instead"
    assert "pythonpath" not in (REPO_DIR / "pytest.ini").read_text()
