"""The theme as a component of somebody else's site: the real Hugo build of
themes/backchannel/exampleSite, whose own theme (exampleSite/themes/host-theme) comes first and
knows nothing about Backchannel, with one [params.backchannel] block and a page holding
{{< chat room="lobby" >}}. The chat shortcode must bring the widget's stylesheet and script
itself, once, and nothing of this theme's page chrome or CSP. This theme's own pages must still
carry each asset once, in <head>, also after `hugo server` re-renders them. A Hugo older than the
theme's minimum fails either build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from scripts.processes import free_port
from scripts.site import REPO_ROOT, SiteBuildError, build_site, find_hugo
from tests.site.support import Page, copy_site_source, local_file, parse_page, sri_sha384

THEME_DIR = REPO_ROOT / "themes" / "backchannel"
EXAMPLE_SITE = THEME_DIR / "exampleSite"
REQUIRE_HUGO = THEME_DIR / "layouts" / "partials" / "backchannel" / "require-hugo.html"
BACKEND_URL = "ws://127.0.0.1:45679"
BASE_URL = "http://127.0.0.1:8081/"
MINIMUM_HUGO = "0.128.0"
# What a site running somebody else's theme writes, with this theme in themes/backchannel.
THEME_LINE = 'theme = ["host-theme", "../.."]'
# Build output of `hugo` run inside the exampleSite, which a copy of the theme must leave behind.
BUILD_LEFTOVERS = shutil.ignore_patterns("public", "resources", ".hugo_build.lock")


def ours(page: Page) -> tuple[list[str], list[str]]:
    """The page's Backchannel stylesheets and scripts (their URLs), in document order."""
    stylesheets = [link.attrs["href"] for link in page.find_all("link", rel="stylesheet")
                   if "/backchannel/" in (link.attrs.get("href") or "")]
    scripts = [script.attrs["src"] for script in page.find_all("script")
               if "/backchannel/" in (script.attrs.get("src") or "")]
    return stylesheets, scripts


def split_head_body(path: Path) -> tuple[str, str]:
    html = path.read_text(encoding="utf-8")
    start = html.index("<body")
    return html[:start], html[start:]


ASSET_TAG = re.compile(r'<(?:link[^>]*rel="?stylesheet"?[^>]*href="?/backchannel/|script[^>]*src="?/backchannel/)')


def css_selectors(css: str) -> list[str]:
    """Every selector of every style rule in ``css`` (at-rule preludes and keyframe steps left out)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    selectors = []
    for prelude in re.findall(r"([^{}]+)\{", css):
        prelude = prelude.strip()
        if prelude.startswith("@"):
            continue
        # Commas inside :where(…), :is(…), :not(…) do not separate selectors.
        for selector in re.split(r",(?![^()]*\))", prelude):
            selector = " ".join(selector.split())
            if selector and not re.fullmatch(r"from|to|[\d.]+%", selector):
                selectors.append(selector)
    return selectors


def copy_theme(destination: Path) -> Path:
    """A copy of this theme (its exampleSite included) at ``destination``/themes/backchannel."""
    theme = destination / "themes" / "backchannel"
    shutil.copytree(THEME_DIR, theme, ignore=BUILD_LEFTOVERS)
    return theme


def demand_a_newer_hugo(theme: Path) -> None:
    """Make the copied theme's version check demand Hugo 999.0.0, as if this Hugo were too old."""
    rewritten = 0
    for template in (theme / "layouts").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if MINIMUM_HUGO in text:
            template.write_text(text.replace(MINIMUM_HUGO, "999.0.0"), encoding="utf-8")
            rewritten += 1
    assert rewritten, f"no layout of the theme names Hugo {MINIMUM_HUGO}"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(BACKEND_URL, tmp_path_factory.mktemp("example"), base_url=BASE_URL, source=EXAMPLE_SITE)


@pytest.fixture(scope="module")
def chat_page(example_site: Path) -> Page:
    return parse_page(example_site / "chat" / "index.html")


@pytest.fixture(scope="module")
def own_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(BACKEND_URL, tmp_path_factory.mktemp("own"), base_url=BASE_URL)


# --- The exampleSite: this theme as a component of another --------------------------------------


def test_the_example_site_uses_the_documented_theme_list() -> None:
    config = tomllib.loads((EXAMPLE_SITE / "hugo.toml").read_text(encoding="utf-8"))
    assert config["theme"] == ["host-theme", "../.."]
    assert config["params"]["backchannel"] == {"backend_url": "ws://localhost:8000"}


def test_the_host_themes_layout_renders_the_page(chat_page: Page) -> None:
    assert chat_page.with_class("host-header"), "the host theme's header is missing: its baseof did not win"
    assert chat_page.find_all("link", rel="stylesheet", href="/css/host.css")
    assert chat_page.find_all("body", **{"class": "host-body"})
    # Nothing of this theme's own page chrome.
    assert not chat_page.with_class("bc-site-header")
    assert not chat_page.with_class("bc-page")


def test_the_shortcode_puts_the_widget_in_the_host_page(chat_page: Page) -> None:
    widgets = chat_page.with_class("bc-chat")
    assert len(widgets) == 1
    assert widgets[0].attrs["data-bc-room"] == "lobby"
    assert widgets[0].attrs["data-bc-strings"]


def test_one_stylesheet_and_one_script_come_before_the_widget(chat_page: Page, example_site: Path) -> None:
    stylesheets, scripts = ours(chat_page)
    assert len(stylesheets) == 1, stylesheets
    assert len(scripts) == 1, scripts
    assert re.search(r"/backchannel/js/main\.", scripts[0])
    head, body = split_head_body(chat_page.path)
    # The host's <head> knows nothing of us: both come with the shortcode, ahead of the widget.
    assert not ASSET_TAG.search(head)
    widget_at = body.index('class="bc-chat"') if 'class="bc-chat"' in body else body.index("class=bc-chat")
    assert len(ASSET_TAG.findall(body[:widget_at])) == 2


def test_the_stylesheet_and_script_carry_a_matching_integrity(chat_page: Page, example_site: Path) -> None:
    tags = [tag for tag in chat_page.find_all("link") + chat_page.find_all("script")
            if "/backchannel/" in (tag.attrs.get("href") or tag.attrs.get("src") or "")]
    assert len(tags) == 2
    for tag in tags:
        url = tag.attrs.get("href") or tag.attrs["src"]
        assert tag.attrs.get("integrity") == sri_sha384(local_file(example_site, url)), url


def test_the_stylesheet_is_the_widget_only_one(chat_page: Page, example_site: Path) -> None:
    (stylesheet,) = ours(chat_page)[0]
    selectors = css_selectors(local_file(example_site, stylesheet).read_text(encoding="utf-8"))
    assert selectors
    assert not [s for s in selectors if re.match(r"(html|body)\b", s)], "a rule for the host's html/body"
    # Every rule is the widget's: scoped to a .bc- class, or the custom property defaults.
    assert [s for s in selectors if ".bc-" not in s and s != ":where(:root)"] == []


def test_the_host_site_gets_no_csp_from_us(example_site: Path) -> None:
    for path in sorted(example_site.rglob("*.html")):
        metas = parse_page(path).find_all("meta")
        assert not [m for m in metas if (m.attrs.get("http-equiv") or "").lower() == "content-security-policy"], path


def test_host_pages_without_a_chat_get_nothing_from_us(example_site: Path) -> None:
    """The host theme prints summaries as HTML on its list pages and content/chat.md has its chat
    in the summary, so the home and tag pages have a widget too; every page without one gets
    nothing from us. (The host theme has no 404 layout, like some popular themes.)"""
    without_chat = set()
    for path in sorted(example_site.rglob("*.html")):
        page = parse_page(path)
        if not (page.with_class("bc-chat") or page.find_all("backchannel-chat")):
            without_chat.add(path.relative_to(example_site).as_posix())
            assert ours(page) == ([], []), path
    assert {"about/index.html", "posts/index.html", "tags/tea/index.html"} <= without_chat


@pytest.mark.parametrize("theme_path", ["backchannel", "backchannel-repo/themes/backchannel"])
def test_the_documented_install_layouts_build(tmp_path: Path, theme_path: str) -> None:
    """README "Install": the theme copied (or a submodule of its own) in themes/backchannel, or the
    whole repository as a submodule in themes/backchannel-repo; theme = ["their-theme", <that>]."""
    source = tmp_path / "site"
    shutil.copytree(EXAMPLE_SITE, source, ignore=BUILD_LEFTOVERS)
    shutil.copytree(THEME_DIR, source / "themes" / theme_path, ignore=shutil.ignore_patterns("exampleSite"))
    config = source / "hugo.toml"
    text = config.read_text(encoding="utf-8")
    assert THEME_LINE in text
    config.write_text(text.replace(THEME_LINE, f'theme = ["host-theme", "{theme_path}"]'), encoding="utf-8")
    built = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=source)
    page = parse_page(built / "chat" / "index.html")
    assert page.with_class("host-header") and page.with_class("bc-chat")
    assert [len(urls) for urls in ours(page)] == [1, 1]


def test_several_chats_in_one_page_share_one_stylesheet_and_script(tmp_path: Path) -> None:
    source = tmp_path / "site"
    shutil.copytree(EXAMPLE_SITE, source, ignore=BUILD_LEFTOVERS)
    source.joinpath("hugo.toml").write_text(
        source.joinpath("hugo.toml").read_text(encoding="utf-8").replace('"../.."', f'"{THEME_DIR}"'), encoding="utf-8")
    with source.joinpath("content", "chat.md").open("a", encoding="utf-8") as content:
        content.write('\n{{< chat room="help" >}}\n\n{{< chat room="random" >}}\n')
    built = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=source)
    page = parse_page(built / "chat" / "index.html")
    assert [widget.attrs["data-bc-room"] for widget in page.with_class("bc-chat")] == ["lobby", "help", "random"]
    assert [len(urls) for urls in ours(page)] == [1, 1]


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except (urllib.error.URLError, ConnectionError):
        return None


def wait_for(condition, what: str, process: subprocess.Popen, log: Path, timeout_secs: float = 30):
    deadline = time.monotonic() + timeout_secs
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        assert process.poll() is None, f"hugo server exited:\n{log.read_text(errors='replace')}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text(errors='replace')}")


@pytest.mark.parametrize("site", ["exampleSite", "own"])
def test_hugo_server_keeps_the_assets_after_a_template_edit(tmp_path: Path, site: str) -> None:
    """`hugo server` re-renders pages after a template changes, on the same page objects."""
    if site == "own":
        source = copy_site_source(tmp_path)
        theme, path = source / "themes" / "backchannel", "/about/"
    else:
        theme = copy_theme(tmp_path)
        source, path = theme / "exampleSite", "/chat/"
    port, log = free_port(), tmp_path / "hugo-server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [find_hugo(), "server", "--source", str(source), "--port", str(port), "--bind", "127.0.0.1",
             "--noBuildLock", "--renderToMemory", "--disableLiveReload"],
            env={**os.environ, "HUGOxPARAMSxBACKCHANNELxBACKEND_URL": BACKEND_URL},
            stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        before = wait_for(lambda: fetch(url), "hugo server", process, log)
        assert len(ASSET_TAG.findall(before)) == 2
        # A visible change to the shortcode's template: the page is re-rendered with it.
        with (theme / "layouts" / "shortcodes" / "chat.html").open("a", encoding="utf-8") as template:
            template.write("<i data-edited></i>")
        after = wait_for(lambda: (html := fetch(url)) and "data-edited" in html and html, "the rebuild", process, log)
        assert len(ASSET_TAG.findall(after)) == 2, "the stylesheet and script are gone after the rebuild"
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- This theme's own pages ---------------------------------------------------------------------


@pytest.mark.parametrize("page_name", ["room/index.html", "about/index.html"])
def test_this_themes_pages_load_each_asset_once_in_head(own_site: Path, page_name: str) -> None:
    """The room page (widget from the layout) and the about page (widget from the shortcode): the
    <head> emits both assets, and the shortcode, rendered after it, emits nothing more."""
    page = parse_page(own_site / page_name)
    stylesheets, scripts = ours(page)
    assert len(stylesheets) == 1 and len(scripts) == 1, (stylesheets, scripts)
    assert re.search(r"/backchannel/js/main\.", scripts[0])
    head, body = split_head_body(own_site / page_name)
    assert len(ASSET_TAG.findall(head)) == 2
    assert not ASSET_TAG.search(body)


def test_no_page_of_this_theme_has_an_asset_twice_or_in_the_body(own_site: Path) -> None:
    for path in sorted(own_site.rglob("*.html")):
        stylesheets, scripts = ours(parse_page(path))
        assert len(stylesheets) == 1, path
        assert len(scripts) == len(set(scripts)), path
        assert not ASSET_TAG.search(split_head_body(path)[1]), path


# --- A host site in a language this theme does not ship -----------------------------------------


def test_a_site_language_without_strings_fails_once_naming_the_copy_to_make(tmp_path: Path) -> None:
    theme = copy_theme(tmp_path)
    site = theme / "exampleSite"
    config = site / "hugo.toml"
    config.write_text('defaultContentLanguage = "fr"\n' + config.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SiteBuildError) as refusal:
        build_site(BACKEND_URL, tmp_path / "refused", base_url=BASE_URL, source=site)
    message = str(refusal.value)
    assert re.search(r'backchannel: \d+ UI string\(s\) missing for language "fr", first "chat_room_title"', message)
    assert "copy themes/backchannel/i18n/en.toml to i18n/fr.toml" in message
    assert message.count("UI string(s) missing") == 1, "one error, not one per string"

    # Doing what the error says is enough.
    (site / "i18n").mkdir()
    shutil.copy(THEME_DIR / "i18n" / "en.toml", site / "i18n" / "fr.toml")
    public = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=site)
    [widget] = parse_page(public / "chat" / "index.html").with_class("bc-chat")
    assert json.loads(widget.attrs["data-bc-strings"])["chat_status_connected"] == "Connected"


# --- A Hugo older than the theme's minimum ------------------------------------------------------


def test_the_minimum_hugo_version_is_the_same_everywhere() -> None:
    theme = tomllib.loads((THEME_DIR / "theme.toml").read_text(encoding="utf-8"))
    module = tomllib.loads((THEME_DIR / "hugo.toml").read_text(encoding="utf-8"))
    assert theme["min_version"] == module["module"]["hugoVersion"]["min"] == MINIMUM_HUGO
    assert f'$minimum := "{MINIMUM_HUGO}"' in REQUIRE_HUGO.read_text(encoding="utf-8")


def test_a_too_old_hugo_fails_the_example_site_build(tmp_path: Path) -> None:
    """The host theme never renders this theme's <head>: the shortcode checks the version itself."""
    theme = copy_theme(tmp_path)
    demand_a_newer_hugo(theme)
    with pytest.raises(SiteBuildError, match=r"backchannel: this theme needs Hugo 999\.0\.0 or newer; this is Hugo "):
        build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=theme / "exampleSite")


def test_a_too_old_hugo_fails_this_themes_own_build_without_any_shortcode(tmp_path: Path) -> None:
    """This theme's own pages check the version too, not only through a chat shortcode."""
    source = copy_site_source(tmp_path)
    for content in (source / "site").rglob("*.md"):
        text = content.read_text(encoding="utf-8")
        content.write_text(re.sub(r"\{\{<\s*chat\b[^>]*>\}\}", "", text), encoding="utf-8")
    build_site(BACKEND_URL, tmp_path / "unchanged", base_url=BASE_URL, source=source)  # builds as it is
    demand_a_newer_hugo(source / "themes" / "backchannel")
    with pytest.raises(SiteBuildError, match=r"backchannel: this theme needs Hugo 999\.0\.0 or newer; this is Hugo "):
        build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=source)
