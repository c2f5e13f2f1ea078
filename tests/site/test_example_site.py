"""The theme as a component of somebody else's site: the real Hugo build of
themes/backchannel/exampleSite, whose own theme (exampleSite/themes/host-theme) comes first and
knows nothing about Backchannel, with one [params.backchannel] block and a page holding
{{< chat room="lobby" >}}. The component ships no page layouts: the host keeps its own pages,
its home page included. The chat shortcode must bring the widget's one script itself, once
(the script loads the widget's stylesheet and write chunk), nothing of the site theme's page
chrome or CSP, and no UI text that the host's summaries, feeds, search index or table of
contents would take. This repository's own pages (the site theme, themes/backchannel-site)
must still carry the script once, in <head>, also after `hugo server` re-renders them. A Hugo
older than the component's minimum fails either build."""

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
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scripts.minimum_hugo import minimum_hugo_version
from scripts.processes import free_port
from scripts.site import SiteBuildError, build_site, find_hugo
from tests.site.support import (
    COMPONENT_DIR,
    Page,
    baked_subresources,
    chat_inner_html,
    chat_strings,
    chats,
    check_widget_subresources,
    copy_site_source,
    local_file,
    main_script,
    parse_page,
    read_i18n,
)

pytestmark = pytest.mark.hugo

THEME_DIR = COMPONENT_DIR
EXAMPLE_SITE = THEME_DIR / "exampleSite"
REQUIRE_HUGO = THEME_DIR / "layouts" / "partials" / "backchannel" / "require-hugo.html"
BACKEND_URL = "ws://127.0.0.1:45679"
BASE_URL = "http://127.0.0.1:8081/"
MINIMUM_HUGO = minimum_hugo_version()
# What a site running somebody else's theme writes, with this theme in themes/backchannel.
THEME_LINE = 'theme = ["host-theme", "../.."]'
# Build output of `hugo` run inside the exampleSite, which a copy of the theme must leave behind.
BUILD_LEFTOVERS = shutil.ignore_patterns("public", "resources", ".hugo_build.lock")


def ours(page: Page) -> tuple[list[str], list[str]]:
    """The page's Backchannel stylesheets and scripts (their URLs), in document order: the
    component's (/backchannel/), not the site theme's (/backchannel-site/)."""
    stylesheets = [
        link.attrs["href"]
        for link in page.find_all("link", rel="stylesheet")
        if "/backchannel/" in (link.attrs.get("href") or "")
    ]
    scripts = [
        script.attrs["src"] for script in page.find_all("script") if "/backchannel/" in (script.attrs.get("src") or "")
    ]
    return stylesheets, scripts


def split_head_body(path: Path) -> tuple[str, str]:
    html = path.read_text(encoding="utf-8")
    start = html.index("<body")
    return html[:start], html[start:]


ASSET_TAG = re.compile(r'<(?:link[^>]*rel="?stylesheet"?[^>]*href="?/backchannel/|script[^>]*src="?/backchannel/)')
# Widget strings a reader would recognise out of place (a feed, a search result, a TOC).
WIDGET_UI_TEXT = (
    "Join the chat",
    "Load older messages",
    "Staff sign-in",
    "Your name",
    "Who is here",
    "Change name",
    "Connecting…",
)


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


def test_the_shortcode_puts_the_widget_in_the_host_page(chat_page: Page, example_site: Path) -> None:
    [chat] = chats(chat_page)
    assert (chat.attrs["room"], chat.attrs["page"], chat.attrs["home"]) == ("lobby", "/chat/", "/")
    assert chat_strings(example_site, chat)["chat_name_submit"] == "Join the chat"


def test_one_script_and_no_stylesheet_come_before_the_widget(chat_page: Page) -> None:
    stylesheets, scripts = ours(chat_page)
    assert stylesheets == [], "the widget's stylesheet is the script's to load, into the shadow root"
    assert len(scripts) == 1, scripts
    assert re.search(r"/backchannel/js/main\.", scripts[0])
    head, body = split_head_body(chat_page.path)
    # The host's <head> knows nothing of us: the script comes with the shortcode, ahead of the widget.
    assert not ASSET_TAG.search(head)
    assert len(ASSET_TAG.findall(body[: body.index("<backchannel-chat")])) == 1


def test_the_script_and_what_it_loads_carry_a_matching_integrity(chat_page: Page, example_site: Path) -> None:
    """The page's script by its integrity attribute; the widget's stylesheet and the write chunk
    by the integrity main.js carries for them; the strings file by the element's."""
    check_widget_subresources(example_site, chat_page)


def test_the_stylesheet_is_the_widget_only_one(chat_page: Page, example_site: Path) -> None:
    """Linked in the widget's shadow root: its rules start from :host and reach nothing of the
    page, and nothing of the site theme's page chrome comes with it."""
    bundle = local_file(example_site, main_script(chat_page))
    [stylesheet] = [url for url in baked_subresources(bundle) if url.endswith(".css")]
    selectors = css_selectors(local_file(example_site, stylesheet).read_text(encoding="utf-8"))
    assert [s for s in selectors if s.startswith(":host")]
    assert not [s for s in selectors if re.match(r"(html|body|:root)\b", s)], "a rule for the page's html/body"
    assert not [s for s in selectors if re.search(r"\.bc-(site|page|room-list|enter|rooms)\b", s)], "site chrome"


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
        if not chats(page):
            without_chat.add(path.relative_to(example_site).as_posix())
            assert ours(page) == ([], []), path
            assert "/backchannel/" not in path.read_text(encoding="utf-8"), path
    assert {"about/index.html", "posts/index.html", "tags/tea/index.html"} <= without_chat


# --- The component ships no pages: the host keeps its own ---------------------------------------


def test_the_component_ships_no_page_layouts() -> None:
    """Only the shortcode and its partials: a layout of ours would replace a host's page that
    its own theme renders from a more general layout (a home page from list.html)."""
    layouts = THEME_DIR / "layouts"
    files = [path.relative_to(layouts) for path in layouts.rglob("*") if path.is_file()]
    assert sorted({path.parts[0] for path in files}) == ["partials", "shortcodes"]
    page_layouts = {"index", "home", "list", "single", "404", "baseof", "section", "taxonomy", "term"}
    found = [path.relative_to(layouts).as_posix() for path in layouts.rglob("*")
             if path.is_file() and path.name.split(".")[0] in page_layouts]  # fmt: skip
    assert found == []


def test_a_host_without_a_home_layout_keeps_its_own_home_page(example_site: Path) -> None:
    """The host theme has no home (and no 404) layout: its list.html renders the home page, and
    no page of ours stands in for either."""
    home = parse_page(example_site / "index.html")
    assert home.with_class("host-header") and home.with_class("host-list")
    assert [h1.text for h1 in home.find_all("h1")] == ["Host Site"]
    assert not home.with_class("bc-page") and not home.with_class("bc-rooms") and not home.with_class("bc-site")
    # No 404 page from us either (the host has none).
    not_found = example_site / "404.html"
    assert not not_found.exists() or "bc-" not in not_found.read_text(encoding="utf-8")


# --- No UI text in the HTML: summaries, feeds, search indexes and TOCs stay clean ----------------


def test_the_widget_html_is_only_a_link_to_its_page_everywhere(example_site: Path) -> None:
    """On its page and on every list page that prints its summary, a widget's text is "#room",
    a link to the page where it is live."""
    seen = {}
    for path in sorted(example_site.rglob("*.html")):
        page = parse_page(path)
        for chat, inner in zip(chats(page), chat_inner_html(path), strict=True):
            room, chat_page = chat.attrs["room"], chat.attrs["page"]
            assert chat.text == f"#{room}", path
            assert parse_page_fragment(inner) == [("a", chat_page, f"#{room}")], (path, inner)
            seen.setdefault(room, set()).add(path.relative_to(example_site).as_posix())
    assert seen["lobby"] >= {"chat/index.html", "index.html", "tags/chat/index.html"}
    assert seen["tea"] == {"posts/tea/index.html"}
    # content/posts/questions.md: {{< chat >}} without a room, so the page's own (its path).
    assert seen["posts-questions"] == {"posts/questions/index.html"}


def parse_page_fragment(html: str) -> list[tuple[str, str | None, str]]:
    """The elements of an HTML fragment as (tag, href, text)."""
    found: list[list] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append([tag, dict(attrs).get("href"), ""])

        def handle_data(self, data):
            if found:
                found[-1][2] += data

    Parser().feed(html)
    return [tuple(element) for element in found]


@pytest.mark.parametrize(
    "name",
    [
        "index.xml",
        "posts/index.xml",
        "tags/chat/index.xml",
        "index.json",
        "index.html",
        "tags/chat/index.html",
        "posts/index.html",
    ],
)
def test_feeds_search_index_and_list_pages_carry_no_widget_text(example_site: Path, name: str) -> None:
    """content/chat.md has its chat in its summary: the home and tag pages, the feeds and the
    search index all take it, and get "#lobby", not the widget's words."""
    text = (example_site / name).read_text(encoding="utf-8")
    for string in (
        *WIDGET_UI_TEXT,
        *[value for value in read_i18n(THEME_DIR, "en").values() if len(value) > 12 and "{" not in value],
    ):
        assert string not in text, string
    if name in ("index.xml", "index.json", "index.html", "tags/chat/index.html"):
        assert "#lobby" in text


def test_the_search_index_has_the_chat_as_its_room_name(example_site: Path) -> None:
    entries = {entry["title"]: entry for entry in json.loads((example_site / "index.json").read_text(encoding="utf-8"))}
    assert "#lobby" in entries["Chat"]["content"] and "#lobby" in entries["Chat"]["summary"]
    assert "#tea" in entries["Tea room"]["content"]


@pytest.mark.parametrize(
    ("page_name", "content"), [("chat/index.html", "chat.md"), ("posts/tea/index.html", "posts/tea.md")]
)
def test_the_hosts_table_of_contents_lists_no_widget_heading(example_site: Path, page_name: str, content: str) -> None:
    """The host theme's TOC is a regex over .Content for h2-h4: it lists the page's own
    Markdown headings and nothing of the widget's."""
    page = parse_page(example_site / page_name)
    html = (example_site / page_name).read_text(encoding="utf-8")
    toc_html = html[html.index('class="host-toc"' if 'class="host-toc"' in html else "class=host-toc") :]
    toc_html = toc_html[: toc_html.index("</details>")]
    toc = [text for _, _, text in parse_page_fragment(toc_html) if text and text != "Contents"]
    markdown = (EXAMPLE_SITE / "content" / content).read_text(encoding="utf-8")
    assert toc == re.findall(r"^#{2,4} (.+)$", markdown, flags=re.MULTILINE)
    assert all(not text.startswith("#") for text in toc)
    assert chats(page)


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
    assert page.with_class("host-header") and [chat.attrs["room"] for chat in chats(page)] == ["lobby"]
    assert [len(urls) for urls in ours(page)] == [0, 1]
    check_widget_subresources(built, page)


def test_several_chats_in_one_page_share_one_script(tmp_path: Path) -> None:
    source = tmp_path / "site"
    shutil.copytree(EXAMPLE_SITE, source, ignore=BUILD_LEFTOVERS)
    source.joinpath("hugo.toml").write_text(
        source.joinpath("hugo.toml").read_text(encoding="utf-8").replace('"../.."', f'"{THEME_DIR}"'), encoding="utf-8"
    )
    with source.joinpath("content", "chat.md").open("a", encoding="utf-8") as content:
        content.write('\n{{< chat room="help" >}}\n\n{{< chat room="random" >}}\n')
    built = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=source)
    page = parse_page(built / "chat" / "index.html")
    assert [chat.attrs["room"] for chat in chats(page)] == ["lobby", "help", "random"]
    assert [len(urls) for urls in ours(page)] == [0, 1]
    # One strings file for the page's language, whatever the number of widgets.
    assert len({chat.attrs["strings"] for chat in chats(page)}) == 1


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
            [
                find_hugo(),
                "server",
                "--source",
                str(source),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--noBuildLock",
                "--renderToMemory",
                "--disableLiveReload",
            ],
            env={**os.environ, "HUGOxPARAMSxBACKCHANNELxBACKEND_URL": BACKEND_URL},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}{path}"
        before = wait_for(lambda: fetch(url), "hugo server", process, log)
        assert len(ASSET_TAG.findall(before)) == 1
        # A visible change to the shortcode's template: the page is re-rendered with it.
        with (theme / "layouts" / "shortcodes" / "chat.html").open("a", encoding="utf-8") as template:
            template.write("<i data-edited></i>")
        after = wait_for(lambda: (html := fetch(url)) and "data-edited" in html and html, "the rebuild", process, log)
        assert len(ASSET_TAG.findall(after)) == 1, "the script is gone after the rebuild"
        # And what it names is served: the script itself, and the strings file.
        for asset in re.findall(r'(?:src|strings)="?(/backchannel/[^"\s>]+)', after):
            assert fetch(f"http://127.0.0.1:{port}{asset}"), asset
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- The site theme's pages (this repository's own site) ----------------------------------------


@pytest.mark.parametrize("page_name", ["room/index.html", "about/index.html"])
def test_the_site_themes_pages_load_the_script_once_in_head(own_site: Path, page_name: str) -> None:
    """The room page (widget from the layout) and the about page (widget from the shortcode): the
    site theme's <head> writes the chat script, and the shortcode, rendered after it, nothing more."""
    page = parse_page(own_site / page_name)
    stylesheets, scripts = ours(page)
    assert stylesheets == [] and len(scripts) == 1, (stylesheets, scripts)
    assert re.search(r"/backchannel/js/main\.", scripts[0])
    head, body = split_head_body(own_site / page_name)
    assert len(ASSET_TAG.findall(head)) == 1
    assert not ASSET_TAG.search(body)


def test_no_page_of_the_site_theme_has_an_asset_twice_or_in_the_body(own_site: Path) -> None:
    for path in sorted(own_site.rglob("*.html")):
        page = parse_page(path)
        stylesheets = [link.attrs["href"] for link in page.find_all("link", rel="stylesheet")]
        assert len(stylesheets) == 1 and "/backchannel-site/css/site." in stylesheets[0], path
        scripts = [script.attrs["src"] for script in page.find_all("script")]
        assert len(scripts) == len(set(scripts)) <= 1, path
        assert "<script" not in split_head_body(path)[1] and "<link" not in split_head_body(path)[1], path


# --- A host site in a language this theme does not ship -----------------------------------------


def test_a_site_language_without_strings_fails_once_naming_the_copy_to_make(tmp_path: Path) -> None:
    theme = copy_theme(tmp_path)
    site = theme / "exampleSite"
    config = site / "hugo.toml"
    config.write_text('defaultContentLanguage = "fr"\n' + config.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SiteBuildError) as refusal:
        build_site(BACKEND_URL, tmp_path / "refused", base_url=BASE_URL, source=site)
    message = str(refusal.value)
    assert re.search(r'backchannel: \d+ UI string\(s\) missing for language "fr", first "chat_[a-z_]+"', message)
    assert "copy themes/backchannel/i18n/en.toml to i18n/fr.toml" in message
    assert message.count("UI string(s) missing") == 1, "one error, not one per string"

    # Doing what the error says is enough.
    (site / "i18n").mkdir()
    shutil.copy(THEME_DIR / "i18n" / "en.toml", site / "i18n" / "fr.toml")
    public = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=site)
    [chat] = chats(parse_page(public / "chat" / "index.html"))
    assert "/backchannel/strings.fr." in chat.attrs["strings"]
    assert chat_strings(public, chat)["chat_status_connected"] == "Connected"


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


def test_a_too_old_hugo_fails_the_site_themes_build_without_any_shortcode(tmp_path: Path) -> None:
    """The site theme's pages check the component's version too, not only through a chat shortcode."""
    source = copy_site_source(tmp_path)
    for content in (source / "site").rglob("*.md"):
        text = content.read_text(encoding="utf-8")
        content.write_text(re.sub(r"\{\{<\s*chat\b[^>]*>\}\}", "", text), encoding="utf-8")
    build_site(BACKEND_URL, tmp_path / "unchanged", base_url=BASE_URL, source=source)  # builds as it is
    demand_a_newer_hugo(source / "themes" / "backchannel")
    with pytest.raises(SiteBuildError, match=r"backchannel: this theme needs Hugo 999\.0\.0 or newer; this is Hugo "):
        build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=source)
