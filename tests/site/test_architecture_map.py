"""ARCHITECTURE.md's "Where things live" names every module of the chat app and of the widget, and
names no module that is gone: a new file gets its line there, a removed one loses it."""

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MAP = (
    (REPO_ROOT / "ARCHITECTURE.md")
    .read_text(encoding="utf-8")
    .split("\n## Where things live\n", 1)[1]
    .split("\n## ", 1)[0]
)
# Modules with nothing to say beyond their package's line.
QUIET = {"__init__.py", "apps.py"}

FOLDERS = {
    "chat app": (REPO_ROOT / "backend" / "chat", "py"),
    "widget": (REPO_ROOT / "themes" / "backchannel" / "assets" / "backchannel" / "js", "js"),
}


def named_in_map(extension: str) -> set[str]:
    return set(re.findall(rf"`(?:[\w./]*/)?([\w-]+\.{extension})`", MAP))


@pytest.mark.parametrize("folder", FOLDERS, ids=FOLDERS)
def test_every_module_has_its_line_in_the_map(folder: str) -> None:
    path, extension = FOLDERS[folder]
    modules = {file.name for file in path.glob(f"*.{extension}")} - QUIET
    missing = sorted(modules - named_in_map(extension))
    assert not missing, f"ARCHITECTURE.md 'Where things live' does not say what these do: {missing}"


@pytest.mark.parametrize("folder", FOLDERS, ids=FOLDERS)
def test_the_map_names_no_module_that_is_gone(folder: str) -> None:
    path, extension = FOLDERS[folder]
    row = next(line for line in MAP.splitlines() if line.startswith(f"| `{path.relative_to(REPO_ROOT)}/`"))
    named = set(re.findall(rf"`([\w-]+\.{extension})`", row))
    gone = sorted(name for name in named if not (path / name).exists())
    assert not gone, f"ARCHITECTURE.md names modules that are not there: {gone}"
