"""Moderating from the chat page, as a moderator on a busy page does it: a staff page and visitor
pages on real daphne, the widget's ⋯ menus, the moderation and report API behind them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS_DIR
from tests.e2e.support import enter_room_as, message_texts, send

pytestmark = pytest.mark.e2e

# Moderation reaches open pages "within a second or two"; Playwright polls until then.
MODERATION_DEADLINE_MS = 2_000


def sign_in_as_staff(live_system, page: Page, username: str) -> None:
    """A staff account of the backend signs in on the chat page (the staff sign-in beside the
    name picker)."""
    live_system.backend_shell(
        "from django.contrib.auth.models import User\n"
        f"User.objects.filter(username={username!r}).exists() or "
        f"User.objects.create_superuser({username!r}, password='correct horse battery')"
    )
    page.locator("form.bc-composer textarea").fill("…")  # writing brings the name picker and staff sign-in
    page.locator("details.bc-staff summary").click()
    login = page.locator("form.bc-staff-login")
    login.locator("input[name=username]").fill(username)
    login.locator("input[name=password]").fill("correct horse battery")
    login.locator("input[name=password]").press("Enter")
    expect(page.locator(".bc-identity .bc-staff-badge")).to_be_visible()
    page.locator("form.bc-composer textarea").fill("")


def act(page: Page, menu_button, action: str, reason: str = "") -> None:
    """Open a ⋯ menu, pick ``action`` (its label), give the reason and confirm."""
    menu_button.click()
    page.locator(".bc-menu").get_by_role("button", name=action, exact=True).click()
    page.locator(".bc-menu__reason").fill(reason)
    page.locator(".bc-menu__form button[type=submit]").click()


def message_menu(page: Page, text: str):
    return page.locator(".bc-message", has_text=text).locator(".bc-menu-button")


def test_staff_delete_mute_and_ban_from_the_page_and_everyone_sees_it_live(live_system, new_page):
    room = "e2e-moderate-page"
    ann = new_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    eve = new_page(live_system.room_url(room))
    enter_room_as(eve, "Eve")
    sue = new_page(live_system.room_url(room))
    sign_in_as_staff(live_system, sue, "Sue")

    send(eve, "buy cheap pills")
    expect(message_texts(sue)).to_have_text(["buy cheap pills"])
    # Visitors may only report others' messages (and react and reply); their own they may edit or
    # delete, never report.
    message_menu(eve, "buy cheap pills").click()
    expect(eve.locator(".bc-menu > button")).to_have_text(["Reply", "Edit", "Delete", "Cancel"])
    eve.keyboard.press("Escape")
    message_menu(ann, "buy cheap pills").click()
    expect(ann.locator(".bc-menu > button")).to_have_text(["Reply", "Report to the moderators", "Cancel"])
    expect(ann.locator(".bc-menu button").first).to_be_focused()  # the first reaction
    ann.keyboard.press("Escape")
    expect(ann.locator(".bc-menu")).to_have_count(0)

    # Delete, from the staff page: gone from every page at once.
    act(sue, message_menu(sue, "buy cheap pills"), "Delete", "spam")
    for page in (ann, eve, sue):
        expect(message_texts(page)).to_have_count(0, timeout=MODERATION_DEADLINE_MS)

    # Mute for an hour, with a reason: Eve is told, her composer is disabled, also after a reload.
    send(eve, "why?")
    act(sue, message_menu(sue, "why?"), "Mute for an hour", "cool down")
    expect(eve.locator(".bc-notice[data-kind=muted]")).to_contain_text("cool down", timeout=MODERATION_DEADLINE_MS)
    expect(eve.locator("form.bc-composer textarea")).to_be_disabled()
    eve.reload()
    expect(eve.locator(".bc-notice[data-kind=muted]")).to_contain_text("cool down")
    expect(eve.locator("form.bc-composer textarea")).to_be_disabled()
    send(ann, "Ann is still here")
    expect(message_texts(eve)).to_contain_text(["Ann is still here"])

    # Ban from the online list: Eve's page is closed with the reason; Ann is untouched.
    eve_entry = sue.locator(".bc-presence__person", has_text="Eve")
    eve_entry.locator(".bc-menu-button").click()
    sue.screenshot(path=ARTIFACTS_DIR / "screenshots" / "moderate-person-menu.png")
    sue.keyboard.press("Escape")
    expect(eve_entry.locator(".bc-menu-button")).to_be_focused()
    act(sue, eve_entry.locator(".bc-menu-button"), "Ban", "repeat offender")
    banned = eve.locator(".bc-notice[data-kind=banned]")
    expect(banned).to_contain_text("repeat offender", timeout=MODERATION_DEADLINE_MS)
    expect(sue.locator(".bc-presence__person", has_text="Eve")).to_have_count(0, timeout=MODERATION_DEADLINE_MS)
    send(ann, "bye Eve")
    expect(message_texts(ann)).to_have_text(["why?", "Ann is still here", "bye Eve"])
    assert sue.console_errors == []


def test_a_report_reaches_the_admin_and_an_address_ban_of_the_moderators_own_address_is_refused(live_system, new_page):
    room = "e2e-report"
    ann = new_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    eve = new_page(live_system.room_url(room))
    enter_room_as(eve, "Eve")
    send(eve, "something rude")
    expect(message_texts(ann)).to_have_text(["something rude"])

    act(ann, message_menu(ann, "something rude"), "Report to the moderators", "insulting")
    expect(ann.locator(".bc-menu__done")).to_have_text("Thank you. The moderators will look at it.")

    sue = new_page(live_system.room_url(room))
    sign_in_as_staff(live_system, sue, "Sue")
    # Every page here shares 127.0.0.1, the moderator's own address: the warning counts them all,
    # and the ban is refused rather than locking the moderator out.
    message_menu(sue, "something rude").click()
    sue.locator(".bc-menu").get_by_role("button", name="Ban their address", exact=True).click()
    expect(sue.locator(".bc-menu__warning")).to_have_text(re.compile(r"^[3-9] people are online from this address now"))
    sue.screenshot(path=ARTIFACTS_DIR / "screenshots" / "moderate-address-ban.png")
    sue.locator(".bc-menu__form button[type=submit]").click()
    expect(sue.locator(".bc-error")).to_have_attribute("data-code", "protected")
    expect(sue.locator(".bc-status")).to_have_attribute("data-state", "connected")
    expect(eve.locator(".bc-notice[data-kind=banned]")).to_have_count(0)

    admin = new_page(f"{live_system.backend_url}/admin/login/")
    admin.locator("#id_username").fill("Sue")
    admin.locator("#id_password").fill("correct horse battery")
    admin.locator("#id_password").press("Enter")
    admin.goto(f"{live_system.backend_url}/admin/chat/report/")
    expect(admin.locator("#result_list tbody tr").first).to_contain_text("something rude")
    expect(admin.locator("#result_list tbody tr").first).to_contain_text("insulting")
