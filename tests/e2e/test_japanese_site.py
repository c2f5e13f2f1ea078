"""A Japanese visitor, in a real Chromium set to Japanese, on the site's Japanese pages (/ja/):
from the English landing page through the language switcher to a room, everything they read is
themes/backchannel/i18n/ja.toml's, and they talk with an English visitor in the same room."""

from __future__ import annotations

import re
import tomllib

import pytest
from playwright.sync_api import expect

from scripts.site import REPO_ROOT
from tests.e2e.support import enter_room_as, message_texts, send, visitor_pages

pytestmark = pytest.mark.e2e

I18N_DIRS = (REPO_ROOT / "themes" / "backchannel-site" / "i18n", REPO_ROOT / "themes" / "backchannel" / "i18n")
ROOM = "e2e-nihongo"


def read_strings(language: str) -> dict[str, str]:
    """The site theme's strings and the widget's (the component's), for one language."""
    strings = {}
    for folder in I18N_DIRS:
        table = tomllib.loads((folder / f"{language}.toml").read_text(encoding="utf-8"))
        strings.update({key: value["other"] for key, value in table.items()})
    return strings


def fill(template: str, **values: object) -> str:
    """The widget's formatString: "{name}" placeholders filled."""
    return re.sub(r"\{(\w+)\}", lambda match: str(values.get(match[1], match[0])), template)


def front_matter_title(content_file: str) -> str:
    text = (REPO_ROOT / "site" / content_file).read_text(encoding="utf-8")
    return re.search(r'^title: "(.*)"$', text, flags=re.MULTILINE)[1]


def site_title(language: str) -> str:
    config = tomllib.loads((REPO_ROOT / "config.toml").read_text(encoding="utf-8"))
    return config["languages"][language].get("title", config["title"])


def test_a_japanese_visitor_reads_the_chat_in_japanese_and_talks_with_an_english_one(
    live_system, browser, new_page
) -> None:
    english, japanese = read_strings("en"), read_strings("ja")
    with visitor_pages(browser, locale="ja-JP") as open_japanese_page:
        # The English landing page; its language switcher leads to the Japanese one.
        hanako = open_japanese_page(live_system.site_url)
        expect(hanako.locator("html")).to_have_attribute("lang", "en")
        switcher = hanako.get_by_role("navigation", name=english["language_navigation"])
        switcher.locator("a[hreflang=ja]").click()
        expect(hanako).to_have_url(f"{live_system.site_url}ja/")
        expect(hanako.locator("html")).to_have_attribute("lang", "ja")
        expect(hanako.locator("a.bc-skip-link")).to_have_text(japanese["skip_to_content"])
        expect(hanako.locator("#bc-rooms-heading")).to_have_text(japanese["rooms_heading"])
        # Its rooms lead to the Japanese room page.
        room_links = hanako.locator("a.bc-room-list__link")
        expect(room_links.first).to_be_visible()
        for href in room_links.evaluate_all("links => links.map(link => link.getAttribute('href'))"):
            assert re.fullmatch(r"/ja/room/\?name=[a-z0-9-]+", href), href

        # Any other room: through the Japanese "enter a room" form, onto the Japanese room page.
        expect(hanako.locator("label.bc-enter__label")).to_have_text(japanese["enter_room_label"])
        hanako.locator("form.bc-enter input[name=name]").fill(ROOM)
        hanako.locator("form.bc-enter button[type=submit]").click()
        expect(hanako).to_have_url(f"{live_system.site_url}ja/room/?name={ROOM}")
        expect(hanako.locator("html")).to_have_attribute("lang", "ja")
        room_title = fill(japanese["chat_room_title"], room=ROOM)
        expect(hanako).to_have_title(f"{room_title} · {front_matter_title('room.ja.md')} · {site_title('ja')}")
        expect(hanako.locator(".bc-chat__title")).to_have_text(room_title)

        # The name picker, in Japanese, once she starts to write.
        expect(hanako.locator("form.bc-composer textarea")).to_have_attribute(
            "placeholder", japanese["chat_message_placeholder"]
        )
        hanako.locator("form.bc-composer textarea").fill("こ")
        name_form = hanako.locator("form.bc-name")
        expect(name_form).to_be_visible()
        expect(name_form.locator(".bc-name__label > span")).to_have_text(japanese["chat_name_label"])
        expect(name_form.locator("button[type=submit]")).to_have_text(japanese["chat_name_submit"])

        enter_room_as(hanako, "花子")
        expect(hanako.locator(".bc-status")).to_have_text(japanese["chat_status_connected"])
        # The visitor's tag follows their name (it tells two people of one name apart).
        identity = re.escape(fill(japanese["chat_identity"], name="花子"))
        expect(hanako.locator(".bc-identity__name")).to_have_text(re.compile(rf"^{identity}\s*#\w{{4}}$"))
        expect(hanako.locator(".bc-presence__count")).to_have_text(fill(japanese["chat_presence_count"], count=1))
        send(hanako, "こんにちは")
        expect(message_texts(hanako)).to_have_text(["こんにちは"])

        # The same room in English: one room, whatever the language of the page.
        ann = new_page(live_system.room_url(ROOM))
        expect(ann.locator("html")).to_have_attribute("lang", "en")
        enter_room_as(ann, "Ann")
        expect(ann.locator(".bc-status")).to_have_text(english["chat_status_connected"])
        expect(message_texts(ann)).to_have_text(["こんにちは"])
        expect(hanako.locator(".bc-presence__count")).to_have_text(fill(japanese["chat_presence_count"], count=2))
        expect(ann.locator(".bc-presence__count")).to_have_text(fill(english["chat_presence_count"], count=2))
        send(ann, "Hello, Hanako")
        expect(message_texts(hanako)).to_have_text(["こんにちは", "Hello, Hanako"])

        for page in (hanako, ann):
            assert page.console_errors == []
