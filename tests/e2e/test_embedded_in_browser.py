"""The chat embedded in somebody else's Hugo site, in real browsers: the exampleSite
(themes/backchannel/exampleSite, its own theme first and Backchannel as a theme component) built
against a real daphne and served over HTTP on its own origin, which is the one origin that
daphne allows. Two visitors talk on the host site's page; the host theme keeps its own look while
the widget gets Backchannel's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from scripts.loopback import loopback_system
from scripts.site import REPO_ROOT
from tests.e2e.support import enter_room_as, message_texts, send, visitor_pages

pytestmark = pytest.mark.e2e

EXAMPLE_SITE = REPO_ROOT / "themes" / "backchannel" / "exampleSite"
ARTIFACTS_DIR = REPO_ROOT / "artifacts"

# exampleSite/themes/host-theme/static/css/host.css, as browsers compute it.
HOST_BODY_BACKGROUND = "rgb(255, 248, 231)"
HOST_BODY_COLOR = "rgb(51, 34, 17)"
HOST_HEADER_BACKGROUND = "rgb(128, 0, 32)"
# backchannel.css defaults: --bc-surface (the widget's background) and --bc-accent (its buttons).
WIDGET_LIGHT = {"surface": "rgb(244, 245, 247)", "accent": "rgb(36, 86, 199)"}
WIDGET_DARK = {"surface": "rgb(31, 34, 38)", "accent": "rgb(127, 167, 255)"}


@dataclass(frozen=True)
class EmbeddedSystem:
    site_url: str  # ends with "/"

    @property
    def chat_url(self) -> str:
        return f"{self.site_url}chat/"


@pytest.fixture(scope="module")
def embedded_system(tmp_path_factory) -> EmbeddedSystem:
    with loopback_system(tmp_path_factory.mktemp("embedded"), source=EXAMPLE_SITE,
                         log_path=lambda port: ARTIFACTS_DIR / f"e2e-embedded-daphne-{port}.log") as system:
        yield EmbeddedSystem(site_url=system.site_url)


def computed(page: Page, selector: str, prop: str) -> str:
    return page.locator(selector).first.evaluate("(element, prop) => getComputedStyle(element)[prop]", prop)


def test_two_visitors_chat_on_the_host_sites_page(embedded_system, browser):
    with visitor_pages(browser) as open_page:
        ann = open_page(embedded_system.chat_url)
        bob = open_page(embedded_system.chat_url)
        for page in (ann, bob):
            expect(page.locator(".host-header")).to_be_visible()
            expect(page.locator(".bc-chat")).to_have_count(1)
        enter_room_as(ann, "Ann")
        enter_room_as(bob, "Bob")

        send(ann, "Hello from the host site")
        for page in (ann, bob):
            expect(message_texts(page)).to_have_text(["Hello from the host site"], timeout=5_000)
        send(bob, "Bob here, same page")
        for page in (ann, bob):
            expect(message_texts(page)).to_have_text(["Hello from the host site", "Bob here, same page"],
                                                     timeout=5_000)
        expect(ann.locator(".bc-messages .bc-message__author").first).to_have_text("Ann")
        for page in (ann, bob):
            assert page.console_errors == []


@pytest.mark.parametrize(("scheme", "widget"), [("light", WIDGET_LIGHT), ("dark", WIDGET_DARK)])
def test_the_host_keeps_its_look_and_the_widget_gets_ours(embedded_system, browser, scheme, widget):
    with visitor_pages(browser, color_scheme=scheme) as open_page:
        page = open_page(embedded_system.chat_url)
        expect(page.locator(".bc-chat form.bc-name")).to_be_visible()

        # The host theme's own rules, untouched by ours (and by this theme's page chrome, site.css,
        # which is not on the page: it would set box-sizing on everything and restyle body).
        assert computed(page, "body", "backgroundColor") == HOST_BODY_BACKGROUND
        assert computed(page, "body", "color") == HOST_BODY_COLOR
        assert "Georgia" in computed(page, "body", "fontFamily")
        assert computed(page, ".host-header", "backgroundColor") == HOST_HEADER_BACKGROUND
        assert computed(page, ".host-main", "boxSizing") == "content-box"
        assert page.locator("link[rel=stylesheet]").count() == 2  # the host's and the widget's

        # Inside .bc-chat: Backchannel's colours, light or dark with the visitor's preference.
        assert computed(page, ".bc-chat", "backgroundColor") == widget["surface"]
        assert computed(page, ".bc-chat form.bc-name .bc-button", "backgroundColor") == widget["accent"]
        assert computed(page, ".bc-chat", "boxSizing") == "border-box"
        assert page.console_errors == []
