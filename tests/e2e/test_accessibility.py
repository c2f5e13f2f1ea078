"""axe-core finds nothing on the pages a visitor sees, in the light and the dark colour scheme:
the room page as a first visit shows it (reading, then the name picker once they write) and
while two people chat (message log, own and others' messages, presence), and the landing page.

axe runs inside the page with the page's real CSP in force (tests/e2e/ui_checks.py). A missing
axe-core fails the run with the install command; it never skips. `make report` prints the same
checks, with Lighthouse's scores, outside pytest.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import visitor_pages
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

ROOM_STATES = ("reading", "name-picker", "chatting")


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
        yield {"reading": reading, "name-picker": first_visit, "chatting": people["Ann"]}


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
