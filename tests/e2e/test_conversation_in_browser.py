"""The conversation features as people use them in real browsers, on a desktop and on a phone
(375×812, touch): reply (the quote scrolls to its original, also pages back), react, edit and
delete one's own message, @mentions (autocompleted) with a browser notification after an opt-in
click, the unread divider and day separators after a reload, search, formatting and "show more".
Real daphne (it speaks protocol version 3 to the widget, which asks for it), the real Hugo build,
headless Chromium; each test asserts what a person notices on the page, on every page it concerns.

The photographs of a conversation using every feature land in artifacts/screenshots/, for a
person to look at: conversation-{phone,desktop}-{light,dark}.png (its end, with a reply being
written), …-top.png (its start) and conversation-menu-{phone,desktop}-{light,dark}.png (a ⋯ menu
open with its reaction row).
"""

from __future__ import annotations

import json
import re
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.support import enter_room_as, message_texts, post_as, send, visitor_pages
from tests.e2e.test_room_ui import set_page_hidden
from tests.e2e.ui_checks import horizontal_overflow, settle

pytestmark = pytest.mark.e2e

REPO_DIR = Path(__file__).resolve().parents[2]
EN = {
    key: value["other"]
    for key, value in tomllib.loads((REPO_DIR / "themes/backchannel/i18n/en.toml").read_text("utf-8")).items()
}
SCREENSHOTS_DIR = REPO_DIR / "artifacts" / "screenshots"
# The server's history page (HISTORY_LIMIT's default): what a join and each "load older" bring.
HISTORY_PAGE = 50
# The reactions the server offers (chat/protocol.py REACTION_EMOJI), in the order pages show them.
REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"]
# A change reaches the other open pages "within a second or two"; Playwright polls until then.
LIVE_MS = 5_000

PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DEVICES = {"desktop": {}, "phone": PHONE}

# Records every `new Notification(…)` the page makes (and still makes it, so that the browser's
# permission rules apply): window.__notifications holds {title, body, tag}, __notificationObjects
# the instances (their onclick is the widget's).
NOTIFICATION_RECORDER = """(() => {
  const Original = window.Notification;
  window.__notifications = [];
  window.__notificationObjects = [];
  if (typeof Original !== "function") return;
  class RecordedNotification {
    constructor(title, options = {}) {
      window.__notifications.push({ title, body: options.body ?? "", tag: options.tag ?? "" });
      window.__notificationObjects.push(this);
      try { this.shown = new Original(title, options); } catch (error) { this.error = String(error); }
    }
    static get permission() { return Original.permission; }
    static requestPermission(...args) { return Original.requestPermission(...args); }
  }
  window.Notification = RecordedNotification;
})();"""


def unique_room(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=list(DEVICES), ids=list(DEVICES))
def device(request) -> str:
    return request.param


@pytest.fixture
def open_page(browser, device) -> Iterator[Callable[[str], Page]]:
    """Pages of separate visitors on ``device``."""
    with visitor_pages(browser, **DEVICES[device]) as open_visitor_page:
        yield open_visitor_page


def message(page: Page, text: str) -> Locator:
    """The message whose text is exactly ``text`` (not a reply quoting it)."""
    return page.locator(".bc-message").filter(
        has=page.locator(".bc-message__text").filter(has_text=re.compile(rf"^{re.escape(text)}$"))
    )


def open_menu(page: Page, text: str) -> Locator:
    """Opens the ⋯ menu of the message ``text``; the menu."""
    message(page, text).locator(".bc-menu-button").click()
    menu = message(page, text).locator(".bc-menu")
    expect(menu).to_be_visible()
    return menu


def choose(page: Page, text: str, label: str) -> None:
    """⋯ on the message ``text``, then the menu's ``label`` (Reply, Edit, Delete)."""
    open_menu(page, text).get_by_role("button", name=label, exact=True).click()


def submit_composer(page: Page, device: str) -> None:
    """Sends what the composer holds as the visitor would: Enter on a desktop, the Send button
    on a touch screen (where Enter breaks the line)."""
    text_area = page.locator("form.bc-composer textarea[name=text]")
    if device == "phone":
        page.locator("form.bc-composer button[type=submit]").click()
    else:
        text_area.press("Enter")


def two_visitors(open_page, room_url: str, names=("Ann", "Bob")) -> tuple[Page, ...]:
    """Each of ``names`` opens the room in a page of their own and takes that name."""
    pages = []
    for name in names:
        page = open_page(room_url)
        enter_room_as(page, name)
        pages.append(page)
    return tuple(pages)


def assert_no_console_errors(*pages: Page) -> None:
    for page in pages:
        assert page.console_errors == [], page.console_errors


# --- 1. Reply -------------------------------------------------------------------------------


def test_a_reply_shows_its_quote_on_every_page_and_the_quote_leads_to_the_original(live_system, open_page, device):
    room = unique_room("reply")
    room_url = live_system.room_url(room)
    ann, bob = two_visitors(open_page, room_url)
    send(bob, "Where do we meet tonight?")
    # The room goes on: the question scrolls out of sight.
    post_as(
        live_system.backend_url, live_system.site_origin, room, "Cat", [f"chatter {number}" for number in range(1, 21)]
    )
    expect(message_texts(ann)).to_have_count(21)

    # Ann replies to Bob's question: the composer says what she is replying to.
    menu = open_menu(ann, "Where do we meet tonight?")
    expect(menu.get_by_role("button")).to_have_text(
        [*REACTIONS, EN["chat_reply"], EN["chat_report"], EN["chat_cancel"]]
    )
    menu.get_by_role("button", name=EN["chat_reply"], exact=True).click()
    composing = ann.locator(".bc-composing")
    expect(composing).to_be_visible()
    expect(composing).to_contain_text("Replying to Bob: Where do we meet tonight?")
    expect(ann.locator("form.bc-composer textarea")).to_be_focused()
    ann.locator("form.bc-composer textarea").fill("At the station, 7 pm")
    submit_composer(ann, device)
    expect(composing).to_be_hidden()
    expect(ann.locator("form.bc-composer textarea")).to_have_value("")

    for page in (ann, bob):
        quote = message(page, "At the station, 7 pm").locator(".bc-reply-quote")
        expect(quote).to_be_visible(timeout=LIVE_MS)
        expect(quote.locator(".bc-reply-quote__author")).to_have_text("Bob")
        expect(quote.locator(".bc-reply-quote__excerpt")).to_have_text("Where do we meet tonight?")
        expect(quote).to_have_accessible_name("Reply to Bob: show the original")
    # The next message is a plain one again.
    send(ann, "See you")
    expect(message(bob, "See you")).to_be_visible()
    expect(message(bob, "See you").locator(".bc-reply-quote")).to_have_count(0)

    # Bob, at the bottom, clicks the quote: the original, out of sight above, comes into view,
    # highlighted, with the keyboard focus.
    expect(message_texts(bob)).to_have_count(23)
    original = message(bob, "Where do we meet tonight?")
    quote = message(bob, "At the station, 7 pm").locator(".bc-reply-quote")
    expect(quote).to_be_in_viewport()
    expect(original).not_to_be_in_viewport()
    quote.click()
    expect(original).to_have_class(re.compile(r"\bbc-message--highlight\b"))
    expect(original).to_be_in_viewport()
    expect(original).to_be_focused()
    expect(original).not_to_have_class(re.compile(r"\bbc-message--highlight\b"), timeout=LIVE_MS)
    assert_no_console_errors(ann, bob)


def test_a_quote_of_a_message_pages_back_loads_older_pages_to_show_it(live_system, open_page, device):
    """The original is on an older page than the reader's list holds: the quote loads older
    pages until it is there, then shows it highlighted."""
    room = unique_room("reply-old")
    post_as(
        live_system.backend_url,
        live_system.site_origin,
        room,
        "Archivist",
        ["the very first message"] + [f"filler {number}" for number in range(1, HISTORY_PAGE + 11)],
    )
    ann = open_page(live_system.room_url(room))
    enter_room_as(ann, "Ann")
    expect(message_texts(ann)).to_have_count(HISTORY_PAGE)
    expect(message(ann, "the very first message")).to_have_count(0)
    # Ann goes back in history and replies to the first message of the room.
    ann.locator(".bc-load-older").click()
    expect(message(ann, "the very first message")).to_have_count(1)
    choose(ann, "the very first message", EN["chat_reply"])
    ann.locator("form.bc-composer textarea").fill("Replying to the very start")
    submit_composer(ann, device)
    expect(message(ann, "Replying to the very start")).to_have_attribute("data-seq", str(HISTORY_PAGE + 12))

    # Bob arrives later: his list starts 50 messages back, without the original.
    bob = open_page(live_system.room_url(room))
    enter_room_as(bob, "Bob")
    expect(message_texts(bob)).to_have_count(HISTORY_PAGE)
    original = message(bob, "the very first message")
    expect(original).to_have_count(0)
    quote = message(bob, "Replying to the very start").locator(".bc-reply-quote")
    expect(quote).to_contain_text("Archivist")
    expect(quote).to_contain_text("the very first message")
    quote.click()
    expect(original).to_have_class(re.compile(r"\bbc-message--highlight\b"))
    expect(original).to_be_in_viewport()
    expect(bob.locator(".bc-error")).to_be_hidden()
    assert_no_console_errors(ann, bob)


# --- 2. React --------------------------------------------------------------------------------


def test_a_reaction_shows_live_on_every_page_and_toggles_off(live_system, open_page, device):
    room_url = live_system.room_url(unique_room("react"))
    ann, bob = two_visitors(open_page, room_url)
    send(bob, "Lunch at noon?")
    expect(message_texts(ann)).to_have_text(["Lunch at noon?"])

    menu = open_menu(ann, "Lunch at noon?")
    row = menu.locator(".bc-menu__reactions button")
    expect(row).to_have_text(REACTIONS)
    thumbs = menu.get_by_role("button", name="React with 👍")
    expect(thumbs).to_have_attribute("aria-pressed", "false")
    thumbs.click()
    expect(ann.locator(".bc-menu")).to_have_count(0)  # reacting closes the menu

    def reactions(page: Page) -> Locator:
        return message(page, "Lunch at noon?").locator(".bc-reactions .bc-reaction")

    for page in (ann, bob):
        expect(reactions(page)).to_have_text(["👍 1"], timeout=LIVE_MS)
        expect(reactions(page)).to_have_attribute("title", "Ann")
    expect(reactions(ann)).to_have_attribute("aria-pressed", "true")
    expect(reactions(bob)).to_have_attribute("aria-pressed", "false")
    # The menu knows it too: 👍 is pressed in Ann's reaction row now.
    expect(open_menu(ann, "Lunch at noon?").get_by_role("button", name="React with 👍")).to_have_attribute(
        "aria-pressed", "true"
    )
    ann.keyboard.press("Escape")

    # Bob adds his through the reaction's own button: one count, both names.
    reactions(bob).click()
    for page in (ann, bob):
        expect(reactions(page)).to_have_text(["👍 2"], timeout=LIVE_MS)
        expect(reactions(page)).to_have_attribute("title", "Ann, Bob")
    expect(reactions(bob)).to_have_attribute("aria-pressed", "true")

    # Ann takes hers back, then Bob: the chip goes from every page.
    reactions(ann).click()
    for page in (ann, bob):
        expect(reactions(page)).to_have_text(["👍 1"], timeout=LIVE_MS)
    expect(reactions(ann)).to_have_attribute("aria-pressed", "false")
    expect(reactions(bob)).to_have_attribute("aria-pressed", "true")
    reactions(bob).click()
    for page in (ann, bob):
        expect(reactions(page)).to_have_count(0, timeout=LIVE_MS)

    # A reload shows the reaction as it stands, with the visitor's own still pressed.
    open_menu(bob, "Lunch at noon?").get_by_role("button", name="React with 🎉").click()
    expect(reactions(ann)).to_have_text(["🎉 1"], timeout=LIVE_MS)
    bob.reload()
    expect(reactions(bob)).to_have_text(["🎉 1"])
    expect(reactions(bob)).to_have_attribute("aria-pressed", "true")
    assert_no_console_errors(ann, bob)


# --- 3. Edit and delete one's own message -----------------------------------------------------


def test_edit_and_delete_of_ones_own_message_reach_every_page(live_system, open_page, device):
    room_url = live_system.room_url(unique_room("edit"))
    ann, bob = two_visitors(open_page, room_url)
    send(ann, "See you at 7")
    expect(message_texts(bob)).to_have_text(["See you at 7"])
    choose(bob, "See you at 7", EN["chat_reply"])
    bob.locator("form.bc-composer textarea").fill("Great, see you")
    submit_composer(bob, device)
    expect(message(ann, "Great, see you").locator(".bc-reply-quote")).to_be_visible(timeout=LIVE_MS)

    # Her own message's menu: react, reply, edit, delete; nothing to report.
    menu = open_menu(ann, "See you at 7")
    expect(menu.get_by_role("button")).to_have_text(
        [*REACTIONS, EN["chat_reply"], EN["chat_edit"], EN["chat_delete_own"], EN["chat_cancel"]]
    )
    # Others' messages cannot be edited or deleted by a visitor.
    ann.keyboard.press("Escape")
    expect(open_menu(ann, "Great, see you").get_by_role("button", name=EN["chat_edit"])).to_have_count(0)
    delete = message(ann, "Great, see you").get_by_role("button", name=EN["chat_delete_own"], exact=True)
    expect(delete).to_have_count(0)
    ann.keyboard.press("Escape")

    # Edit, then change her mind: Escape leaves the message and empties the composer.
    text_area = ann.locator("form.bc-composer textarea")
    choose(ann, "See you at 7", EN["chat_edit"])
    composing = ann.locator(".bc-composing")
    expect(composing).to_be_visible()
    expect(composing).to_contain_text(EN["chat_editing"])
    expect(text_area).to_have_value("See you at 7")
    expect(text_area).to_be_focused()
    text_area.press("Escape")
    expect(composing).to_be_hidden()
    expect(text_area).to_have_value("")

    # Edit for real: every page shows the new text, marked "(edited)".
    choose(ann, "See you at 7", EN["chat_edit"])
    expect(text_area).to_have_value("See you at 7")
    text_area.fill("See you at 8 (the train is late)")
    submit_composer(ann, device)
    expect(composing).to_be_hidden()
    expect(text_area).to_have_value("")
    for page in (ann, bob):
        edited = message(page, "See you at 8 (the train is late)")
        expect(edited).to_be_visible(timeout=LIVE_MS)
        expect(edited.locator(".bc-message__edited")).to_have_text(EN["chat_message_edited"])
        expect(message(page, "See you at 7")).to_have_count(0)
        expect(message_texts(page)).to_have_count(2)  # edited in place, not sent again
    # The reply keeps the quote of what it answered.
    expect(message(bob, "Great, see you").locator(".bc-reply-quote__excerpt")).to_have_text("See you at 7")

    # Delete: gone from every page; the reply says its original was removed.
    choose(ann, "See you at 8 (the train is late)", EN["chat_delete_own"])
    for page in (ann, bob):
        expect(message(page, "See you at 8 (the train is late)")).to_have_count(0, timeout=LIVE_MS)
        removed = message(page, "Great, see you").locator(".bc-reply-quote")
        expect(removed).to_have_class(re.compile(r"\bbc-reply-quote--removed\b"), timeout=LIVE_MS)
        expect(removed).to_have_text(EN["chat_reply_removed"])
        expect(message_texts(page)).to_have_text(["Great, see you"])
    # Also for someone arriving later.
    cat = open_page(room_url)
    expect(message_texts(cat)).to_have_text(["Great, see you"])
    expect(message(cat, "Great, see you").locator(".bc-reply-quote--removed")).to_have_text(EN["chat_reply_removed"])
    assert_no_console_errors(ann, bob, cat)


# --- 4. Mentions and notifications -----------------------------------------------------------


def test_a_mention_notifies_a_hidden_page_only_after_the_visitor_opted_in(live_system, browser):
    room = unique_room("mention")
    with visitor_pages(browser) as open_page:
        ann = open_page(live_system.room_url(room))
        enter_room_as(ann, "Ann")
        bob = open_page(live_system.room_url(room))
        bob.context.grant_permissions(["notifications"], origin=live_system.site_origin)
        bob.context.add_init_script(NOTIFICATION_RECORDER)
        bob.reload()
        enter_room_as(bob, "Bob")
        send(ann, "Hi all")
        expect(message_texts(bob)).to_have_text(["Hi all"])
        title = bob.title()
        notify = bob.locator(".bc-notify")
        expect(notify).to_be_visible()
        expect(notify).to_have_accessible_name(EN["chat_notify"])
        expect(notify).to_have_attribute("aria-pressed", "false")
        expect(bob.locator(".bc-notify-sound")).to_be_hidden()

        # Not opted in: a mention while hidden counts in the title, but raises no notification.
        set_page_hidden(bob, True)
        send(ann, "@Bob are you there?")
        expect(message_texts(bob)).to_have_count(2)
        expect(bob).to_have_title(f"(@1 · 1) {title}")
        set_page_hidden(bob, False)
        expect(bob).to_have_title(title)
        assert bob.evaluate("window.__notifications") == []

        # The opt-in is a click (the browser would ask for the permission then).
        notify.click()
        expect(notify).to_have_attribute("aria-pressed", "true")
        expect(bob.locator(".bc-notify-sound")).to_be_visible()
        expect(bob.locator(".bc-notify-sound")).to_have_attribute("aria-pressed", "false")

        set_page_hidden(bob, True)
        # Ann writes the mention with the autocomplete: "@Bo" offers Bob, Enter takes him.
        composer = ann.locator("form.bc-composer textarea")
        composer.press_sequentially("@Bo")
        choices = ann.locator(".bc-mentions[role=listbox] [role=option]")
        expect(choices).to_have_text(["@Bob"])
        expect(choices).to_have_attribute("aria-selected", "true")
        composer.press("Enter")
        expect(composer).to_have_value("@Bob ")
        expect(ann.locator(".bc-mentions")).to_be_hidden()
        composer.press_sequentially("hello, the doors are open")
        composer.press("Enter")
        mention = message(bob, "@Bob hello, the doors are open")
        expect(mention).to_have_class(re.compile(r"\bbc-message--mention\b"))
        expect(mention.locator(".bc-mention--self")).to_have_text("@Bob")
        expect(bob).to_have_title(f"(@1 · 1) {title}")
        bob.wait_for_function("window.__notifications.length > 0")
        assert bob.evaluate("window.__notifications") == [
            {
                "title": f"Ann mentioned you in #{room}",
                "body": "@Bob hello, the doors are open",
                "tag": f"backchannel-{room}",
            }
        ]
        assert bob.evaluate("window.__notificationObjects[0].error") is None, "the browser refused the notification"
        # Another message without a mention: the title tells them apart.
        send(ann, "no mention in this one")
        expect(bob).to_have_title(f"(@1 · 2) {title}")
        assert len(bob.evaluate("window.__notifications")) == 1
        # Ann's page shows the mention too, not as hers.
        expect(message(ann, "@Bob hello, the doors are open").locator(".bc-mention")).to_have_text("@Bob")
        expect(message(ann, "@Bob hello, the doors are open").locator(".bc-mention--self")).to_have_count(0)
        expect(message(ann, "@Bob hello, the doors are open")).not_to_have_class(re.compile(r"bc-message--mention"))

        # Clicking the notification brings the message into view.
        bob.locator(".bc-messages").evaluate("list => { list.scrollTop = 0; }")
        set_page_hidden(bob, False)
        bob.evaluate("window.__notificationObjects[0].onclick()")
        expect(mention).to_have_class(re.compile(r"\bbc-message--highlight\b"))
        expect(mention).to_be_in_viewport()
        expect(bob).to_have_title(title)

        # The choice is the room's, kept for the next visit.
        bob.reload()
        expect(message_texts(bob)).to_have_count(4)
        expect(bob.locator(".bc-notify")).to_have_attribute("aria-pressed", "true")
        assert_no_console_errors(ann, bob)


# --- 5. The unread divider and day separators -------------------------------------------------


def test_the_unread_divider_marks_what_came_since_the_last_visit(live_system, open_page, device):
    room = unique_room("unread")
    room_url = live_system.room_url(room)
    ann, bob = two_visitors(open_page, room_url)
    send(ann, "before you left")
    send(ann, "still before")
    expect(message_texts(bob)).to_have_text(["before you left", "still before"])
    seen_key = f"backchannel:seen:{room}"
    wait_for_stored(bob, seen_key, "2")
    # Nobody's first visit shows a divider; the day has its separator.
    expect(bob.locator(".bc-unread")).to_have_count(0)
    expect(bob.locator(".bc-day")).to_have_text([EN["chat_day_today"]])

    # Bob closes the tab; three messages come while he is away; he comes back.
    context = bob.context
    bob.close()
    for text in ("while you were away 1", "while you were away 2", "while you were away 3"):
        send(ann, text)
    expect(message_texts(ann)).to_have_count(5)
    bob = reopen(context, room_url)
    expect(message_texts(bob)).to_have_count(5)
    divider = bob.locator(".bc-unread")
    expect(divider).to_have_count(1)
    expect(divider).to_have_text(EN["chat_unread_divider"])
    assert message_after(bob, ".bc-unread") == "while you were away 1"
    expect(divider).to_be_in_viewport()
    expect(bob.locator(".bc-unread-jump")).to_be_hidden()  # the divider is on screen already
    expect(bob.locator(".bc-day")).to_have_text([EN["chat_day_today"]])
    assert message_after(bob, ".bc-day") == "before you left"
    wait_for_stored(bob, seen_key, "5")

    # The divider stays where it is for the visit: a message that comes now is no "since your last visit".
    send(ann, "now, while you read")
    expect(message_texts(bob)).to_have_count(6)
    expect(bob.locator(".bc-unread")).to_have_count(1)
    assert message_after(bob, ".bc-unread") == "while you were away 1"

    # Back again with nothing new: no divider, also not for what comes during that visit.
    bob.close()
    bob = reopen(context, room_url)
    expect(message_texts(bob)).to_have_count(6)
    expect(bob.locator(".bc-day")).to_have_count(1)
    expect(bob.locator(".bc-unread")).to_have_count(0)
    send(ann, "a live one")
    expect(message_texts(bob)).to_have_count(7)
    bob.wait_for_timeout(300)
    expect(bob.locator(".bc-unread")).to_have_count(0)
    assert_no_console_errors(ann, bob)


def message_after(page: Page, selector: str) -> str:
    """The text of the message a separator (``.bc-unread``, ``.bc-day``) stands before: the one
    it is drawn in, or else the first after it."""
    return page.locator(".bc-messages").evaluate(
        """(list, selector) => {
          const mark = list.querySelector(selector);
          const article = mark.closest(".bc-message") ?? [...list.querySelectorAll(".bc-message")]
            .find((message) => mark.compareDocumentPosition(message) & Node.DOCUMENT_POSITION_FOLLOWING);
          return article.querySelector(".bc-message__text").textContent;
        }""",
        selector,
    )


def wait_for_stored(page: Page, key: str, value: str) -> None:
    """Waits until the page's localStorage holds ``value`` under ``key``."""
    page.wait_for_function("([key, value]) => localStorage.getItem(key) === value", arg=[key, value], timeout=LIVE_MS)


def reopen(context, url: str) -> Page:
    """The same visitor opens the room again in a new tab (the same localStorage)."""
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda entry: entry.type == "error" and page.console_errors.append(entry.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.goto(url)
    return page


def test_after_a_long_absence_a_button_jumps_to_the_divider(live_system, open_page, device):
    room = unique_room("unread-jump")
    room_url = live_system.room_url(room)
    bob = open_page(room_url)
    post_as(live_system.backend_url, live_system.site_origin, room, "Ann", ["the last one Bob saw"])
    expect(message_texts(bob)).to_have_text(["the last one Bob saw"])
    context = bob.context
    wait_for_stored(bob, f"backchannel:seen:{room}", "1")
    bob.close()
    post_as(
        live_system.backend_url, live_system.site_origin, room, "Ann", [f"news {number}" for number in range(1, 41)]
    )

    bob = reopen(context, room_url)
    expect(message_texts(bob)).to_have_count(41)
    divider = bob.locator(".bc-unread")
    assert message_after(bob, ".bc-unread") == "news 1"
    # The list opens at the newest message; the divider is far above.
    expect(message_texts(bob).last).to_be_in_viewport()
    expect(divider).not_to_be_in_viewport()
    jump = bob.locator(".bc-unread-jump")
    expect(jump).to_be_visible()
    expect(jump).to_have_text(f"{EN['chat_unread_jump']} ↑")
    jump.click()
    expect(divider).to_be_in_viewport()
    expect(message(bob, "news 1")).to_be_in_viewport()
    expect(jump).to_be_hidden()
    assert_no_console_errors(bob)


# --- 6. Search ----------------------------------------------------------------------------------


def test_search_finds_an_old_message_and_opens_it_in_context(live_system, open_page, device):
    room = unique_room("search")
    post_as(
        live_system.backend_url,
        live_system.site_origin,
        room,
        "Archivist",
        ["The **ramen** place on Elm Street closes at 9"]
        + [f"filler {number}" for number in range(1, HISTORY_PAGE + 11)],
    )
    page = open_page(live_system.room_url(room))
    expect(message_texts(page)).to_have_count(HISTORY_PAGE)
    toggle = page.get_by_role("button", name=EN["chat_search"])
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    query = page.locator("form.bc-search input[name=q]")
    expect(query).to_be_focused()
    query.fill("RAMEN elm")
    query.press("Enter")
    expect(page.locator(".bc-search__status")).to_have_text("1 message found")
    result = page.locator(".bc-search__result")
    expect(result).to_have_count(1)
    expect(result.locator(".bc-search__author")).to_have_text("Archivist")
    expect(result.locator(".bc-search__text")).to_have_text("The ramen place on Elm Street closes at 9")
    # The result opens the message where it is, pages back.
    original = message(page, "The ramen place on Elm Street closes at 9")
    expect(original).to_have_count(0)
    result.click()
    expect(original).to_have_class(re.compile(r"\bbc-message--highlight\b"))
    expect(original).to_be_in_viewport()
    expect(original.locator("strong")).to_have_text("ramen")

    query.fill("nothing like this")
    query.press("Enter")
    expect(page.locator(".bc-search__status")).to_have_text(EN["chat_search_none"])
    query.press("Escape")
    expect(page.locator("form.bc-search")).to_be_hidden()
    expect(toggle).to_be_focused()
    assert_no_console_errors(page)


# --- 7. Protocol versions -----------------------------------------------------------------------


def test_the_widget_asks_for_version_3_and_a_version_2_client_still_chats_with_it(live_system, new_page):
    room = unique_room("versions")
    page = new_page(live_system.room_url(room))
    socket_urls: list[str] = []
    frames: list[str] = []

    def watch(socket) -> None:
        socket_urls.append(socket.url)
        socket.on("framereceived", lambda payload: frames.append(payload if isinstance(payload, str) else ""))

    page.on("websocket", watch)
    page.reload()
    enter_room_as(page, "Ann")
    assert socket_urls and all(url.endswith("/ws/?protocol=3") for url in socket_urls), socket_urls
    ready = next(json.loads(frame) for frame in frames if '"type":"ready"' in frame.replace(" ", ""))
    assert ready["protocol"] == 3
    assert ready["reaction_emoji"] == REACTIONS

    # A client of version 2 (no ?protocol: today's protocol tests' client) posts; the page
    # shows it, reacts to it and replies to it.
    post_as(live_system.backend_url, live_system.site_origin, room, "Old Client", ["sent by a version-2 client"])
    expect(message_texts(page)).to_have_text(["sent by a version-2 client"])
    open_menu(page, "sent by a version-2 client").get_by_role("button", name="React with 👍").click()
    expect(message(page, "sent by a version-2 client").locator(".bc-reaction")).to_have_text(["👍 1"])
    choose(page, "sent by a version-2 client", EN["chat_reply"])
    page.locator("form.bc-composer textarea").fill("an answer to it")
    page.locator("form.bc-composer textarea").press("Enter")
    expect(message(page, "an answer to it").locator(".bc-reply-quote__author")).to_have_text("Old Client")
    expect(page.locator(".bc-error")).to_be_hidden()
    assert_no_console_errors(page)


# --- 8. Formatting and "show more" -----------------------------------------------------------

FORMATTED = (
    "Run `make test` then **read** the *log*, ~~not~~ the docs at https://example.com/docs\n"
    "```\nfor x in range(3):\n    print(x)\n```"
)
# What the page shows: the source without its markers (and without the line break that opens
# the code block, which only says where the block starts).
FORMATTED_SHOWN = (
    "Run make test then read the log, not the docs at https://example.com/docs\nfor x in range(3):\n    print(x)\n"
)


def test_formatting_is_drawn_and_long_messages_fold_behind_show_more(live_system, open_page, device):
    room_url = live_system.room_url(unique_room("format"))
    ann, bob = two_visitors(open_page, room_url)
    send(ann, FORMATTED)
    long_lines = "\n".join(f"line {number} of a long paste" for number in range(1, 31))
    long_word = "wordy " * 330  # 1,980 characters on one line
    send(ann, long_lines)
    send(ann, long_word)
    expect(message_texts(bob)).to_have_count(3)

    for page in (ann, bob):
        text = message_texts(page).first
        expect(text.locator("code")).to_have_text(["make test", "for x in range(3):\n    print(x)\n"])
        expect(text.locator("pre > code")).to_have_count(1)
        expect(text.locator("strong")).to_have_text("read")
        expect(text.locator("em")).to_have_text("log")
        expect(text.locator("s")).to_have_text("not")
        link = text.locator("a")
        expect(link).to_have_text("https://example.com/docs")
        expect(link).to_have_attribute("href", "https://example.com/docs")
        expect(link).to_have_attribute("target", "_blank")
        assert set(link.get_attribute("rel").split()) >= {"nofollow", "noopener", "ugc"}
        assert text.evaluate("e => e.textContent") == FORMATTED_SHOWN
        # Nothing else became an element.
        tags = text.evaluate("e => [...e.querySelectorAll('*')].map(c => c.tagName.toLowerCase())")
        assert sorted(tags) == ["a", "code", "code", "em", "pre", "s", "strong"], tags
        # The code block keeps its lines and indentation.
        assert text.locator("pre").evaluate("e => getComputedStyle(e).whiteSpace") in {"pre", "pre-wrap"}

    # A 30-line paste and a 2,000-character line are folded behind "Show more".
    for index in (1, 2):
        text = message_texts(bob).nth(index)
        folded = text.locator("xpath=..")
        more = folded.locator(".bc-show-more")
        expect(more).to_have_text(EN["chat_show_more"])
        expect(more).to_have_attribute("aria-expanded", "false")
        full_height = text.evaluate("e => e.scrollHeight")
        folded_height = text.evaluate("e => e.clientHeight")
        assert folded_height < full_height * 0.75, (folded_height, full_height)
        assert folded_height <= bob.viewport_size["height"] / 2, folded_height
        more.click()
        expect(more).to_have_text(EN["chat_show_less"])
        expect(more).to_have_attribute("aria-expanded", "true")
        assert text.evaluate("e => e.clientHeight >= e.scrollHeight - 1")
        more.click()
        expect(more).to_have_attribute("aria-expanded", "false")
    # Whole in the DOM all the same (a search of the page, a copy, a screen reader get it all).
    assert message_texts(bob).nth(1).evaluate("e => e.textContent") == long_lines
    expect(message_texts(bob).first.locator(".bc-show-more")).to_have_count(0)
    expect(bob.locator(".bc-show-more")).to_have_count(2)
    if device == "phone":
        overflow = horizontal_overflow(bob)
        assert overflow["scrollWidth"] <= overflow["clientWidth"], overflow
    assert_no_console_errors(ann, bob)


# --- 9. Photographs of a conversation using every feature --------------------------------------

SCREEN_DEVICES = {"phone": PHONE, "desktop": {"viewport": {"width": 1280, "height": 900}}}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("screen", list(SCREEN_DEVICES))
def test_a_conversation_using_every_feature_photographed(live_system, browser, screen, scheme):
    """Ann's view, after she came back to a conversation: day separator, the unread divider, a
    reply quote, reactions (one hers), an edited message, formatting, a mention of her, a folded
    long message, the notification buttons, and her reply being written (the composing bar).
    Then her ⋯ menu open on a message, with its reaction row."""
    room = unique_room(f"photo-{screen}-{scheme}")
    room_url = live_system.room_url(room)
    with (
        visitor_pages(browser, **SCREEN_DEVICES[screen], color_scheme=scheme) as open_viewer,
        visitor_pages(browser) as open_other,
    ):
        ann = open_viewer(room_url)
        ann.context.grant_permissions(["notifications"], origin=live_system.site_origin)
        enter_room_as(ann, "Ann")
        bob = open_other(room_url)
        enter_room_as(bob, "Bob")
        chloe = open_other(room_url)
        enter_room_as(chloe, "Chloé")

        send(bob, "Morning! The release is at **3 pm** today 🚀")
        send(ann, "`make release` failed for me:\n```\nerror: tag v2.4.0 not found\n```")
        expect(message_texts(chloe)).to_have_count(2)
        message_texts(chloe).nth(1).locator("xpath=..").locator(".bc-menu-button").click()
        chloe.locator(".bc-menu").get_by_role("button", name=EN["chat_reply"], exact=True).click()
        chloe.locator("form.bc-composer textarea").fill("Try `git fetch --tags` first, then run it again")
        chloe.locator("form.bc-composer textarea").press("Enter")
        expect(message_texts(ann)).to_have_count(3)
        ann.locator(".bc-notify").click()
        expect(ann.locator(".bc-notify")).to_have_attribute("aria-pressed", "true")
        chips = message(ann, "Try git fetch --tags first, then run it again").locator(".bc-reaction")
        for page, emoji, shown in ((ann, "👍", ["👍 1"]), (bob, "👍", ["👍 2"]), (bob, "🎉", ["👍 2", "🎉 1"])):
            open_menu(page, "Try git fetch --tags first, then run it again").get_by_role(
                "button", name=f"React with {emoji}"
            ).click()
            expect(chips).to_have_text(shown)
        send(bob, "Is the changelog ready?")
        choose(bob, "Is the changelog ready?", EN["chat_edit"])
        bob.locator("form.bc-composer textarea").fill("Is the ~~changelog~~ release note ready?")
        bob.locator("form.bc-composer textarea").press("Enter")
        expect(message(ann, "Is the changelog release note ready?").locator(".bc-message__edited")).to_be_visible()

        # Ann leaves; Chloé and Bob go on; Ann comes back.
        context = ann.context
        ann.close()
        send(chloe, "@Ann it worked for me with the tags fetched")
        send(
            bob,
            "Release notes draft, for anyone who wants to read along:\n"
            + "\n".join(f"- item {number}: fixed a thing that needed fixing" for number in range(1, 16)),
        )
        send(bob, "Ship it? 🎉")
        expect(message_texts(chloe)).to_have_count(7)
        ann = reopen(context, room_url)
        expect(message_texts(ann)).to_have_count(7)
        expect(ann.locator(".bc-unread")).to_have_count(1)
        choose(ann, "Ship it? 🎉", EN["chat_reply"])
        ann.locator("form.bc-composer textarea").fill("Yes, let's go")
        expect(ann.locator(".bc-composing")).to_be_visible()
        ann.locator(".bc-messages").evaluate("list => { list.scrollTop = list.scrollHeight; }")
        ann.locator("form.bc-composer").evaluate("form => form.scrollIntoView({block: 'end'})")
        settle(ann)
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        ann.screenshot(path=SCREENSHOTS_DIR / f"conversation-{screen}-{scheme}.png")
        if screen == "phone":
            overflow = horizontal_overflow(ann)
            assert overflow["scrollWidth"] <= overflow["clientWidth"], overflow

        # The start of the conversation: the reply's quote, the code block, reactions, "(edited)".
        ann.locator(".bc-messages").evaluate("list => { list.scrollTop = 0; }")
        settle(ann)
        ann.screenshot(path=SCREENSHOTS_DIR / f"conversation-{screen}-{scheme}-top.png")

        # The ⋯ menu of Chloé's message, open with its reaction row.
        ann.locator(".bc-composing__cancel").click()
        ann.locator("form.bc-composer textarea").fill("")
        menu = open_menu(ann, "@Ann it worked for me with the tags fetched")
        menu.scroll_into_view_if_needed()
        settle(ann)
        ann.screenshot(path=SCREENSHOTS_DIR / f"conversation-menu-{screen}-{scheme}.png")
        assert_no_console_errors(ann, bob, chloe)


def test_an_open_menu_stays_open_while_the_message_changes(live_system, new_page):
    """Ann is in the ⋯ menu of Bob's message (the keyboard in it) when Cat reacts to it: the
    message is drawn again with the reaction, and Ann's menu stays open with her focus and what
    she typed."""
    room_url = live_system.room_url(unique_room("menu-live"))
    ann, bob, cat = two_visitors(new_page, room_url, names=("Ann", "Bob", "Cat"))
    send(bob, "Anyone for coffee?")
    expect(message_texts(ann)).to_have_text(["Anyone for coffee?"])
    expect(message_texts(cat)).to_have_text(["Anyone for coffee?"])
    menu = open_menu(ann, "Anyone for coffee?")
    menu.get_by_role("button", name=EN["chat_report"], exact=True).click()
    reason = ann.locator(".bc-menu__reason")
    reason.fill("just test")
    expect(reason).to_be_focused()

    open_menu(cat, "Anyone for coffee?").get_by_role("button", name="React with ❤️").click()
    expect(message(ann, "Anyone for coffee?").locator(".bc-reaction")).to_have_text(["❤️ 1"])
    expect(message(ann, "Anyone for coffee?").locator(".bc-menu")).to_be_visible()
    expect(reason).to_have_value("just test")
    expect(reason).to_be_focused()
    expect(message(ann, "Anyone for coffee?").locator(".bc-menu-button")).to_have_attribute("aria-expanded", "true")
    ann.keyboard.press("Escape")
    expect(ann.locator(".bc-menu")).to_have_count(0)
    expect(message(ann, "Anyone for coffee?").locator(".bc-menu-button")).to_be_focused()
    assert_no_console_errors(ann, bob, cat)
