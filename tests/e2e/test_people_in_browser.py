"""Presence, typing, staff and live moderation as visitors see them in open pages."""

from __future__ import annotations

import re

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

    expect(ann.locator(".bc-presence .bc-presence__person")).to_have_text([person("Ann"), person("Bob")])
    expect(ann.locator(".bc-presence__count")).to_contain_text("2")

    bob.locator("form.bc-composer textarea[name=text]").press_sequentially("hel", delay=50)
    expect(ann.locator(".bc-typing")).to_contain_text("Bob")
    expect(bob.locator(".bc-typing")).not_to_contain_text("Bob")  # nobody is told they type

    bob.close()
    expect(ann.locator(".bc-presence .bc-presence__person")).to_have_text([person("Ann")])


def test_two_people_of_one_name_never_look_the_same(live_system, new_page):
    """Each name is followed by its tag, derived from the visitor id: two "Dan"s (or a "Dаn" with
    a Cyrillic а) differ by it in the online list and on their messages."""
    room = "e2e-two-dans"
    first = new_page(live_system.room_url(room))
    enter_room_as(first, "Dan")
    second = new_page(live_system.room_url(room))
    enter_room_as(second, "Dan")
    people = first.locator(".bc-presence .bc-presence__person")
    expect(people).to_have_text([person("Dan"), person("Dan")])
    tags = people.locator(".bc-tag").all_inner_texts()
    assert len(set(tags)) == 2, tags
    send(first, "I am the first Dan")
    send(second, "I am the second Dan")
    messages = second.locator(".bc-message")
    expect(messages).to_have_count(2)
    message_tags = messages.locator(".bc-tag").all_inner_texts()
    assert sorted(message_tags) == sorted(tags), (message_tags, tags)
    expect(second.locator(".bc-identity__name .bc-tag")).to_have_text(message_tags[1])


def person(name: str) -> re.Pattern[str]:
    """An entry of the online list: the name, then its tag ("#K3F9")."""
    return re.compile(rf"^{re.escape(name)}\s*#\w{{4}}$")


def sign_in_to_admin(live_system, new_page):
    """A moderator's browser, signed in to the backend's Django admin."""
    live_system.backend_shell(
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='mod').exists() or User.objects.create_superuser('mod', password='mod-pass-123')"
    )
    admin = new_page(f"{live_system.backend_url}/admin/login/")
    admin.locator("#id_username").fill("mod")
    admin.locator("#id_password").fill("mod-pass-123")
    admin.locator("#id_password").press("Enter")
    expect(admin.locator("#site-name")).to_be_visible()
    return admin


def run_admin_action(admin, url: str, action: str) -> None:
    """Select every row the changelist ``url`` shows and run ``action`` on them."""
    admin.goto(url)
    for row in admin.locator("input.action-select").all():
        row.check()
    admin.locator("select[name=action]").select_option(action)
    admin.locator("button[name=index]").click()
    # Moderation actions ask what and why first (room actions go straight through).
    if admin.locator("input[name=reason]").count():
        admin.locator("input[name=reason]").fill("e2e: breaking the rules")
        admin.locator("input[type=submit]").click()
    expect(admin.locator(".messagelist .success")).to_be_visible()


def test_a_moderator_deletes_mutes_locks_and_bans_from_the_admin_in_open_pages(live_system, new_page):
    room = "e2e-moderation"
    ann = new_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    eve = new_page(live_system.room_url(room))
    enter_room_as(eve, "Eve")
    send(eve, "buy cheap pills")
    # The server's order is the order everyone sees; Ann answers once Eve's line has reached her.
    expect(message_texts(ann)).to_have_text(["buy cheap pills"])
    send(ann, "hello")
    expect(message_texts(ann)).to_have_text(["buy cheap pills", "hello"])
    eve_visitor = eve.evaluate("JSON.parse(localStorage.getItem('backchannel:v1:identity')).visitor")
    admin = sign_in_to_admin(live_system, new_page)
    eves_messages = f"{live_system.backend_url}/admin/chat/message/?q={eve_visitor}"

    # Delete: gone from every open page at once, and after a reload.
    run_admin_action(admin, eves_messages, "delete_for_everyone")
    for page in (ann, eve):
        expect(message_texts(page)).to_have_text(["hello"], timeout=MODERATION_DEADLINE_MS)
    ann.reload()
    expect(message_texts(ann)).to_have_text(["hello"])

    # Mute: Eve reads on but cannot post, and is told.
    run_admin_action(admin, eves_messages, "mute_author_hour")
    expect(eve.locator(".bc-notice[data-kind=muted]")).to_be_visible(timeout=MODERATION_DEADLINE_MS)
    expect(eve.locator("form.bc-composer textarea[name=text]")).to_be_disabled()
    send(ann, "still here")
    expect(eve.locator(".bc-message[data-seq] .bc-message__text")).to_have_text(["hello", "still here"])
    expect(message_texts(ann)).to_have_text(["hello", "still here"])  # nothing of Eve's was stored

    # Lock: the room turns read-only, live.
    run_admin_action(admin, f"{live_system.backend_url}/admin/chat/room/?q={room}", "lock")
    expect(ann.locator(".bc-notice[data-kind=locked]")).to_be_visible(timeout=MODERATION_DEADLINE_MS)
    expect(ann.locator("form.bc-composer textarea[name=text]")).to_be_disabled()

    # Ban (the identity only: every visitor here shares 127.0.0.1): Eve's socket is closed with
    # the reason shown, and a reload does not get her back in.
    admin.goto(f"{live_system.backend_url}/admin/chat/sanction/add/")
    admin.locator("#id_kind").select_option("ban")
    admin.locator("#id_visitor").fill(eve_visitor)
    admin.locator("#id_reason").fill("spam")
    admin.locator("input[name=_save]").click()
    expect(admin.locator(".messagelist .success")).to_be_visible()
    expect(eve.locator(".bc-notice[data-kind=banned]")).to_contain_text("spam", timeout=MODERATION_DEADLINE_MS)
    eve.reload()
    expect(eve.locator(".bc-notice[data-kind=banned]")).to_be_visible()
    expect(eve.locator(".bc-status")).not_to_have_attribute("data-state", "connected")
    expect(message_texts(ann)).to_have_text(["hello", "still here"])  # Ann was not touched


def test_staff_sign_in_and_are_marked_as_staff(live_system, new_page):
    live_system.backend_shell(
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='Moderna').exists() or "
        "User.objects.create_user('Moderna', password='correct horse battery', is_staff=True)"
    )
    page = new_page(live_system.room_url("e2e-staff"))
    page.locator("form.bc-composer textarea").fill("P")  # writing brings the name picker and staff sign-in
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
