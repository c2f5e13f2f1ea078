"""No deprecation from Hugo: this site and the theme's exampleSite build with the pinned Hugo
(requirements-run.txt) without a "deprecated" line, neither in scripts/site.py's build output (what
`make run` and `make site` print) nor at Hugo's info level, where Hugo announces a deprecation
before it turns it into a warning and then an error.

The themes support Hugo 0.131+ (theme.toml's min_version), so config and templates keep to what
both ends know: a language sets neither languageCode/languageName (deprecated in 0.158) nor
locale/label (unknown before 0.158); the switcher reads the language's params' language_name
(README, "Languages")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scripts.site import REPO_ROOT, build_site, find_hugo
from tests.site.support import BUILD_TIMEOUT_S, COMPONENT_DIR, read_config

pytestmark = pytest.mark.hugo

EXAMPLE_SITE = COMPONENT_DIR / "exampleSite"
SITES = {"this site": REPO_ROOT, "the exampleSite": EXAMPLE_SITE}
BACKEND_URL = "ws://127.0.0.1:45679"
BASE_URL = "http://127.0.0.1:8081/"
# Hugo's own language keys that one end of the supported range warns on or does not know.
VERSIONED_LANGUAGE_KEYS = {"languagecode", "languagename", "languagedirection", "locale", "label", "direction"}


def deprecation_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "deprecat" in line.lower()]


@pytest.mark.parametrize("name", SITES)
def test_the_build_prints_no_deprecation(name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=SITES[name])
    captured = capfd.readouterr()
    found = deprecation_lines(captured.out + captured.err)
    assert not found, f"building {name} with Hugo warns of deprecations:\n" + "\n".join(found)


@pytest.mark.parametrize("name", SITES)
def test_hugo_announces_no_deprecation_even_at_info_level(name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [find_hugo(), "--source", str(SITES[name]), "--destination", str(tmp_path / "public"), "--noBuildLock",
         "--logLevel", "info"],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = deprecation_lines(result.stdout + result.stderr)
    assert not found, f"Hugo --logLevel info on {name} announces deprecations:\n" + "\n".join(found)


def test_no_language_sets_a_key_only_one_end_of_the_hugo_range_knows() -> None:
    for code, language in read_config()["languages"].items():
        versioned = sorted(key for key in language if key.lower() in VERSIONED_LANGUAGE_KEYS)
        assert not versioned, (
            f"[languages.{code}] sets {versioned}: Hugo 0.158+ warns on languageCode/languageName/"
            "languageDirection and Hugo 0.131-0.157 ignores locale/label/direction; put the name in "
            f"[languages.{code}.params] language_name (README, 'Languages')"
        )
