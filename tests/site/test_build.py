"""The real Hugo build of this repository's site (the site theme themes/backchannel-site with the
component themes/backchannel): pages, the <backchannel-chat> element and its strings file, the
chat script's endpoint and the files it loads, SRI, the CSP and the i18n strings. Only the
standard library parses the output (html.parser)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from scripts import site as site_support
from scripts.minimum_hugo import minimum_hugo_version
from scripts.site import REPO_ROOT, SiteBuildError, build_site
from tests.site.support import (
    COMPONENT_DIR,
    SITE_THEME_DIR,
    Page,
    build_with_the_sites_own_config,
    chat_inner_html,
    chat_strings,
    chats,
    check_widget_subresources,
    copy_site_source,
    csp_directives,
    local_file,
    parse_page,
    read_config,
    read_i18n,
    sri_sha384,
    subresources,
)

pytestmark = pytest.mark.hugo

BACKEND_HOST = "127.0.0.1:45678"
BACKEND_URL = f"ws://{BACKEND_HOST}"
BASE_URL = "http://127.0.0.1:8080/"
ROOM_NAME_RULE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
ROOM_NAMES = json.loads((REPO_ROOT / "tests" / "fixtures" / "room_names.json").read_text())
# 64 hex digits or more: Hugo names a fingerprinted file after its SHA-256/384 digest.
FINGERPRINTED_NAME = re.compile(r"\.[0-9a-f]{64,}\.(?:js|css)$")


def widget_strings(language: str) -> dict[str, str]:
    """The chat widget's strings: the component's i18n."""
    return read_i18n(COMPONENT_DIR, language)


def site_strings(language: str) -> dict[str, str]:
    """The page chrome's strings: the site theme's i18n."""
    return read_i18n(SITE_THEME_DIR, language)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(BACKEND_URL, tmp_path_factory.mktemp("site"), base_url=BASE_URL)


@pytest.fixture(scope="module")
def pages(site: Path) -> dict[str, Page]:
    return {str(path.relative_to(site)): parse_page(path) for path in sorted(site.rglob("*.html"))}


@pytest.fixture(scope="module")
def landing(pages: dict[str, Page]) -> Page:
    return pages["index.html"]


@pytest.fixture(scope="module")
def room_page(pages: dict[str, Page]) -> Page:
    return pages["room/index.html"]


@pytest.fixture(scope="module")
def about_page(pages: dict[str, Page]) -> Page:
    return pages["about/index.html"]


def test_the_build_writes_the_three_pages(site: Path) -> None:
    for page in ("index.html", "room/index.html", "about/index.html"):
        assert (site / page).is_file(), page


def test_the_landing_page_links_every_configured_room(landing: Page) -> None:
    rooms = read_config()["params"]["backchannel"]["rooms"]
    assert {"lobby", "help", "random"} <= {room["name"] for room in rooms}
    for room in rooms:
        links = landing.find_all("a", href=f"/room/?name={room['name']}")
        assert links, f"no link to room {room['name']}"
        assert links[0].text.strip() == room["title"]
        assert room["description"] in landing.text


def test_the_landing_page_has_the_enter_a_room_form(landing: Page) -> None:
    forms = landing.with_class("bc-enter")
    assert len(forms) == 1
    assert forms[0].attrs["action"] == "/room/"
    assert forms[0].attrs["method"] == "get"
    inputs = landing.find_all("input", name="name")
    assert len(inputs) == 1
    assert "required" in inputs[0].attrs


@pytest.mark.parametrize(
    "name", [*ROOM_NAMES["valid"], *ROOM_NAMES["invalid"], "Lobby", " help ", "ROOM-1", "a b", "a_b "]
)
def test_the_room_input_pattern_mirrors_the_room_rule(landing: Page, name: str) -> None:
    """The pattern accepts exactly what is a valid room once trimmed and lower-cased (which the
    JS does before navigating). HTML anchors a pattern at both ends, like fullmatch."""
    pattern = landing.find_all("input", name="name")[0].attrs["pattern"]
    is_valid_after_normalising = ROOM_NAME_RULE.fullmatch(name.strip().lower()) is not None
    assert (re.fullmatch(pattern, name) is not None) == is_valid_after_normalising


def test_the_room_page_takes_its_room_from_the_query(room_page: Page) -> None:
    [chat] = chats(room_page)
    assert chat.attrs.get("room-param") == "name"
    assert chat.attrs.get("layout") == "page"
    assert "room" not in chat.attrs and "page" not in chat.attrs
    # Where its "no valid room" message links back to: the landing page.
    assert chat.attrs["home"] == "/"


def test_the_room_pages_one_heading_is_the_widgets_title(room_page: Page, about_page: Page) -> None:
    # "Room" until the script names the room ("#tea"): the page's one h1, written by the page
    # into the element's title slot, never empty; no other heading.
    [heading] = room_page.find_all("h1")
    assert heading.attrs.get("slot") == "title"
    assert heading.text.strip() == "Room"
    assert [chat.text for chat in chats(room_page)] == ["Room"]
    assert not room_page.find_all("h2")
    # A widget inside a content page adds no heading to it: the page keeps its own h1 alone.
    [page_heading] = about_page.find_all("h1")
    assert page_heading.text == "About" and "slot" not in page_heading.attrs
    assert not [inner for inner in chat_inner_html(about_page.path) if re.search(r"<h\d", inner)]


def test_the_about_page_embeds_the_shortcode_widget(about_page: Page) -> None:
    [chat] = chats(about_page)
    assert (chat.attrs.get("room"), chat.attrs.get("page"), chat.attrs.get("home")) == ("about", "/about/", "/")
    assert about_page.find_all("a", href="/about/")
    # The page also shows the shortcode itself, as an example.
    assert '{{< chat room="about" >}}' in about_page.text


@pytest.mark.parametrize(("page_name", "text"), [("room/index.html", "Room"), ("about/index.html", "#about")])
def test_the_widget_html_holds_no_ui_text(pages: dict[str, Page], page_name: str, text: str) -> None:
    """The script builds the widget (in its shadow root) from the strings file: the page's HTML
    holds only the element, its room's link or the room page's heading, and no markup of ours."""
    page = pages[page_name]
    assert [chat.text for chat in chats(page)] == [text]
    # Only the slotted heading or the link: no form, button or any other part of the widget.
    [inner] = chat_inner_html(page.path)
    assert re.findall(r"<([a-z][a-z0-9-]*)", inner) == (["h1"] if text == "Room" else ["a"]), inner
    for key, string in widget_strings("en").items():
        if len(string) > 8 and "{" not in string:
            assert string not in page.text, key


@pytest.mark.parametrize("page_name", ["room/index.html", "about/index.html"])
def test_the_js_bundle_carries_the_configured_backend_url(site: Path, pages: dict[str, Page], page_name: str) -> None:
    """The env override reached the JavaScript, through js.Build's params."""
    scripts = pages[page_name].find_all("script")
    assert len(scripts) == 1
    bundle = local_file(site, scripts[0].attrs["src"]).read_text(encoding="utf-8")
    assert f'"{BACKEND_URL}"' in bundle
    configured_backend_url = read_config()["params"]["backchannel"]["backend_url"]
    assert configured_backend_url not in bundle, "config.toml's own backend_url leaked into the bundle"


@pytest.mark.parametrize(
    ("page_name", "bundle"),
    [
        ("index.html", "backchannel-site/js/enter"),
        ("room/index.html", "backchannel/js/main"),
        ("about/index.html", "backchannel/js/main"),
        ("404.html", None),
    ],
)
def test_each_page_loads_only_the_script_it_needs(pages: dict[str, Page], page_name: str, bundle: str | None) -> None:
    """The chat script only where there is a widget; the landing page gets the site theme's
    small room-form and online-counts script; a page with neither gets no script at all."""
    sources = [script.attrs["src"] for script in pages[page_name].find_all("script")]
    expected = [] if bundle is None else [f"/{bundle}."]
    assert [source.split("min.")[0] for source in sources] == expected, sources


def test_each_page_links_only_the_site_stylesheet(pages: dict[str, Page]) -> None:
    """The widget's stylesheet and its write chunk are the script's to load, never the page's."""
    for name, page in pages.items():
        stylesheets = [url for element, url in subresources(page) if element.tag == "link"]
        assert [url.split("min.")[0] for url in stylesheets] == ["/backchannel-site/css/site."], name
        assert not [url for _, url in subresources(page) if "/write." in url], name


def test_every_script_and_stylesheet_is_fingerprinted_with_a_matching_integrity(
    site: Path, pages: dict[str, Page]
) -> None:
    for name, page in pages.items():
        assert "link" in {element.tag for element, _ in subresources(page)}, name
        for element, url in subresources(page):
            assert FINGERPRINTED_NAME.search(url), f"{name}: {url} is not fingerprinted"
            assert element.attrs.get("integrity") == sri_sha384(local_file(site, url)), f"{name}: {url}"


@pytest.mark.parametrize("page_name", ["room/index.html", "about/index.html", "ja/room/index.html"])
def test_what_the_chat_script_loads_is_fingerprinted_with_a_matching_integrity(
    site: Path, pages: dict[str, Page], page_name: str
) -> None:
    """main.js carries the URL and integrity of the widget's stylesheet and of the write chunk
    (js.Build params): both are in the build, fingerprinted, and match; so does the strings file
    each widget names."""
    baked = check_widget_subresources(site, pages[page_name])
    for url in baked:
        assert FINGERPRINTED_NAME.search(url), url


def test_scripts_are_deferred(pages: dict[str, Page]) -> None:
    for name, page in pages.items():
        for script in page.find_all("script"):
            assert "defer" in script.attrs, name


def test_nothing_is_inline(pages: dict[str, Page]) -> None:
    """script-src 'self' and style-src 'self' hold: no inline script, handler or style."""
    for name, page in pages.items():
        for element in page.elements:
            handlers = [attr for attr in element.attrs if attr.startswith("on")]
            assert not handlers, f"{name}: <{element.tag} {handlers}>"
            assert "style" not in element.attrs, f"{name}: style attribute on <{element.tag}>"
            assert element.tag != "style", f"{name}: <style> element"
            if element.tag == "script":
                assert element.attrs.get("src"), f"{name}: <script> without src"
                assert not element.text.strip(), f"{name}: <script> with a body"


def test_the_csp_allows_only_self_and_the_backend(pages: dict[str, Page]) -> None:
    for name, page in pages.items():
        directives = csp_directives(page)
        assert directives["default-src"] == ["'self'"], name
        assert directives["script-src"] == ["'self'"], name
        assert directives["style-src"] == ["'self'"], name
        assert directives["connect-src"] == ["'self'", BACKEND_URL, f"http://{BACKEND_HOST}"], name
        assert directives["img-src"] == ["'self'", "data:"], name
        assert directives["base-uri"] == ["'self'"], name
        assert directives["form-action"] == ["'self'"], name


@pytest.mark.parametrize(
    ("backend_url", "upgraded_sources"),
    [
        ("ws://chat.example.org:8443", ["wss://chat.example.org:8443", "https://chat.example.org:8443"]),
        ("ws://chat.example.org", ["wss://chat.example.org", "https://chat.example.org"]),
        # chat.js never upgrades a local backend (what development uses): nothing to add.
        ("ws://localhost:8000", []),
        ("wss://chat.example.org", []),
    ],
)
def test_the_csp_allows_the_wss_upgrade_of_a_ws_backend_that_is_not_local(
    tmp_path: Path, backend_url: str, upgraded_sources: list[str]
) -> None:
    """On an https page chat.js upgrades such a backend to wss:// (and its API to https://).
    Chromium's CSP does not let "ws://host:port" allow "wss://host:port" (its upgrade rule holds
    for default ports only), so the theme lists the upgraded origins itself; the browser test
    tests/e2e/test_wss_on_https.py connects through them."""
    site = build_site(backend_url, tmp_path / "public", base_url="https://www.example.org/")
    origin = urlsplit(backend_url)
    http_scheme = "https" if origin.scheme == "wss" else "http"
    expected = ["'self'", backend_url, f"{http_scheme}://{origin.netloc}", *upgraded_sources]
    for page_name in ("index.html", "room/index.html"):
        assert csp_directives(parse_page(site / page_name))["connect-src"] == expected, page_name


def test_the_csp_comes_before_anything_it_governs(pages: dict[str, Page]) -> None:
    for name, page in pages.items():
        tags = [e.tag for e in page.elements]
        first_meta_csp = next(
            i
            for i, e in enumerate(page.elements)
            if (e.attrs.get("http-equiv") or "").lower() == "content-security-policy"
        )
        governed = [i for i, tag in enumerate(tags) if tag in ("link", "script")]
        assert governed and first_meta_csp < min(governed), name


def test_the_ui_strings_come_from_i18n(landing: Page, room_page: Page) -> None:
    strings = site_strings("en")
    for key in ("rooms_heading", "enter_room_heading", "enter_room_label", "enter_room_submit", "skip_to_content"):
        assert strings[key] in landing.text, key
    assert strings["footer_powered_by"] in room_page.text
    # The widget's own strings travel in its strings file, not in the page.
    for key in ("chat_name_label", "chat_name_submit", "chat_send", "chat_change_name", "chat_load_older"):
        assert widget_strings("en")[key] not in room_page.text, key


def test_the_widget_strings_reach_the_js_as_a_json_file(site: Path, room_page: Page, about_page: Page) -> None:
    strings = widget_strings("en")
    [chat] = chats(room_page)
    loaded = chat_strings(site, chat)
    assert loaded == strings, "the strings file is the component's i18n/en.toml, every key"
    # One file per language: every English widget names the same one.
    assert chats(about_page)[0].attrs["strings"] == chat.attrs["strings"]
    for state in ("connecting", "connected", "reconnecting", "offline"):
        assert f"chat_status_{state}" in loaded
    assert "{seconds}" in loaded["chat_status_reconnecting"]
    # A translated message for every error code of ARCHITECTURE.md.
    architecture = (REPO_ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    error_table = architecture.split("### Error codes", 1)[1].split("\n\n", 2)[1]
    codes = re.findall(r"^\| `([a-z_]+)` \|", error_table, flags=re.MULTILINE)
    assert len(codes) >= 12
    for code in codes:
        assert f"chat_error_{code}" in loaded, code


@pytest.mark.parametrize("theme", [COMPONENT_DIR, SITE_THEME_DIR], ids=["component", "site-theme"])
def test_the_japanese_strings_cover_every_english_one(theme: Path) -> None:
    english, japanese = read_i18n(theme, "en"), read_i18n(theme, "ja")
    assert english.keys() == japanese.keys()
    assert all(text.strip() for text in japanese.values())
    # Placeholders the JS fills must survive translation.
    for key, text in english.items():
        assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", japanese[key])), key


def test_the_theme_declares_its_minimum_hugo_version() -> None:
    module = tomllib.loads((COMPONENT_DIR / "hugo.toml").read_text(encoding="utf-8"))
    site_theme = tomllib.loads((SITE_THEME_DIR / "theme.toml").read_text(encoding="utf-8"))
    minimum = minimum_hugo_version()  # the component's theme.toml: the one source
    assert module["module"]["hugoVersion"]["min"] == site_theme["min_version"] == minimum, "keep them in step"
    check = (COMPONENT_DIR / "layouts" / "partials" / "backchannel" / "require-hugo.html").read_text(encoding="utf-8")
    assert f'$minimum := "{minimum}"' in check
    for readme in (COMPONENT_DIR / "README.md", COMPONENT_DIR / "exampleSite" / "README.md"):
        assert f"Hugo {minimum} or newer" in readme.read_text(encoding="utf-8").replace("**", ""), readme
    for caller in (
        SITE_THEME_DIR / "layouts" / "partials" / "backchannel-site" / "head.html",
        COMPONENT_DIR / "layouts" / "shortcodes" / "chat.html",
    ):
        assert 'partial "backchannel/require-hugo.html"' in caller.read_text(encoding="utf-8"), caller.name


# --- Builds that must fail loudly ------------------------------------------------------------


def test_an_invalid_shortcode_room_fails_the_build(tmp_path: Path) -> None:
    source = copy_site_source(tmp_path)
    (source / "site" / "bad.md").write_text('---\ntitle: Bad\n---\n\n{{< chat room="Bad_Room" >}}\n')
    with pytest.raises(SiteBuildError, match=r'chat shortcode: invalid room "Bad_Room"'):
        build_site(BACKEND_URL, tmp_path / "public", source=source)


def test_a_backend_url_that_is_not_a_websocket_url_fails_the_build(tmp_path: Path) -> None:
    with pytest.raises(SiteBuildError, match="backend_url must look like ws://") as refusal:
        build_site("http://127.0.0.1:45678", tmp_path / "public")
    # Where to fix it: the file this site uses, not the component's own hugo.toml.
    fix = 'Fix it in config.toml:\n\n[params.backchannel]\n  backend_url = "wss://chat.example.com"'
    assert fix in str(refusal.value)


def test_a_missing_backend_url_names_config_toml_once(tmp_path: Path) -> None:
    source = copy_site_source(tmp_path)
    config = source / "config.toml"
    text, removed = re.subn(r'(?m)^\s*backend_url = ".*"\n', "", config.read_text(encoding="utf-8"))
    assert removed == 1
    config.write_text(text, encoding="utf-8")
    with pytest.raises(SiteBuildError) as refusal:
        build_with_the_sites_own_config(source, tmp_path / "public")
    message = str(refusal.value)
    assert 'Set it in config.toml:\n\n[params.backchannel]\n  backend_url = "wss://chat.example.com"\n' in message
    assert message.count("backchannel:") == 1, "one error, not one per page or per check"


def test_a_missing_hugo_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(site_support.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(site_support.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SiteBuildError, match=re.escape("pip install -r requirements-run.txt")):
        build_site(BACKEND_URL, tmp_path / "public")
