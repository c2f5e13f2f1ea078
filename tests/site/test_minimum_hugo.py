"""Both sites built with the oldest Hugo the themes promise (theme.toml's min_version), Debian's
package of it (scripts/minimum_hugo.py, fetched by `make install`): the build succeeds, within
the bundle budgets, and gives a visitor the same pages and the same working widget as the pinned
Hugo's build. Without this, the themes drift onto what only the newest Hugo has while their
theme.toml still promises the old one (hugo.Sites and strings.TrimSpace once broke 0.128-0.155)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from scripts.minimum_hugo import BINARY_ENV, LIBRARIES_HINT, cached_binary, minimum_hugo_version, reported_version
from scripts.site import build_site
from tests.site.support import COMPONENT_DIR, chats, check_widget_subresources, parse_page

pytestmark = pytest.mark.hugo

BACKEND_URL = "ws://127.0.0.1:45680"
BASE_URL = "http://127.0.0.1:8082/"
EXAMPLE_SITE = COMPONENT_DIR / "exampleSite"


@pytest.fixture(scope="module")
def minimum_hugo() -> str:
    binary = Path(os.environ.get(BINARY_ENV) or cached_binary())
    if not binary.is_file():
        pytest.fail(
            f"Hugo {minimum_hugo_version()} (the themes' minimum) is not at {binary}: run `make install` "
            f"(it runs `python -m scripts.minimum_hugo`), or set {BINARY_ENV} to a Hugo {minimum_hugo_version()}. "
            f"Debian's build needs: {LIBRARIES_HINT}"
        )
    return str(binary)


def is_redirect(path: Path) -> bool:
    """One of Hugo's alias pages: a meta refresh to another address, nothing else."""
    return re.search(r'http-equiv="?refresh', path.read_text(encoding="utf-8")) is not None


def built_pages(site: Path) -> dict[str, int]:
    """Each HTML page of a build, by path, with how many chat widgets it holds. Redirect pages are
    left out: before 0.140 Hugo writes one more, /en/ to / (config.toml, disableDefaultLanguageRedirect)."""
    return {
        path.relative_to(site).as_posix(): len(chats(parse_page(path)))
        for path in sorted(site.rglob("*.html"))
        if not is_redirect(path)
    }


def chat_attributes(page: Path) -> list[dict[str, str | None]]:
    """What the widget is told (room, page, home, the strings file, the colour scheme...), without the
    fingerprinted URLs, which differ between Hugo versions' bundlers."""
    return [
        {name: value for name, value in chat.attrs.items() if name not in {"strings", "integrity"}}
        for chat in chats(parse_page(page))
    ]


@pytest.fixture(scope="module")
def builds(minimum_hugo: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """(the pinned Hugo's build, the minimum Hugo's build) of our own site and of the exampleSite."""
    out = {}
    for name, source in (("own", None), ("example", EXAMPLE_SITE)):
        kwargs = {"source": source} if source else {}
        pinned = build_site(BACKEND_URL, tmp_path_factory.mktemp(f"{name}-pinned"), BASE_URL, **kwargs)
        oldest = build_site(
            BACKEND_URL, tmp_path_factory.mktemp(f"{name}-minimum"), BASE_URL, hugo=minimum_hugo, **kwargs
        )
        out[name] = (pinned, oldest)
    return out


def test_the_minimum_hugo_is_the_version_the_themes_name(minimum_hugo: str) -> None:
    assert reported_version(Path(minimum_hugo)) == minimum_hugo_version()


@pytest.mark.parametrize("site", ["own", "example"])
def test_the_minimum_hugo_builds_the_same_pages(builds: dict[str, tuple[Path, Path]], site: str) -> None:
    pinned, oldest = builds[site]
    pinned_pages, oldest_pages = built_pages(pinned), built_pages(oldest)
    assert oldest_pages == pinned_pages, "pages (and their chat widgets) differ between the two Hugo versions"
    assert sum(oldest_pages.values()) > 0, "no page has a chat"


@pytest.mark.parametrize("site", ["own", "example"])
def test_the_widget_is_told_the_same_and_loads_whole(builds: dict[str, tuple[Path, Path]], site: str) -> None:
    pinned, oldest = builds[site]
    with_chat = [path for path, count in built_pages(oldest).items() if count]
    for relative in with_chat:
        assert chat_attributes(oldest / relative) == chat_attributes(pinned / relative), relative
    # The script, its stylesheet, its chunks and strings are there, each with a matching integrity.
    check_widget_subresources(oldest, parse_page(oldest / with_chat[0]))


def test_our_site_names_every_language_version_on_the_minimum_hugo(builds: dict[str, tuple[Path, Path]]) -> None:
    """The hreflang alternates need the default language, read one way before Hugo 0.156 and
    another after (partials/backchannel-site/default-language.html)."""
    pinned, oldest = builds["own"]
    for site in (pinned, oldest):
        links = parse_page(site / "index.html").find_all("link", rel="alternate")
        default = [link.attrs["href"] for link in links if link.attrs.get("hreflang") == "x-default"]
        assert default == [f"{BASE_URL}"], site
