"""axe-core finds nothing on the pages a visitor sees, in the light and the dark colour scheme:
the room page as a first visit shows it (reading, then the name picker once they write), while
two people chat (message log, own and others' messages, presence), in a conversation (a reply's
quote, reactions, "(edited)", formatting, a mention, a folded long message, the unread divider
and day separator, the notification buttons, the "Replying to" line over the composer) and with
a message's ⋯ menu open on its row of reactions, and the landing page.

axe runs inside the page with the page's real CSP in force (tests/e2e/ui_checks.py). A missing
axe-core fails the run with the install command; it never skips. `make report` prints the same
checks, with Lighthouse's scores, outside pytest.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import message_texts, send, visitor_pages
from tests.e2e.ui_checks import (
    COLOR_SCHEMES,
    TWO_PEOPLE_CHAT,
    AxeMissing,
    axe_source,
    axe_version,
    describe_violations,
    enter_people,
    play,
    run_axe,
    set_color_scheme,
)

pytestmark = pytest.mark.e2e

ROOM_STATES = ("reading", "name-picker", "chatting", "conversation", "menu-open")


@pytest.fixture(scope="module")
def axe_installed() -> str:
    try:
        axe_source()
    except AxeMissing as error:
        pytest.fail(str(error), pytrace=False)
    return axe_version()


@pytest.fixture(scope="module")
def room_pages(live_system, browser, axe_installed) -> dict[str, Page]:
    """The room page in each state, kept open for the module: the checks switch its colour scheme."""
    with visitor_pages(browser) as open_page:
        reading = open_page(live_system.room_url("a11y-reading"))
        expect(reading.locator(".bc-empty")).to_be_visible()
        first_visit = open_page(live_system.room_url("a11y-first-visit"))
        first_visit.locator("form.bc-composer textarea").fill("Hello")
        expect(first_visit.locator("form.bc-name")).to_be_visible()
        people = enter_people(open_page, live_system.room_url("a11y-chatting"), ["Ann", "Bob"])
        play(people, TWO_PEOPLE_CHAT)
        expect(people["Ann"].locator(".bc-presence__people li")).to_have_count(2)
        conversation, menu_open = conversation_pages(
            open_page, live_system.room_url("a11y-conversation"), live_system.site_origin
        )
        yield {
            "reading": reading,
            "name-picker": first_visit,
            "chatting": people["Ann"],
            "conversation": conversation,
            "menu-open": menu_open,
        }


def conversation_pages(open_page, room_url: str, site_origin: str) -> tuple[Page, Page]:
    """Ann's page back in a conversation that went on without her (the unread divider), writing a
    reply, notifications on; and Bob's page with the ⋯ menu of her message open."""
    people = enter_people(open_page, room_url, ["Ann", "Bob"])
    ann, bob = people["Ann"], people["Bob"]
    ann.context.grant_permissions(["notifications"], origin=site_origin)

    def message(page: Page, index: int):
        return message_texts(page).nth(index).locator("xpath=..")

    def menu_choice(page: Page, index: int, name: str) -> None:
        message(page, index).locator(".bc-menu-button").click()
        page.locator(".bc-menu").get_by_role("button", name=name, exact=True).click()

    send(bob, "Who has the **slides**? `deck.pdf` is missing")
    expect(message_texts(ann)).to_have_count(1)
    menu_choice(ann, 0, "Reply")
    ann.locator("form.bc-composer textarea").fill("I do, *one minute*:\n```\nscp deck.pdf bob@host:\n```")
    ann.locator("form.bc-composer textarea").press("Enter")
    expect(message(bob, 1).locator(".bc-reply-quote")).to_be_visible()
    menu_choice(bob, 1, "React with 👍")
    menu_choice(ann, 1, "React with 🎉")
    expect(message(ann, 1).locator(".bc-reaction")).to_have_count(2)
    send(bob, "Thanks! Got it")
    menu_choice(bob, 2, "Edit")
    bob.locator("form.bc-composer textarea").fill("Thanks! ~~Got it~~ All there")
    bob.locator("form.bc-composer textarea").press("Enter")
    expect(message(ann, 2).locator(".bc-message__edited")).to_be_visible()

    context = ann.context
    ann.close()
    send(bob, "@Ann see https://example.com/agenda for tomorrow")
    send(bob, "Notes:\n" + "\n".join(f"{number}. a point to remember" for number in range(1, 13)))
    ann = context.new_page()
    ann.goto(room_url)
    expect(message_texts(ann)).to_have_count(5)
    expect(ann.locator(".bc-unread")).to_be_visible()
    expect(ann.locator(".bc-show-more")).to_be_visible()
    ann.locator(".bc-notify").click()
    expect(ann.locator(".bc-notify-sound")).to_be_visible()
    menu_choice(ann, 4, "Reply")
    expect(ann.locator(".bc-composing")).to_be_visible()

    message(bob, 1).locator(".bc-menu-button").click()
    expect(bob.locator(".bc-menu__reactions button")).to_have_count(6)
    return ann, bob


def assert_no_violations(page: Page, where: str, axe: str) -> None:
    violations = run_axe(page)
    assert not violations, (
        f"{axe} found {len(violations)} accessibility violation(s) on the {where} ({page.url}):\n"
        f"{describe_violations(violations)}"
    )


@pytest.mark.parametrize("scheme", COLOR_SCHEMES)
@pytest.mark.parametrize("state", ROOM_STATES)
def test_the_room_page_has_no_axe_violations(room_pages, axe_installed, state, scheme):
    page = room_pages[state]
    set_color_scheme(page, scheme)
    assert_no_violations(page, f"room page ({state}, {scheme} scheme)", axe_installed)


@pytest.mark.parametrize("scheme", COLOR_SCHEMES)
def test_the_landing_page_has_no_axe_violations(live_system, browser, axe_installed, scheme):
    with visitor_pages(browser, color_scheme=scheme) as open_page:
        page = open_page(live_system.site_url)
        expect(page.locator("h1").first).to_be_visible()
        assert_no_violations(page, f"landing page ({scheme} scheme)", axe_installed)
