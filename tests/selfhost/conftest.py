"""The self-host set-up for real: the shipped deploy/selfhost/nginx.conf in a real nginx (Debian's
package), over TLS with a certificate made here, in front of a real daphne started with the shipped
unit's options and the shipped env example's settings, serving the Hugo-built site on one origin.

Nothing here writes a config of its own for the parts a site owner installs: the shipped files are
rendered (ports, paths and the certificate swapped in for their placeholders) and a rendering that
no longer finds a placeholder fails, so the tests cannot drift away from what is shipped. Only the
main nginx.conf around the site file is written here, as Debian's /etc/nginx/nginx.conf would be,
with every path in a temporary prefix: the system's nginx service and /etc/nginx are never used.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts.processes import (
    REPO_DIR,
    backend_env,
    free_port,
    migrate,
    run_manage,
    start_daphne,
    stop_process,
    wait_until,
)
from scripts.site import build_site
from tests.certificates import make_self_signed_certificate
from tests.e2e.support import visitor_pages
from tests.identity_client import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV

DEPLOY_DIR = REPO_DIR / "deploy" / "selfhost"
SHIPPED_NGINX_CONF = DEPLOY_DIR / "nginx.conf"
SHIPPED_UNIT = DEPLOY_DIR / "backchannel.service"
SHIPPED_ENV_EXAMPLE = DEPLOY_DIR / "backchannel.env.example"
ARTIFACTS_DIR = REPO_DIR / "artifacts"

NGINX_INSTALL_HINT = (
    "Install it with `sudo apt-get install nginx` (the tests run their own nginx on free loopback "
    "ports with a private prefix; the system's nginx service need not run), or set NGINX_PATH to "
    "an nginx binary."
)
# Debian's file; the site config relies on it as Debian's nginx.conf does.
MIME_TYPES = Path("/etc/nginx/mime.types")
# daphne's options the unit adds to the command every launcher uses (scripts/processes.py).
UNIT_EXTRA_DAPHNE_ARGS = ("--proxy-headers",)
# The shipped files' placeholders, as a site owner finds them.
PLACEHOLDER_HOST = "chat.example.com"
PLACEHOLDER_SECRET_KEY = "<generate>"
PLACEHOLDER_DATABASE_URL = "sqlite:////var/lib/backchannel/db.sqlite3"
NGINX_START_TIMEOUT_SECS = 15
NGINX_CONFIG_TEST_TIMEOUT_SECS = 30
MANAGE_TIMEOUT_SECS = 60


def nginx_executable() -> str:
    """NGINX_PATH, else Debian's nginx (in /usr/sbin, which a non-root PATH may lack); a missing
    nginx fails the run with the install command, never skips."""
    configured = os.environ.get("NGINX_PATH")
    candidates = [configured] if configured else [shutil.which("nginx"), "/usr/sbin/nginx"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    where = f"NGINX_PATH={configured!r} is not an executable" if configured else "no nginx on PATH or in /usr/sbin"
    pytest.fail(f"The self-host tests need nginx ({where}). {NGINX_INSTALL_HINT}", pytrace=False)


def replace_placeholder(text: str, placeholder: str, value: str, *, count: int, source: Path) -> str:
    """``text`` with ``placeholder`` replaced, which must occur exactly ``count`` times: a shipped
    file whose placeholders moved would otherwise be half-rendered and tested as something else."""
    found = text.count(placeholder)
    if found != count:
        pytest.fail(
            f"{source.relative_to(REPO_DIR)}: expected {placeholder!r} {count} time(s), found {found}. "
            f"The shipped file changed shape; update the rendering in {Path(__file__).relative_to(REPO_DIR)}.",
            pytrace=False,
        )
    return text.replace(placeholder, value)


def render_site_config(
    *,
    https_port: int,
    http_port: int,
    daphne_port: int,
    site_root: Path,
    acme_root: Path,
    certificate: Path,
    private_key: Path,
    backend_http_port: int | None = None,
) -> str:
    """The shipped site config for loopback: listens on 127.0.0.1 only (no IPv6 wildcard), the
    certificate made here, the built site, the test's daphne. ``backend_http_port``: where plain
    HTTP goes (the split layout's gunicorn); daphne's port when not given, as shipped."""
    text = SHIPPED_NGINX_CONF.read_text()
    backend_http_port = daphne_port if backend_http_port is None else backend_http_port
    for placeholder, value, count in (
        ("    listen [::]:80;\n", "", 1),
        ("    listen [::]:443 ssl http2;\n", "", 1),
        ("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", 1),
        (f"/etc/letsencrypt/live/{PLACEHOLDER_HOST}/fullchain.pem", str(certificate), 1),
        (f"/etc/letsencrypt/live/{PLACEHOLDER_HOST}/privkey.pem", str(private_key), 1),
        (f"server_name {PLACEHOLDER_HOST};", "server_name 127.0.0.1;", 2),
        ("root /srv/backchannel/public;", f"root {site_root};", 1),
        ("root /var/www/html;", f"root {acme_root};", 1),
        (
            "upstream backchannel_daphne {\n    server 127.0.0.1:8000;",
            f"upstream backchannel_daphne {{\n    server 127.0.0.1:{daphne_port};",
            1,
        ),
        (
            "upstream backchannel_http {\n    server 127.0.0.1:8000;",
            f"upstream backchannel_http {{\n    server 127.0.0.1:{backend_http_port};",
            1,
        ),
    ):
        text = replace_placeholder(text, placeholder, value, count=count, source=SHIPPED_NGINX_CONF)
    return text


def render_main_config(prefix: Path, site_config: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf is to the site file, with every path nginx writes to in
    ``prefix`` (not /var/lib/nginx or /var/log/nginx)."""
    # Started as root, nginx would run its workers as "nobody", who cannot read pytest's 0700 tmp
    # dirs; started as anyone else, its workers run as that user and a `user` line is ignored.
    user_line = "user root;" if os.geteuid() == 0 else ""
    return f"""\
{user_line}
worker_processes 1;
error_log {prefix / "error.log"} notice;

events {{
    worker_connections 512;
}}

http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    sendfile on;
    access_log {prefix / "access.log"};
    client_body_temp_path {prefix / "client-body"};
    proxy_temp_path {prefix / "proxy"};
    fastcgi_temp_path {prefix / "fastcgi"};
    uwsgi_temp_path {prefix / "uwsgi"};
    scgi_temp_path {prefix / "scgi"};

    include {site_config};
}}
"""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as systemd's EnvironmentFile= reads them (comments and blanks skipped)."""
    variables = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, separator, value = line.partition("=")
            assert separator, f"{path}: not KEY=value: {line!r}"
            variables[key.strip()] = value.strip()
    return variables


def unit_directives(name: str) -> list[str]:
    """The values of every ``name=`` line in the shipped unit."""
    prefix = f"{name}="
    return [line[len(prefix) :] for line in SHIPPED_UNIT.read_text().splitlines() if line.startswith(prefix)]


def render_backend_env(*, origin: str, database_path: Path) -> dict[str, str]:
    """The shipped env example with its placeholders filled in for this origin, plus the unit's own
    Environment= lines."""
    variables = read_env_file(SHIPPED_ENV_EXAMPLE)
    for key, placeholder, value in (
        ("SECRET_KEY", PLACEHOLDER_SECRET_KEY, secrets.token_urlsafe(50)),
        ("ALLOWED_HOSTS", PLACEHOLDER_HOST, "127.0.0.1"),
        ("ALLOWED_ORIGINS", f"https://{PLACEHOLDER_HOST}", origin),
        ("DATABASE_URL", PLACEHOLDER_DATABASE_URL, f"sqlite:///{database_path}"),
    ):
        if variables.get(key) != placeholder:
            pytest.fail(
                f"{SHIPPED_ENV_EXAMPLE.relative_to(REPO_DIR)}: expected {key}={placeholder}, found "
                f"{variables.get(key)!r}; update {Path(__file__).relative_to(REPO_DIR)}.",
                pytrace=False,
            )
        variables[key] = value
    for assignment in unit_directives("Environment"):
        key, _, value = assignment.partition("=")
        variables[key] = value
    return variables


def tls_client_context(certificate: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the test's certificate (and checks the host is 127.0.0.1)."""
    return ssl.create_default_context(cafile=str(certificate))


@dataclass(frozen=True)
class SelfHost:
    https_port: int
    http_port: int
    daphne_port: int
    daphne_log: Path
    nginx_prefix: Path
    nginx_command: tuple[str, ...] = field(repr=False)
    certificate: Path = field(repr=False)
    acme_root: Path = field(repr=False)
    backend_env: dict[str, str] = field(repr=False)

    @property
    def origin(self) -> str:
        """The one origin: the site, the API and the sockets."""
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def socket_url(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}/ws/"

    def room_url(self, room: str) -> str:
        return f"{self.origin}/room/?name={room}"

    def tls_context(self) -> ssl.SSLContext:
        return tls_client_context(self.certificate)

    def nginx_config_test(self) -> subprocess.CompletedProcess:
        """``nginx -t`` on the rendered config, as a site owner runs it before a reload."""
        return subprocess.run(
            [*self.nginx_command, "-t"], capture_output=True, text=True, timeout=NGINX_CONFIG_TEST_TIMEOUT_SECS
        )

    def manage(self, *arguments: str, env_overrides: dict[str, str] | None = None) -> str:
        """Run a manage.py command with the backend's settings (as the README's systemd-run line does)."""
        env = {**self.backend_env, **(env_overrides or {})}
        result = run_manage(env, *arguments, timeout_secs=MANAGE_TIMEOUT_SECS)
        assert result.returncode == 0, result.stderr
        return result.stdout


def https_answers_200(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


# Module scope: nginx and daphne stop when this suite is done, not at the end of a whole run.
@pytest.fixture(scope="module")
def self_host(tmp_path_factory) -> SelfHost:
    nginx = nginx_executable()
    if not MIME_TYPES.is_file():
        pytest.fail(f"{MIME_TYPES} is missing (it comes with nginx). {NGINX_INSTALL_HINT}", pytrace=False)
    work_dir = tmp_path_factory.mktemp("selfhost")
    https_port, http_port, daphne_port = free_port(), free_port(), free_port()
    origin = f"https://127.0.0.1:{https_port}"

    env = backend_env(
        {
            **render_backend_env(origin=origin, database_path=work_dir / "db.sqlite3"),
            # Cheap proof of work and no message limits: these tests are about the proxy in front;
            # tests/hostile and tests/backend hold the backend's limits to account.
            **TEST_IDENTITY_ENV,
            **UNLIMITED_MESSAGES_ENV,
        }
    )
    migrate(env)  # the unit's ExecStartPre
    daphne_log = ARTIFACTS_DIR / f"selfhost-daphne-{daphne_port}.log"
    daphne = start_daphne(port=daphne_port, env=env, log_path=daphne_log, extra_args=UNIT_EXTRA_DAPHNE_ARGS)

    nginx_process = None
    try:
        # One origin: the widget's socket and API are on the site's own host name.
        site_root = build_site(f"wss://127.0.0.1:{https_port}", work_dir / "public", f"{origin}/")
        acme_root = work_dir / "acme"
        acme_root.mkdir()
        tls = make_self_signed_certificate(work_dir, ["127.0.0.1"])
        certificate, private_key = tls.certificate, tls.private_key
        prefix = work_dir / "nginx"
        prefix.mkdir()
        site_config = prefix / "backchannel.conf"
        site_config.write_text(
            render_site_config(
                https_port=https_port,
                http_port=http_port,
                daphne_port=daphne_port,
                site_root=site_root,
                acme_root=acme_root,
                certificate=certificate,
                private_key=private_key,
            )
        )
        main_config = prefix / "nginx.conf"
        main_config.write_text(render_main_config(prefix, site_config))
        command = (nginx, "-p", str(prefix), "-c", str(main_config), "-e", str(prefix / "error.log"))
        pid_directive = f"pid {prefix / 'nginx.pid'};"
        self_host = SelfHost(
            https_port=https_port,
            http_port=http_port,
            daphne_port=daphne_port,
            daphne_log=daphne_log,
            nginx_prefix=prefix,
            nginx_command=(*command, "-g", pid_directive),
            certificate=certificate,
            acme_root=acme_root,
            backend_env=env,
        )

        config_test = self_host.nginx_config_test()
        if config_test.returncode != 0:
            pytest.fail(
                f"nginx -t refused the rendered deploy/selfhost/nginx.conf ({site_config}):\n{config_test.stderr}",
                pytrace=False,
            )
        # In the foreground, so that it is our child and is stopped by its own pid.
        nginx_process = subprocess.Popen(
            [*command, "-g", f"daemon off; {pid_directive}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        context = tls_client_context(certificate)
        wait_until(
            lambda: https_answers_200(f"{origin}/healthz", context),
            what=f"nginx on port {https_port}",
            process=nginx_process,
            log_path=prefix / "error.log",
            timeout_secs=NGINX_START_TIMEOUT_SECS,
        )
        yield self_host
    finally:
        if nginx_process is not None:
            stop_process(nginx_process, what="nginx")
        stop_process(daphne, what="daphne")


@pytest.fixture
def visitor_page(browser, self_host):
    """Pages in separate browser contexts (separate visitors) that accept the test's self-signed
    certificate, as a browser would a real one."""
    with visitor_pages(browser, ignore_https_errors=True) as open_page:
        yield open_page
