"""Presence, typing, staff and live moderation as visitors see them in open pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.support import enter_room_as, message_texts, send

pytestmark = pytest.mark.e2e

# Moderation reaches open pages "within a second or two"; Playwright polls until then.
MODERATION_DEADLINE_MS = 2_000


def test_presence_and_typing_follow_people_live(live_system, new_page):
    ann = new_page(live_system.room_url("e2e-people"))
    enter_room_as(ann, "Ann")
    bob = new_page(live_system.room_url("e2e-people"))
    enter_room_as(bob, "Bob")

    expect(ann.locator(".bc-presence .bc-presence__person")).to_have_text(["Ann", "Bob"])
    expect(ann.locator(".bc-presence__count")).to_contain_text("2")

    bob.locator("form.bc-composer textarea[name=text]").press_sequentially("hel", delay=50)
    expect(ann.locator(".bc-typing")).to_contain_text("Bob")
    expect(bob.locator(".bc-typing")).not_to_contain_text("Bob")  # nobody is told they type

    bob.close()
    expect(ann.locator(".bc-presence .bc-presence__person")).to_have_text(["Ann"])


def test_a_moderator_deletes_mutes_locks_and_bans_in_open_pages(live_system, new_page):
    room = "e2e-moderation"
    ann = new_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    eve = new_page(live_system.room_url(room))
    enter_room_as(eve, "Eve")
    send(eve, "buy cheap pills")
    send(ann, "hello")
    expect(message_texts(ann)).to_have_text(["buy cheap pills", "hello"])
    eve_visitor = eve.evaluate("JSON.parse(localStorage.getItem('backchannel:v1:identity')).visitor")

    # Delete: gone from every open page at once, and after a reload.
    live_system.backend_shell(
        f"moderation.delete_message(message=Message.objects.get(room__name={room!r}, text='buy cheap pills'), by='mod')"
    )
    for page in (ann, eve):
        expect(message_texts(page)).to_have_text(["hello"], timeout=MODERATION_DEADLINE_MS)
    ann.reload()
    expect(message_texts(ann)).to_have_text(["hello"])

    # Mute: Eve reads on but cannot post, and is told why.
    live_system.backend_shell(
        f"moderation.impose(kind=Sanction.Kind.MUTE, visitor={eve_visitor!r}, reason='cool down')"
    )
    expect(eve.locator(".bc-notice[data-kind=muted]")).to_contain_text("cool down", timeout=MODERATION_DEADLINE_MS)
    send(eve, "am I muted?")
    expect(eve.locator(".bc-error")).to_have_attribute("data-code", "muted")
    send(ann, "still here")
    expect(message_texts(eve)).to_have_text(["hello", "still here"])
    expect(message_texts(ann)).to_have_text(["hello", "still here"])

    # Lock: the room turns read-only for everyone, live.
    live_system.backend_shell(
        f"moderation.set_room_state(room=Room.objects.get(name={room!r}), locked=True, slow_mode_secs=0)"
    )
    expect(ann.locator(".bc-notice[data-kind=locked]")).to_be_visible(timeout=MODERATION_DEADLINE_MS)
    expect(ann.locator("form.bc-composer textarea[name=text]")).to_be_disabled()

    # Ban: Eve's socket is closed with the reason shown, and a reload does not get her back in.
    live_system.backend_shell(f"moderation.impose(kind=Sanction.Kind.BAN, visitor={eve_visitor!r}, reason='spam')")
    expect(eve.locator(".bc-notice[data-kind=banned]")).to_contain_text("spam", timeout=MODERATION_DEADLINE_MS)
    eve.reload()
    expect(eve.locator(".bc-notice[data-kind=banned]")).to_be_visible()
    expect(eve.locator(".bc-status")).not_to_have_attribute("data-state", "connected")


def test_staff_sign_in_and_are_marked_as_staff(live_system, new_page):
    live_system.backend_shell(
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='Moderna').exists() or "
        "User.objects.create_user('Moderna', password='correct horse battery', is_staff=True)"
    )
    page = new_page(live_system.room_url("e2e-staff"))
    staff = page.locator("details.bc-staff")
    staff.locator("summary").click()
    login = page.locator("form.bc-staff-login")
    login.locator("input[name=username]").fill("Moderna")
    login.locator("input[name=password]").fill("correct horse battery")
    login.locator("input[name=password]").press("Enter")
    expect(page.locator("form.bc-composer")).to_be_visible()
    send(page, "Please be kind.")

    visitor = new_page(live_system.room_url("e2e-staff"))
    enter_room_as(visitor, "Vis")
    message = visitor.locator(".bc-message").filter(has_text="Please be kind.")
    expect(message.locator(".bc-staff-badge")).to_be_visible()
    expect(message.locator(".bc-message__author")).to_contain_text("Moderna")
