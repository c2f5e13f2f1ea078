"""The hashed locks (scripts/lock.py, `make lock`): backend/requirements.txt, what the PaaS installs,
and the run and dev sets built on it agree with their .in files and with each other, and the check
in `make lint` names what is off and says to run `make lock`. Offline: nothing here asks PyPI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts.lock import LOCKS, PYTHON_VERSION_FILE, REPO_DIR, check_locks, direct_requirements, locked_packages, main

pytestmark = pytest.mark.deploy


def pins_of(lock_path: str, root: Path = REPO_DIR) -> dict[str, str]:
    return {package.name: package.version for package in locked_packages((root / lock_path).read_text())}


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """The locks, their .in files and the Python version, copied: a repository to break."""
    files = [lock.source for lock in LOCKS] + [lock.output for lock in LOCKS]
    for path in [PYTHON_VERSION_FILE.relative_to(REPO_DIR), *map(Path, files)]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_DIR / path, tmp_path / path)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_committed_locks_agree_with_their_in_files(capsys):
    assert check_locks() == []
    assert main(["--check"]) == 0
    assert "3 locks agree" in capsys.readouterr().out


def test_each_lock_holds_the_one_before_it_at_the_same_versions_and_every_package_is_hashed():
    backend, run, dev = (pins_of(lock.output) for lock in LOCKS)
    assert backend.items() <= run.items() <= dev.items()
    # What each set adds on top: Hugo to run; the test tools, and uv for `make lock`, to dev only.
    assert "hugo" in run and "hugo" not in backend
    assert {"pytest", "ruff", "uv"} <= dev.keys() and not {"pytest", "ruff", "uv"} & run.keys()
    # The dependencies of our dependencies, which serve.py and chat/db.py lean on, are pinned too.
    assert {"twisted", "autobahn", "asgiref", "txaio", "zope-interface"} <= backend.keys()
    for lock in LOCKS:
        assert all(package.hashed for package in locked_packages((REPO_DIR / lock.output).read_text())), lock.output


def test_every_direct_requirement_is_pinned_exactly_in_its_in_file():
    requirements = direct_requirements(REPO_DIR / LOCKS[-1].source)
    assert {"django", "daphne", "hugo", "pytest"} <= requirements.keys()
    assert all(requirements.values()), [name for name, version in requirements.items() if not version]


def test_a_pin_changed_in_an_in_file_but_not_locked_fails_the_check_naming_make_lock(repo_copy, capsys):
    django = direct_requirements(REPO_DIR / "backend/requirements.in")["django"]
    edit(repo_copy / "backend/requirements.in", f"Django=={django}", "Django==5.2.1")

    assert main(["--check"], root=repo_copy) == 1

    out = capsys.readouterr().out
    assert f"backend/requirements.in asks for django==5.2.1, backend/requirements.txt has django=={django}" in out
    assert out.rstrip().endswith("The locks disagree with their .in files: run `make lock`.")


def test_a_range_instead_of_a_pin_in_an_in_file_fails_the_check(repo_copy):
    edit(repo_copy / "requirements-dev.in", "\nruff==", "\nruff>=")

    assert "requirements-dev.in: ruff is not pinned with == (every direct requirement is)" in check_locks(repo_copy)


def test_a_package_without_a_hash_fails_the_check(repo_copy):
    lock = repo_copy / "backend/requirements.txt"
    version = pins_of("backend/requirements.txt")["whitenoise"]
    text = lock.read_text()
    start = text.index(f"whitenoise=={version}")
    end = text.index("\n    # via", start)
    lock.write_text(text[:start] + f"whitenoise=={version}" + text[end:])

    assert f"backend/requirements.txt: whitenoise=={version} has no hash" in check_locks(repo_copy)


def test_a_lock_compiled_by_another_command_fails_the_check(repo_copy):
    edit(repo_copy / "requirements-run.txt", "uv pip compile --generate-hashes ", "uv pip compile ")

    [problem] = check_locks(repo_copy)
    assert problem.startswith("requirements-run.txt: its header's command is 'uv pip compile --python-version")


def test_a_lock_that_strays_from_the_one_it_builds_on_fails_the_check(repo_copy):
    twisted = pins_of("backend/requirements.txt")["twisted"]
    edit(repo_copy / "requirements-dev.txt", f"twisted=={twisted}", "twisted==24.3.0")

    assert check_locks(repo_copy) == [
        f"requirements-dev.txt has twisted==24.3.0 where the lock it builds on has twisted=={twisted}"
    ]


def test_the_locks_are_for_the_python_the_platforms_run(repo_copy):
    # Compiled for backend/.python-version (Heroku, Render, the image, CI): another version fails the check.
    (repo_copy / PYTHON_VERSION_FILE.relative_to(REPO_DIR)).write_text("3.12\n")

    assert len(check_locks(repo_copy)) == len(LOCKS)
