"""What the doctor reports (scripts/doctor.py, scripts/doctor_live.py): findings, and how to fix a
backend setting on its platform.

A ``Finding`` is one line of the report: its level, a stable check id (``site.base_url``,
``travis.fqdn``, ``backend.allowed_origins``, ``live.cors`` ...: tests and people grep for
them), what was found and how to fix it. Check functions return findings and print nothing.
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

HEROKU_APP_SUFFIX = ".herokuapp.com"
# Hosts of the platforms whose disk is wiped on each deploy or restart (SQLite loses everything).
EPHEMERAL_DISK_HOST_SUFFIXES = (HEROKU_APP_SUFFIX, ".fly.dev", ".onrender.com", ".railway.app")
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")


def progress(message: str) -> None:
    """Progress of slow steps goes to stderr, so stdout holds only the report."""
    print(f"[doctor] {message}", file=sys.stderr, flush=True)


class Level(StrEnum):
    OK = "ok"
    SKIP = "skip"  # not checked, and the line says why (no --env-file, backend unreachable ...)
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str  # stable id, e.g. "travis.fqdn"
    message: str  # what was found
    fix: str = ""  # how to fix it: the file and key, or the command; empty when nothing to do


def ok(check: str, message: str) -> Finding:
    return Finding(Level.OK, check, message)


def skip(check: str, message: str, fix: str = "") -> Finding:
    return Finding(Level.SKIP, check, message, fix)


def warn(check: str, message: str, fix: str) -> Finding:
    return Finding(Level.WARN, check, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(Level.FAIL, check, message, fix)


CHECK_COLUMN_CHARS = 26


def format_finding(finding: Finding) -> str:
    """One line: level, check id, what was found, and (when there is something to do) the fix."""
    line = f"{finding.level.value:<4} {finding.check:<{CHECK_COLUMN_CHARS}} {finding.message}"
    if finding.fix:
        line += f" -> fix: {finding.fix}"
    return line


def summary_line(findings: Iterable[Finding]) -> str:
    counts = Counter(finding.level for finding in findings)
    parts = f"{counts[Level.OK]} ok, {counts[Level.WARN]} WARN, {counts[Level.FAIL]} FAIL, {counts[Level.SKIP]} skipped"
    if counts[Level.FAIL]:
        return f"doctor: {parts}. Fix the FAIL lines (each says how) and run the doctor again."
    if counts[Level.WARN]:
        return f"doctor: {parts}. Nothing blocks the deploy; the WARN lines say what to improve."
    return f"doctor: {parts}. All good."


def exit_status(findings: Iterable[Finding]) -> int:
    return 1 if any(finding.level is Level.FAIL for finding in findings) else 0


def is_loopback(host: str | None) -> bool:
    """localhost, 127.0.0.0/8, ::1 (and 0.0.0.0, a listening address that is no site's host)."""
    if not host:
        return False
    host = host.lower().strip("[]")
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.") or host.endswith(".localhost")


def is_placeholder_host(host: str) -> bool:
    """example.com and friends (RFC 2606), or a name like backchannel-example.herokuapp.com."""
    host = host.lower()
    if any(host == domain or host.endswith("." + domain) for domain in PLACEHOLDER_DOMAINS):
        return True
    first_label = host.split(".", 1)[0]
    return first_label == "example" or first_label.endswith("-example") or first_label.startswith("example-")


def heroku_app_from_host(host: str | None) -> str | None:
    """The app in ``<app>.herokuapp.com``. (Newer apps' hosts carry a random suffix after the
    name, ``<app>-1a2b3c4d5e6f.herokuapp.com``; the name is then not recoverable from the host.)"""
    if host and host.lower().endswith(HEROKU_APP_SUFFIX):
        return host.lower()[: -len(HEROKU_APP_SUFFIX)] or None
    return None


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` as a browser sends it in Origin (lower case, default
    port left out), or None when the URL has no scheme or host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class BackendPlatform:
    """How to change the backend's environment, for fix messages: ``heroku config:set ... -a APP``
    when the app is known (the Travis heroku deploy's ``app``, or a ``*.herokuapp.com`` backend
    host), else a plain sentence."""

    heroku_app: str | None = None

    def set_command(self, key: str, value: str, *, quote: bool = True) -> str:
        """``quote=False`` leaves a ``$(...)`` in ``value`` for the shell to run."""
        assignment = f"{key}={shlex.quote(value) if quote else value}"
        if self.heroku_app:
            return f"heroku config:set {assignment} -a {self.heroku_app}"
        return f"set {assignment} in the backend's environment (Heroku: heroku config:set {assignment} -a <app>)"

    def unset_command(self, key: str) -> str:
        if self.heroku_app:
            return f"heroku config:unset {key} -a {self.heroku_app}"
        return f"remove {key} from the backend's environment (Heroku: heroku config:unset {key} -a <app>)"

    def addon_command(self, addon: str) -> str:
        if self.heroku_app:
            return f"heroku addons:create {addon} -a {self.heroku_app}"
        return f"heroku addons:create {addon} -a <app> (or your platform's equivalent)"

    def logs_command(self) -> str:
        app = self.heroku_app or "<app>"
        return f"heroku ps -a {app}; heroku logs --tail -a {app}"


@dataclass(frozen=True)
class Deployment:
    """What the checks compare against: the site's origin and host (config.toml's baseURL), the
    backend's host (its backend_url) and where the backend runs (for fix commands)."""

    site_origin: str | None
    site_host: str | None
    backend_host: str | None
    platform: BackendPlatform
