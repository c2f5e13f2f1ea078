"""The bilingual site: English at the root, Japanese under /ja/, each page in the language of its
address. The site theme's chrome (themes/backchannel-site/i18n/) and the chat widget's strings
(the component's themes/backchannel/i18n/, in a JSON file per language) come from
<language>.toml, the room
list from the language's own [languages.<code>.params], the backend from the one
[params.backchannel] (and its per-build override) in every language; translations name each other
(hreflang alternates and the language switcher). Only the standard library parses the output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts.site import REPO_ROOT, build_site
from tests.site.support import (
    COMPONENT_DIR,
    SITE_THEME_DIR,
    Element,
    Page,
    chat_strings,
    chats,
    copy_site_source,
    csp_directives,
    local_file,
    parse_page,
    read_config,
    read_i18n,
)

pytestmark = pytest.mark.hugo

BACKEND_HOST = "127.0.0.1:45679"
BACKEND_URL = f"ws://{BACKEND_HOST}"
BASE_URL = "http://127.0.0.1:8081/"
I18N_DIRS = (COMPONENT_DIR / "i18n", SITE_THEME_DIR / "i18n")
CONFIG = read_config()
# Each page in each language: its file in the build and its address.
PAGES = {
    "en": {"home": ("index.html", "/"), "room": ("room/index.html", "/room/"),
           "about": ("about/index.html", "/about/")},
    "ja": {"home": ("ja/index.html", "/ja/"), "room": ("ja/room/index.html", "/ja/room/"),
           "about": ("ja/about/index.html", "/ja/about/")},
}  # fmt: skip
LANGUAGES = tuple(PAGES)
PAGE_KINDS = ("home", "room", "about")


def read_strings(language: str) -> dict[str, str]:
    """Every UI string of a language: the site theme's and the chat widget's (no key is in both)."""
    return {**read_i18n(SITE_THEME_DIR, language), **read_i18n(COMPONENT_DIR, language)}


def widget_strings(language: str) -> dict[str, str]:
    return read_i18n(COMPONENT_DIR, language)


def language_name(language: str) -> str:
    """The switcher's name of a language: its params' language_name (README, "Languages")."""
    return CONFIG["languages"][language]["params"]["language_name"]


def configured_rooms(language: str) -> list[dict]:
    """The rooms a language's landing page lists: its own, else the site's."""
    own = CONFIG["languages"][language].get("params", {}).get("backchannel", {}).get("rooms")
    return own or CONFIG["params"]["backchannel"]["rooms"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(BACKEND_URL, tmp_path_factory.mktemp("site"), base_url=BASE_URL)


@pytest.fixture(scope="module")
def pages(site: Path) -> dict[str, Page]:
    return {str(path.relative_to(site)): parse_page(path) for path in sorted(site.rglob("*.html"))}


def page_of(pages: dict[str, Page], language: str, kind: str) -> Page:
    """``kind`` is "home", "room", "about" or "404" (the 404 page each language has)."""
    if kind == "404":
        return pages["404.html" if language == CONFIG["defaultContentLanguage"] else f"{language}/404.html"]
    return pages[PAGES[language][kind][0]]


def html_lang(page: Page) -> str | None:
    return page.find_all("html")[0].attrs.get("lang")


def language_nav(page: Page, strings: dict[str, str]) -> list[Element]:
    return [nav for nav in page.find_all("nav") if nav.attrs.get("aria-label") == strings["language_navigation"]]


# --- The configuration --------------------------------------------------------------------


def test_english_is_the_default_language_at_the_root_and_japanese_is_the_second() -> None:
    assert CONFIG["defaultContentLanguage"] == "en"
    assert CONFIG["defaultContentLanguageInSubdir"] is False
    languages = CONFIG["languages"]
    assert list(languages) == ["en", "ja"]
    assert languages["en"]["weight"] < languages["ja"]["weight"]
    assert (language_name("en"), language_name("ja")) == ("English", "日本語")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_its_strings_and_its_pages(language: str) -> None:
    """What adding a language takes (README, "Languages"): an i18n file in each theme (the site
    chrome's and the widget's) and the content files."""
    for i18n_dir in I18N_DIRS:
        assert (i18n_dir / f"{language}.toml").is_file(), i18n_dir
    suffix = "" if language == CONFIG["defaultContentLanguage"] else f".{language}"
    for name in ("_index", "room", "about"):
        assert (REPO_ROOT / "site" / f"{name}{suffix}.md").is_file(), f"site/{name}{suffix}.md"


def test_the_japanese_rooms_are_the_english_rooms_translated() -> None:
    """A room is the same room in every language: the same names, in the same order."""
    english, japanese = configured_rooms("en"), configured_rooms("ja")
    assert [room["name"] for room in japanese] == [room["name"] for room in english]
    for en_room, ja_room in zip(english, japanese, strict=True):
        assert ja_room["title"] != en_room["title"] and ja_room["description"] != en_room["description"]


# --- The pages ----------------------------------------------------------------------------


def test_the_build_writes_each_page_in_each_language_and_nothing_else(pages: dict[str, Page]) -> None:
    expected = {file for language in LANGUAGES for file, _ in PAGES[language].values()}
    # Hugo's /en/ -> / redirect page is turned off (config.toml): it would carry no CSP.
    assert set(pages) == expected | {"404.html", "ja/404.html"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", [*PAGE_KINDS, "404"])
def test_each_page_is_in_the_language_of_its_address(pages: dict[str, Page], language: str, kind: str) -> None:
    page = page_of(pages, language, kind)
    strings = read_strings(language)
    assert html_lang(page) == language
    skip_links = page.with_class("bc-skip-link")
    assert [link.text.strip() for link in skip_links] == [strings["skip_to_content"]]
    main_navs = [nav for nav in page.find_all("nav") if nav.attrs.get("aria-label") == strings["main_navigation"]]
    assert len(main_navs) == 1
    assert strings["footer_powered_by"] in page.text
    if kind == "404":
        assert page.find_all("title")[0].text == f"{strings['not_found_title']} · {CONFIG['title']}"
        assert strings["not_found_text"] in page.text


def test_the_japanese_chrome_is_japanese(pages: dict[str, Page]) -> None:
    """Not only the same keys: the text a Japanese visitor reads is the Japanese one."""
    english, japanese = read_strings("en"), read_strings("ja")
    landing = page_of(pages, "ja", "home")
    assert japanese["skip_to_content"] == "本文へ移動"
    for key in ("rooms_heading", "enter_room_heading", "enter_room_label", "enter_room_submit"):
        assert japanese[key] != english[key], key
        assert japanese[key] in landing.text, key
        assert english[key] not in landing.text, key
    assert landing.with_class("bc-enter")[0].attrs["data-bc-invalid-message"] == japanese["enter_room_invalid"]


def test_the_japanese_menu_links_the_japanese_pages(pages: dict[str, Page]) -> None:
    ja_paths = {path for _, path in PAGES["ja"].values()}
    for kind in PAGE_KINDS:
        page = page_of(pages, "ja", kind)
        main_nav_links = [a.attrs["href"] for a in page.find_all("a") if a.attrs.get("href") in ja_paths]
        assert {"/ja/", "/ja/about/"} <= set(main_nav_links), kind
        assert page.with_class("bc-site-header__title")[0].attrs["href"] == "/ja/"


def test_the_japanese_room_page_has_a_japanese_widget(site: Path, pages: dict[str, Page]) -> None:
    english, japanese = widget_strings("en"), widget_strings("ja")
    room_page = page_of(pages, "ja", "room")
    [chat] = chats(room_page)
    assert chat.attrs.get("room-param") == "name"
    # The strings file is the Japanese one; the page itself holds none of the widget's text.
    assert "/backchannel/strings.ja." in chat.attrs["strings"]
    strings = chat_strings(site, chat)
    assert strings["chat_status_connecting"] == japanese["chat_status_connecting"] != english["chat_status_connecting"]
    for key in ("chat_name_label", "chat_name_submit", "chat_send", "chat_change_name", "chat_status_connecting"):
        assert japanese[key] not in room_page.text and english[key] not in room_page.text, key
    # The room page's own "back" link leads to the Japanese landing page.
    assert chat.attrs["home"] == "/ja/"


@pytest.mark.parametrize(("language", "kind"), [("ja", "room"), ("ja", "about"), ("en", "room"), ("en", "about")])
def test_the_widget_strings_are_the_page_language_s(
    site: Path, pages: dict[str, Page], language: str, kind: str
) -> None:
    """The strings file a widget names, the strings its JavaScript shows, is the page language's
    i18n file (and the browser checks the file against the element's strings-integrity)."""
    [chat] = chats(page_of(pages, language, kind))
    assert f"/backchannel/strings.{language}." in chat.attrs["strings"]
    loaded = chat_strings(site, chat)
    assert len(loaded) > 40
    assert loaded == widget_strings(language)
    other = widget_strings("en" if language == "ja" else "ja")
    assert loaded["chat_status_connecting"] != other["chat_status_connecting"]


def test_the_japanese_landing_page_links_the_japanese_room_page(pages: dict[str, Page]) -> None:
    landing = page_of(pages, "ja", "home")
    rooms = configured_rooms("ja")
    room_links = landing.with_class("bc-room-list__link")
    assert [link.attrs["href"] for link in room_links] == [f"/ja/room/?name={room['name']}" for room in rooms]
    assert [link.text.strip() for link in room_links] == [room["title"] for room in rooms]
    for room in rooms:
        assert room["description"] in landing.text
    assert landing.with_class("bc-enter")[0].attrs["action"] == "/ja/room/"


def test_the_english_landing_page_keeps_the_english_rooms(pages: dict[str, Page]) -> None:
    landing = page_of(pages, "en", "home")
    room_links = landing.with_class("bc-room-list__link")
    assert [link.text.strip() for link in room_links] == [
        room["title"] for room in CONFIG["params"]["backchannel"]["rooms"]
    ]
    assert all(link.attrs["href"].startswith("/room/?name=") for link in room_links)
    assert landing.with_class("bc-enter")[0].attrs["action"] == "/room/"


def test_the_japanese_about_page_embeds_the_same_room(pages: dict[str, Page]) -> None:
    """The shortcode's room is a room name, the same in every language: both pages talk in it."""
    about = page_of(pages, "ja", "about")
    assert [(chat.attrs.get("room"), chat.attrs.get("page"), chat.text) for chat in chats(about)] == [
        ("about", "/ja/about/", "#about")
    ]
    english = page_of(pages, "en", "about")
    assert [(chat.attrs.get("room"), chat.attrs.get("page")) for chat in chats(english)] == [("about", "/about/")]
    assert '{{< chat room="about" >}}' in about.text


# --- One backend for every language -------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", [*PAGE_KINDS, "404"])
def test_every_language_allows_the_configured_backend(pages: dict[str, Page], language: str, kind: str) -> None:
    """The build's backend override reaches the Japanese pages too (Hugo merges the language's
    params over [params.backchannel] key by key, so its own rooms leave backend_url alone)."""
    connect_src = csp_directives(page_of(pages, language, kind))["connect-src"]
    assert connect_src == ["'self'", BACKEND_URL, f"http://{BACKEND_HOST}"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["room", "about"])
def test_every_language_s_widget_connects_to_the_configured_backend(
    site: Path, pages: dict[str, Page], language: str, kind: str
) -> None:
    """The chat bundle a page with a widget loads carries the build's backend URL, not
    config.toml's, in every language."""
    bundles = [local_file(site, script.attrs["src"]).read_text(encoding="utf-8")
               for script in page_of(pages, language, kind).find_all("script")]  # fmt: skip
    assert [bundle for bundle in bundles if f'"{BACKEND_URL}"' in bundle], "no bundle carries the backend URL"
    for bundle in bundles:
        assert CONFIG["params"]["backchannel"]["backend_url"] not in bundle


# --- Translations name each other -----------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_each_translation_names_every_language_s_version(pages: dict[str, Page], language: str, kind: str) -> None:
    """rel=alternate hreflang for each language, itself included, and x-default at the default
    (English) version: the same set on every version, so search engines can pair them."""
    page = page_of(pages, language, kind)
    alternates = {
        link.attrs["hreflang"]: link.attrs["href"]
        for link in page.find_all("link")
        if link.attrs.get("rel") == "alternate"
    }
    absolute = {lang: BASE_URL.rstrip("/") + PAGES[lang][kind][1] for lang in LANGUAGES}
    assert alternates == {**absolute, "x-default": absolute["en"]}
    assert len(page.find_all("link", rel="alternate")) == len(LANGUAGES) + 1, "one link per language"
    assert [link.attrs["href"] for link in page.find_all("link", rel="canonical")] == [absolute[language]]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", [*PAGE_KINDS, "404"])
def test_the_language_switcher_links_this_page_in_the_other_language(
    pages: dict[str, Page], language: str, kind: str
) -> None:
    """Every language by its own name, in its own language; the current one marked and not a
    link (a link would drop the room page's ?name=); the others to this page's translation (the
    404 page: to that language's landing page)."""
    page = page_of(pages, language, kind)
    navs = language_nav(page, read_strings(language))
    assert len(navs) == 1
    elements = page.elements[page.elements.index(navs[0]) + 1 :]
    elements = elements[: next(i for i, e in enumerate(elements) if e.tag in ("main", "nav"))]
    links = [e for e in elements if e.tag == "a"]
    current = [e for e in elements if e.attrs.get("aria-current") == "page"]
    others = [lang for lang in LANGUAGES if lang != language]
    assert [(a.attrs.get("hreflang"), a.attrs.get("lang")) for a in links] == [(lang, lang) for lang in others]
    target_kind = "home" if kind == "404" else kind
    assert [a.attrs["href"] for a in links] == [PAGES[lang][target_kind][1] for lang in others]
    assert [a.text.strip() for a in links] == [language_name(lang) for lang in others]
    assert len(current) == 1 and current[0].tag != "a" and current[0].attrs.get("lang") == language
    assert language_name(language) in page.text


def test_there_is_no_language_switcher_on_a_single_language_site(tmp_path: Path) -> None:
    source = copy_site_source(tmp_path)
    config = source / "config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?ms)^\[languages\].*", "", text), encoding="utf-8")
    for name in ("_index", "room", "about"):
        (source / "site" / f"{name}.ja.md").unlink()
    built = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=source)
    assert not (built / "ja").exists()
    page = parse_page(built / "room" / "index.html")
    assert not language_nav(page, read_strings("en"))
    assert not page.find_all("link", rel="alternate")
