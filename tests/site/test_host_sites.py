"""Host sites other than the usual one, built with the real Hugo:

- the exampleSite's own theme (themes/backchannel/exampleSite/themes/host-theme) must stay as
  demanding as popular real themes, or the tests that build it stop catching what breaks there:
  no home or 404 layout, summaries as HTML on list pages (one post has its chat in the summary),
  RSS and a JSON search index, a table of contents from a regex over .Content, rem sizes on a
  62.5 % root font, a dark mode of its own. These tests pin that the fixture still does all that.
- tests/fixtures/sites/yaml-config: a site configured in YAML with Hugo's config directory
  (config/_default/hugo.yaml, and params.toml holding the chat's block as [backchannel]).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from scripts.site import REPO_ROOT, SiteBuildError, build_site, find_hugo
from tests.site.support import Page, local_file, parse_page, subresources

EXAMPLE_SITE = REPO_ROOT / "themes" / "backchannel" / "exampleSite"
HOST_THEME = EXAMPLE_SITE / "themes" / "host-theme"
YAML_SITE = REPO_ROOT / "tests" / "fixtures" / "sites" / "yaml-config"
# config/_default/params.toml of the YAML site.
PARAMS_TOML_BACKEND_URL = "ws://params-toml.example.test:8123"
BACKEND_URL = "ws://127.0.0.1:45679"
BASE_URL = "http://127.0.0.1:8081/"
BUILD_TIMEOUT_S = 120


def widgets(page: Page) -> list[str]:
    """The rooms of the page's chat widgets, in document order: <backchannel-chat room> custom
    elements where the widget is one, else <section class="bc-chat" data-bc-room> elements."""
    custom = [element.attrs.get("room") or "" for element in page.find_all("backchannel-chat")]
    return custom or [widget.attrs.get("data-bc-room") or "" for widget in page.with_class("bc-chat")]


def our_scripts(page: Page) -> list[str]:
    return [url for element, url in subresources(page) if element.tag == "script" and "/backchannel/" in url]


def head_of(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    return html[: html.index("<body")]


def build_with_the_sites_own_config(source: Path, destination: Path) -> Path:
    """`hugo` on ``source`` with nothing from the environment overriding its config (build_site
    always overrides backend_url, which is the value these tests check comes from the config)."""
    environment = {name: value for name, value in os.environ.items() if not name.upper().startswith("HUGO")}
    command = [find_hugo(), "--source", str(source), "--destination", str(destination),
               "--cleanDestinationDir", "--noBuildLock"]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if result.returncode != 0:
        raise SiteBuildError(f"Hugo build failed (exit {result.returncode}):\n{result.stderr}")
    return destination


# --- The exampleSite's host theme is as demanding as real themes --------------------------------


@pytest.fixture(scope="module")
def host_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(BACKEND_URL, tmp_path_factory.mktemp("host"), base_url=BASE_URL, source=EXAMPLE_SITE)


def test_the_host_theme_has_no_home_and_no_404_layout(host_site: Path) -> None:
    layouts = HOST_THEME / "layouts"
    for name in ("index.html", "home.html", "404.html", "_default/index.html", "_default/home.html"):
        assert not (layouts / name).exists(), f"host-theme has layouts/{name}: the home page must come from list.html"
    home = parse_page(host_site / "index.html")
    # The host's _default/list.html rendered it: its header and its list of summaries.
    assert home.with_class("host-header") and home.with_class("host-list")


def test_the_host_stylesheet_sizes_in_rem_on_a_62_5_percent_root() -> None:
    css = re.sub(r"/\*.*?\*/", "", (HOST_THEME / "static" / "css" / "host.css").read_text(encoding="utf-8"), flags=re.S)
    css = " ".join(css.split())
    assert re.search(r"(^|\})\s*html \{[^}]*font-size: 62\.5%", css)
    assert re.search(r"(^|\})\s*body \{[^}]*font: [\d.]+rem", css)
    # Content rules that reach any element in the page body, the widget's too.
    assert re.search(r"\.post-content h2 \{[^}]*font-size: 3\.2rem;[^}]*text-align: center", css)
    assert ".post-content p:not(:last-child) {" in css
    assert ".post-content button, .post-content input, .post-content textarea {" in css
    assert re.search(r"\.post-content ul \{[^}]*list-style: square", css)
    assert re.search(r'\[data-theme="dark"\] body \{[^}]*background: #1d1e20', css)


def test_the_dark_mode_script_is_a_file_run_in_head_before_the_body(host_site: Path) -> None:
    for name in ("index.html", "chat/index.html", "about/index.html"):
        page = parse_page(host_site / name)
        assert re.search(r'<script src="?/js/host-theme\.js"?>', head_of(host_site / name)), name
        [host_script] = [script for script in page.find_all("script") if script.attrs.get("src") == "/js/host-theme.js"]
        assert "defer" not in host_script.attrs and "async" not in host_script.attrs
        assert page.find_all("button", id="theme-toggle"), name
        # No inline script anywhere: the site may send a CSP without 'unsafe-inline'.
        assert all(script.attrs.get("src") for script in page.find_all("script")), name
    script = (HOST_THEME / "static" / "js" / "host-theme.js").read_text(encoding="utf-8")
    assert '"host-theme"' in script and "data-theme" in script and "prefers-color-scheme: dark" in script


def test_list_pages_print_summaries_so_the_chat_in_one_lands_on_them(host_site: Path) -> None:
    # content/chat.md has its chat before <!--more-->; posts/tea.md after it.
    for name in ("index.html", "tags/chat/index.html"):
        assert widgets(parse_page(host_site / name)) == ["lobby"], name
    for name in ("posts/index.html", "tags/tea/index.html", "about/index.html"):
        assert widgets(parse_page(host_site / name)) == [], name
    assert widgets(parse_page(host_site / "chat" / "index.html")) == ["lobby"]
    assert widgets(parse_page(host_site / "posts" / "tea" / "index.html")) == ["tea"]


def test_feeds_and_the_search_index_are_built(host_site: Path) -> None:
    for feed in ("index.xml", "posts/index.xml", "tags/chat/index.xml"):
        assert "<rss" in (host_site / feed).read_text(encoding="utf-8"), feed
    assert "/chat/" in (host_site / "index.xml").read_text(encoding="utf-8")
    entries = {entry["title"]: entry for entry in json.loads((host_site / "index.json").read_text(encoding="utf-8"))}
    assert set(entries) == {"Chat", "Tea room", "About"}
    assert all(entry["content"] for entry in entries.values())
    assert entries["Chat"]["permalink"] == f"{BASE_URL}chat/"


def test_single_pages_get_a_toc_of_every_heading_in_the_content(host_site: Path) -> None:
    for name in ("chat/index.html", "posts/tea/index.html"):
        html = (host_site / name).read_text(encoding="utf-8")
        body = html[re.search(r'class="?post-content', html).start():]
        headings = re.findall(r"<h[2-4][\s>]", body)
        links = parse_page(host_site / name).find_all("a")
        toc = [a for a in links if (a.attrs.get("href") or "").startswith("#")]
        assert len(toc) == len(headings) > 0, name
    toc_targets = [a.attrs["href"] for a in parse_page(host_site / "chat" / "index.html").find_all("a")]
    assert "#after-the-summary" in toc_targets


# --- A site configured in YAML, with the config directory and params.toml -----------------------


def test_the_yaml_site_keeps_its_config_in_the_config_directory() -> None:
    default = YAML_SITE / "config" / "_default"
    assert sorted(path.name for path in default.iterdir()) == ["hugo.yaml", "params.toml"]
    assert not [path.name for path in YAML_SITE.iterdir() if path.suffix in (".toml", ".yaml", ".yml", ".json")]
    params = tomllib.loads((default / "params.toml").read_text(encoding="utf-8"))
    assert params == {"backchannel": {"backend_url": PARAMS_TOML_BACKEND_URL}}


@pytest.fixture(scope="module")
def yaml_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_with_the_sites_own_config(YAML_SITE, tmp_path_factory.mktemp("yaml-config") / "public")


def test_the_yaml_site_has_the_widget(yaml_site: Path) -> None:
    page = parse_page(yaml_site / "lobby" / "index.html")
    assert page.with_class("yaml-site"), "the site's own baseof did not render the page"
    assert widgets(page) == ["lobby"]
    assert len(our_scripts(page)) == 1


def test_the_yaml_site_uses_the_backend_url_from_params_toml(yaml_site: Path) -> None:
    page = parse_page(yaml_site / "lobby" / "index.html")
    [script] = our_scripts(page)
    bundle = local_file(yaml_site, script).read_text(encoding="utf-8")
    assert PARAMS_TOML_BACKEND_URL in bundle


def test_the_environment_override_beats_params_toml(tmp_path: Path) -> None:
    built = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=YAML_SITE)
    [script] = our_scripts(parse_page(built / "lobby" / "index.html"))
    bundle = local_file(built, script).read_text(encoding="utf-8")
    assert BACKEND_URL in bundle
    assert PARAMS_TOML_BACKEND_URL not in bundle
