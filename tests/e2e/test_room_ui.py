"""The room page as a person uses it: keyboard only, a screen reader's live region, the "N new
messages" button, the unread count in the tab title, and the connection banner while the backend
restarts. Real daphne, the real Hugo build, headless Chromium; each test asserts what a person
notices (focus, text on screen, the tab title), not the widget's internals."""

from __future__ import annotations

import re
import tomllib
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from scripts.loopback import loopback_system
from tests.e2e.conftest import ARTIFACTS_DIR
from tests.e2e.support import enter_room_as, message_texts, post_as, send, visitor_pages

pytestmark = pytest.mark.e2e

REPO_DIR = Path(__file__).resolve().parents[2]
EN_STRINGS = tomllib.loads((REPO_DIR / "themes/backchannel/i18n/en.toml").read_text())
# The server's history page (HISTORY_LIMIT's default): what a join and each "load older" bring.
HISTORY_PAGE = 50
MAX_TABS = 40
# Backoff is capped at 20 s with full jitter; a little more for the join after it.
RECONNECT_TIMEOUT_MS = 30_000


def unique_room(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# The focused element, inside the widget's shadow root too (document.activeElement is its host).
_DEEP_ACTIVE_ELEMENT_JS = """() => {
  let element = document.activeElement;
  while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
  return element;
}"""


def is_focused(locator: Locator) -> bool:
    return locator.evaluate(f"e => e === ({_DEEP_ACTIVE_ELEMENT_JS})()")


def outline_style(locator: Locator) -> str:
    return locator.evaluate("e => getComputedStyle(e).outlineStyle")


def tab_until(page: Page, target: Locator, *, key: str = "Tab") -> int:
    """Press ``key`` until ``target`` has focus; how many presses it took."""
    visited = []
    for presses in range(1, MAX_TABS + 1):
        page.keyboard.press(key)
        visited.append(
            page.evaluate(
                f"() => {{ const e = ({_DEEP_ACTIVE_ELEMENT_JS})(); return e?.tagName + '.' + e?.className; }}"
            )
        )
        if is_focused(target):
            return presses
    raise AssertionError(f"{key} never reached {target} in {MAX_TABS} presses; focus went: {visited}")


def assert_focus_visible(locator: Locator, what: str) -> None:
    expect(locator).to_be_focused()
    assert outline_style(locator) != "none", f"the focused {what} shows no focus outline"


def set_page_hidden(page: Page, hidden: bool) -> None:
    """Headless Chromium keeps every page "visible" (bring_to_front, minimising the window and
    the CDP lifecycle calls all leave document.visibilityState alone), so the Page Visibility
    API is overridden in the page and visibilitychange fired, as the browser does on a tab switch."""
    page.evaluate(
        """hidden => {
            if (hidden) {
                Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
                Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
            } else {
                delete document.visibilityState;
                delete document.hidden;
            }
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )
    assert page.evaluate("document.visibilityState") == ("hidden" if hidden else "visible")


# --- 1. Keyboard only ----------------------------------------------------------------------


def test_a_keyboard_user_joins_and_writes_two_lines(live_system, new_page):
    room = unique_room("keys")
    post_as(live_system.backend_url, live_system.site_origin, room, "Earlier", ["already here"])
    page = new_page(live_system.room_url(room))
    keyboard = page.keyboard
    text_area = page.locator("form.bc-composer textarea[name=text]")
    # Read first: the room and its history are there before any name.
    expect(message_texts(page)).to_have_text(["already here"])
    expect(page.locator(".bc-status")).to_have_attribute("data-state", "connected", timeout=15_000)
    # The page's one heading names the room, for a screen reader's heading list too.
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{room}")
    expect(page.get_by_role("heading")).to_have_count(1)

    # The first Tab from the top of the page reaches the skip link.
    keyboard.press("Tab")
    assert_focus_visible(page.locator(".bc-skip-link"), "skip link")

    tab_until(page, text_area)
    assert_focus_visible(text_area, "message box")
    keyboard.type("first line")
    keyboard.press("Shift+Enter")
    keyboard.type("second line")
    expect(text_area).to_have_value("first line\nsecond line")  # Shift+Enter did not send
    keyboard.press("Enter")

    # Sending without a name: the picker comes up with the focus in it; the message waits.
    name_input = page.locator("form.bc-name input[name=name]")
    expect(name_input).to_be_focused()
    assert_focus_visible(name_input, "name input")
    expect(text_area).to_have_value("first line\nsecond line")
    keyboard.type("Kim")
    keyboard.press("Enter")

    expect(message_texts(page).last).to_have_text("first line\nsecond line")
    assert message_texts(page).last.inner_text().splitlines() == ["first line", "second line"]
    expect(text_area).to_have_value("")
    expect(text_area).to_be_focused()
    assert_focus_visible(text_area, "message box")


def test_a_keyboard_user_loads_older_messages(live_system, new_page):
    room = unique_room("older")
    # Three pages of history: the join shows one, and "load older" has more to bring twice.
    post_as(
        live_system.backend_url,
        live_system.site_origin,
        room,
        "Archivist",
        [f"old message {number}" for number in range(1, 2 * HISTORY_PAGE + 11)],
    )
    page = new_page(live_system.room_url(room))
    enter_room_as(page, "Kim")
    expect(message_texts(page)).to_have_count(HISTORY_PAGE)
    text_area = page.locator("form.bc-composer textarea[name=text]")
    text_area.focus()

    # Back into the message list, to the "load older" button at its top.
    load_older = page.locator(".bc-load-older")
    expect(load_older).to_be_visible()
    expect(load_older).to_have_text(EN_STRINGS["chat_load_older"]["other"])
    tab_until(page, load_older, key="Shift+Tab")
    # The person now sees the focus on the button and presses Enter: it stays theirs to press.
    page.wait_for_timeout(500)  # the scroll that focusing caused, and what it set off
    assert_focus_visible(load_older, "load-older button")
    before_enter = message_texts(page).count()
    page.keyboard.press("Enter")
    expect(message_texts(page)).not_to_have_count(before_enter)
    assert message_texts(page).count() > before_enter


# --- 2. The screen reader's live region -----------------------------------------------------


def test_the_announcer_reads_out_only_others_new_messages(live_system, new_page):
    room = unique_room("announce")
    post_as(live_system.backend_url, live_system.site_origin, room, "Earlier", ["history before the join"])
    ann = new_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    expect(message_texts(ann)).to_have_text(["history before the join"])
    announcer = ann.locator(".bc-announcer")
    expect(announcer).to_have_attribute("role", "log")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_have_text("")  # history is not news

    bea = new_page(live_system.room_url(room))
    enter_room_as(bea, "Bea")
    send(bea, "hello from B")
    expect(announcer.locator("p")).to_have_text(["Bea: hello from B"])

    send(ann, "hello from A")
    expect(message_texts(bea).last).to_have_text("hello from A")
    expect(ann.locator(".bc-message:not(.bc-message--pending) .bc-message__text").last).to_have_text("hello from A")
    # Ann's own message neither joined nor replaced what was announced.
    expect(announcer.locator("p")).to_have_text(["Bea: hello from B"])
    assert "history before the join" not in announcer.inner_text()

    send(bea, "second from B")
    expect(announcer.locator("p")).to_have_text(["Bea: second from B"])  # cleared, then the new one


def test_own_messages_stay_own_after_a_reload_and_in_a_second_tab(live_system, new_page):
    room = unique_room("own")
    ann = new_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    bea = new_page(live_system.room_url(room))
    enter_room_as(bea, "Bea")
    send(ann, "mine")
    expect(message_texts(bea)).to_have_text(["mine"])
    send(bea, "hers")
    expect(message_texts(ann)).to_have_text(["mine", "hers"])
    own_texts = ".bc-message--own .bc-message__text"

    ann.reload()
    expect(message_texts(ann)).to_have_text(["mine", "hers"])
    expect(ann.locator(own_texts)).to_have_text(["mine"])

    # The same visitor in a second tab: what either tab sends is own in both, and not news.
    second_tab = ann.context.new_page()
    second_tab.goto(live_system.room_url(room))
    expect(second_tab.locator(own_texts)).to_have_text(["mine"])
    send(second_tab, "from my other tab")
    expect(ann.locator(own_texts)).to_have_text(["mine", "from my other tab"])
    expect(ann.locator(".bc-announcer")).to_have_text("")
    expect(bea.locator(own_texts)).to_have_text(["hers"])


# --- 3. The "N new messages" button ---------------------------------------------------------


def test_the_jump_button_counts_new_messages_while_scrolled_up_and_jumps_to_them(live_system, new_page):
    room = unique_room("jump")
    # Fewer than a history page: scrolling to the top has nothing older to load.
    post_as(
        live_system.backend_url,
        live_system.site_origin,
        room,
        "Filler",
        [f"filler message {number}" for number in range(1, 41)],
    )
    ann = new_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    messages = ann.locator(".bc-messages")
    expect(message_texts(ann)).to_have_count(40)
    assert messages.evaluate("e => e.scrollHeight > e.clientHeight + 100"), "the list does not scroll"
    jump = ann.locator(".bc-jump")
    expect(jump).to_be_hidden()

    messages.evaluate("e => { e.scrollTop = 0; }")
    expect(message_texts(ann).last).not_to_be_in_viewport()
    post_as(live_system.backend_url, live_system.site_origin, room, "Bea", ["news one", "news two"])
    expect(message_texts(ann).last).to_have_text("news two")
    expect(jump).to_be_visible()
    expect(jump).to_have_text(re.compile(r"^2 new messages"))
    expect(message_texts(ann).last).not_to_be_in_viewport()  # the list stayed where Ann was reading

    jump.click()
    expect(message_texts(ann).last).to_be_in_viewport()
    expect(jump).to_be_hidden()


# --- 4. The unread count in the tab title ---------------------------------------------------


def test_the_tab_title_counts_messages_that_arrive_while_the_page_is_hidden(live_system, new_page):
    room = unique_room("title")
    ann = new_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    original_title = ann.title()
    assert original_title.startswith(f"#{room}")

    set_page_hidden(ann, True)
    post_as(live_system.backend_url, live_system.site_origin, room, "Bea", ["one", "two", "three"])
    expect(message_texts(ann)).to_have_count(3)
    expect(ann).to_have_title(f"(3) {original_title}")

    set_page_hidden(ann, False)
    expect(ann).to_have_title(original_title)


# --- 5. The connection banner while the backend restarts ------------------------------------


def reconnecting_pattern() -> re.Pattern[str]:
    text = EN_STRINGS["chat_status_reconnecting"]["other"]
    return re.compile(re.escape(text).replace(re.escape("{seconds}"), r"\d+"))


def test_the_status_banner_tells_of_a_backend_restart_and_the_chat_resumes(browser, new_page, tmp_path):
    # A system of its own: the shared one's backend must not restart under the other tests.
    with loopback_system(tmp_path, log_path=lambda port: ARTIFACTS_DIR / f"e2e-restart-daphne-{port}.log") as system:
        room_url = system.room_url("restart")
        ann = new_page(room_url)
        bea = new_page(room_url)
        enter_room_as(ann, "Ann")
        enter_room_as(bea, "Bea")
        status = ann.locator(".bc-status")
        expect(status).to_have_text(EN_STRINGS["chat_status_connected"]["other"])

        system.stop_backend()  # SIGTERM: the server closes its sockets with 1012
        expect(status).to_have_attribute("data-state", re.compile(r"^(reconnecting|connecting)$"))
        expect(status).to_be_visible()
        expect(status).to_have_text(reconnecting_pattern())

        system.start_backend()  # same port, same database
        expect(status).to_have_attribute("data-state", "connected", timeout=RECONNECT_TIMEOUT_MS)
        expect(status).to_have_text(EN_STRINGS["chat_status_connected"]["other"])
        expect(bea.locator(".bc-status")).to_have_attribute("data-state", "connected", timeout=RECONNECT_TIMEOUT_MS)

        send(ann, "back after the restart")
        expect(message_texts(bea).last).to_have_text("back after the restart")


# --- Phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize("height", [812, 500], ids=["phone", "phone-with-keyboard"])
def test_on_a_phone_the_room_page_is_the_screen(live_system, browser, height):
    """The room page fills the screen exactly, however long the history: the list scrolls inside
    it, the composer and Send sit at the bottom, in view, also with the keyboard open."""
    room = unique_room("phone")
    post_as(
        live_system.backend_url,
        live_system.site_origin,
        room,
        "Chatty",
        [f"message {number}" for number in range(1, 41)],
    )
    with visitor_pages(browser, viewport={"width": 375, "height": height}, has_touch=True, is_mobile=True) as open_page:
        page = open_page(live_system.room_url(room))
        expect(message_texts(page).last).to_have_text("message 40")
        enter_room_as(page, "Phone")
        page.locator("form.bc-composer textarea").focus()
        assert page.evaluate("document.documentElement.scrollHeight") == height, "nothing below the footer"
        for part in ("form.bc-composer textarea", "form.bc-composer button[type=submit]"):
            box = page.locator(part).bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, (part, box)
            assert box["x"] + box["width"] <= 375, (part, box)
        # The newest message is in view above the composer.
        last = message_texts(page).last.bounding_box()
        assert last is not None and last["y"] + last["height"] <= page.locator("form.bc-composer").bounding_box()["y"]
