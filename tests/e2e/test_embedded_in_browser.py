"""The chat embedded in somebody else's Hugo site, in real browsers: the exampleSite
(themes/backchannel/exampleSite: its own demanding theme first, Backchannel as a component) built
against a real daphne and served over HTTP on its own origin, the one origin daphne allows.

The host theme does what popular themes do (62.5 % root font, content rules on h2/p/button, its
own dark toggle, summaries as HTML on list pages). The widget must read first, look like itself
in either scheme of the host, keep its text readable, show only a link on list pages, and fit a
phone."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from scripts.loopback import loopback_system
from scripts.site import REPO_ROOT
from tests.e2e.support import enter_room_as, message_texts, post_as, send, visitor_pages
from tests.e2e.ui_checks import horizontal_overflow

pytestmark = pytest.mark.e2e

EXAMPLE_SITE = REPO_ROOT / "themes" / "backchannel" / "exampleSite"
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
HOST_THEME_STORAGE_KEY = "host-theme"  # exampleSite/themes/host-theme/static/js/host-theme.js

# exampleSite/themes/host-theme/static/css/host.css, as browsers compute it.
HOST_LIGHT_BODY_BACKGROUND = "rgb(255, 248, 231)"
HOST_BODY_FONT_SIZE_PX = 18  # body { font-size: 1.8rem } on html { font-size: 62.5% }
WCAG_AA_TEXT_CONTRAST = 4.5
PHONE_WIDTH_PX = 375


@dataclass(frozen=True)
class EmbeddedSystem:
    site_url: str  # ends with "/"
    site_origin: str
    backend_url: str

    def url(self, path: str) -> str:
        return f"{self.site_url}{path}"


@pytest.fixture(scope="module")
def embedded_system(tmp_path_factory) -> EmbeddedSystem:
    with loopback_system(
        tmp_path_factory.mktemp("embedded"),
        source=EXAMPLE_SITE,
        log_path=lambda port: ARTIFACTS_DIR / f"e2e-embedded-daphne-{port}.log",
    ) as system:
        embedded = EmbeddedSystem(
            site_url=system.site_url, site_origin=system.site_origin, backend_url=system.backend_url
        )
        # Something to read in the lobby before anybody opens a page.
        post_as(embedded.backend_url, embedded.site_origin, "lobby", "Zoe", ["Welcome to the lobby"])
        yield embedded


def record_traffic(page: Page) -> dict[str, list[str]]:
    """The page's identity requests, WebSockets and chat scripts from now on."""
    traffic: dict[str, list[str]] = {"identity": [], "sockets": [], "scripts": []}
    page.on(
        "request",
        lambda request: "/api/identity/" in request.url
        and traffic["identity"].append(f"{request.method} {request.url.split('/api/', 1)[1]}"),
    )
    # "main", "write": the chat's scripts by name, without their fingerprint.
    page.on(
        "request",
        lambda request: "/backchannel/js/" in request.url
        and traffic["scripts"].append(request.url.rsplit("/", 1)[1].split(".", 1)[0]),
    )
    page.on("websocket", lambda socket: traffic["sockets"].append(socket.url))
    return traffic


_CONTRAST_JS = """(element) => {
  // Text colour against the first opaque background behind the element, across shadow roots.
  const rgba = (text) => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map((c) => c / 255)
    .map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  let node = element;
  let background = null;
  while (node && !background) {
    const colour = rgba(getComputedStyle(node).backgroundColor);
    if (colour.length < 4 || colour[3] > 0.5) background = colour;
    node = node.parentElement ?? node.getRootNode().host;
  }
  background ??= [255, 255, 255];
  const [a, b] = [luminance(rgba(getComputedStyle(element).color)), luminance(background)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def contrast(page: Page, selector: str) -> float:
    return page.locator(selector).first.evaluate(_CONTRAST_JS)


def font_size_px(page: Page, selector: str) -> float:
    return float(page.locator(selector).first.evaluate("(element) => getComputedStyle(element).fontSize")[:-2])


def test_two_visitors_chat_on_the_host_sites_page(embedded_system, browser):
    with visitor_pages(browser) as open_page:
        ann = open_page(embedded_system.url("chat/"))
        bob = open_page(embedded_system.url("chat/"))
        for page in (ann, bob):
            expect(page.locator(".host-header")).to_be_visible()
            expect(page.locator(".bc-chat")).to_have_count(1)
        enter_room_as(ann, "Ann")
        enter_room_as(bob, "Bob")

        send(ann, "Hello from the host site")
        for page in (ann, bob):
            expect(message_texts(page).last).to_have_text("Hello from the host site", timeout=5_000)
        send(bob, "Bob here, same page")
        for page in (ann, bob):
            expect(message_texts(page).last).to_have_text("Bob here, same page", timeout=5_000)
        for page in (ann, bob):
            assert page.console_errors == []


def test_a_first_visitor_reads_at_once_and_is_asked_for_a_name_only_to_write(embedded_system, browser):
    with visitor_pages(browser) as open_page:
        page = open_page("about:blank")
        traffic = record_traffic(page)
        page.goto(embedded_system.url("chat/"))
        expect(message_texts(page).first).to_have_text("Welcome to the lobby")
        expect(page.locator(".bc-presence__count")).to_be_visible()
        expect(page.locator(".bc-status")).to_have_attribute("data-state", "connected")
        expect(page.locator("form.bc-composer textarea")).to_be_visible()
        expect(page.locator("form.bc-name")).to_have_count(0)
        assert traffic["identity"] == [], "no identity, no proof of work, before the visitor writes"
        assert len(traffic["sockets"]) == 1
        # The room has a message: the conversation chunk draws it (formatting, reactions…).
        page.wait_for_function("() => window.backchannelConversation !== undefined")
        assert traffic["scripts"] == ["main", "conversation"], "a reader loads nothing of writing"

        page.locator("form.bc-composer textarea").fill("Hi, first time here")
        page.locator("form.bc-composer textarea").press("Enter")
        expect(page.locator("form.bc-name")).to_be_visible()
        assert traffic["identity"] == []
        assert traffic["scripts"] == ["main", "conversation", "write"]
        page.locator("form.bc-name input[name=name]").fill("Newcomer")
        page.locator("form.bc-name input[name=name]").press("Enter")
        # The message written before the name goes once the name is taken, on the same socket.
        expect(message_texts(page).last).to_have_text("Hi, first time here")
        expect(page.locator(".bc-message--own")).to_have_count(1)
        assert traffic["identity"] == ["GET identity/challenge/", "POST identity/"], "one identity request per join"
        assert len(traffic["sockets"]) == 1
        assert page.console_errors == []


def test_an_empty_room_invites_the_first_message(embedded_system, browser):
    with visitor_pages(browser) as open_page:
        page = open_page(embedded_system.url("posts/tea/"))
        expect(page.locator(".bc-empty")).to_be_visible()
        expect(page.locator(".bc-empty")).to_have_text("No messages yet. Say hi!")


@pytest.mark.parametrize("os_scheme", ["light", "dark"])
@pytest.mark.parametrize("host_scheme", ["light", "dark"])
def test_the_widget_takes_the_host_pages_scheme_with_readable_text(embedded_system, browser, host_scheme, os_scheme):
    with visitor_pages(browser, color_scheme=os_scheme) as open_page:
        page = open_page("about:blank")
        # The host theme's own toggle, as a returning visitor left it: its choice wins over the OS.
        page.add_init_script(f"localStorage.setItem({HOST_THEME_STORAGE_KEY!r}, {host_scheme!r})")
        page.goto(embedded_system.url("chat/"))
        expect(message_texts(page).first).to_be_visible()
        assert page.evaluate("document.documentElement.dataset.theme") == host_scheme
        expect(page.locator("backchannel-chat")).to_have_attribute("data-bc-scheme", host_scheme)
        for part in (
            ".bc-chat__title",
            ".bc-message__text",
            ".bc-message__author",
            ".bc-presence__count",
            "form.bc-composer textarea",
            "form.bc-composer button[type=submit]",
            ".bc-status",
        ):
            ratio = contrast(page, part)
            where = f"host {host_scheme} / OS {os_scheme}"
            assert ratio >= WCAG_AA_TEXT_CONTRAST, f"{part}: contrast {ratio:.2f} in {where}"
        assert page.console_errors == []


def test_the_widget_follows_the_hosts_toggle_live(embedded_system, browser):
    with visitor_pages(browser, color_scheme="light") as open_page:
        page = open_page(embedded_system.url("chat/"))
        widget = page.locator("backchannel-chat")
        expect(widget).to_have_attribute("data-bc-scheme", "light")
        page.locator("#theme-toggle").click()
        expect(widget).to_have_attribute("data-bc-scheme", "dark")
        assert contrast(page, ".bc-message__text") >= WCAG_AA_TEXT_CONTRAST
        page.locator("#theme-toggle").click()
        expect(widget).to_have_attribute("data-bc-scheme", "light")


def test_host_rules_do_not_restyle_the_widget(embedded_system, browser):
    with visitor_pages(browser, color_scheme="light") as open_page:
        page = open_page(embedded_system.url("chat/"))
        expect(message_texts(page).first).to_be_visible()
        # The host's own look, untouched by ours.
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == HOST_LIGHT_BODY_BACKGROUND
        assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "10px"
        # The page links the host's stylesheet only: the widget's is in its shadow root.
        assert page.evaluate("document.querySelectorAll('link[rel=stylesheet]').length") == 1
        # Text at the host's body size (18 px here), never the 8-12 px a rem-sized widget would get
        # on a 62.5 % root, and never under 14 px.
        assert font_size_px(page, ".bc-message__text") == HOST_BODY_FONT_SIZE_PX
        assert font_size_px(page, "form.bc-composer textarea") == HOST_BODY_FONT_SIZE_PX
        assert 14 <= font_size_px(page, ".bc-status") < HOST_BODY_FONT_SIZE_PX
        # .post-content h2 (32 px, centred, 4rem margins) and button rules do not reach in.
        title = page.locator(".bc-chat__title")
        assert font_size_px(page, ".bc-chat__title") < 32
        assert title.evaluate("(element) => getComputedStyle(element).textAlign") in {"start", "left"}
        assert title.evaluate("(element) => getComputedStyle(element).marginTop") == "0px"
        assert (
            page.locator("form.bc-composer button[type=submit]").evaluate(
                "(element) => getComputedStyle(element).textTransform"
            )
            == "none"
        )
        # A host stylesheet that tries on purpose does not reach either.
        page.add_style_tag(content=".bc-chat, .bc-message__text { display: none !important; color: red !important; }")
        expect(message_texts(page).first).to_be_visible()


@pytest.mark.parametrize("path", ["", "tags/chat/"])
def test_list_pages_show_a_link_to_the_chat_not_a_live_widget(embedded_system, browser, path):
    with visitor_pages(browser) as open_page:
        page = open_page("about:blank")
        traffic = record_traffic(page)
        page.goto(embedded_system.url(path))
        link = page.locator("backchannel-chat .bc-link")
        expect(link).to_have_count(1)
        expect(link).to_contain_text("Live chat: #lobby")
        expect(link.locator(".bc-link__count")).to_contain_text("online")
        assert link.get_attribute("href") == "/chat/"
        expect(page.locator(".bc-chat")).to_have_count(0)
        page.wait_for_timeout(500)
        assert traffic == {"identity": [], "sockets": [], "scripts": ["main"]}, "no live widget, no identity, no socket"
        link.click()
        expect(page).to_have_url(embedded_system.url("chat/"))
        expect(page.locator(".bc-chat")).to_have_count(1)


def test_a_chat_without_a_room_is_the_pages_own(embedded_system, browser):
    with visitor_pages(browser) as open_page:
        page = open_page(embedded_system.url("posts/questions/"))
        expect(page.locator(".bc-chat__title")).to_have_text("#posts-questions")
        expect(page.locator(".bc-status")).to_have_attribute("data-state", "connected")


@pytest.mark.parametrize("height", [812, 500], ids=["phone", "phone-with-keyboard"])
def test_on_a_phone_the_composer_is_in_view_and_nothing_overflows(embedded_system, browser, height):
    with visitor_pages(
        browser, viewport={"width": PHONE_WIDTH_PX, "height": height}, has_touch=True, is_mobile=True
    ) as open_page:
        page = open_page(embedded_system.url("chat/"))
        enter_room_as(page, "Phone")
        page.locator("backchannel-chat").scroll_into_view_if_needed()
        composer = page.locator("form.bc-composer")
        composer.locator("textarea").focus()
        box = composer.bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= height, box
        send_box = composer.locator("button[type=submit]").bounding_box()
        assert send_box is not None and send_box["x"] + send_box["width"] <= PHONE_WIDTH_PX, send_box
        # Enter breaks the line on a touch keyboard; Send sends.
        composer.locator("textarea").fill("one")
        composer.locator("textarea").press("Enter")
        expect(composer.locator("textarea")).to_have_value("one\n")
        expect(page.locator(".bc-message--own")).to_have_count(0)
        composer.locator("textarea").press_sequentially("two")
        composer.locator("button[type=submit]").tap()
        expect(message_texts(page).last).to_have_text("one\ntwo")
        overflow = horizontal_overflow(page)
        assert overflow["scrollWidth"] <= overflow["clientWidth"], overflow


def test_a_widget_taken_out_of_the_page_closes_and_put_back_starts_afresh(embedded_system, browser):
    """What a client-side navigation (Turbo, instant.page, a theme's own) does to the element."""
    with visitor_pages(browser) as open_page:
        page = open_page("about:blank")
        sockets = []
        page.on("websocket", lambda socket: sockets.append(socket))
        page.goto(embedded_system.url("chat/"))
        expect(page.locator(".bc-status")).to_have_attribute("data-state", "connected")
        page.evaluate("() => { window.taken = document.querySelector('backchannel-chat'); window.taken.remove(); }")
        page.wait_for_timeout(300)
        assert sockets[0].is_closed(), "a widget taken out of the page stops talking to the backend"
        page.evaluate("() => document.querySelector('.post-content').appendChild(window.taken)")
        expect(page.locator(".bc-status")).to_have_attribute("data-state", "connected")
        expect(message_texts(page).first).to_be_visible()
        assert len(sockets) == 2 and not sockets[1].is_closed()
        assert page.console_errors == []


def test_without_its_strings_the_widget_leaves_the_pages_link_and_says_why(embedded_system, browser):
    """A host's Content-Security-Policy without connect-src 'self' blocks the strings file: no
    widget full of key names, the page's own "#lobby" link, and a console error saying what to allow."""
    with visitor_pages(browser) as open_page:
        page = open_page("about:blank")
        page.route("**/backchannel/strings.*.json", lambda route: route.abort())
        page.goto(embedded_system.url("chat/"))
        expect(page.locator("backchannel-chat > a")).to_be_visible()
        expect(page.locator("backchannel-chat > a")).to_have_text("#lobby")
        expect(page.locator(".bc-chat")).to_have_count(0)
        page.wait_for_timeout(200)
        assert any("connect-src 'self'" in error for error in page.console_errors), page.console_errors
