"""The doctor's offline checks (scripts/doctor.py): a good configuration passes, and each seeded
misconfiguration is found under its check id with a fix that names what to change.

No network: configurations are written into temporary directories (tests/doctor/seeded.py);
`manage.py check --deploy` runs for real, in a subprocess, whenever an env file is given.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from scripts import doctor
from scripts.doctor import (
    REPO_ROOT,
    Deploy,
    check_site_url,
    deploy_branches,
    find_deploys,
    is_heroku_app_host,
    load_site_config,
    offline_findings,
    secret_problem,
)
from scripts.doctor_backend import (
    DeployCheckResult,
    check_deploy_findings,
    host_allowed,
    origin_near_miss,
    parse_env_text,
    run_check_deploy,
)
from scripts.doctor_findings import BackendPlatform, Deployment, Finding, Level, format_finding
from scripts.doctor_live import connect_sources, live_target
from tests.doctor.seeded import (
    BACKEND_HOST,
    GOOD,
    GOOD_ENV,
    GOOD_TRAVIS,
    HEROKU_APP,
    SITE_HOST,
    SITE_ORIGIN,
    Seeded,
    with_config,
    with_env,
    with_files,
    with_travis,
)

# `manage.py check --deploy` runs in a subprocess for each distinct environment (about 20), and
# the command line's tests start the doctor itself: a Python and Django start-up each.
pytestmark = pytest.mark.process

PROBLEM_LEVELS = (Level.WARN, Level.FAIL)
_check_deploy_results: dict[tuple, DeployCheckResult] = {}


@pytest.fixture(autouse=True)
def check_deploy_once_per_environment(monkeypatch):
    """`manage.py check --deploy` really runs, but once per distinct environment: most cases
    share the good one, and each run costs a Django start-up (most of a second)."""

    def run_once(values, backend_dir):
        key = (frozenset(values.items()), str(backend_dir))
        if key not in _check_deploy_results:
            _check_deploy_results[key] = run_check_deploy(values, backend_dir)
        return _check_deploy_results[key]

    monkeypatch.setattr(doctor, "run_check_deploy", run_once)


def run_offline(seeded: Seeded, tmp_path: Path) -> list[Finding]:
    repo, env_file = seeded.write(tmp_path)
    return list(offline_findings(repo, env_file=str(env_file) if env_file else None, branch="main"))


def problems(findings: list[Finding]) -> dict[str, list[Finding]]:
    """The WARN and FAIL findings by check id."""
    found: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.level in PROBLEM_LEVELS:
            found.setdefault(finding.check, []).append(finding)
    return found


def worst_levels(findings: list[Finding]) -> dict[str, Level]:
    """Each problem check id with its worst level (FAIL over WARN)."""
    return {
        check: Level.FAIL if any(item.level is Level.FAIL for item in items) else Level.WARN
        for check, items in problems(findings).items()
    }


def report(findings: list[Finding]) -> str:
    return "\n".join(format_finding(finding) for finding in findings)


def test_the_good_configuration_has_nothing_to_report(tmp_path):
    findings = run_offline(GOOD, tmp_path)

    assert problems(findings) == {}, report(findings)
    checked = {finding.check for finding in findings if finding.level is Level.OK}
    assert {
        "site.base_url", "site.backend_url", "site.cname_file", "travis.fqdn", "travis.local_dir",
        "travis.keep_history", "travis.token", "travis.cleanup", "travis.branch", "travis.site_build",
        "travis.heroku_api_key", "travis.heroku_app", "backend.env_file", "backend.secret_key", "backend.debug",
        "backend.allowed_origins", "backend.allowed_hosts", "backend.database_url", "backend.redis_url",
        "backend.check_deploy",
    } <= checked  # fmt: skip


# (case id, configuration, {check id: level} expected among the WARN/FAIL lines, text the fix of
# the first of them must contain). The expected problems are the complete set: a breakage must
# not drag unrelated checks down with it.
SEEDED_CASES = [
    (
        "http base_url",
        with_config(f'baseURL = "{SITE_ORIGIN}/"', f'baseURL = "http://{SITE_HOST}/"'),
        {"site.base_url": Level.FAIL},
        f'baseURL = "https://{SITE_HOST}/"',
    ),
    (
        "placeholder base_url",
        with_config(f'baseURL = "{SITE_ORIGIN}/"', 'baseURL = "https://chat.example.com/"'),
        {"site.base_url": Level.WARN, "travis.fqdn": Level.FAIL, "backend.allowed_origins": Level.FAIL},
        "placeholder: set your domain",
    ),
    (
        "localhost base_url",
        with_config(f'baseURL = "{SITE_ORIGIN}/"', 'baseURL = "https://localhost:1313/"'),
        {"site.base_url": Level.FAIL},
        'baseURL = "https://chat.yourdomain.org/"',
    ),
    (
        "ws backend_url",
        with_config(f'backend_url = "wss://{BACKEND_HOST}"', f'backend_url = "ws://{BACKEND_HOST}"'),
        {"site.backend_url": Level.FAIL},
        f'backend_url = "wss://{BACKEND_HOST}"',
    ),
    (
        "localhost backend_url",
        with_config(f'backend_url = "wss://{BACKEND_HOST}"', 'backend_url = "wss://localhost:8000"'),
        {"site.backend_url": Level.FAIL},
        'backend_url = "wss://your-backend.herokuapp.com"',
    ),
    (
        "backend_url ending in /ws",
        with_config(f'"wss://{BACKEND_HOST}"', f'"wss://{BACKEND_HOST}/ws/"'),
        {"site.backend_url": Level.FAIL},
        f'backend_url = "wss://{BACKEND_HOST}"',
    ),
    (
        "fqdn is another host",
        with_travis(f"fqdn: {SITE_HOST}", "fqdn: chat.someone-else.org"),
        {"travis.fqdn": Level.FAIL},
        f"`fqdn: {SITE_HOST}`",
    ),
    (
        "fqdn missing",
        with_travis(f"        fqdn: {SITE_HOST}\n", ""),
        {"travis.fqdn": Level.FAIL},
        f"add `fqdn: {SITE_HOST}`",
    ),
    (
        "local_dir not public",
        with_travis("local_dir: public", "local_dir: site"),
        {"travis.local_dir": Level.FAIL},
        "`local_dir: public`",
    ),
    (
        "keep_history off",
        with_travis("keep_history: true", "keep_history: false"),
        {"travis.keep_history": Level.WARN},
        "`keep_history: true`",
    ),
    (
        "literal token",
        with_travis("token: $GITHUB_TOKEN", "token: ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"),
        {"travis.token": Level.FAIL},
        "revoke that token",
    ),
    (
        "literal heroku api_key",
        with_travis("api_key: $HEROKU_API_KEY", "api_key: 0123abcd-45ef-6789-abcd-ef0123456789"),
        {"travis.heroku_api_key": Level.FAIL},
        "`api_key: $HEROKU_API_KEY`",
    ),
    (
        "heroku app is another app",
        with_travis(f"app: {HEROKU_APP}", "app: some-other-app"),
        {"travis.heroku_app": Level.FAIL},
        f"`app: {HEROKU_APP}`",
    ),
    # The site on the staging backend while the deploy updates production: the published site would
    # talk to a backend its deploys never reach. (ALLOWED_HOSTS, made for production, fails too.)
    (
        "backend_url on the staging app",
        with_config(
            f'backend_url = "wss://{BACKEND_HOST}"', f'backend_url = "wss://{HEROKU_APP}-staging.herokuapp.com"'
        ),
        {"travis.heroku_app": Level.FAIL, "backend.allowed_hosts": Level.FAIL},
        f'set backend_url = "wss://{HEROKU_APP}.herokuapp.com" in config.toml',
    ),
    (
        "backend_url on the site's own domain",
        with_config(f'backend_url = "wss://{BACKEND_HOST}"', f'backend_url = "wss://{SITE_HOST}"'),
        {"site.backend_url": Level.FAIL, "backend.allowed_hosts": Level.FAIL},
        f'set backend_url = "wss://{HEROKU_APP}.herokuapp.com"',
    ),
    (
        "backend_url on the site's www. domain",
        with_config(f'backend_url = "wss://{BACKEND_HOST}"', f'backend_url = "wss://www.{SITE_HOST}"'),
        {"site.backend_url": Level.FAIL, "backend.allowed_hosts": Level.FAIL},
        f'set backend_url = "wss://{HEROKU_APP}.herokuapp.com"',
    ),
    (
        "backend_url on GitHub Pages",
        with_config(f'backend_url = "wss://{BACKEND_HOST}"', 'backend_url = "wss://someone.github.io"'),
        {"site.backend_url": Level.FAIL, "backend.allowed_hosts": Level.FAIL},
        f'set backend_url = "wss://{HEROKU_APP}.herokuapp.com"',
    ),
    (
        "GitHub token in env.global",
        with_travis(
            "language: python\n",
            "language: python\nenv:\n  global:\n    - CHROMIUM_PATH=/usr/bin/chromium\n"
            "    - GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB\n",
        ),
        {"travis.env_secrets": Level.FAIL},
        "delete the `GITHUB_TOKEN=...` line from env.global",
    ),
    (
        "skip_cleanup (dpl v1)",
        with_travis("        cleanup: false\n", "        skip_cleanup: true\n"),
        {"travis.cleanup": Level.FAIL},
        "replace `skip_cleanup: true` with `cleanup: false`",
    ),
    (
        "cleanup true",
        with_travis("        cleanup: false\n", "        cleanup: true\n"),
        {"travis.cleanup": Level.FAIL},
        "`cleanup: false`",
    ),
    (
        "deploys from another branch",
        replace(
            GOOD,
            travis=GOOD_TRAVIS.replace("branch = main", "branch = develop").replace("branch: main", "branch: develop"),
        ),
        {"travis.branch": Level.FAIL},
        "`on: {branch: main}`",
    ),
    (
        "deploys from every branch",
        replace(
            GOOD,
            travis=GOOD_TRAVIS.replace("if: branch = main AND type = push", "if: type = push").replace(
                "on:\n          branch: main", "on:\n          all_branches: true"
            ),
        ),
        {"travis.branch": Level.FAIL},
        "remove all_branches",
    ),
    (
        "site build with overridden URLs",
        with_travis(
            "script: make doctor && make site-production", 'script: make site BACKEND_URL="$BACKEND" BASE_URL="$SITE"'
        ),
        {"travis.site_build": Level.WARN},
        "make site-production",
    ),
    ("no .travis.yml", replace(GOOD, travis=None), {"travis.file": Level.FAIL}, "git checkout .travis.yml"),
    (
        "unparsable .travis.yml",
        replace(GOOD, travis="jobs: [unclosed\n  - {"),
        {"travis.file": Level.FAIL},
        "make lint",
    ),
    ("no config.toml", replace(GOOD, config=None), {"site.config": Level.FAIL}, "config.toml with baseURL"),
    (
        "static/CNAME with another domain",
        with_files({"static/CNAME": "chat.someone-else.org\n"}),
        {"site.cname_file": Level.FAIL},
        "delete static/CNAME",
    ),
    (
        "theme CNAME with another domain",
        with_files({"themes/backchannel/static/CNAME": "old.backchannel-demo.org\n"}),
        {"site.cname_file": Level.FAIL},
        "delete themes/backchannel/static/CNAME",
    ),
    (
        "site/ CNAME with another domain",
        with_files({"site/static/CNAME": "www.backchannel-demo.org\n"}),
        {"site.cname_file": Level.FAIL},
        "delete site/static/CNAME",
    ),
    (
        "workflow cname is another domain",
        with_files(
            {
                ".github/workflows/pages.yml": "on: push\njobs:\n  publish:\n    runs-on: ubuntu-22.04\n    steps:\n"
                "      - uses: peaceiris/actions-gh-pages@v4\n        with:\n"
                "          github_token: ${{ secrets.GITHUB_TOKEN }}\n          cname: chat.someone-else.org\n"
            }
        ),
        {"workflows.cname": Level.FAIL},
        f"set it to {SITE_HOST}",
    ),
    (
        "workflow with a literal token",
        with_files(
            {
                ".github/workflows/pages.yml": "on: push\njobs:\n  publish:\n    runs-on: ubuntu-22.04\n    steps:\n"
                "      - uses: peaceiris/actions-gh-pages@v4\n        with:\n"
                "          github_token: ghp_0123456789abcdefghijklmnopqrstuvwxyzAB\n"
            }
        ),
        {"workflows.secrets": Level.FAIL},
        "secrets.NAME",
    ),
    (
        "ALLOWED_ORIGINS lacks the site origin",
        with_env(ALLOWED_ORIGINS="https://someone-else.org"),
        {"backend.allowed_origins": Level.FAIL},
        f"heroku config:set ALLOWED_ORIGINS=https://someone-else.org,{SITE_ORIGIN} -a {HEROKU_APP}",
    ),
    (
        "ALLOWED_ORIGINS with a trailing slash",
        with_env(ALLOWED_ORIGINS=f"{SITE_ORIGIN}/"),
        # The backend would not even start: check --deploy says so too.
        {"backend.allowed_origins": Level.FAIL, "backend.check_deploy": Level.FAIL},
        f"heroku config:set ALLOWED_ORIGINS={SITE_ORIGIN} -a {HEROKU_APP}",
    ),
    (
        "ALLOWED_ORIGINS with the http variant",
        with_env(ALLOWED_ORIGINS=f"http://{SITE_HOST}"),
        {"backend.allowed_origins": Level.FAIL, "backend.check_deploy": Level.FAIL},
        f"heroku config:set ALLOWED_ORIGINS={SITE_ORIGIN} -a {HEROKU_APP}",
    ),
    (
        "ALLOWED_ORIGINS with www.",
        with_env(ALLOWED_ORIGINS=f"https://www.{SITE_HOST}"),
        {"backend.allowed_origins": Level.FAIL},
        f"heroku config:set ALLOWED_ORIGINS={SITE_ORIGIN} -a {HEROKU_APP}",
    ),
    (
        "ALLOWED_ORIGINS unset",
        with_env(ALLOWED_ORIGINS=None),
        {"backend.allowed_origins": Level.FAIL},
        f"heroku config:set ALLOWED_ORIGINS={SITE_ORIGIN} -a {HEROKU_APP}",
    ),
    (
        "ALLOWED_HOSTS lacks the backend host",
        with_env(ALLOWED_HOSTS="chat.backchannel-demo.org"),
        {"backend.allowed_hosts": Level.FAIL},
        f"heroku config:set ALLOWED_HOSTS=chat.backchannel-demo.org,{BACKEND_HOST} -a {HEROKU_APP}",
    ),
    ("DEBUG on", with_env(DEBUG="1"), {"backend.debug": Level.FAIL}, f"heroku config:unset DEBUG -a {HEROKU_APP}"),
    (
        "SECRET_KEY missing",
        with_env(SECRET_KEY=None),
        {"backend.secret_key": Level.FAIL, "backend.check_deploy": Level.FAIL},
        f"heroku config:set SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))') -a {HEROKU_APP}",
    ),
    (
        "SQLite DATABASE_URL",
        with_env(DATABASE_URL="sqlite:////app/db.sqlite3"),
        {"backend.database_url": Level.FAIL},
        f"heroku addons:create heroku-postgresql:essential-0 -a {HEROKU_APP}",
    ),
    (
        "malformed DATABASE_URL",
        with_env(DATABASE_URL="postgres://chat:pg-password-not-shown@db:notaport/chat"),
        {"backend.database_url": Level.FAIL, "backend.check_deploy": Level.FAIL},
        "heroku config:get DATABASE_URL",
    ),
    (
        "REDIS_URL unset",
        with_env(REDIS_URL=None),
        {"backend.redis_url": Level.WARN, "backend.check_deploy": Level.WARN},
        f"heroku addons:create heroku-redis:mini -a {HEROKU_APP}",
    ),
    (
        "Heroku Redis with certificate verification on",
        with_env(REDIS_TLS_VERIFY=None),
        {"backend.redis_tls": Level.WARN},
        f"heroku config:set REDIS_TLS_VERIFY=0 -a {HEROKU_APP}",
    ),
    (
        "no trusted proxy behind the router",
        with_env(TRUSTED_PROXY_HOPS=None),
        {"backend.trusted_proxy_hops": Level.WARN},
        f"heroku config:set TRUSTED_PROXY_HOPS=1 -a {HEROKU_APP}",
    ),
    (
        "check --deploy: HSTS off",
        with_env(SECURE_HSTS_SECONDS="0"),
        {"backend.check_deploy": Level.FAIL},
        f"heroku config:unset SECURE_HSTS_SECONDS -a {HEROKU_APP}",
    ),
    (
        "check --deploy: no https redirect",
        with_env(SECURE_SSL_REDIRECT="0"),
        {"backend.check_deploy": Level.FAIL},
        f"heroku config:unset SECURE_SSL_REDIRECT -a {HEROKU_APP}",
    ),
]


@pytest.mark.parametrize(
    ("seeded", "expected", "fix_text"), [case[1:] for case in SEEDED_CASES], ids=[case[0] for case in SEEDED_CASES]
)
def test_each_seeded_misconfiguration_is_found_with_its_fix(seeded, expected, fix_text, tmp_path):
    findings = run_offline(seeded, tmp_path)

    assert worst_levels(findings) == expected, report(findings)
    found = problems(findings)
    first_check = next(iter(expected))
    assert any(fix_text in finding.fix for finding in found[first_check]), report(findings)
    assert all(finding.fix for items in found.values() for finding in items), "every problem says how to fix it"


GITHUB_IO_SITE = "https://someone.github.io/backchannel/"


def test_a_github_io_site_needs_no_fqdn(tmp_path):
    seeded = replace(
        with_config(f'baseURL = "{SITE_ORIGIN}/"', f'baseURL = "{GITHUB_IO_SITE}"'),
        travis=GOOD_TRAVIS.replace(f"        fqdn: {SITE_HOST}\n", ""),
        env={**GOOD_ENV, "ALLOWED_ORIGINS": "https://someone.github.io"},
    )

    findings = run_offline(seeded, tmp_path)

    assert problems(findings) == {}, report(findings)


def test_a_github_io_site_with_an_fqdn_or_a_cname_file_fails(tmp_path):
    seeded = replace(
        with_config(f'baseURL = "{SITE_ORIGIN}/"', f'baseURL = "{GITHUB_IO_SITE}"'),
        files={"static/CNAME": f"{SITE_HOST}\n"},
        env=None,
    )

    found = problems(run_offline(seeded, tmp_path))

    assert set(found) == {"travis.fqdn", "site.cname_file"}
    assert "remove fqdn" in found["travis.fqdn"][0].fix
    assert "delete static/CNAME" in found["site.cname_file"][0].fix


def test_a_repository_deploying_with_github_actions_needs_no_travis_file(tmp_path):
    workflow = (
        "on: push\njobs:\n  publish:\n    runs-on: ubuntu-22.04\n    steps:\n"
        "      - uses: actions/upload-pages-artifact@v3\n        with:\n          path: public\n"
        "      - uses: actions/deploy-pages@v4\n"
    )
    seeded = replace(GOOD, travis=None, files={".github/workflows/deploy.yml": workflow}, env=None)

    findings = run_offline(seeded, tmp_path)

    assert problems(findings) == {}, report(findings)
    [cname] = [finding for finding in findings if finding.check == "workflows.cname"]
    assert f"Settings -> Pages: {SITE_HOST}" in cname.message


def test_check_deploy_findings_name_the_django_check_and_the_variable(tmp_path):
    findings = run_offline(with_env(SECURE_HSTS_SECONDS="0", SECURE_SSL_REDIRECT="0"), tmp_path)

    deploy_lines = [format_finding(finding) for finding in findings if finding.check == "backend.check_deploy"]
    assert any("(security.W004)" in line and "SECURE_HSTS_SECONDS" in line for line in deploy_lines), deploy_lines
    assert any("(security.W008)" in line and "SECURE_SSL_REDIRECT" in line for line in deploy_lines), deploy_lines


def test_the_repository_as_shipped_is_consistent_apart_from_placeholders():
    findings = list(offline_findings(REPO_ROOT, env_file=None, branch="main"))

    failures = [finding for finding in findings if finding.level is Level.FAIL]
    assert failures == [], report(failures)
    warnings = [finding for finding in findings if finding.level is Level.WARN]
    assert all("placeholder" in finding.fix for finding in warnings), report(warnings)


# --- The command line, end to end --------------------------------------------------------------


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scripts.doctor", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_on_a_good_configuration_exits_0(tmp_path):
    repo, env_file = GOOD.write(tmp_path)

    result = run_cli("--repo", str(repo), "--env-file", str(env_file), "--default-branch", "main")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 WARN, 0 FAIL" in result.stdout
    assert "ok   backend.check_deploy" in result.stdout
    # The settings' secrets never reach the report.
    for secret in (GOOD_ENV["SECRET_KEY"], "pg-password-not-shown", "redis-password-not-shown"):
        assert secret not in result.stdout + result.stderr


def test_cli_on_a_broken_configuration_exits_1_and_names_the_fixes(tmp_path):
    broken = replace(
        with_travis(f"fqdn: {SITE_HOST}", "fqdn: chat.someone-else.org"),
        env={**GOOD_ENV, "ALLOWED_ORIGINS": f"{SITE_ORIGIN}/", "DEBUG": "1"},
    )
    repo, env_file = broken.write(tmp_path)

    result = run_cli("--repo", str(repo), "--env-file", str(env_file), "--default-branch", "main")

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    fqdn = next(line for line in lines if line.startswith("FAIL travis.fqdn"))
    assert f"fix: set `fqdn: {SITE_HOST}`" in fqdn
    origins = next(line for line in lines if line.startswith("FAIL backend.allowed_origins"))
    assert "trailing slash" in origins and f"heroku config:set ALLOWED_ORIGINS={SITE_ORIGIN} -a {HEROKU_APP}" in origins
    assert any(line.startswith("FAIL backend.debug") and "heroku config:unset DEBUG" in line for line in lines)
    assert lines[-1].startswith("doctor: ") and "FAIL" in lines[-1]


def test_secrets_in_a_settings_error_are_not_shown(tmp_path):
    repo, env_file = with_env(DATABASE_URL="postgres://chat:pg-password-not-shown@db:notaport/chat").write(tmp_path)

    result = run_cli("--repo", str(repo), "--env-file", str(env_file), "--default-branch", "main")

    assert result.returncode == 1 and "FAIL backend.check_deploy" in result.stdout
    assert "pg-password-not-shown" not in result.stdout + result.stderr
    assert GOOD_ENV["SECRET_KEY"] not in result.stdout + result.stderr


def test_cli_reads_the_env_file_from_standard_input(tmp_path):
    repo, env_file = GOOD.write(tmp_path)

    result = subprocess.run(
        [sys.executable, "-m", "scripts.doctor", "--repo", str(repo), "--env-file", "-"],
        cwd=REPO_ROOT, input=env_file.read_text(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "read from standard input" in result.stdout


def test_cli_with_a_missing_env_file_fails_with_how_to_make_one(tmp_path):
    repo, _ = replace(GOOD, env=None).write(tmp_path)

    result = run_cli("--repo", str(repo), "--env-file", str(tmp_path / "nowhere.env"))

    assert result.returncode == 1
    assert "FAIL backend.env_file" in result.stdout and f"heroku config --shell -a {HEROKU_APP}" in result.stdout


# --- Pure pieces --------------------------------------------------------------------------------


def test_env_files_are_read_as_heroku_config_shell_writes_them():
    text = "# comment\nexport A=1\nB='two words'\nC=\"x=y\"\nD=\nnot a line\nE=plain#not-a-comment\n"

    values, ignored = parse_env_text(text)

    assert values == {"A": "1", "B": "two words", "C": "x=y", "D": "", "E": "plain#not-a-comment"}
    assert ignored == [6]


@pytest.mark.parametrize(("entry", "how"), [
    (f"{SITE_ORIGIN}/", "a trailing slash"),
    (f"http://{SITE_HOST}", "http:// instead of https://"),
    (f"https://www.{SITE_HOST}", "www. where the site has none"),
    (f"https://{SITE_HOST.upper()}", "upper-case letters"),
    (f"https://{SITE_HOST}:443", "the default port :443"),
    ("https://someone-else.org", None),
    (SITE_ORIGIN, None),
])  # fmt: skip
def test_origin_near_misses_are_named(entry, how):
    described = origin_near_miss(entry, SITE_ORIGIN)

    assert (described is None) if how is None else (how in described)


def test_allowed_hosts_follow_djangos_matching():
    assert host_allowed(BACKEND_HOST, ["localhost", BACKEND_HOST]) == BACKEND_HOST
    assert host_allowed(BACKEND_HOST, [".herokuapp.com"]) == ".herokuapp.com"
    assert host_allowed(BACKEND_HOST, ["*"]) == "*"
    assert host_allowed(BACKEND_HOST, ["herokuapp.com", "localhost"]) is None


def test_credentials_must_come_from_variables():
    assert secret_problem("$GITHUB_TOKEN") is None
    assert secret_problem("${GITHUB_TOKEN}") is None
    assert secret_problem({"secure": "AbC=="}) is None
    assert secret_problem({"main": "$HEROKU_API_KEY"}) is None
    assert secret_problem("ghp_literal") == "is written into the file literally"
    assert secret_problem(None) == "is missing"


def test_a_heroku_host_belongs_to_its_app_only():
    assert is_heroku_app_host("backchannel-demo", "backchannel-demo")
    assert is_heroku_app_host("backchannel-demo-1a2b3c4d5e6f", "backchannel-demo"), "Heroku's random suffix"
    assert not is_heroku_app_host("backchannel-demo-staging", "backchannel-demo")
    assert not is_heroku_app_host("backchannel-demo-staging-1a2b3c4d5e6f", "backchannel-demo")
    assert not is_heroku_app_host("backchannel-demo", "backchannel-demo-staging")


def test_a_suffixed_heroku_host_of_the_deployed_app_passes(tmp_path):
    seeded = with_config(
        f'backend_url = "wss://{BACKEND_HOST}"', f'backend_url = "wss://{HEROKU_APP}-1a2b3c4d5e6f.herokuapp.com"'
    )
    findings = run_offline(replace(seeded, env=None), tmp_path)
    assert "travis.heroku_app" not in problems(findings), report(findings)


@pytest.mark.parametrize(
    ("env", "flagged"),
    [
        ("env:\n  global:\n    - GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB\n", ["GITHUB_TOKEN"]),
        # Several per line, quoted, and a token under a name that does not say so.
        ("env:\n  global:\n    - 'CI=1 DEPLOY_AS=\"github_pat_11ABCDEFG0123456789_abcdefghij\"'\n", ["DEPLOY_AS"]),
        ("env:\n  - HEROKU_API_KEY=0123abcd-45ef-6789-abcd-ef0123456789\n", ["HEROKU_API_KEY"]),
        ("env:\n  global:\n    DATABASE_URL: postgres://chat:hunter2@db.example.net/chat\n", ["DATABASE_URL"]),
        ("env:\n  jobs:\n    - SLACK=xoxb-1234567890-abcdefghij\n", ["SLACK"]),
        # From variables, encrypted, or not credentials at all: nothing to say.
        (
            "env:\n  global:\n    - GITHUB_TOKEN=$PAGES_TOKEN\n    - secure: AbCdEf==\n"
            "    - TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test\n"
            "    - LOCAL_DB=postgres://postgres:postgres@127.0.0.1/test\n",
            [],
        ),
    ],
)
def test_credentials_in_travis_env_are_found_by_name_or_value(env, flagged):
    from ruamel.yaml import YAML

    document = YAML(typ="safe").load(GOOD_TRAVIS.replace("language: python\n", f"language: python\n{env}"))
    finding = doctor.check_travis_env(document)
    assert finding.level is (Level.FAIL if flagged else Level.OK), format_finding(finding)
    for name in flagged:
        assert name in finding.message and f"travis env set {name}" in finding.fix
    assert "ghp_0123" not in finding.message + finding.fix, "the secret itself is never printed"


def test_a_jobs_own_env_is_checked_too():
    from ruamel.yaml import YAML

    travis = GOOD_TRAVIS.replace("    - stage: test\n", "    - stage: test\n      env: API_TOKEN=abc123def456\n")
    finding = doctor.check_travis_env(YAML(typ="safe").load(travis))
    assert finding.level is Level.FAIL and "jobs.include[0].env" in finding.message


def test_deploys_are_found_with_their_job_stage_conditions():
    from ruamel.yaml import YAML

    deploys = find_deploys(YAML(typ="safe").load(GOOD_TRAVIS))

    assert [deploy.provider for deploy in deploys] == ["heroku", "pages"]
    heroku, pages = deploys
    assert heroku.before_deploy == ("cd backend",)
    assert "branch = main" in pages.job_condition
    assert deploy_branches(pages) == ({"main"}, False)
    assert deploy_branches(Deploy("pages", {"on": {"all_branches": True}}, "deploy")) == (set(), True)


def test_check_deploy_output_is_parsed_into_findings_with_fixes():
    output = (
        "System check identified some issues:\n\nWARNINGS:\n"
        "?: (backchannel.W001) The in-memory channel layer serves one process only.\n"
        "\tHINT: Set REDIS_URL to run more than one backend process.\n"
        "?: (security.W004) You have not set a value for the SECURE_HSTS_SECONDS setting.\n\n"
        "System check identified 2 issues (0 silenced).\n"
    )
    deployment = Deployment(SITE_ORIGIN, SITE_HOST, BACKEND_HOST, BackendPlatform(HEROKU_APP))

    findings = check_deploy_findings(DeployCheckResult(returncode=0, output=output), deployment)

    assert [(finding.level, finding.message.split(")")[0]) for finding in findings] == [
        (Level.WARN, "check --deploy: (backchannel.W001"),
        (Level.FAIL, "check --deploy: (security.W004"),
    ]
    assert "heroku addons:create heroku-redis:mini" in findings[0].fix


def test_a_loopback_site_url_is_not_compared_with_base_url(tmp_path):
    repo, _ = GOOD.write(tmp_path)
    site = load_site_config(repo)

    assert check_site_url("http://127.0.0.1:8123/", site) is None
    assert check_site_url(f"{SITE_ORIGIN}/", site) is None
    assert check_site_url("https://other.backchannel-demo.org/", site).level is Level.WARN


def test_live_targets_derive_every_url_from_the_backend_url():
    target = live_target(f"{SITE_ORIGIN}/room/", "wss://backend.backchannel-demo.org/chat/")

    assert target.site_origin == SITE_ORIGIN
    assert target.backend_http_url == "https://backend.backchannel-demo.org/chat"
    assert target.backend_socket_url == "wss://backend.backchannel-demo.org/chat/ws/"
    assert target.backend_socket_origin == "wss://backend.backchannel-demo.org"


def test_connect_sources_come_from_the_csp_meta():
    html = (
        '<html><head><meta charset=utf-8><meta http-equiv=Content-Security-Policy content="default-src '
        "'self'; connect-src 'self' wss://b.example.org https://b.example.org; img-src 'self'\"></head></html>"
    )

    assert connect_sources(html) == ["'self'", "wss://b.example.org", "https://b.example.org"]
    assert connect_sources("<html><head></head></html>") is None


def test_a_mysql_database_url_is_accepted(tmp_path):
    """A MySQL/MariaDB DATABASE_URL passes, `manage.py check --deploy` included (the driver is
    installed and the database, out of reach from here, is not contacted)."""
    seeded = with_env(DATABASE_URL="mysql://chat:my-password-not-shown@db.backchannel-demo.internal:3306/chat")

    findings = run_offline(seeded, tmp_path)

    assert problems(findings) == {}, report(findings)
    [database] = [finding for finding in findings if finding.check == "backend.database_url"]
    assert "MySQL/MariaDB" in database.message and "my-password-not-shown" not in database.message
