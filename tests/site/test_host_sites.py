"""Host sites other than the usual one, built with the real Hugo:

- the exampleSite's own theme (themes/backchannel/exampleSite/themes/host-theme) must stay as
  demanding as popular real themes, or the tests that build it stop catching what breaks there:
  no home or 404 layout, summaries as HTML on list pages (one post has its chat in the summary),
  RSS and a JSON search index, a table of contents from a regex over .Content, rem sizes on a
  62.5 % root font, a dark mode of its own. These tests pin that the fixture still does all that.
- tests/fixtures/sites/yaml-config: a site configured in YAML with Hugo's config directory
  (config/_default/hugo.yaml, and params.toml holding the chat's block as [backchannel]).
- small sites written on the fly: {{< chat >}} without a room (the page's own room), and a
  missing backend_url, whose error shows the fix in the config file the site uses.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path
from urllib.parse import unquote

import pytest

from scripts.site import REPO_ROOT, SiteBuildError, build_site
from tests.site.support import (
    COMPONENT_DIR,
    Page,
    build_with_the_sites_own_config,
    chats,
    check_widget_subresources,
    local_file,
    main_script,
    parse_page,
    subresources,
    write_site,
)

pytestmark = pytest.mark.hugo

EXAMPLE_SITE = COMPONENT_DIR / "exampleSite"
HOST_THEME = EXAMPLE_SITE / "themes" / "host-theme"
YAML_SITE = REPO_ROOT / "tests" / "fixtures" / "sites" / "yaml-config"
# config/_default/params.toml of the YAML site.
PARAMS_TOML_BACKEND_URL = "ws://params-toml.example.test:8123"
BACKEND_URL = "ws://127.0.0.1:45679"
BASE_URL = "http://127.0.0.1:8081/"


def widgets(page: Page) -> list[str]:
    """The rooms of the page's <backchannel-chat> elements, in document order."""
    return [element.attrs.get("room") or "" for element in chats(page)]


def our_scripts(page: Page) -> list[str]:
    return [url for element, url in subresources(page) if element.tag == "script" and "/backchannel/" in url]


def head_of(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    return html[: html.index("<body")]


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
    assert {"Chat", "Tea room", "About"} <= set(entries)
    assert all(entry["content"] for entry in entries.values())
    assert entries["Chat"]["permalink"] == f"{BASE_URL}chat/"


def test_single_pages_get_a_toc_of_every_heading_in_the_content(host_site: Path) -> None:
    for name in ("chat/index.html", "posts/tea/index.html"):
        html = (host_site / name).read_text(encoding="utf-8")
        body = html[re.search(r'class="?post-content', html).start() :]
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


def test_the_yaml_site_needs_no_home_layout_of_its_own(tmp_path: Path) -> None:
    """Without its layouts/home.html, the site's own list.html renders its home page: the
    component has no home layout to take its place."""
    source = copy_yaml_site(tmp_path)
    (source / "layouts" / "home.html").unlink()
    built = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=source)
    home = parse_page(built / "index.html")
    assert home.with_class("yaml-site") and [h1.text for h1 in home.find_all("h1")] == ["YAML Config Site"]
    assert not home.find_all("script") and not home.find_all("link", rel="stylesheet")


# --- {{< chat >}} without a room: the page's own ------------------------------------------------

ROOMS_SITE_CONFIG = """
baseURL = "http://localhost:1313/"
title = "Rooms"
theme = ["backchannel"]
disableKinds = ["taxonomy", "term", "rss", "sitemap"]
defaultContentLanguage = "en"
[params.backchannel]
  backend_url = "ws://localhost:8000"
  color_scheme = "html[data-mode=night]"
[languages.en]
  weight = 1
[languages.ja]
  weight = 2
"""
LONG_SECTION = "a-section-with-a-name-long-enough-to-matter/and-a-subsection"


def page_source(title: str, body: str = "{{< chat >}}", **front_matter: str) -> str:
    lines = [f"title: {json.dumps(title)}", *(f"{key}: {json.dumps(value)}" for key, value in front_matter.items())]
    return "---\n" + "\n".join(lines) + f"\n---\n\n{body}\n"


@pytest.fixture(scope="module")
def rooms_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rooms")
    source = write_site(root / "source", ROOMS_SITE_CONFIG, {
        "content/_index.md": page_source("Home"),
        "content/_index.ja.md": page_source("ホーム"),
        "content/posts/_index.md": page_source("Posts"),
        "content/posts/Tea_Time.md": page_source("Tea time"),
        "content/posts/Tea_Time.ja.md": page_source("お茶の時間"),
        "content/posts/garden.md": page_source("Garden", chat_room="the-garden"),
        "content/posts/garden.ja.md": page_source("庭", chat_room="the-garden"),
        "content/posts/named-inline.md": page_source("Inline", '{{< chat room="inline" >}}', chat_room="ignored"),
        f"content/{LONG_SECTION}/first-page-of-it.md": page_source("First"),
        f"content/{LONG_SECTION}/first-page-of-it-again.md": page_source("Again"),
        "content/posts/日記.md": page_source("日記"),
        "content/posts/旅行.md": page_source("旅行"),
        "content/no-chat.md": page_source("No chat", "Nothing to see."),
        "content/dark-band.md": page_source("Dark band", '{{< chat room="band" color_scheme="dark" >}}'),
    })  # fmt: skip
    return build_site(BACKEND_URL, root / "public", base_url=BASE_URL, source=source)


def room_of(site: Path, page: str) -> str:
    [chat] = chats(parse_page(site / page / "index.html"))
    assert unquote(chat.attrs["page"]) == "/" + page + ("/" if page else "")
    assert chat.text == f"#{chat.attrs['room']}"
    return chat.attrs["room"]


ROOM_RULE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


def test_a_chat_without_a_room_gets_its_pages_path_as_room(rooms_site: Path) -> None:
    assert room_of(rooms_site, "posts/tea_time") == "posts-tea-time"
    assert room_of(rooms_site, "posts") == "posts"
    assert room_of(rooms_site, "") == "home"


def test_translations_of_one_page_share_its_room(rooms_site: Path) -> None:
    assert room_of(rooms_site, "ja/posts/tea_time") == room_of(rooms_site, "posts/tea_time")
    assert room_of(rooms_site, "ja") == room_of(rooms_site, "") == "home"
    # Each in its own language.
    [english] = chats(parse_page(rooms_site / "posts/tea_time/index.html"))
    [japanese] = chats(parse_page(rooms_site / "ja/posts/tea_time/index.html"))
    assert ".en." in english.attrs["strings"] and ".ja." in japanese.attrs["strings"]


def test_chat_room_front_matter_wins_and_a_room_argument_beats_both(rooms_site: Path) -> None:
    assert room_of(rooms_site, "posts/garden") == room_of(rooms_site, "ja/posts/garden") == "the-garden"
    assert room_of(rooms_site, "posts/named-inline") == "inline"


def test_rooms_from_paths_are_valid_and_distinct_even_when_long_or_not_ascii(rooms_site: Path) -> None:
    """Cut to the room rule's 40 characters, with a hash that keeps two alike paths apart; and
    a path of non-ASCII characters (which the rule drops) is no other page's room."""
    rooms = {
        page: room_of(rooms_site, page)
        for page in (f"{LONG_SECTION}/first-page-of-it", f"{LONG_SECTION}/first-page-of-it-again",
                     "posts/日記", "posts/旅行", "posts", "posts/tea_time", "")
    }  # fmt: skip
    assert all(ROOM_RULE.fullmatch(room) for room in rooms.values()), rooms
    assert len(set(rooms.values())) == len(rooms), rooms
    assert rooms[f"{LONG_SECTION}/first-page-of-it"].startswith("a-section-with-a-name-long")


def test_the_rooms_are_stable_from_build_to_build(rooms_site: Path, tmp_path: Path) -> None:
    again = build_site(BACKEND_URL, tmp_path / "public", base_url=BASE_URL, source=rooms_site.parent / "source")
    for path in sorted(rooms_site.rglob("index.html")):
        relative = path.relative_to(rooms_site)
        assert widgets(parse_page(path)) == widgets(parse_page(again / relative)), relative


def test_a_page_without_a_chat_gets_nothing_and_a_page_with_one_gets_its_script(rooms_site: Path) -> None:
    page = parse_page(rooms_site / "no-chat" / "index.html")
    assert not chats(page) and not page.find_all("script")
    check_widget_subresources(rooms_site, parse_page(rooms_site / "posts" / "tea_time" / "index.html"))


def test_color_scheme_reaches_the_script(rooms_site: Path) -> None:
    page = parse_page(rooms_site / "posts" / "tea_time" / "index.html")
    bundle = local_file(rooms_site, main_script(page)).read_text(encoding="utf-8")
    assert "html[data-mode=night]" in bundle
    assert "color-scheme" not in chats(page)[0].attrs, "the site's setting, unless a shortcode says otherwise"


def test_a_shortcode_can_set_its_widgets_color_scheme(rooms_site: Path) -> None:
    [chat] = chats(parse_page(rooms_site / "dark-band" / "index.html"))
    assert chat.attrs["color-scheme"] == "dark"


# --- A missing backend_url: the error shows the fix in the site's own config file ---------------


def copy_yaml_site(tmp_path: Path) -> Path:
    """A copy of the YAML site, its themesDir pointing at this repository's themes/."""
    source = tmp_path / "yaml-config"
    shutil.copytree(YAML_SITE, source, ignore=shutil.ignore_patterns("public", "resources", ".hugo_build.lock"))
    config = source / "config" / "_default" / "hugo.yaml"
    text, replaced = re.subn(
        r"(?m)^themesDir: .*$",
        f"themesDir: {json.dumps(str(REPO_ROOT / 'themes'))}",
        config.read_text(encoding="utf-8"),
    )
    assert replaced == 1
    config.write_text(text, encoding="utf-8")
    return source


def missing_backend_url_error(source: Path, destination: Path) -> str:
    with pytest.raises(SiteBuildError) as refusal:
        build_with_the_sites_own_config(source, destination)
    message = str(refusal.value)
    assert message.count("backend_url is not set") == 1, message
    assert "must look like" not in message, "one error for a missing backend_url"
    return message


def test_a_missing_backend_url_names_params_toml_in_its_own_form(tmp_path: Path) -> None:
    source = copy_yaml_site(tmp_path)
    params = source / "config" / "_default" / "params.toml"
    text, removed = re.subn(r"(?m)^\s*backend_url = .*\n", "", params.read_text(encoding="utf-8"))
    assert removed == 1
    params.write_text(text, encoding="utf-8")
    message = missing_backend_url_error(source, tmp_path / "public")
    assert 'in config/_default/params.toml:\n\n[backchannel]\n  backend_url = "wss://chat.example.com"\n' in message
    assert "[params.backchannel]" not in message
    assert "HUGOxPARAMSxBACKCHANNELxBACKEND_URL=" in message


def test_a_missing_backend_url_names_hugo_toml(tmp_path: Path) -> None:
    source = write_site(tmp_path / "site", 'title = "TOML"\ntheme = ["backchannel"]\n'
                        'disableKinds = ["taxonomy", "term", "rss", "sitemap"]\n',
                        {"content/chat.md": page_source("Chat")})  # fmt: skip
    message = missing_backend_url_error(source, tmp_path / "public")
    assert 'in hugo.toml:\n\n[params.backchannel]\n  backend_url = "wss://chat.example.com"\n' in message


def test_a_missing_backend_url_shows_the_yaml_form_for_hugo_yaml(tmp_path: Path) -> None:
    source = copy_yaml_site(tmp_path)
    shutil.move(source / "config" / "_default" / "hugo.yaml", source / "hugo.yaml")
    shutil.rmtree(source / "config")
    message = missing_backend_url_error(source, tmp_path / "public")
    assert "in hugo.yaml:\n\nparams:\n  backchannel:\n    backend_url: wss://chat.example.com\n" in message
