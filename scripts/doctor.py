"""`make doctor`: does the production configuration hang together, and does the deployment work?

    python -m scripts.doctor [--repo DIR] [--env-file FILE|-] [--site-url URL] [--backend-url URL]
                             [--room NAME] [--timeout-secs N] [--default-branch NAME]

Offline checks (always; no network):
  site.*      config.toml: baseURL is https://<your domain>/, backend_url is wss://<backend host>
              and not the static site (baseURL's host, its www. twin or any *.github.io);
              no CNAME file in the sources names another domain
  travis.*    .travis.yml: the GitHub Pages deploy (fqdn = baseURL's host, local_dir = Hugo's
              output dir, keep_history, token from a variable, dpl v2 `cleanup`, default branch
              only, the build it publishes), the Heroku deploy (api_key from a variable, app =
              backend_url's app exactly: not a sibling such as <app>-staging) and no credential
              in plain text under `env:` (by name, or by value: ghp_..., a URL with a password)
  workflows.* .github/workflows/*.yml, if any: custom domains and secrets
  backend.*   only with --env-file: the backend's environment (SECRET_KEY, DEBUG off,
              ALLOWED_ORIGINS holding the site's origin exactly, ALLOWED_HOSTS holding the
              backend's host, Postgres, Redis) and `manage.py check --deploy` run with it

The backend's settings are read from --env-file only (KEY=VALUE lines, as `heroku config --shell
-a APP` prints them; "-" reads standard input, so nothing secret need touch the disk), never from
the doctor's own environment: a developer's shell holds development values (DEBUG=1 from `make
backend`, a local DATABASE_URL) that would be checked as if they were production's.

Live checks (with --site-url; scripts/doctor_live.py): the site answers and its CSP names this
backend, /healthz, CORS and the WebSocket handshake from the site's origin (and not from another),
and a message round trip in room "doctor". The backend is --backend-url, else config.toml's.

Every line is ok / WARN / FAIL / skip, a stable check id, what was found and how to fix it; the
exit status is 1 when any line is FAIL. Check functions are pure (parsed files in, findings out);
the loaders and main() do the I/O.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from scripts.doctor_backend import (
    backend_dir_for,
    check_backend_env,
    check_deploy_findings,
    load_backend_env,
    run_check_deploy,
)
from scripts.doctor_findings import (
    BackendPlatform,
    Deployment,
    Finding,
    exit_status,
    fail,
    format_finding,
    heroku_app_from_host,
    is_loopback,
    is_placeholder_host,
    ok,
    origin_of,
    progress,
    skip,
    summary_line,
    warn,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
HUGO_DEFAULT_PUBLISH_DIR = "public"
GITHUB_PAGES_HOST_SUFFIX = ".github.io"
CNAME_GLOBS = ("static/CNAME", "site/**/CNAME", "themes/*/static/CNAME")
ENV_REFERENCE = re.compile(r"^\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$")
SITE_BUILD_COMMAND = re.compile(r"\bmake\s+site\b|scripts/site\.py|\bhugo\b")
BUILD_OVERRIDE = re.compile(
    r"\b(BACKEND_URL|BASE_URL|HUGOxPARAMSxBACKCHANNELxBACKEND_URL)=|--baseURL|--base-url|--backend-url"
)
BRANCH_CONDITION = re.compile(r"\bbranch\s*(?:==?|IS)\s*['\"]?([\w./-]+)", re.IGNORECASE)
BRANCH_IN_CONDITION = re.compile(r"\bbranch\s+IN\s*\(([^)]*)\)", re.IGNORECASE)
CNAME_WRITE = re.compile(r"(?:echo|printf)\s+['\"]?([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})['\"]?\s*>{1,2}\s*\S*CNAME")
SECRET_KEY_WORDS = ("token", "api_key", "apikey", "password", "secret")
# Heroku names newer apps' hosts <app>-<12 hex characters>.herokuapp.com: the app is the part before.
HEROKU_RANDOM_SUFFIX = re.compile(r"^(?P<app>.+)-[0-9a-f]{12}$")
# Values that are credentials whatever the variable is called: GitHub, GitLab, Slack, AWS, Stripe
# and Heroku tokens.
CREDENTIAL_VALUE = re.compile(
    r"^(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{20,}|xox[abpr]-[\w-]{10,}|AKIA[0-9A-Z]{16}"
    r"|[sr]k_live_\w{10,}|HRKU-[\w-]{20,})$"
)


# --- Parsed inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteConfig:
    path: Path
    base_url: str | None = None
    backend_url: str | None = None
    publish_dir: str = HUGO_DEFAULT_PUBLISH_DIR
    problem: str | None = None  # why the file could not be read (the fields above are then empty)

    @property
    def base_host(self) -> str | None:
        return _host_of(self.base_url)

    @property
    def site_origin(self) -> str | None:
        return origin_of(self.base_url) if self.base_url else None

    @property
    def backend_host(self) -> str | None:
        return _host_of(self.backend_url)


@dataclass(frozen=True)
class YamlFile:
    path: Path
    document: object = None  # the parsed YAML; None when missing or unreadable
    exists: bool = False
    problem: str | None = None  # why an existing file could not be parsed


@dataclass(frozen=True)
class Deploy:
    """One deploy stanza of .travis.yml, with the job around it."""

    provider: str
    options: Mapping[str, object]
    where: str  # for messages: "deploy" or "jobs.include[1] (its name)"
    job_condition: str = ""  # the job's `if:` and its stage's, joined with AND
    job_commands: tuple[str, ...] = ()  # the job's script and before_deploy, in order
    before_deploy: tuple[str, ...] = ()


@dataclass(frozen=True)
class CnameFile:
    relative_path: str
    domain: str


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _commands(value: object) -> tuple[str, ...]:
    return tuple(str(command) for command in _as_list(value))


# --- Loaders (file I/O only; no judgement) ------------------------------------------------------


def _lookup(mapping: Mapping, key: str) -> object:
    """Hugo's configuration keys are case-insensitive (baseURL, baseurl)."""
    for candidate, value in mapping.items():
        if isinstance(candidate, str) and candidate.lower() == key.lower():
            return value
    return None


def load_site_config(repo: Path) -> SiteConfig:
    for name in ("config.toml", "hugo.toml"):
        path = repo / name
        if path.is_file():
            break
    else:
        return SiteConfig(path=repo / "config.toml", problem="no config.toml (or hugo.toml) in the repository")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return SiteConfig(path=path, problem=f"{path.name} cannot be read: {error}")
    params = _lookup(document, "params")
    backchannel = _lookup(params, "backchannel") if isinstance(params, dict) else None
    backend_url = _lookup(backchannel, "backend_url") if isinstance(backchannel, dict) else None
    base_url = _lookup(document, "baseURL")
    publish_dir = _lookup(document, "publishDir")
    return SiteConfig(
        path=path,
        base_url=str(base_url) if base_url is not None else None,
        backend_url=str(backend_url) if backend_url is not None else None,
        publish_dir=str(publish_dir) if publish_dir else HUGO_DEFAULT_PUBLISH_DIR,
    )


def load_yaml_file(path: Path) -> YamlFile:
    if not path.is_file():
        return YamlFile(path=path)
    try:
        from ruamel.yaml import YAML  # installed with the dev tools (check-jsonschema needs it)
        from ruamel.yaml.error import YAMLError
    except ImportError:
        return YamlFile(path=path, exists=True, problem="ruamel.yaml is not installed: run `make install`")
    try:
        # YAML 1.2 (ruamel's default): `on:` stays the string "on", not True as in YAML 1.1.
        document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as error:
        return YamlFile(path=path, exists=True, problem=" ".join(str(error).split()))
    return YamlFile(path=path, document=document, exists=True)


def load_workflows(repo: Path) -> list[YamlFile]:
    directory = repo / ".github" / "workflows"
    paths = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]) if directory.is_dir() else []
    return [load_yaml_file(path) for path in paths]


def find_cname_files(repo: Path) -> list[CnameFile]:
    found = []
    for pattern in CNAME_GLOBS:
        for path in sorted(repo.glob(pattern)):
            if path.is_file():
                lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
                found.append(CnameFile(str(path.relative_to(repo)), lines[0].lower() if lines else ""))
    return found


def default_branch(repo: Path) -> str:
    """origin's HEAD branch, else main or master when the repository has it, else "main"."""

    def git(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(repo), *arguments], capture_output=True, text=True, timeout=10)

    try:
        remote_head = git("symbolic-ref", "--short", "refs/remotes/origin/HEAD")
        if remote_head.returncode == 0 and "/" in remote_head.stdout:
            return remote_head.stdout.strip().split("/", 1)[1]
        for candidate in ("main", "master"):
            if git("rev-parse", "--verify", "--quiet", f"refs/heads/{candidate}").returncode == 0:
                return candidate
    except (OSError, subprocess.SubprocessError):
        pass
    return "main"


# --- Travis structure (pure) ---------------------------------------------------------------------


def find_deploys(document: object) -> list[Deploy]:
    """Every deploy stanza: top-level `deploy:` and each `jobs.include[]` job's, with the job's
    condition (its `if:` and its stage's) and the commands the job runs before deploying."""
    if not isinstance(document, dict):
        return []
    deploys: list[Deploy] = []
    top_script = _commands(document.get("script"))
    top_before_deploy = _commands(document.get("before_deploy"))
    for entry in _as_list(document.get("deploy")):
        deploys.extend(
            _deploy(entry, "deploy", str(document.get("if") or ""), top_script + top_before_deploy, top_before_deploy)
        )
    stage_conditions = {
        str(stage.get("name", "")).lower(): str(stage.get("if") or "")
        for stage in _as_list(document.get("stages"))
        if isinstance(stage, dict)
    }
    jobs = document.get("jobs") or document.get("matrix") or {}
    include = jobs.get("include") if isinstance(jobs, dict) else None
    current_stage = "test"  # a job without `stage:` is in the stage of the job before it
    for index, job in enumerate(_as_list(include)):
        if not isinstance(job, dict):
            continue
        current_stage = str(job.get("stage", current_stage))
        conditions = [c for c in (str(job.get("if") or ""), stage_conditions.get(current_stage.lower(), "")) if c]
        script = _commands(job["script"]) if "script" in job else top_script
        before_deploy = _commands(job["before_deploy"]) if "before_deploy" in job else top_before_deploy
        where = f"jobs.include[{index}], stage {current_stage!r}"
        for entry in _as_list(job.get("deploy")):
            deploys.extend(_deploy(entry, where, " AND ".join(conditions), script + before_deploy, before_deploy))
    return deploys


def _deploy(
    entry: object, where: str, condition: str, commands: tuple[str, ...], before_deploy: tuple[str, ...]
) -> list[Deploy]:
    if isinstance(entry, str):  # the shorthand `deploy: pages`
        entry = {"provider": entry}
    if not isinstance(entry, dict):
        return []
    options = dict(entry)
    provider, _, strategy = str(options.get("provider", "")).partition(":")  # "pages:git"
    if strategy:
        options.setdefault("strategy", strategy)
    return [Deploy(provider.lower(), options, where, condition, commands, before_deploy)]


def deployment_for(site: SiteConfig, deploys: Iterable[Deploy], branch: str) -> Deployment:
    heroku_app = _deployed_heroku_app(deploys, branch) or heroku_app_from_host(site.backend_host)
    site_origin, site_host, backend_host = site.site_origin, site.base_host, site.backend_host
    # site.* already fails for a local baseURL or backend_url: the backend's settings are not
    # compared with a value that is about to change (one problem, one FAIL line).
    if is_loopback(site_host):
        site_origin = site_host = None
    elif site_origin and site_origin.startswith("http://"):
        # site.base_url fails for plain http and says to switch to https: compare the backend's
        # settings with the origin the site will have once fixed.
        site_origin = "https://" + site_origin.removeprefix("http://")
    if is_loopback(backend_host):
        backend_host = None
    return Deployment(site_origin, site_host, backend_host, BackendPlatform(heroku_app))


# --- Checks: config.toml and CNAME files ---------------------------------------------------------


def check_site_config(site: SiteConfig, *, heroku_app: str | None = None) -> list[Finding]:
    """``heroku_app``: the app the Heroku deploy goes to, if any (named in fixes)."""
    if site.problem:
        return [
            fail(
                "site.config",
                site.problem,
                "the repository root needs config.toml with baseURL and "
                "[params.backchannel] backend_url (see README, Configuration)",
            )
        ]
    return [check_base_url(site), check_backend_url(site, heroku_app=heroku_app)]


def check_base_url(site: SiteConfig) -> Finding:
    name = site.path.name
    example = 'baseURL = "https://chat.yourdomain.org/"'
    if not site.base_url:
        return fail("site.base_url", f"{name} has no baseURL", f"set {example} in {name}")
    parts = urlsplit(site.base_url)
    host = site.base_host
    if parts.scheme != "https" or not host:
        https_url = f"https://{host}/" if host else "https://chat.yourdomain.org/"
        return fail(
            "site.base_url",
            f"baseURL {site.base_url!r} is not https://<host>/: GitHub Pages serves https, the backend "
            "refuses plain-http site origins (backchannel.E003), and browsers block wss:// mixed into http pages",
            f'set baseURL = "{https_url}" in {name} (and tick "Enforce HTTPS" in the repository\'s Pages settings)',
        )
    if is_loopback(host):
        return fail(
            "site.base_url",
            f"baseURL {site.base_url!r} is a local address, not the published site",
            f"set {example} in {name} (local builds override it: make run / make site BASE_URL=...)",
        )
    if is_placeholder_host(host):
        return warn(
            "site.base_url",
            f"baseURL {site.base_url!r} is a placeholder",
            f"placeholder: set your domain: {example} in {name}",
        )
    return ok("site.base_url", f"baseURL {site.base_url} (site origin {site.site_origin})")


def check_backend_url(site: SiteConfig, *, heroku_app: str | None = None) -> Finding:
    name = site.path.name
    where = f"[params.backchannel] backend_url in {name}"
    example = 'backend_url = "wss://your-backend.herokuapp.com"'
    if not site.backend_url:
        return fail(
            "site.backend_url",
            f"{name} has no [params.backchannel] backend_url: the theme's build fails",
            f"set {example} under [params.backchannel] in {name}",
        )
    try:
        parts = urlsplit(site.backend_url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as error:
        return fail(
            "site.backend_url", f"backend_url {site.backend_url!r} is malformed ({error})", f"set {example} ({where})"
        )
    host = site.backend_host
    if parts.scheme == "ws":
        secure = site.backend_url.replace("ws://", "wss://", 1)
        return fail(
            "site.backend_url",
            f"backend_url {site.backend_url!r} is ws://: browsers block ws:// from https pages",
            f'set backend_url = "{secure}" ({where})',
        )
    if parts.scheme != "wss" or not host:
        return fail(
            "site.backend_url", f"backend_url {site.backend_url!r} is not wss://<host>", f"set {example} ({where})"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        return fail(
            "site.backend_url",
            f"backend_url {site.backend_url!r} carries a query, fragment or user name",
            f'set backend_url = "wss://{parts.netloc.rpartition("@")[2]}" ({where})',
        )
    prefix = parts.path.rstrip("/")
    if prefix.split("/")[-1] == "ws":
        return fail(
            "site.backend_url",
            f"backend_url {site.backend_url!r} ends in /ws: the widget appends /ws/ itself "
            f"and would connect to {site.backend_url.rstrip('/')}/ws/",
            f'set backend_url = "wss://{parts.netloc}{prefix[: -len("/ws")]}" ({where})',
        )
    if is_loopback(host):
        return fail(
            "site.backend_url",
            f"backend_url {site.backend_url!r} is a local address: visitors' browsers "
            "would connect to their own machine",
            f"set {example} ({where})",
        )
    static_host = static_site_host(host, site.base_host)
    if static_host:
        return fail(
            "site.backend_url",
            f"backend_url {site.backend_url!r} points at {static_host}, where the "
            "static site is served: GitHub Pages serves files only and cannot answer the chat's WebSocket "
            "or API; the chat backend is the Django app, deployed on a host of its own",
            f'set backend_url = "wss://{heroku_app}.herokuapp.com" ({where}): the host of the Heroku app '
            "the deploy stage updates"
            if heroku_app
            else f"set {example} ({where}): your backend's host",
        )
    if is_placeholder_host(host):
        return warn(
            "site.backend_url",
            f"backend_url {site.backend_url!r} is a placeholder",
            f"placeholder: set your backend's host: {example} ({where})",
        )
    socket_url = f"wss://{parts.netloc}{prefix}/ws/"
    return ok("site.backend_url", f"backend_url {site.backend_url} (the widget connects to {socket_url})")


def static_site_host(backend_host: str, site_host: str | None) -> str | None:
    """How ``backend_host`` is the static site, or None: the site's own host (with or without
    ``www.``, which GitHub Pages redirects between), or any GitHub Pages domain."""
    backend_host = backend_host.lower()
    if site_host:
        bare_site, bare_backend = site_host.lower().removeprefix("www."), backend_host.removeprefix("www.")
        if bare_backend == bare_site:
            return f"the site's own domain ({site_host}, baseURL's host)"
    if backend_host.endswith(GITHUB_PAGES_HOST_SUFFIX):
        return f"a GitHub Pages domain ({backend_host})"
    return None


def check_cname_files(cnames: Iterable[CnameFile], site_host: str | None) -> list[Finding]:
    cnames = list(cnames)
    if not cnames:
        return [ok("site.cname_file", "no CNAME file in the sources (the production build writes it from baseURL)")]
    if site_host is None:
        return [skip("site.cname_file", "CNAME files not compared: baseURL has no host")]
    findings = []
    for cname in cnames:
        delete = f"delete {cname.relative_path} (the production build writes CNAME from baseURL)"
        if not cname.domain:
            findings.append(warn("site.cname_file", f"{cname.relative_path} is empty", delete))
        elif site_host.endswith(GITHUB_PAGES_HOST_SUFFIX):
            findings.append(
                fail(
                    "site.cname_file",
                    f"{cname.relative_path} sets the custom domain {cname.domain}, but "
                    f"baseURL's host is {site_host}: GitHub Pages would move the site there",
                    delete,
                )
            )
        elif cname.domain != site_host:
            findings.append(
                fail(
                    "site.cname_file",
                    f"{cname.relative_path} says {cname.domain}, but baseURL's host is "
                    f"{site_host}: GitHub Pages would serve the site at {cname.domain}, an origin the "
                    "backend does not allow",
                    f"{delete}, or write {site_host} in it",
                )
            )
        else:
            findings.append(ok("site.cname_file", f"{cname.relative_path} says {cname.domain}, baseURL's host"))
    return findings


# --- Checks: .travis.yml -------------------------------------------------------------------------


def secret_problem(value: object) -> str | None:
    """Why a credential in a CI file is not taken from a variable; None when it is ($VAR,
    ${VAR}, an encrypted `secure:` value, or a mapping per branch of those)."""
    if isinstance(value, dict):
        if "secure" in value:
            return None
        problems = [secret_problem(item) for item in value.values()]
        return next((problem for problem in problems if problem), None) if value else "is empty"
    if value is None or value == "":
        return "is missing"
    if isinstance(value, str) and ENV_REFERENCE.match(value.strip()):
        return None
    return "is written into the file literally"


def _describe_secret(value: object) -> str:
    if isinstance(value, dict) and "secure" in value:
        return "an encrypted secure: value"
    if isinstance(value, str):
        return f"the variable {value.strip()}"
    return "a variable per branch"


def deploy_branches(deploy: Deploy) -> tuple[set[str], bool]:
    """The branches a deploy is limited to (from `on: branch` and the job's `if:`), and whether
    `on: all_branches: true` is set."""
    branches: set[str] = set()
    on = deploy.options.get("on", deploy.options.get(True))  # YAML 1.1 readers turn `on` into True
    all_branches = False
    if isinstance(on, (str, list)):
        branches.update(str(branch) for branch in _as_list(on))
    elif isinstance(on, dict):
        branch = on.get("branch", on.get("branches"))
        if isinstance(branch, dict):
            branch = branch.get("only")
        branches.update(str(item) for item in _as_list(branch))
        all_branches = bool(on.get("all_branches"))
    branches.update(BRANCH_CONDITION.findall(deploy.job_condition))
    for listed in BRANCH_IN_CONDITION.findall(deploy.job_condition):
        branches.update(item.strip().strip("'\"") for item in listed.split(",") if item.strip())
    return branches, all_branches


def check_travis(travis: YamlFile, site: SiteConfig, branch: str, *, workflows_deploy: bool) -> list[Finding]:
    name = ".travis.yml"
    if not travis.exists:
        if workflows_deploy:
            return [ok("travis.file", f"no {name}: the deploy is in .github/workflows")]
        return [
            fail(
                "travis.file",
                f"no {name} and no .github/workflows/*.yml: nothing publishes the site",
                f"restore {name} with its deploy stage (git checkout {name})",
            )
        ]
    if travis.problem:
        return [
            fail(
                "travis.file",
                f"{name} is not valid YAML: {travis.problem}",
                f"fix the syntax in {name}; `make lint` checks it",
            )
        ]
    if not isinstance(travis.document, dict):
        return [fail("travis.file", f"{name} is not a mapping of keys", f"restore {name} (git checkout {name})")]
    deploys = find_deploys(travis.document)
    pages = [deploy for deploy in deploys if deploy.provider == "pages"]
    heroku = [deploy for deploy in deploys if deploy.provider == "heroku"]
    findings: list[Finding] = []
    if not pages:
        if workflows_deploy:
            findings.append(ok("travis.pages_deploy", f"no pages deploy in {name}: .github/workflows deploys the site"))
        else:
            findings.append(
                fail(
                    "travis.pages_deploy",
                    f"{name} has no `provider: pages` deploy: nothing publishes public/",
                    f"add to the deploy stage in {name}: deploy: {{provider: pages, strategy: git, "
                    f"token: $GITHUB_TOKEN, local_dir: {site.publish_dir}, keep_history: true, "
                    f"fqdn: {site.base_host or '<your domain>'}, on: {{branch: {branch}}}}}",
                )
            )
    for deploy in pages:
        findings += check_pages_deploy(deploy, site)
    for deploy in heroku:
        findings += check_heroku_deploy(deploy, site)
    if not heroku:
        if heroku_app_from_host(site.backend_host):
            findings.append(
                warn(
                    "travis.heroku_deploy",
                    f"backend_url is on Heroku ({site.backend_host}) but {name} "
                    "has no `provider: heroku` deploy: the backend is only updated by hand",
                    f"add a heroku deploy (api_key: $HEROKU_API_KEY, app: "
                    f"{heroku_app_from_host(site.backend_host)}) to the deploy stage, "
                    "after before_deploy: cd backend",
                )
            )
        else:
            findings.append(
                skip("travis.heroku_deploy", f"no heroku deploy in {name}: the backend is deployed some other way")
            )
    for deploy in [*pages, *heroku]:
        findings += check_deploy_common(deploy, branch)
    findings.append(check_travis_env(travis.document))
    return findings


def travis_env_entries(document: dict) -> Iterator[tuple[str, str, str]]:
    """(where, name, value) of every variable .travis.yml sets in plain text: `env:` as a list,
    or its `global:` and `jobs:`/`matrix:` parts, and each job's own `env:`. Entries are
    `NAME=value` strings (several per line, as Travis allows) or mappings; encrypted
    (`secure:`) entries have no name or value to show and are left out."""
    places: list[tuple[str, object]] = [("env", document.get("env"))]
    jobs = document.get("jobs", document.get("matrix"))
    if isinstance(jobs, dict):
        for index, job in enumerate(_as_list(jobs.get("include"))):
            if isinstance(job, dict):
                places.append((f"jobs.include[{index}].env", job.get("env")))
    for where, env in places:
        if isinstance(env, dict) and {"global", "jobs", "matrix"} & env.keys():
            sections = [(f"{where}.{key}", env[key]) for key in ("global", "jobs", "matrix") if key in env]
        else:
            sections = [(where, env)]
        for section, entries in sections:
            for entry in [entries] if isinstance(entries, dict) else _as_list(entries):
                yield from _env_entry(section, entry)


def _env_entry(where: str, entry: object) -> Iterator[tuple[str, str, str]]:
    if isinstance(entry, str):
        try:
            words = shlex.split(entry)
        except ValueError:  # an unbalanced quote: Travis would fail too; still look at the words
            words = entry.split()
        for word in words:
            name, equals, value = word.partition("=")
            if equals:
                yield where, name.strip(), value
    elif isinstance(entry, dict) and "secure" not in entry:
        for name, value in entry.items():
            if isinstance(value, (str, int, float)):
                yield where, str(name), str(value)


def literal_credential_kind(name: str, value: str) -> str | None:
    """Why a plain-text CI variable is a credential (None when it is not one): a known token
    format, a URL with a password for a non-local host, or a name that says so."""
    value = value.strip()
    if not value or ENV_REFERENCE.match(value):
        return None
    if CREDENTIAL_VALUE.match(value):
        return "its value is a token"
    try:
        parts = urlsplit(value)
        if parts.password and parts.hostname and not is_loopback(parts.hostname):
            return "its value is a URL with a password"
    except ValueError:
        pass
    if any(word in name.lower() for word in SECRET_KEY_WORDS):
        return "its name says it is a credential"
    return None


def check_travis_env(document: dict) -> Finding:
    """Credentials are never written in .travis.yml's `env:`: the file is public with the
    repository, and stays in its history after the line is removed."""
    found = [
        (where, name, kind)
        for where, name, value in travis_env_entries(document)
        if (kind := literal_credential_kind(name, value))
    ]
    if not found:
        return ok(
            "travis.env_secrets",
            "no credential written in .travis.yml's env (secure values and repository settings only)",
        )
    where, name, kind = found[0]
    listed = ", ".join(f"{item_name} ({item_where})" for item_where, item_name, _ in found)
    return fail(
        "travis.env_secrets",
        f"{listed} {'is' if len(found) == 1 else 'are'} written into .travis.yml in plain text ({kind}): "
        "anyone who can read the repository can use it, and it stays in the git history",
        f"revoke {name} where it was issued (a GitHub token: Settings -> Developer settings -> Personal "
        f"access tokens), store the new one in the repository's Travis settings (Environment Variables, "
        f"'Display value in build log' off: travis env set {name} ... --private) or encrypted "
        f"(travis encrypt {name}=... --add env.global), and delete the `{name}=...` line from {where} "
        "in .travis.yml",
    )


def check_pages_deploy(deploy: Deploy, site: SiteConfig) -> list[Finding]:
    where = f".travis.yml {deploy.where}, provider: pages"
    options = deploy.options
    findings: list[Finding] = []

    site_host = site.base_host
    fqdn = options.get("fqdn")
    fqdn = str(fqdn).strip().lower().rstrip(".") if fqdn else None
    if site_host is None or is_loopback(site_host):
        findings.append(skip("travis.fqdn", "fqdn not compared: baseURL has no public host (see site.base_url)"))
    elif fqdn is None and site_host.endswith(GITHUB_PAGES_HOST_SUFFIX):
        findings.append(ok("travis.fqdn", f"no fqdn: the site is served at {site_host}, as baseURL says"))
    elif fqdn is None:
        findings.append(
            fail(
                "travis.fqdn",
                f"the pages deploy has no fqdn, but baseURL's host is the custom domain "
                f"{site_host}: GitHub Pages would lose the custom domain when a deploy lacks CNAME",
                f"add `fqdn: {site_host}` to the pages deploy ({where})",
            )
        )
    elif site_host.endswith(GITHUB_PAGES_HOST_SUFFIX):
        findings.append(
            fail(
                "travis.fqdn",
                f"fqdn {fqdn} sets a custom domain, but baseURL is {site.base_url}",
                f'remove fqdn ({where}), or set baseURL = "https://{fqdn}/" in {site.path.name}',
            )
        )
    elif fqdn != site_host:
        findings.append(
            fail(
                "travis.fqdn",
                f"the pages deploy's fqdn is {fqdn}, but baseURL's host is {site_host}",
                f"set `fqdn: {site_host}` ({where}); or, if {fqdn} is right, set "
                f'baseURL = "https://{fqdn}/" in {site.path.name}',
            )
        )
    else:
        findings.append(ok("travis.fqdn", f"fqdn {fqdn} = baseURL's host"))

    local_dir = options.get("local_dir")
    normalized = _relative_dir(str(local_dir)) if local_dir else None
    if normalized is None:
        findings.append(
            fail(
                "travis.local_dir",
                "the pages deploy has no local_dir: dpl would publish the whole "
                f"checkout instead of Hugo's output ({site.publish_dir}/)",
                f"add `local_dir: {site.publish_dir}` ({where})",
            )
        )
    elif normalized != _relative_dir(site.publish_dir):
        findings.append(
            fail(
                "travis.local_dir",
                f"local_dir is {local_dir!r}, but Hugo writes the site to {site.publish_dir}/",
                f"set `local_dir: {site.publish_dir}` ({where})",
            )
        )
    elif not str(local_dir).startswith("$") and (moved := _directory_change(deploy.before_deploy)):
        findings.append(
            warn(
                "travis.local_dir",
                f"local_dir {local_dir!r} is relative, and this job's before_deploy "
                f"runs `cd {moved}` first: dpl would look for {moved}/{normalized}",
                f"set `local_dir: $TRAVIS_BUILD_DIR/{normalized}` ({where}), or deploy Heroku from its own job",
            )
        )
    else:
        findings.append(ok("travis.local_dir", f"local_dir {local_dir} = Hugo's output directory"))

    keep_history = options.get("keep_history")
    if keep_history is True:
        findings.append(ok("travis.keep_history", "keep_history: true (each deploy is a commit on the pages branch)"))
    else:
        state = "false" if keep_history is False else "not set (dpl v1 defaults it to false)"
        findings.append(
            warn(
                "travis.keep_history",
                f"keep_history is {state}: each deploy force-pushes the pages branch and erases its history",
                f"add `keep_history: true` ({where})",
            )
        )

    token_key = "token" if "token" in options else "github_token" if "github_token" in options else None
    if token_key is None and options.get("deploy_key"):
        findings.append(ok("travis.token", "the pages deploy pushes with a deploy_key"))
    else:
        token = options.get(token_key) if token_key else None
        problem = secret_problem(token)
        if problem is None:
            findings.append(ok("travis.token", f"{token_key} comes from {_describe_secret(token)}"))
        elif token is not None and problem.endswith("literally"):
            findings.append(
                fail(
                    "travis.token",
                    f"the pages deploy's {token_key} is written into .travis.yml literally: "
                    "anyone who can read the repository can push to it",
                    "revoke that token on GitHub (Settings -> Developer settings -> "
                    "Personal access tokens), "
                    "store a new one as GITHUB_TOKEN in the repository's Travis settings "
                    f"(travis env set GITHUB_TOKEN ... --private), "
                    f"and write `token: $GITHUB_TOKEN` ({where})",
                )
            )
        else:
            findings.append(
                fail(
                    "travis.token",
                    "the pages deploy has no token: dpl cannot push to GitHub",
                    f"set GITHUB_TOKEN in the repository's Travis settings and add `token: $GITHUB_TOKEN` ({where})",
                )
            )

    strategy = options.get("strategy")
    if strategy not in (None, "git"):
        findings.append(
            warn(
                "travis.strategy",
                f"strategy: {strategy}: fqdn, local_dir and keep_history apply to the git strategy",
                f"set `strategy: git` ({where})",
            )
        )

    findings.append(check_site_build(deploy, site))
    return findings


def _relative_dir(directory: str) -> str:
    directory = re.sub(r"^\$\{?TRAVIS_BUILD_DIR\}?/?", "", directory.strip())
    while directory.startswith("./"):
        directory = directory[2:]
    return directory.rstrip("/") or "."


def _directory_change(commands: Iterable[str]) -> str | None:
    """The directory a before_deploy `cd`s into and does not leave (`cd -` and
    `cd $TRAVIS_BUILD_DIR` go back), or None."""
    moved = None
    for command in commands:
        for match in re.finditer(r"(?:^|&&|;|\|\|)\s*cd\s+(\S+)", command):
            target = match.group(1).strip("'\"")
            moved = None if target == "-" or "TRAVIS_BUILD_DIR" in target else target
    return moved


def check_site_build(deploy: Deploy, site: SiteConfig) -> Finding:
    builds = [command for command in deploy.job_commands if SITE_BUILD_COMMAND.search(command)]
    if not builds:
        return warn(
            "travis.site_build",
            f"the pages deploy's job ({deploy.where}) runs no site build (no `make site...`, "
            f"scripts/site.py or hugo): it would publish whatever {site.publish_dir}/ holds",
            "add `script: make site-production` to the deploy job in .travis.yml",
        )
    overrides = [command for command in builds if BUILD_OVERRIDE.search(command)]
    if overrides:
        return warn(
            "travis.site_build",
            f"the deploy builds with overridden URLs ({overrides[0]!r}), not config.toml's "
            "baseURL/backend_url: the doctor checks config.toml, so it cannot vouch for what is published",
            "build with config.toml's values (`make site-production`), or keep those variables equal to "
            "config.toml's baseURL and backend_url",
        )
    return ok("travis.site_build", f"the deploy job builds the site with config.toml's values ({builds[0]!r})")


def check_heroku_deploy(deploy: Deploy, site: SiteConfig) -> list[Finding]:
    where = f".travis.yml {deploy.where}, provider: heroku"
    options = deploy.options
    findings: list[Finding] = []
    api_key = options.get("api_key")
    problem = secret_problem(api_key)
    if problem is None:
        findings.append(ok("travis.heroku_api_key", f"api_key comes from {_describe_secret(api_key)}"))
    elif api_key is not None and problem.endswith("literally"):
        findings.append(
            fail(
                "travis.heroku_api_key",
                "the heroku deploy's api_key is written into .travis.yml "
                "literally: anyone who can read the repository can deploy (and delete) the app",
                "revoke it (heroku authorizations:revoke <id>, or regenerate the key in "
                "Account settings), "
                "store a new one as HEROKU_API_KEY in the repository's Travis settings, and write "
                f"`api_key: $HEROKU_API_KEY` ({where})",
            )
        )
    else:
        findings.append(
            fail(
                "travis.heroku_api_key",
                "the heroku deploy has no api_key",
                "store one as HEROKU_API_KEY in the repository's Travis settings "
                "(heroku authorizations:create) "
                f"and add `api_key: $HEROKU_API_KEY` ({where})",
            )
        )

    app = options.get("app")
    apps = [str(value) for value in app.values()] if isinstance(app, dict) else [str(app)] if app else []
    backend_app = heroku_app_from_host(site.backend_host)
    if not apps:
        findings.append(
            fail(
                "travis.heroku_app",
                "the heroku deploy has no app: dpl would guess it from the repository name",
                f"add `app: {backend_app or '<your app>'}` ({where})",
            )
        )
    elif backend_app is None:
        findings.append(
            ok(
                "travis.heroku_app",
                f"deploys to app {', '.join(apps)} (backend_url's host "
                f"{site.backend_host} is not a herokuapp.com name, so not compared)",
            )
        )
    elif not any(is_heroku_app_host(backend_app, name) for name in apps):
        if any(backend_app.startswith(f"{name}-") for name in apps):
            # Another app named after the deployed one (myapp-staging, myapp-dev): the site would talk to
            # a backend this deploy never updates, usually with another database and settings.
            findings.append(
                fail(
                    "travis.heroku_app",
                    f"the heroku deploy goes to app {', '.join(apps)}, but "
                    f"backend_url points at {site.backend_host}, the host of another app "
                    f"({backend_app}): the published site would talk to a backend this deploy "
                    "never updates",
                    f'set backend_url = "wss://{apps[0]}.herokuapp.com" in {site.path.name} (or the '
                    f"host `heroku domains -a {apps[0]}` shows), or, if {backend_app} is the "
                    f"production app, set `app: {backend_app}` ({where})",
                )
            )
        else:
            findings.append(
                fail(
                    "travis.heroku_app",
                    f"the heroku deploy goes to app {', '.join(apps)}, but backend_url points at {site.backend_host}",
                    f"set `app: {backend_app}` ({where}), "
                    f"or point backend_url at wss://{apps[0]}.herokuapp.com in {site.path.name}",
                )
            )
    else:
        findings.append(ok("travis.heroku_app", f"deploys to app {', '.join(apps)}, the host of backend_url"))

    if not any(re.search(r"\bcd\s+(\S*/)?backend\b", command) for command in deploy.before_deploy):
        findings.append(
            warn(
                "travis.heroku_dir",
                "the heroku deploy's job does not `cd backend` first: dpl uploads "
                "the working directory, and the Django project (manage.py, requirements.txt) "
                "is in backend/",
                f"add `before_deploy: cd backend` to that job ({where})",
            )
        )
    return findings


def is_heroku_app_host(host_app: str, app: str) -> bool:
    """Whether ``<host_app>.herokuapp.com`` is app ``app``'s host: its name, or its name and the
    random suffix Heroku gives newer apps. Not another app whose name starts the same
    (``app-staging``)."""
    if host_app == app:
        return True
    suffixed = HEROKU_RANDOM_SUFFIX.match(host_app)
    return bool(suffixed) and suffixed["app"] == app


def check_deploy_common(deploy: Deploy, branch: str) -> list[Finding]:
    """dpl v2 syntax and the branch a deploy runs from: the same rules for every provider."""
    where = f".travis.yml {deploy.where}, provider: {deploy.provider}"
    findings: list[Finding] = []
    if "skip_cleanup" in deploy.options:
        findings.append(
            fail(
                "travis.cleanup",
                f"the {deploy.provider} deploy uses skip_cleanup, a dpl v1 key that dpl v2 does not support",
                f"replace `skip_cleanup: true` with `cleanup: false` ({where})",
            )
        )
    elif deploy.options.get("cleanup") is True:
        findings.append(
            fail(
                "travis.cleanup",
                f"the {deploy.provider} deploy has cleanup: true: dpl would clean the "
                "working directory, build output included, before deploying",
                f"set `cleanup: false` ({where})",
            )
        )
    else:
        findings.append(ok("travis.cleanup", f"the {deploy.provider} deploy keeps the build output (dpl v2 `cleanup`)"))

    branches, all_branches = deploy_branches(deploy)
    restrict = f"add `on: {{branch: {branch}}}` ({where})"
    if all_branches and branches != {branch}:
        findings.append(
            fail(
                "travis.branch",
                f"the {deploy.provider} deploy runs on every branch (all_branches: true)",
                f"remove all_branches and {restrict}",
            )
        )
    elif not branches:
        findings.append(
            warn("travis.branch", f"the {deploy.provider} deploy does not say which branch it runs from", restrict)
        )
    elif branch not in branches:
        findings.append(
            fail(
                "travis.branch",
                f"the {deploy.provider} deploy runs only from {', '.join(sorted(branches))}, "
                f"but the default branch is {branch}: pushes to {branch} never deploy",
                f"set `on: {{branch: {branch}}}` and `if: branch = {branch}` ({where})",
            )
        )
    elif len(branches) > 1:
        others = ", ".join(sorted(branches - {branch}))
        findings.append(
            fail(
                "travis.branch",
                f"the {deploy.provider} deploy also runs from {others}: those pushes would publish unreviewed work",
                f"limit it to {branch}: {restrict}",
            )
        )
    else:
        findings.append(ok("travis.branch", f"the {deploy.provider} deploy runs from {branch} only"))
    return findings


# --- Checks: GitHub Actions workflows ------------------------------------------------------------


def _walk(node: object, path: str = "") -> Iterator[tuple[str, str, object]]:
    """(path, key, value) for every mapping entry in a YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, str(key), value
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{path}[{index}]")


def workflow_deploys_site(workflow: YamlFile) -> bool:
    """Whether a workflow publishes to GitHub Pages (peaceiris/actions-gh-pages, actions/deploy-pages
    or a push to gh-pages): then .travis.yml need not."""
    text = str(workflow.document)
    return any(marker in text for marker in ("gh-pages", "deploy-pages", "upload-pages-artifact"))


def check_workflows(workflows: Iterable[YamlFile], site_host: str | None) -> list[Finding]:
    """Custom domains (a `cname:` input, an `echo ... > CNAME`) equal to baseURL's host, and
    credentials in `with:`/`env:` taken from secrets or variables, never written literally."""
    workflows = list(workflows)
    if not workflows:
        return [skip("workflows.file", "no .github/workflows/*.yml")]
    findings: list[Finding] = []
    for workflow in workflows:
        relative = f".github/workflows/{workflow.path.name}"
        if workflow.problem:
            findings.append(
                fail(
                    "workflows.file",
                    f"{relative} is not valid YAML: {workflow.problem}",
                    f"fix the syntax in {relative}",
                )
            )
            continue
        domains: list[tuple[str, str]] = []
        for path, key, value in _walk(workflow.document):
            location = f"{relative} {path}.{key}" if path else f"{relative} {key}"
            if key.lower() in ("cname", "fqdn", "custom_domain") and isinstance(value, str) and value.strip():
                domains.append((location, value.strip().lower().rstrip(".")))
            if key == "run" and isinstance(value, str):
                domains += [(location, domain.lower()) for domain in CNAME_WRITE.findall(value)]
            if _is_literal_credential(path, key, value):
                findings.append(
                    fail(
                        "workflows.secrets",
                        f"{location} is written into the file literally",
                        f"revoke it, store a new one as a repository secret and write "
                        f"`{key}: ${{{{ secrets.NAME }}}}` ({relative})",
                    )
                )
        for location, domain in domains:
            if site_host is None:
                findings.append(skip("workflows.cname", f"{location} ({domain}) not compared: baseURL has no host"))
            elif domain != site_host:
                findings.append(
                    fail(
                        "workflows.cname",
                        f"{location} sets the custom domain {domain}, but baseURL's host is {site_host}",
                        f"set it to {site_host} ({relative})",
                    )
                )
            else:
                findings.append(ok("workflows.cname", f"{location} = baseURL's host {site_host}"))
        if not domains:
            settings = ""
            if "deploy-pages" in str(workflow.document) and site_host:
                # Pages deployed from an Actions artifact ignore CNAME files: the domain is a setting.
                settings = f"; actions/deploy-pages takes the custom domain from Settings -> Pages: {site_host}"
            findings.append(ok("workflows.cname", f"{relative} sets no custom domain of its own{settings}"))
    return findings


def _is_literal_credential(path: str, key: str, value: object) -> bool:
    """A step input (`with:`) or variable (`env:`) named like a credential whose value is neither
    an expression (${{ secrets.X }}) nor a shell variable reference."""
    in_inputs = path.endswith(".with") or path.endswith(".env") or path == "env"
    named_like_secret = any(word in key.lower() for word in SECRET_KEY_WORDS)
    if not (in_inputs and named_like_secret and isinstance(value, str) and value.strip()):
        return False
    return "${{" not in value and not ENV_REFERENCE.match(value.strip())


# --- Orchestration and the command line ----------------------------------------------------------


def offline_findings(repo: Path, *, env_file: str | None, branch: str | None = None) -> Iterator[Finding]:
    """Every offline check, in report order. Reads files, and runs `manage.py check --deploy`
    when an env file is given; contacts nothing on the network."""
    site = load_site_config(repo)
    travis = load_yaml_file(repo / ".travis.yml")
    workflows = load_workflows(repo)
    branch = branch or default_branch(repo)
    deploys = find_deploys(travis.document)
    deployment = deployment_for(site, deploys, branch)

    yield from check_site_config(site, heroku_app=_deployed_heroku_app(deploys, branch))
    yield from check_cname_files(find_cname_files(repo), site.base_host)
    workflows_deploy = any(workflow_deploys_site(workflow) for workflow in workflows if not workflow.problem)
    yield from check_travis(travis, site, branch, workflows_deploy=workflows_deploy)
    yield from check_workflows(workflows, site.base_host)

    if env_file is None:
        app = deployment.platform.heroku_app or "<app>"
        yield skip(
            "backend.settings",
            "backend settings not checked (no --env-file)",
            f"heroku config --shell -a {app} > /tmp/backend.env && make doctor ENV_FILE=/tmp/backend.env "
            "(or pipe it: --env-file -)",
        )
        return
    env = load_backend_env(env_file)
    yield from check_backend_env(env, deployment)
    if env.problem is None:
        progress(f"running manage.py check --deploy with the settings from {env.source} (DEBUG off) ...")
        yield from check_deploy_findings(run_check_deploy(env.values, backend_dir_for(repo)), deployment)


def _deployed_heroku_app(deploys: Iterable[Deploy], branch: str) -> str | None:
    """The app .travis.yml's Heroku deploy goes to (from ``branch``), for fixes; None without one."""
    for deploy in deploys:
        app = deploy.options.get("app") if deploy.provider == "heroku" else None
        if isinstance(app, dict):  # per branch
            app = app.get(branch) or next(iter(app.values()), None)
        if isinstance(app, str) and app:
            return app
    return None


def check_site_url(site_url: str, site: SiteConfig) -> Finding | None:
    """A WARN when the live site checked is not config.toml's (a loopback test site is not
    compared); None when they agree."""
    host = _host_of(site_url)
    if is_loopback(host) or site.site_origin is None or origin_of(site_url) == site.site_origin:
        return None
    return warn(
        "live.site_url",
        f"--site-url {site_url} is not config.toml's baseURL {site.base_url}: the live "
        "checks test another site than the one configured",
        f"run with --site-url {site.base_url}",
    )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Check that config.toml, the deploy configuration and the backend's settings agree, "
        "and (with --site-url) that the deployed site and backend work together.",
    )
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the repository to check (default: this one)")
    parser.add_argument(
        "--env-file",
        help="the backend's settings as KEY=VALUE lines (heroku config --shell -a APP); '-' reads standard input",
    )
    parser.add_argument("--site-url", help="the published site, e.g. https://chat.example.com/: runs the live checks")
    parser.add_argument(
        "--backend-url",
        help="the backend (wss://... or https://...) for the live checks; default: config.toml's backend_url",
    )
    parser.add_argument("--room", default="doctor", help="the room the live round trip posts to (default: doctor)")
    parser.add_argument(
        "--timeout-secs",
        type=float,
        default=10.0,
        help="network timeout of each live check (default: 10; a sleeping free dyno may need 30)",
    )
    parser.add_argument(
        "--default-branch", help="the branch deploys must be limited to (default: origin's HEAD, else main)"
    )
    return parser.parse_args(argv)


def live_platform(site: SiteConfig, deployment: Deployment, backend_url_option: str | None) -> BackendPlatform:
    """Where the backend checked live runs, for fix commands: config's (the Travis heroku app)
    unless --backend-url names another host."""
    if backend_url_option and _host_of(backend_url_option) != site.backend_host:
        return BackendPlatform(heroku_app_from_host(_host_of(backend_url_option)))
    return deployment.platform


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    repo = arguments.repo.resolve()
    branch = arguments.default_branch or default_branch(repo)
    findings: list[Finding] = []

    def report(finding: Finding) -> None:
        findings.append(finding)
        print(format_finding(finding), flush=True)

    print(f"Backchannel doctor: {repo}", flush=True)
    for finding in offline_findings(repo, env_file=arguments.env_file, branch=branch):
        report(finding)

    if arguments.site_url:
        from scripts.doctor_live import run_live_checks  # websockets is imported only when needed

        site = load_site_config(repo)
        deployment = deployment_for(site, find_deploys(load_yaml_file(repo / ".travis.yml").document), branch)
        mismatch = check_site_url(arguments.site_url, site)
        if mismatch:
            report(mismatch)
        for finding in run_live_checks(
            site_url=arguments.site_url,
            backend_url=arguments.backend_url or site.backend_url,
            room=arguments.room,
            timeout_secs=arguments.timeout_secs,
            platform=live_platform(site, deployment, arguments.backend_url),
        ):
            report(finding)
    else:
        report(
            skip(
                "live",
                "the deployed site and backend were not contacted (no --site-url)",
                "make doctor SITE_URL=https://<your site>/ (add ENV_FILE=... for the backend's settings)",
            )
        )

    print(summary_line(findings), flush=True)
    return exit_status(findings)


if __name__ == "__main__":
    sys.exit(main())
