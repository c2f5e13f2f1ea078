"""The table of settings (backchannel/setting_specs.py) is the one source of each setting's default:
settings.py reads exactly its environment variables, chat.conf serves them, and README.md's
configuration table, ARCHITECTURE.md's limits table, the prose that quotes a default and the
deploy files say what it says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from backchannel import setting_specs as specs
from backchannel import websocket_limits
from backchannel.env import Env
from backchannel.setting_specs import ENVIRONMENT_SETTINGS, SETTINGS, SettingSpec
from chat.conf import conf
from tests.backend.test_settings import PRODUCTION_ENV, run_backend

REPO_DIR = Path(__file__).resolve().parents[2]
TABLE_FILE = "backend/backchannel/setting_specs.py"
ENVIRONMENT_NAMES = {spec.name for spec in ENVIRONMENT_SETTINGS}


def markdown_table(path: Path, heading: str) -> list[list[str]]:
    """The cells of each body row of the first table under ``heading``."""
    text = path.read_text(encoding="utf-8")
    section = text[text.index(heading + "\n") :]
    lines = [line for line in section.split("\n\n")[1].splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def documented_defaults(path: Path, heading: str, separator: str) -> dict[str, str]:
    """Each setting a table names in its first column, with the default its second column gives
    it: a row naming several (`A`, `B`) gives their defaults in the same order, ``separator``
    between them."""
    stated: dict[str, str] = {}
    for row in markdown_table(path, heading):
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", row[0])
        defaults = row[1].split(separator) if len(names) > 1 else [row[1]]
        assert len(defaults) == len(names), (
            f"{path.name}: the row for {', '.join(names)} gives {len(defaults)} defaults for {len(names)} settings "
            f"(write them in the same order, separated by {separator!r})"
        )
        stated.update(zip(names, defaults, strict=True))
    return stated


def default_mismatches(stated: dict[str, str], where: str) -> list[str]:
    return [
        f"{where} gives {name} the default {shown!r}; {TABLE_FILE} says {specs.BY_NAME[name].display_default!r}: "
        f"write that"
        for name, shown in stated.items()
        if name in specs.BY_NAME and shown != specs.BY_NAME[name].display_default
    ]


def test_each_spec_is_named_after_its_variable_and_its_default_is_within_its_bounds():
    for spec in SETTINGS:
        assert getattr(specs, spec.name) is spec, f"{TABLE_FILE}: {spec.name} is declared under another name"
        if spec.kind in ("int", "float"):
            assert spec.minimum is None or spec.default >= spec.minimum, spec.name
            assert spec.maximum is None or spec.default <= spec.maximum, spec.name
        if spec.kind == "choice":
            assert spec.default in spec.choices, spec.name


def test_the_readme_lists_exactly_the_environment_settings_with_their_defaults():
    stated = documented_defaults(REPO_DIR / "README.md", "### Backend (environment variables)", ", ")
    missing = [spec for spec in ENVIRONMENT_SETTINGS if spec.name not in stated]
    unknown = sorted(stated.keys() - ENVIRONMENT_NAMES)
    problems = [
        f"README.md's configuration table lacks {spec.name}: add the row "
        f"| `{spec.name}` | {spec.display_default} | {spec.doc} |"
        for spec in missing
    ]
    problems += [
        f"README.md's configuration table lists {name}, which is not an environment variable of {TABLE_FILE}: "
        "remove the row, or declare the setting there"
        for name in unknown
    ]
    problems += default_mismatches(stated, "README.md's configuration table")
    assert not problems, "\n".join(problems)


def test_the_architecture_limits_table_gives_each_limit_its_default():
    stated = documented_defaults(
        REPO_DIR / "ARCHITECTURE.md", "### Limits (each an environment variable; defaults shown)", " / "
    )
    assert {"MESSAGE_BURST", "MAX_SOCKETS_PER_IP", "AUTH_TIMEOUT_SECS"} <= stated.keys()
    problems = [
        f"ARCHITECTURE.md's limits table lists {name}, which is not an environment variable of {TABLE_FILE}"
        for name in sorted(stated.keys() - ENVIRONMENT_NAMES)
    ]
    problems += default_mismatches(stated, "ARCHITECTURE.md's limits table")
    assert not problems, "\n".join(problems)


# "`SOCKET_LEASE_SECS` (30 s)", "SHUTDOWN_GRACE_SECS (5 s)", "`SLOW_SOCKET_BUFFER_BYTES` (1 MiB)",
# "`IDENTITY_RENEW_MAX_AGE_SECS` (30 days, ...)": a default quoted in prose, in brackets right after
# the setting's name (internal constants included).
QUOTED_DEFAULT = re.compile(r"\b([A-Z][A-Z0-9_]+)`?\s\((\d[\d,]*(?:\.\d+)?)(?:\s(s|KiB|MiB|days))?(?=[\s),;])")
UNIT_FACTORS = {None: 1, "s": 1, "KiB": 1024, "MiB": 1024 * 1024, "days": 24 * 3600}
PROSE_FILES = [
    "README.md",
    "ARCHITECTURE.md",
    "deploy/selfhost/README.md",
    "deploy/selfhost/supervisor.conf",
    "deploy/selfhost/backchannel.service",
    "deploy/compose/nginx.conf",
    "deploy/selfhost/nginx.conf",
]


def test_defaults_quoted_in_prose_are_the_tables():
    problems, quoted = [], 0
    for relative in PROSE_FILES:
        for match in QUOTED_DEFAULT.finditer((REPO_DIR / relative).read_text(encoding="utf-8")):
            name, number, unit = match.groups()
            spec = specs.BY_NAME.get(name)
            if spec is None or spec.kind not in ("int", "float"):
                continue
            quoted += 1
            factor = 1 if unit == "days" and name.endswith("_DAYS") else UNIT_FACTORS[unit]
            if float(number.replace(",", "")) * factor != spec.default:
                problems.append(
                    f"{relative} quotes {match.group(0)!r}, but {name}'s default is {spec.display_default} "
                    f"({TABLE_FILE}): correct the text"
                )
    assert quoted >= 5, "the pattern no longer finds the quoted defaults: update QUOTED_DEFAULT"
    assert not problems, "\n".join(problems)


def test_a_page_of_messages_fits_in_the_servers_largest_frame():
    """daphne's and uvicorn's frame limit (twice MAX_FRAME_BYTES' default) caps outbound frames too."""
    assert websocket_limits.MAX_MESSAGE_BYTES == 2 * specs.MAX_FRAME_BYTES.default
    assert specs.PAGE_BUDGET_BYTES.default < websocket_limits.MAX_MESSAGE_BYTES


def test_nginx_holds_sockets_per_address_to_the_backends_limit():
    """The self-hosted nginx refuses a visitor's sockets past MAX_SOCKETS_PER_IP's default itself,
    so the two agree on when a visitor has too many (the README there says so)."""
    nginx = (REPO_DIR / "deploy" / "selfhost" / "nginx.conf").read_text(encoding="utf-8")
    websocket_location = nginx[nginx.index("location /ws/") :].split("}", 1)[0]
    (per_address,) = re.findall(r"limit_conn backchannel_conn_per_ip (\d+);", websocket_location)
    readme = (REPO_DIR / "deploy" / "selfhost" / "README.md").read_text(encoding="utf-8")
    (in_readme,) = re.findall(r"(\d+) open sockets, the backend's `MAX_SOCKETS_PER_IP` default", readme)
    default = specs.MAX_SOCKETS_PER_IP.default
    assert int(per_address) == default, f"deploy/selfhost/nginx.conf: /ws/ limit_conn {per_address}; make it {default}"
    assert int(in_readme) == default, f"deploy/selfhost/README.md says {in_readme} open sockets; make it {default}"


@pytest.mark.parametrize("path", ["deploy/selfhost/backchannel.env.example"])
def test_every_variable_an_example_env_file_sets_is_a_setting(path):
    lines = (REPO_DIR / path).read_text(encoding="utf-8").splitlines()
    names = {line.lstrip("# ").split("=", 1)[0] for line in lines if re.match(r"#? ?[A-Z][A-Z0-9_]*=", line)}
    assert names and not names - ENVIRONMENT_NAMES, f"{path} sets {sorted(names - ENVIRONMENT_NAMES)}, not settings"


@pytest.mark.process
def test_settings_read_exactly_the_tables_environment_variables():
    """Every variable settings.py reads is in the table and every one in the table is read (with
    DEBUG off, so the production-only ones too): no default can hide in settings.py."""
    code = (
        "import json, backchannel.env as env_module\n"
        "read = set()\n"
        "class Recording(dict):\n"
        "    def get(self, key, default=None):\n"
        "        read.add(key)\n"
        "        return super().get(key, default)\n"
        "original = env_module.Env.__init__\n"
        "env_module.Env.__init__ = lambda self, environ=None: original(self, Recording(env_module.os.environ))\n"
        "import backchannel.settings\n"
        "print(json.dumps(sorted(read)))\n"
    )
    result = run_backend(code, PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    read = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert read - ENVIRONMENT_NAMES == set(), f"settings.py reads variables missing from {TABLE_FILE}"
    assert ENVIRONMENT_NAMES - read == set(), f"{TABLE_FILE} declares variables settings.py never reads"


# The Backchannel settings, and the Redis ones the chat app's Redis clients take from conf too.
CONF_SERVED = [spec for spec in SETTINGS if spec.prefixed or spec.name.startswith("REDIS_") and spec.kind != "list"]


@pytest.mark.parametrize("spec", CONF_SERVED, ids=[spec.name for spec in CONF_SERVED])
def test_conf_serves_each_setting_with_the_tables_default(spec: SettingSpec, settings):
    if hasattr(settings, spec.setting_name):
        delattr(settings, spec.setting_name)
    expected = list(spec.default) if isinstance(spec.default, tuple) else spec.default
    assert getattr(conf, spec.name) == expected


def test_conf_reads_a_changed_setting_on_the_next_access(settings):
    assert conf.MAX_TEXT_CHARS != 123  # read (and kept: conf keeps numbers until a setting changes)
    settings.BACKCHANNEL_MAX_TEXT_CHARS = 123
    settings.BACKCHANNEL_PAGE_BUDGET_BYTES = 4096  # an internal constant, set the way tests set it
    assert (conf.MAX_TEXT_CHARS, conf.PAGE_BUDGET_BYTES) == (123, 4096)
    del settings.BACKCHANNEL_MAX_TEXT_CHARS
    assert conf.MAX_TEXT_CHARS == specs.MAX_TEXT_CHARS.default


def test_conf_gives_each_caller_a_list_of_its_own():
    names = conf.RESERVED_NAMES
    names.append("mine")
    assert "mine" not in conf.RESERVED_NAMES


BOUNDED = [spec for spec in ENVIRONMENT_SETTINGS if spec.kind in ("int", "float") and spec.minimum]


@pytest.mark.parametrize("spec", BOUNDED, ids=[spec.name for spec in BOUNDED])
def test_a_value_outside_the_bounds_stops_start_up_naming_the_variable(spec: SettingSpec):
    below = spec.minimum - 1 if spec.kind == "int" else spec.minimum / 2
    raw = str(int(below)) if spec.kind == "int" else str(below)
    with pytest.raises(ImproperlyConfigured, match=rf"^{spec.name}=.* must be at least"):
        Env({spec.name: raw}).setting(spec)
    with pytest.raises(ImproperlyConfigured, match=rf"^{spec.name}='many'"):
        Env({spec.name: "many"}).setting(spec)
    assert Env({}).setting(spec) == spec.default


def test_an_internal_constant_is_not_read_from_the_environment():
    with pytest.raises(ValueError, match="PAGE_BUDGET_BYTES is an internal constant"):
        Env({"PAGE_BUDGET_BYTES": "1"}).setting(specs.PAGE_BUDGET_BYTES)
