"""The doctor's checks of the backend's environment (scripts/doctor.py --env-file FILE).

The settings come from a KEY=VALUE file (``heroku config --shell -a APP`` prints one; "-" reads
standard input), never from the doctor's own environment. Checked: SECRET_KEY, DEBUG off,
ALLOWED_ORIGINS holding the site's origin exactly (a near miss, such as a trailing slash, http or
www., is named), ALLOWED_HOSTS admitting the backend's host, DATABASE_URL on PostgreSQL,
REDIS_URL, and `manage.py check --deploy` run in a subprocess with exactly those settings and
DEBUG off. Values are never printed: URLs are shown as scheme://host only.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from backchannel import setting_specs
from backchannel.env import FALSE_WORDS, TRUE_WORDS, origin_problem  # the backend's own rules, not copies
from backchannel.setting_specs import DEVELOPMENT_SECRET_KEY
from scripts.doctor_findings import (
    EPHEMERAL_DISK_HOST_SUFFIXES,
    BackendPlatform,
    Deployment,
    Finding,
    fail,
    ok,
    origin_of,
    skip,
    warn,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECK_DEPLOY_TIMEOUT_SECS = 120
SECRET_KEY_MIN_CHARS = 50  # what Django's check --deploy asks for (security.W009)
NEW_SECRET_KEY_COMMAND = "$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
# Environment variables the check --deploy subprocess takes from the doctor's own environment;
# everything else comes from the env file, so the developer's shell cannot leak into the check.
PASSED_THROUGH_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")


@dataclass(frozen=True)
class BackendEnv:
    source: str  # the file's path, or "standard input"
    values: Mapping[str, str] = field(default_factory=dict)
    ignored_line_numbers: tuple[int, ...] = ()
    problem: str | None = None  # why the file could not be read


@dataclass(frozen=True)
class DeployCheckResult:
    """What `manage.py check --deploy` printed and its exit status (None: it did not run)."""

    returncode: int | None
    output: str


def parse_env_text(text: str) -> tuple[dict[str, str], list[int]]:
    """KEY=VALUE lines (``export`` allowed, # comments, values optionally shell-quoted, as
    `heroku config --shell` prints them); returns the values and the numbers of unreadable lines."""
    values: dict[str, str] = {}
    ignored: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, separator, value = stripped.partition("=")
        key = key.strip()
        if not separator or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            ignored.append(number)
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            try:
                words = shlex.split(value)
            except ValueError:
                ignored.append(number)
                continue
            value = words[0] if len(words) == 1 else value
        values[key] = value
    return values, ignored


def load_backend_env(env_file: str) -> BackendEnv:
    source = "standard input" if env_file == "-" else env_file
    try:
        text = sys.stdin.read() if env_file == "-" else Path(env_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return BackendEnv(source=source, problem=f"cannot read {source}: {error}")
    values, ignored = parse_env_text(text)
    return BackendEnv(source=source, values=values, ignored_line_numbers=tuple(ignored))


def backend_dir_for(repo: Path) -> Path:
    """The checked repository's backend/, else the doctor's own (the same code, as a rule)."""
    return repo / "backend" if (repo / "backend" / "manage.py").is_file() else REPO_ROOT / "backend"


def run_check_deploy(values: Mapping[str, str], backend_dir: Path) -> DeployCheckResult:
    """`manage.py check --deploy` with exactly these settings and DEBUG off, as production runs."""
    env = {key: os.environ[key] for key in PASSED_THROUGH_VARIABLES if key in os.environ}
    env.update({key: value for key, value in values.items() if key not in PASSED_THROUGH_VARIABLES})
    env.update({"DEBUG": "0", "DJANGO_SETTINGS_MODULE": "backchannel.settings", "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy"],
            cwd=backend_dir, env=env, capture_output=True, text=True, timeout=CHECK_DEPLOY_TIMEOUT_SECS,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return DeployCheckResult(returncode=None, output=str(error))
    return DeployCheckResult(returncode=result.returncode, output=redacted(result.stdout + result.stderr, values))


def redacted(text: str, values: Mapping[str, str]) -> str:
    """``text`` without SECRET_KEY's value and the passwords in URL values (a settings error may
    quote a malformed DATABASE_URL whole)."""
    secrets = [values.get("SECRET_KEY", "")]
    for value in values.values():
        for item in value.split(","):
            try:
                secrets.append(urlsplit(item.strip()).password or "")
            except ValueError:
                continue
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# --- Checks: the backend's environment -----------------------------------------------------------


def check_backend_env(env: BackendEnv, deployment: Deployment) -> list[Finding]:
    if env.problem:
        return [
            fail(
                "backend.env_file",
                env.problem,
                "write the backend's settings to a file first, e.g. "
                f"heroku config --shell -a {deployment.platform.heroku_app or '<app>'} > backend.env",
            )
        ]
    findings = [ok("backend.env_file", f"{len(env.values)} variables read from {env.source} (values not shown)")]
    if env.ignored_line_numbers:
        lines = ", ".join(str(number) for number in env.ignored_line_numbers)
        findings = [
            warn(
                "backend.env_file",
                f"{env.source}: line(s) {lines} are not KEY=VALUE and were ignored",
                f"fix or remove those lines in {env.source}",
            )
        ]
    values = env.values
    platform = deployment.platform
    findings.append(_check_secret_key(values, platform))
    findings.append(_check_debug(values, platform))
    findings.append(check_allowed_origins(values.get("ALLOWED_ORIGINS"), deployment.site_origin, platform))
    findings.append(check_allowed_hosts(values.get("ALLOWED_HOSTS"), deployment.backend_host, platform))
    findings.append(_check_database_url(values.get("DATABASE_URL"), deployment))
    findings.append(_check_redis_url(values.get("REDIS_URL"), platform))
    findings.append(check_redis_tls_verify(values, platform))
    findings.append(check_trusted_proxy_hops(values.get("TRUSTED_PROXY_HOPS"), platform))
    return findings


def check_redis_tls_verify(values: Mapping[str, str], platform: BackendPlatform) -> Finding:
    """Heroku Redis serves rediss:// with a self-signed certificate, which verification refuses."""
    urls = [url.strip() for url in values.get("REDIS_URL", "").split(",") if url.strip()]
    raw = values.get(setting_specs.REDIS_TLS_VERIFY.name)
    verify = setting_specs.REDIS_TLS_VERIFY.default if raw is None else raw.strip().lower() not in FALSE_WORDS
    if not any(url.startswith("rediss://") for url in urls):
        return ok("backend.redis_tls", "no rediss:// URL: nothing to verify")
    if verify and platform.heroku_app:
        return warn(
            "backend.redis_tls",
            "REDIS_URL is rediss:// and REDIS_TLS_VERIFY is on: Heroku Redis's "
            "certificate is self-signed, so the channel layer cannot connect (/healthz: channel_layer error)",
            platform.set_command("REDIS_TLS_VERIFY", "0"),
        )
    state = "verified" if verify else "not verified (REDIS_TLS_VERIFY=0)"
    return ok("backend.redis_tls", f"Redis over TLS, certificate {state}")


def check_trusted_proxy_hops(raw: str | None, platform: BackendPlatform) -> Finding:
    """Behind a PaaS router the TCP peer is the router: without TRUSTED_PROXY_HOPS every visitor
    shares one address, so per-address limits hit everyone and a ban bans the router."""
    hops = (raw or str(setting_specs.TRUSTED_PROXY_HOPS.default)).strip()
    if not hops.isdigit():
        return fail(
            "backend.trusted_proxy_hops",
            f"TRUSTED_PROXY_HOPS={raw!r} is not a whole number: the backend refuses to start",
            platform.set_command("TRUSTED_PROXY_HOPS", "1"),
        )
    if hops == "0":
        return warn(
            "backend.trusted_proxy_hops",
            "TRUSTED_PROXY_HOPS is 0: behind a platform's router every visitor "
            "would share the router's address (per-address limits and bans would hit everyone)",
            platform.set_command("TRUSTED_PROXY_HOPS", "1") + " (1 proxy: Heroku's or Render's router, or one nginx)",
        )
    return ok("backend.trusted_proxy_hops", f"TRUSTED_PROXY_HOPS={hops}: visitors' addresses come from X-Forwarded-For")


def _check_secret_key(values: Mapping[str, str], platform: BackendPlatform) -> Finding:
    secret_key = values.get("SECRET_KEY", "").strip()
    fix = platform.set_command("SECRET_KEY", NEW_SECRET_KEY_COMMAND, quote=False)
    if not secret_key:
        return fail("backend.secret_key", "SECRET_KEY is not set: the backend refuses to start with DEBUG off", fix)
    if secret_key == DEVELOPMENT_SECRET_KEY:
        return fail(
            "backend.secret_key", "SECRET_KEY is the development key from settings.py: tokens can be forged", fix
        )
    if len(secret_key) < SECRET_KEY_MIN_CHARS or len(set(secret_key)) < 5 or secret_key.startswith("django-insecure-"):
        return warn(
            "backend.secret_key",
            f"SECRET_KEY is weak ({len(secret_key)} characters; Django asks for {SECRET_KEY_MIN_CHARS}+ varied ones)",
            fix,
        )
    return ok("backend.secret_key", f"SECRET_KEY is set ({len(secret_key)} characters, not shown)")


def _check_debug(values: Mapping[str, str], platform: BackendPlatform) -> Finding:
    raw = values.get("DEBUG")
    word = (raw or "").strip().lower()
    if raw is None or word in FALSE_WORDS:
        return ok("backend.debug", "DEBUG is off" + ("" if raw is None else f" (DEBUG={raw})"))
    if word in TRUE_WORDS:
        return fail(
            "backend.debug",
            f"DEBUG={raw}: error pages would show settings and code to anyone, and the "
            "https and HSTS protections are off",
            platform.unset_command("DEBUG"),
        )
    return fail(
        "backend.debug",
        f"DEBUG={raw!r} is not a boolean: the backend refuses to start",
        platform.unset_command("DEBUG"),
    )


def origin_near_miss(entry: str, site_origin: str) -> str | None:
    """How ``entry`` misses ``site_origin`` when it is evidently meant for the same site (a
    trailing slash, http for https, www., case, an explicit default port), else None."""
    entry = entry.strip()
    canonical = origin_of(entry)
    if canonical is None or canonical == entry == site_origin:
        return None
    entry_parts, site_parts = urlsplit(canonical), urlsplit(site_origin)

    def bare(host: str | None) -> str:
        host = host or ""
        return host[4:] if host.startswith("www.") else host

    if bare(entry_parts.hostname) != bare(site_parts.hostname) or entry_parts.port != site_parts.port:
        return None
    differences = []
    raw = urlsplit(entry)
    if raw.path or raw.query or raw.fragment:
        differences.append("a trailing slash" if raw.path == "/" else f"a path ({raw.path})")
    if entry_parts.scheme != site_parts.scheme:
        differences.append(f"{entry_parts.scheme}:// instead of {site_parts.scheme}://")
    if entry_parts.hostname != site_parts.hostname:
        differences.append(
            "www. where the site has none"
            if (entry_parts.hostname or "").startswith("www.")
            else "no www. where the site has it"
        )
    if entry != entry.lower():
        differences.append("upper-case letters (browsers send lower case)")
    if entry_parts.port is None and raw.port is not None:
        differences.append(f"the default port :{raw.port} (browsers leave it out)")
    return ", ".join(differences) if differences else None


def check_allowed_origins(raw: str | None, site_origin: str | None, platform: BackendPlatform) -> Finding:
    if site_origin is None:
        return skip("backend.allowed_origins", "not compared: config.toml's baseURL has no public origin")
    if raw is None or not raw.strip():
        return fail(
            "backend.allowed_origins",
            "ALLOWED_ORIGINS is not set: the backend allows only "
            "http://localhost:1313 and http://127.0.0.1:1313, so every visitor's socket is refused (403)",
            platform.set_command("ALLOWED_ORIGINS", site_origin),
        )
    entries = [item.strip() for item in raw.split(",") if item.strip()]
    if site_origin in entries:
        others = len(entries) - 1
        return ok(
            "backend.allowed_origins",
            f"ALLOWED_ORIGINS holds {site_origin}"
            + (f" (and {others} other origin{'s' if others > 1 else ''})" if others else ""),
        )
    near_misses = {entry: origin_near_miss(entry, site_origin) for entry in entries}
    near_misses = {entry: how for entry, how in near_misses.items() if how}
    kept = [entry for entry in entries if entry not in near_misses and origin_problem(entry) is None]
    fix = platform.set_command("ALLOWED_ORIGINS", ",".join([*kept, site_origin]))
    if near_misses:
        described = "; ".join(f"{entry!r} has {how}" for entry, how in near_misses.items())
        return fail(
            "backend.allowed_origins",
            f"ALLOWED_ORIGINS lacks the site's origin {site_origin} exactly: "
            f"{described}; browsers send exactly {site_origin}",
            fix,
        )
    malformed = [f"{entry!r} {origin_problem(entry)}" for entry in entries if origin_problem(entry)]
    found = f" (it holds {', '.join(entries)})" if entries else ""
    problem = f"; also, {'; '.join(malformed)} (the backend refuses to start)" if malformed else ""
    return fail("backend.allowed_origins", f"ALLOWED_ORIGINS on the backend lacks {site_origin}{found}{problem}", fix)


def host_allowed(host: str, patterns: Iterable[str]) -> str | None:
    """The ALLOWED_HOSTS entry that admits ``host`` (Django's rule: exact, ``.domain`` for the
    domain and its subdomains, ``*`` for anything), or None."""
    host = host.lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == "*" or pattern == host:
            return pattern
        if pattern.startswith(".") and (host == pattern[1:] or host.endswith(pattern)):
            return pattern
    return None


def check_allowed_hosts(raw: str | None, backend_host: str | None, platform: BackendPlatform) -> Finding:
    if backend_host is None:
        return skip("backend.allowed_hosts", "not compared: config.toml's backend_url has no public host")
    if raw is None or not raw.strip():
        return fail(
            "backend.allowed_hosts",
            f"ALLOWED_HOSTS is not set: with DEBUG off Django answers only "
            f"localhost and 127.0.0.1, so every request to {backend_host} gets 400",
            platform.set_command("ALLOWED_HOSTS", backend_host),
        )
    entries = [item.strip() for item in raw.split(",") if item.strip()]
    match = host_allowed(backend_host, entries)
    if match == "*":
        return warn(
            "backend.allowed_hosts",
            "ALLOWED_HOSTS is *: the backend answers any Host header",
            platform.set_command("ALLOWED_HOSTS", backend_host),
        )
    if match is None:
        return fail(
            "backend.allowed_hosts",
            f"ALLOWED_HOSTS ({', '.join(entries)}) lacks the backend's host "
            f"{backend_host}: Django answers 400 to its requests",
            platform.set_command("ALLOWED_HOSTS", ",".join([*entries, backend_host])),
        )
    return ok(
        "backend.allowed_hosts",
        f"ALLOWED_HOSTS admits {backend_host}" + ("" if match == backend_host else f" (through {match})"),
    )


def describe_url(url: str) -> str:
    """scheme://host of a URL, without the user, password and path (they may be secret)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" if parts.hostname else f"{parts.scheme}:..."
    except ValueError:
        return "(malformed URL)"


# dj-database-url's schemes for Django's MySQL backend (MariaDB included).
MYSQL_SCHEMES = ("mysql", "mysql2")


def _check_database_url(raw: str | None, deployment: Deployment) -> Finding:
    platform = deployment.platform
    parts = urlsplit(raw.strip()) if raw and raw.strip() else None
    try:
        if parts is not None:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return fail(
            "backend.database_url",
            "DATABASE_URL is malformed (its port is not a number): the backend refuses to start",
            "copy it again from the database's settings (heroku config:get DATABASE_URL)",
        )
    scheme = parts.scheme.lower() if parts else "sqlite"
    if scheme.startswith("postgres") or scheme in ("pgsql", "postgis"):
        return ok("backend.database_url", f"DATABASE_URL is PostgreSQL ({describe_url(raw)})")
    if scheme in MYSQL_SCHEMES:
        return ok(
            "backend.database_url",
            f"DATABASE_URL is MySQL/MariaDB ({describe_url(raw)}); its database must "
            "be utf8mb4 (the backend refuses to start otherwise: check backchannel.E010)",
        )
    if scheme == "sqlite":
        found = "DATABASE_URL is not set (SQLite in backend/db.sqlite3)" if not raw else "DATABASE_URL is SQLite"
        fix = platform.addon_command("heroku-postgresql:essential-0") + " (it sets DATABASE_URL)"
        host = deployment.backend_host or ""
        if platform.heroku_app or host.endswith(EPHEMERAL_DISK_HOST_SUFFIXES):
            return fail(
                "backend.database_url",
                f"{found}: the platform's disk is wiped on every deploy and restart, "
                "taking every room's history, ban and staff account with it",
                fix,
            )
        return warn(
            "backend.database_url",
            f"{found}: fine on one machine with a lasting disk, lost on a PaaS "
            "(every deploy starts from an empty disk)",
            fix,
        )
    return warn(
        "backend.database_url",
        f"DATABASE_URL is {scheme} ({describe_url(raw)}): only SQLite, PostgreSQL and MySQL/MariaDB are tested",
        "use PostgreSQL: " + platform.addon_command("heroku-postgresql:essential-0"),
    )


def _check_redis_url(raw: str | None, platform: BackendPlatform) -> Finding:
    fix = platform.addon_command("heroku-redis:mini") + " (it sets REDIS_URL)"
    if raw is None or not raw.strip():
        return warn(
            "backend.redis_url",
            "REDIS_URL is not set: the in-memory channel layer serves one process only "
            "(a second dyno would split every room in two)",
            fix,
        )
    urls = [item.strip() for item in raw.split(",") if item.strip()]
    bad = [describe_url(url) for url in urls if urlsplit(url).scheme not in ("redis", "rediss", "unix")]
    if bad:
        return fail("backend.redis_url", f"REDIS_URL holds {', '.join(bad)}: not a redis:// or rediss:// URL", fix)
    shards = f", {len(urls)} shards" if len(urls) > 1 else ""
    return ok("backend.redis_url", f"REDIS_URL is {', '.join(describe_url(url) for url in urls)}{shards}")


# What to do about what `check --deploy` reports: the backend's settings default every security
# setting to its safe value, so the fix is mostly to remove the variable that overrides it.
CHECK_ID_VARIABLES = {
    "security.W004": "SECURE_HSTS_SECONDS",
    "security.W005": "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "security.W008": "SECURE_SSL_REDIRECT",
    "security.W021": "SECURE_HSTS_PRELOAD",
    "security.W018": "DEBUG",
}
CHECK_MESSAGE = re.compile(r"^(?P<object>[^\n]*?): \((?P<id>[\w.]+\.[CEWID]\d+)\) (?P<text>.*)$")


def check_deploy_findings(result: DeployCheckResult, deployment: Deployment) -> list[Finding]:
    platform = deployment.platform
    if result.returncode is None:
        return [
            fail(
                "backend.check_deploy",
                f"manage.py check --deploy did not run: {result.output}",
                "run `make install`, then the doctor again",
            )
        ]
    messages: list[tuple[str, str, str]] = []  # (id, text, hint)
    for line in result.output.splitlines():
        if match := CHECK_MESSAGE.match(line):
            messages.append((match["id"], match["text"].strip(), ""))
        elif line.startswith("\tHINT: ") and messages:
            check_id, text, _ = messages[-1]
            messages[-1] = (check_id, text, line.removeprefix("\tHINT: ").strip())
    if not messages and result.returncode != 0:
        refused = re.findall(r"ImproperlyConfigured: (.*)", result.output)
        found = refused[-1] if refused else (result.output.strip().splitlines() or ["no output"])[-1]
        return [
            fail(
                "backend.check_deploy",
                f"the backend refuses to start with these settings: {found}",
                "fix the setting it is about (the backend.* lines above say how for each variable)",
            )
        ]
    if not messages:
        return [ok("backend.check_deploy", "manage.py check --deploy with these settings: no issues")]
    findings = []
    for check_id, text, hint in messages:
        variable = CHECK_ID_VARIABLES.get(check_id)
        if variable:
            fix = f"{platform.unset_command(variable)} (the backend's default is the safe value)"
        elif check_id == "security.W009":
            fix = "set a new SECRET_KEY (see backend.secret_key)"
        elif check_id == "security.W020":
            fix = "set ALLOWED_HOSTS (see backend.allowed_hosts)"
        elif check_id == "backchannel.W001":
            fix = platform.addon_command("heroku-redis:mini") + " (it sets REDIS_URL)"
        elif check_id.startswith("backchannel.E00") and deployment.site_origin:
            fix = platform.set_command("ALLOWED_ORIGINS", deployment.site_origin)
        else:
            fix = hint or "see Django's deployment checklist for this check id"
        # Security warnings fail: the project's own tests keep check --deploy clean in production.
        serious = check_id.split(".")[-1][0] in "CE" or check_id.startswith("security.")
        finding = fail if serious else warn
        findings.append(finding("backend.check_deploy", f"check --deploy: ({check_id}) {text}", fix))
    return findings
