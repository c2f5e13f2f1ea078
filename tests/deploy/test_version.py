"""One version: backend/backchannel/__init__.py's ``__version__`` is CHANGELOG.md's newest release."""

from __future__ import annotations

import re
from pathlib import Path

from backchannel import __version__

REPO_DIR = Path(__file__).resolve().parents[2]
RELEASE = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - (?P<date>\d{4}-\d{2}-\d{2})$", re.MULTILINE)


def test_the_changelogs_newest_release_is_the_version():
    changelog = (REPO_DIR / "CHANGELOG.md").read_text()
    releases = [match["version"] for match in RELEASE.finditer(changelog)]
    assert releases, "CHANGELOG.md has no '## [x.y.z] - YYYY-MM-DD' release heading"
    assert releases[0] == __version__, (
        f"CHANGELOG.md's newest release is {releases[0]}, backend/backchannel/__init__.py's __version__ is "
        f"{__version__}: give the release its heading in CHANGELOG.md (under [Unreleased]), or set __version__"
    )


def test_releases_are_listed_newest_first_with_unreleased_on_top():
    changelog = (REPO_DIR / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (.*)$", changelog, re.MULTILINE)
    assert headings[0] == "[Unreleased]", "CHANGELOG.md starts with '## [Unreleased]' (Keep a Changelog)"
    versions = [tuple(int(part) for part in match["version"].split(".")) for match in RELEASE.finditer(changelog)]
    assert len(versions) == len(headings) - 1, f"a release heading is not '## [x.y.z] - YYYY-MM-DD': {headings}"
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions), versions
