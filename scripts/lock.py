"""The hashed locks: each requirements .in compiled into its .txt, every transitive dependency pinned
and every file of each pinned version hashed (so pip installs them in hash-checking mode).

    python -m scripts.lock           # `make lock`: compile every lock (needs PyPI)
    python -m scripts.lock --check   # `make lint`: every lock agrees with its .in (offline)

The locks build on each other, each .in held to the lock before it with `-c`, so the pins are the
same in all three: backend/requirements.txt (what the PaaS and the image install), then
requirements-run.txt (it and Hugo: `make install-run`), then requirements-dev.txt (those and the
test, lint and benchmark tools: `make install`). They are compiled for backend/.python-version's
Python, the one the PaaS runs; the hashes cover every file of a version (every platform's wheels and
the sdist), so the same lock installs on Linux x86_64 and aarch64 and on macOS.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

REPO_DIR = Path(__file__).resolve().parent.parent
PYTHON_VERSION_FILE = REPO_DIR / "backend" / ".python-version"
FIX_HINT = "run `make lock`"
UV_INSTALL_HINT = "uv compiles the locks: it is in requirements-dev.txt, run `make install`"
HEADER_COMMAND_PREFIX = "#    "


@dataclass(frozen=True)
class Lock:
    source: str  # the .in, relative to the repository (as the lock's header names it)
    output: str  # the .txt compiled from it


# In compile order: each .in constrains itself (-c) to the lock before it.
LOCKS = (
    Lock("backend/requirements.in", "backend/requirements.txt"),
    Lock("requirements-run.in", "requirements-run.txt"),
    Lock("requirements-dev.in", "requirements-dev.txt"),
)


class LockError(Exception):
    """A lock that disagrees with its .in (or with the lock it builds on); the message says which."""


def python_version(root: Path = REPO_DIR) -> str:
    return (root / PYTHON_VERSION_FILE.relative_to(REPO_DIR)).read_text().strip()


def compile_arguments(lock: Lock, root: Path = REPO_DIR) -> list[str]:
    """`uv pip compile`'s arguments for ``lock``; uv writes them into the lock's header, which the check reads back."""
    return [
        "pip",
        "compile",
        "--generate-hashes",
        "--python-version",
        python_version(root),
        # A uv.toml of this machine's (another index, other defaults) stays out of the locks.
        "--no-config",
        lock.source,
        "-o",
        lock.output,
    ]


def header_command(lock: Lock, root: Path = REPO_DIR) -> str:
    return shlex.join(["uv", *compile_arguments(lock, root)])


# --- reading the files -----------------------------------------------------------------------------

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


def direct_requirements(source: Path, root: Path = REPO_DIR) -> dict[str, str]:
    """The .in's requirements and those of the .in files it includes (-r), name to pinned version;
    a requirement without an exact pin maps to "" (the check then names it)."""
    pins: dict[str, str] = {}
    for raw in source.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#") or line.startswith(("-c ", "--constraint")):
            continue
        if line.startswith(("-r ", "--requirement")):
            pins.update(direct_requirements(root / line.split(maxsplit=1)[1], root))
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise LockError(f"{source.relative_to(root)}: cannot read {line!r} ({error})") from error
        specifiers = list(requirement.specifier)
        exact = specifiers[0].version if len(specifiers) == 1 and specifiers[0].operator == "==" else ""
        pins[canonicalize_name(requirement.name)] = exact
    return pins


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    hashed: bool


def locked_packages(text: str) -> Iterator[LockedPackage]:
    """Each requirement of a compiled lock: its name line and the --hash continuation lines after it."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    for entry in entries:
        match = PIN.match(entry)
        if match:
            yield LockedPackage(canonicalize_name(match["name"]), match["version"], "--hash=sha256:" in entry)
        elif entry.strip() and not entry.lstrip().startswith("#"):
            yield LockedPackage(entry.split()[0], "", False)


def read_header_command(text: str) -> str:
    for line in text.splitlines():
        if line.startswith(HEADER_COMMAND_PREFIX + "uv "):
            return line[len(HEADER_COMMAND_PREFIX) :].strip()
    return ""


# --- the check -------------------------------------------------------------------------------------


def lock_problems(lock: Lock, built_on: dict[str, str], root: Path = REPO_DIR) -> tuple[list[str], dict[str, str]]:
    """What is wrong with ``lock`` (each a sentence), and its pins for the lock built on it."""
    output = root / lock.output
    if not output.is_file():
        return [f"{lock.output} is missing"], {}
    text = output.read_text()
    problems = []
    if read_header_command(text) != header_command(lock, root):
        problems.append(
            f"{lock.output}: its header's command is {read_header_command(text)!r}, not `make lock`'s "
            f"{header_command(lock, root)!r}"
        )
    packages = list(locked_packages(text))
    pins = {package.name: package.version for package in packages}
    for package in packages:
        if not package.version:
            problems.append(f"{lock.output}: {package.name!r} is not pinned with ==")
        elif not package.hashed:
            problems.append(f"{lock.output}: {package.name}=={package.version} has no hash")
    for name, version in direct_requirements(root / lock.source, root).items():
        if not version:
            problems.append(f"{lock.source}: {name} is not pinned with == (every direct requirement is)")
        elif pins.get(name) != version:
            locked = f"{name}=={pins[name]}" if name in pins else "nothing"
            problems.append(f"{lock.source} asks for {name}=={version}, {lock.output} has {locked}")
    for name, version in built_on.items():
        if pins.get(name) != version:
            locked = f"{name}=={pins[name]}" if name in pins else "nothing"
            problems.append(f"{lock.output} has {locked} where the lock it builds on has {name}=={version}")
    return problems, pins


def check_locks(root: Path = REPO_DIR) -> list[str]:
    """Every problem of every lock under ``root`` (the repository), in compile order."""
    problems: list[str] = []
    built_on: dict[str, str] = {}
    for lock in LOCKS:
        lock_problems_found, built_on = lock_problems(lock, built_on, root)
        problems += lock_problems_found
    return problems


# --- compiling ---------------------------------------------------------------------------------------


def find_uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        raise SystemExit(f"uv is missing: {UV_INSTALL_HINT}") from None
    return find_uv_bin()


def compile_locks(extra_arguments: list[str]) -> None:
    uv = find_uv()
    for lock in LOCKS:
        print(f"==> {header_command(lock)}", flush=True)
        # --quiet: the lock goes to its file only (uv leaves --quiet and --upgrade out of the header).
        subprocess.run([uv, *compile_arguments(lock), "--quiet", *extra_arguments], cwd=REPO_DIR, check=True)
        pinned = len(list(locked_packages((REPO_DIR / lock.output).read_text())))
        print(f"    {lock.output}: {pinned} packages pinned and hashed", flush=True)


def main(argv: list[str] | None = None, root: Path = REPO_DIR) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="check the locks against their .in files (offline)")
    parser.add_argument("--upgrade", action="store_true", help="take the newest version of every transitive pin")
    arguments = parser.parse_args(argv)
    if arguments.check:
        problems = check_locks(root)
        for problem in problems:
            print(problem)
        if problems:
            print(f"The locks disagree with their .in files: {FIX_HINT}.")
            return 1
        print(f"{len(LOCKS)} locks agree with their .in files.")
        return 0
    compile_locks(["--upgrade"] if arguments.upgrade else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
