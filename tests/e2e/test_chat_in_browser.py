"""Visitors chatting in real browsers through the real backend."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.support import enter_room_as, message_texts, send

pytestmark = pytest.mark.e2e

# What a hostile visitor might send: markup, a script tag and an event-handler payload.
HOSTILE_TEXT = '<b>bold</b><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def test_two_visitors_chat_in_one_room_and_another_room_sees_nothing(live_system, new_page):
    ann = new_page(live_system.room_url("e2e-lobby"))
    bob = new_page(live_system.room_url("e2e-lobby"))
    eve = new_page(live_system.room_url("e2e-elsewhere"))
    for page, name in ((ann, "Ann"), (bob, "Bob"), (eve, "Eve")):
        enter_room_as(page, name)

    send(ann, "Hello from Ann")
    for page in (ann, bob):
        expect(message_texts(page)).to_have_text(["Hello from Ann"], timeout=5_000)
        expect(page.locator(".bc-messages .bc-message__author").first).to_have_text("Ann")

    send(bob, "Hi Ann, Bob here")
    expect(message_texts(ann)).to_have_text(["Hello from Ann", "Hi Ann, Bob here"], timeout=5_000)

    # The other room got nothing, not even after a moment.
    eve.wait_for_timeout(500)
    expect(message_texts(eve)).to_have_count(0)
    for page in (ann, bob, eve):
        assert page.console_errors == []


def test_markup_in_a_message_is_shown_as_text_and_runs_nothing(live_system, new_page):
    ann = new_page(live_system.room_url("e2e-hostile"))
    bob = new_page(live_system.room_url("e2e-hostile"))
    enter_room_as(ann, "Ann")
    enter_room_as(bob, "Bob")

    send(ann, HOSTILE_TEXT)
    for page in (ann, bob):
        expect(message_texts(page)).to_have_text([HOSTILE_TEXT], timeout=5_000)
        messages = page.locator(".bc-messages")
        assert messages.locator("b, script, img").count() == 0
        page.wait_for_timeout(200)  # time for an injected onerror to fire, if it could
        assert page.evaluate("window.__pwned") is None


def test_history_is_shown_to_a_visitor_who_arrives_later(live_system, new_page):
    ann = new_page(live_system.room_url("e2e-history"))
    enter_room_as(ann, "Ann")
    send(ann, "first")
    send(ann, "second")
    expect(message_texts(ann)).to_have_text(["first", "second"])

    late = new_page(live_system.room_url("e2e-history"))
    enter_room_as(late, "Late")
    expect(message_texts(late)).to_have_text(["first", "second"])


def test_landing_page_lists_rooms_and_enters_any_room(live_system, new_page):
    page = new_page(live_system.site_url)
    for room in ("lobby", "help", "random"):
        expect(page.locator(f"a[href*='name={room}']").first).to_be_visible()

    form = page.locator("form").filter(has=page.locator("input[name=name]")).first
    form.locator("input[name=name]").fill("  Book-Club ")
    form.locator("input[name=name]").press("Enter")
    expect(page).to_have_url(re.compile(r"/room/\?name=book-club$"))
    enter_room_as(page, "Reader")
    send(page, "anyone here?")
    expect(message_texts(page)).to_have_text(["anyone here?"])


def test_an_invalid_room_in_the_url_is_explained(live_system, new_page):
    page = new_page(live_system.room_url("Not%20a%20room!"))
    expect(page.locator(".bc-chat__problem")).to_be_visible()
    expect(page.locator("form.bc-composer")).to_be_hidden()


def test_the_landing_pages_room_cards_say_who_is_online(live_system, new_page):
    """config.toml's rooms on the landing page, each with its online count from the backend."""
    kim = new_page(live_system.room_url("help"))
    enter_room_as(kim, "Kim")
    visitor = new_page(live_system.site_url)
    help_card = visitor.locator(".bc-room-list__item[data-bc-room=help]")
    expect(help_card.locator(".bc-room-list__online")).to_have_text("1 online")
    expect(visitor.locator(".bc-room-list__item[data-bc-room=random] .bc-room-list__online")).to_have_text("0 online")
