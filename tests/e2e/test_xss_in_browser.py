"""Every payload of an XSS evasion list, posted as a message, shows as text and runs nothing.

Messages are formatted (`code`, ```blocks```, **bold**, *italic*, ~~strike~~, http(s) links,
@mentions: format.js), so a payload shows as its source minus the formatting markers it used: the
check is that its text without any marker character equals the source without them, and that
the only elements inside a message's text are those formatting makes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.support import enter_room_as, message_texts, post_as

pytestmark = pytest.mark.e2e

PAYLOADS = [
    line
    for line in (Path(__file__).parents[1] / "fixtures" / "xss_payloads.txt").read_text("utf-8").splitlines()
    if line.strip()
]
# Elements that could run script or load something if a payload were parsed as HTML (the widget's
# own divs, `.bc-message__text` and the like, excepted).
ACTIVE_ELEMENTS = (
    "script, img, svg, iframe, object, embed, style, link, meta, base, form, input, video, "
    "math, details, marquee, body, table, div:not([class^='bc-']), b"
)
# What formatting may make inside `.bc-message__text` (format.js), and nothing else.
FORMATTING_ELEMENTS = {"code", "pre", "strong", "em", "s", "a", "span"}
MENTION_CLASSES = ({"bc-mention"}, {"bc-mention", "bc-mention--self"})
FORMATTING_MARKERS = re.compile(r"[*_~`]")

# Each message's text, and every element inside it: [{text, elements: [{tag, classes, href, parent}]}].
_MESSAGE_TEXTS_JS = """list => [...list.querySelectorAll(".bc-message .bc-message__text")].map(text => ({
  text: text.textContent,
  elements: [...text.querySelectorAll("*")].map(element => ({
    tag: element.tagName.toLowerCase(),
    classes: [...element.classList],
    attributes: element.getAttributeNames(),
    href: element.getAttribute("href"),
    parent: element.parentElement === text ? "text" : element.parentElement.tagName.toLowerCase(),
  })),
}))"""


def without_markers(text: str) -> str:
    return FORMATTING_MARKERS.sub("", text)


def assert_shown_as_text(shown: dict, source: str) -> None:
    """The message ``source`` is shown as text: nothing of it lost or added but formatting
    markers, and no element but formatting's, each with only its own attributes."""
    assert without_markers(shown["text"]) == without_markers(source), (source, shown["text"])
    for element in shown["elements"]:
        tag = element["tag"]
        assert tag in FORMATTING_ELEMENTS, (source, element)
        allowed_attributes = {"a": {"href", "rel", "target"}, "span": {"class"}}.get(tag, set())
        assert set(element["attributes"]) <= allowed_attributes, (source, element)
        if tag == "span":
            assert set(element["classes"]) in MENTION_CLASSES, (source, element)
        if tag == "a":
            assert re.match(r"^https?://", element["href"]), (source, element)
        if tag == "code" and element["parent"] == "pre":
            continue
        assert element["parent"] != "pre", (source, element)  # a code block holds its code and nothing else


def test_xss_payloads_render_as_text_in_history_and_live(live_system, new_page):
    room = "e2e-xss"
    half = len(PAYLOADS) // 2
    # Half reach the page as history, half arrive live while it is open.
    post_as(live_system.backend_url, live_system.site_origin, room, "Mallory", PAYLOADS[:half])
    page = new_page(live_system.room_url(room))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    enter_room_as(page, "Reader")
    expect(message_texts(page)).to_have_count(half)
    post_as(live_system.backend_url, live_system.site_origin, room, "Mallory", PAYLOADS[half:])

    expect(message_texts(page)).to_have_count(len(PAYLOADS), timeout=10_000)
    messages = page.locator(".bc-messages")
    shown = messages.evaluate(_MESSAGE_TEXTS_JS)
    assert len(shown) == len(PAYLOADS)
    for shown_message, payload in zip(shown, PAYLOADS, strict=True):
        assert_shown_as_text(shown_message, payload)
    # Formatting did happen (the conversation chunk is there), and a payload without any marker
    # shows exactly as written.
    assert messages.locator(".bc-message__text strong, .bc-message__text code").count() > 0
    for shown_message, payload in zip(shown, PAYLOADS, strict=True):
        if not FORMATTING_MARKERS.search(payload) and "@" not in payload:
            assert shown_message["text"] == payload
    assert messages.locator(ACTIVE_ELEMENTS).count() == 0
    for link in messages.locator("a").all():
        assert re.match(r"^https?://", link.get_attribute("href")), link.get_attribute("href")
        assert set(link.get_attribute("rel").split()) >= {"nofollow", "noopener", "ugc"}
    page.wait_for_timeout(500)  # time for an injected handler or a refresh to fire, if one could
    assert dialogs == []
    assert page.console_errors == []
    assert page.url == live_system.room_url(room)  # no meta refresh, no base hijack


def test_the_page_carries_a_strict_content_security_policy(live_system, new_page):
    page = new_page(live_system.room_url("e2e-csp"))
    policy = page.locator("meta[http-equiv='Content-Security-Policy']").get_attribute("content")
    directives = dict((part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert f"ws://127.0.0.1:{live_system.backend_port}" in directives["connect-src"]
    assert directives["default-src"] == ["'none'"] or directives["default-src"] == ["'self'"]
