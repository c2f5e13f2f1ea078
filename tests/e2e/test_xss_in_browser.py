"""Every payload of an XSS evasion list, posted as a message, shows literally and runs nothing."""

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
# Elements that could run script or load something if a payload were parsed as HTML.
ACTIVE_ELEMENTS = (
    "script, img, svg, iframe, object, embed, style, link, meta, base, form, input, video, "
    "math, details, marquee, body, table, div, b"
)


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

    expect(message_texts(page)).to_have_text(PAYLOADS, timeout=10_000)
    messages = page.locator(".bc-messages")
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
