"""The doctor's live checks against a real daphne and the real Hugo build served over HTTP
(127.0.0.1, free ports), run as a person runs them: `python -m scripts.doctor` in a subprocess.

One backend allows the site's origin: every live check passes. Then seeded breakage: the same
site served from an origin the backend does not allow (CORS and the WebSocket FAIL, naming the
ALLOWED_ORIGINS fix), and a backend URL where nothing listens (health FAILs at once, the rest is
skipped). The outputs of a good and a broken run are kept in artifacts/doctor-good.txt and
artifacts/doctor-broken.txt.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from backchannel import __version__
from scripts.processes import (
    free_port,
    loopback_backend_env,
    migrate,
    serve_directory,
    start_daphne,
    stop_process,
)
from scripts.site import build_site
from tests.doctor.seeded import GOOD, GOOD_ENV, SITE_HOST, SITE_ORIGIN, with_travis

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
LIVE_TIMEOUT_SECS = 3  # per network step; everything here is on loopback
LIVE_CHECKS = (
    "live.site",
    "live.site_csp",
    "live.health",
    "live.cors",
    "live.cors_foreign",
    "live.websocket",
    "live.websocket_foreign",
    "live.round_trip",
)


@dataclass(frozen=True)
class LiveDeployment:
    site_url: str  # served from the origin the backend allows
    other_site_url: str  # the same files, from an origin the backend does not allow
    backend_url: str  # ws://127.0.0.1:<port>
    good_repo: Path  # a seeded good configuration (tests/doctor/seeded.py)
    broken_repo: Path
    broken_env_file: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> LiveDeployment:
    work_dir = tmp_path_factory.mktemp("doctor-live")
    site_port, other_site_port, backend_port = free_port(), free_port(), free_port()
    site_origin = f"http://127.0.0.1:{site_port}"
    env = loopback_backend_env(site_origin, work_dir / "db.sqlite3", unlimited_messages=False)
    migrate(env)
    daphne = start_daphne(port=backend_port, env=env, log_path=ARTIFACTS_DIR / f"doctor-daphne-{backend_port}.log")
    servers = []
    try:
        backend_url = f"ws://127.0.0.1:{backend_port}"
        public_dir = build_site(backend_url, work_dir / "public", f"{site_origin}/")
        servers = [serve_directory(public_dir, port=site_port), serve_directory(public_dir, port=other_site_port)]
        good_repo, _ = GOOD.write(work_dir / "good")
        broken = replace(
            with_travis(f"fqdn: {SITE_HOST}", "fqdn: chat.someone-else.org"),
            env={**GOOD_ENV, "ALLOWED_ORIGINS": f"{SITE_ORIGIN}/", "DEBUG": "1"},
        )
        broken_repo, broken_env_file = broken.write(work_dir / "broken")
        yield LiveDeployment(
            f"{site_origin}/",
            f"http://127.0.0.1:{other_site_port}/",
            backend_url,
            good_repo,
            broken_repo,
            broken_env_file,
        )
    finally:
        for server in servers:
            server.shutdown()
        stop_process(daphne, what="daphne")


def run_doctor(*arguments: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "scripts.doctor", "--default-branch", "main",
         "--timeout-secs", str(LIVE_TIMEOUT_SECS), *arguments],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return result, time.monotonic() - started


def lines_of(result: subprocess.CompletedProcess, check: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.split()[1:2] == [check]]


def save_artifact(name: str, result: subprocess.CompletedProcess, command: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    (ARTIFACTS_DIR / name).write_text(f"$ {command}\n{result.stdout}")


def test_every_live_check_passes_against_a_backend_that_allows_the_site(live):
    result, _ = run_doctor(
        "--repo", str(live.good_repo), "--site-url", live.site_url, "--backend-url", live.backend_url
    )
    save_artifact(
        "doctor-good.txt",
        result,
        f"python -m scripts.doctor --repo <seeded good configuration> --site-url {live.site_url} "
        f"--backend-url {live.backend_url}",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    for check in LIVE_CHECKS:
        assert lines_of(result, check) and all(line.startswith("ok ") for line in lines_of(result, check)), (
            check,
            result.stdout,
        )
    round_trip = lines_of(result, "live.round_trip")[0]
    assert "ack in" in round_trip and "message back in" in round_trip and " ms" in round_trip
    assert '"status": "ok"' in lines_of(result, "live.health")[0]  # the JSON is shown
    assert f"Backchannel {__version__}" in lines_of(result, "live.health")[0]  # and the version running
    assert "[doctor] GET" in result.stderr  # progress while waiting on the network


def test_a_site_origin_the_backend_does_not_allow_fails_cors_and_the_websocket(live):
    other_origin = live.other_site_url.rstrip("/")

    result, _ = run_doctor(
        "--repo",
        str(live.broken_repo),
        "--env-file",
        str(live.broken_env_file),
        "--site-url",
        live.other_site_url,
        "--backend-url",
        live.backend_url,
    )
    save_artifact(
        "doctor-broken.txt",
        result,
        f"python -m scripts.doctor --repo <seeded broken configuration> --env-file backend.env "
        f"--site-url {live.other_site_url} "
        f"--backend-url {live.backend_url}",
    )

    assert result.returncode == 1, result.stdout + result.stderr
    fix = f"ALLOWED_ORIGINS={other_origin}"
    for check in ("live.cors", "live.websocket"):
        [line] = lines_of(result, check)
        assert line.startswith("FAIL") and f"lacks {other_origin}" in line and f"fix: set {fix}" in line, line
    # The same build, so its CSP still names this backend; foreign origins stay refused.
    for check in ("live.site", "live.site_csp", "live.health", "live.cors_foreign", "live.websocket_foreign"):
        assert all(line.startswith("ok ") for line in lines_of(result, check)), (check, result.stdout)
    assert lines_of(result, "live.round_trip")[0].startswith("skip")
    # The offline problems of the seeded broken configuration are in the same report.
    for check in ("travis.fqdn", "backend.allowed_origins", "backend.debug"):
        assert lines_of(result, check)[0].startswith("FAIL"), (check, result.stdout)


def test_a_backend_url_where_nothing_listens_fails_health_at_once(live):
    nowhere = f"ws://127.0.0.1:{free_port()}"

    result, elapsed_secs = run_doctor(
        "--repo", str(live.good_repo), "--site-url", live.site_url, "--backend-url", nowhere
    )

    assert result.returncode == 1, result.stdout + result.stderr
    [health] = lines_of(result, "live.health")
    assert health.startswith("FAIL") and "the backend is unreachable" in health and "connection refused" in health
    assert "fix: is it running?" in health
    # The site was built for the real backend: its CSP says so.
    assert lines_of(result, "live.site_csp")[0].startswith("FAIL")
    for check in ("live.cors", "live.websocket", "live.round_trip"):
        assert lines_of(result, check)[0].startswith("skip"), (check, result.stdout)
    assert elapsed_secs < 3 * LIVE_TIMEOUT_SECS
