"""The room page with a real conversation, photographed as a visitor sees it: on a phone and on a
desktop, in the light and the dark colour scheme, plus a 320 px wide phone. The PNGs land in
artifacts/screenshots/ (room-{phone,desktop}-{light,dark}.png, room-narrow-light.png) for a person
to look at; the test holds what a machine can: each file is a PNG of the viewport's pixel size,
nothing sticks out sideways at phone widths, and the dark scheme really is dark.

The conversation: three people, a few messages each, two in a row by one person, a multi-line
message, a URL and a long unbroken word (tests/e2e/ui_checks.THREE_PEOPLE_CHAT). The screenshots
are the view of its first speaker, Ann, from the page she chats in on that device, with Bob and
Chloé online in pages of their own.
"""

from __future__ import annotations

import statistics
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image  # pillow, pinned in requirements-dev.txt
from playwright.sync_api import expect

from tests.e2e.support import visitor_pages
from tests.e2e.ui_checks import (
    THREE_PEOPLE_CHAT,
    enter_people,
    horizontal_overflow,
    page_background,
    play,
    relative_luminance,
    settle,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Median relative luminance of a screenshot (0 black, 1 white), and of the page's background.
DARK_AT_MOST = 0.1
LIGHT_AT_LEAST = 0.6


@dataclass(frozen=True)
class Device:
    name: str
    width: int
    height: int
    scale: float = 1
    mobile: bool = False

    def context_options(self) -> dict:
        return {
            "viewport": {"width": self.width, "height": self.height},
            "device_scale_factor": self.scale,
            "is_mobile": self.mobile,
            "has_touch": self.mobile,
        }

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.width * self.scale), round(self.height * self.scale)


PHONE = Device("phone", 375, 812, scale=2, mobile=True)
DESKTOP = Device("desktop", 1280, 900)
NARROW_PHONE = Device("narrow", 320, 568, scale=2, mobile=True)


# Each photograph gets a room of its own (a room's history is its whole past), named as a team might.
ROOMS = {
    ("phone", "light"): "general",
    ("phone", "dark"): "design",
    ("desktop", "light"): "release",
    ("desktop", "dark"): "lunch",
    ("narrow", "light"): "random",
}


@pytest.fixture(scope="module")
def say_where_the_screenshots_are(request) -> list[str]:
    """The names of the PNGs this run wrote, said after the run's summary (pytest's output capture
    is over by then)."""
    written: list[str] = []
    yield written
    if written:
        request.config.add_cleanup(lambda: print(f"screenshots in {SCREENSHOTS_DIR}/: {', '.join(sorted(written))}"))


def photograph(live_system, browser, device: Device, scheme: str, written: list[str]) -> tuple[Path, dict, dict]:
    """Ann's view of the conversation on ``device`` in ``scheme``, saved as a PNG: its path, the
    page's horizontal overflow and its computed background. Ann takes part from that page (her
    own messages are styled as hers); Bob and Chloé from desktop pages of their own."""
    room_url = live_system.room_url(ROOMS[device.name, scheme])
    with (
        visitor_pages(browser, **device.context_options(), color_scheme=scheme) as open_viewer,
        visitor_pages(browser) as open_page,
    ):
        people = enter_people(open_viewer, room_url, ["Ann"]) | enter_people(open_page, room_url, ["Bob", "Chloé"])
        play(people, THREE_PEOPLE_CHAT)
        page = people["Ann"]
        expect(page.locator(".bc-presence__people li")).to_have_count(3)
        # As someone chatting holds it: the composer in view at the bottom of the screen.
        page.locator("form.bc-composer").evaluate("form => form.scrollIntoView({block: 'end'})")
        settle(page)
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS_DIR / f"room-{device.name}-{scheme}.png"
        page.screenshot(path=path)
        written.append(path.name)
        assert not page.console_errors, page.console_errors
        return path, horizontal_overflow(page), page_background(page)


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height from its header; fails when the file is not a PNG."""
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE and header[12:16] == b"IHDR", f"{path} is not a PNG file"
    return struct.unpack(">II", header[16:24])


def median_luminance(path: Path) -> float:
    """The median relative luminance over a grid of the image's pixels (text and borders are few:
    the median is the colour of the surfaces)."""
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        samples = [
            relative_luminance(*rgb.getpixel((x, y)))
            for x in range(0, width, max(1, width // 40))
            for y in range(0, height, max(1, height // 60))
        ]
    return statistics.median(samples)


def assert_no_sideways_overflow(overflow: dict, device: Device, scheme: str) -> None:
    assert overflow["scrollWidth"] <= overflow["clientWidth"], (
        f"the room page scrolls sideways at {device.width} px ({device.name}, {scheme}): scrollWidth "
        f"{overflow['scrollWidth']} > clientWidth {overflow['clientWidth']}; elements past the edge: "
        f"{'; '.join(overflow['offenders']) or '(none found)'}"
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=lambda device: device.name)
def test_the_room_page_looks_right(live_system, browser, say_where_the_screenshots_are, device, scheme):
    path, overflow, background = photograph(live_system, browser, device, scheme, say_where_the_screenshots_are)

    assert png_size(path) == device.pixels, f"{path}: {png_size(path)}, expected {device.pixels}"
    if device.mobile:
        assert_no_sideways_overflow(overflow, device, scheme)
    luminance = median_luminance(path)
    if scheme == "dark":
        assert background["luminance"] <= DARK_AT_MOST, f"dark scheme, but the page background is {background}"
        assert luminance <= DARK_AT_MOST, f"{path}: dark scheme, but its median luminance is {luminance:.2f}"
    else:
        assert background["luminance"] >= LIGHT_AT_LEAST, f"light scheme, but the page background is {background}"
        assert luminance >= LIGHT_AT_LEAST, f"{path}: light scheme, but its median luminance is {luminance:.2f}"


def test_the_room_page_fits_a_320_px_phone(live_system, browser, say_where_the_screenshots_are):
    path, overflow, _ = photograph(live_system, browser, NARROW_PHONE, "light", say_where_the_screenshots_are)
    assert png_size(path) == NARROW_PHONE.pixels
    assert_no_sideways_overflow(overflow, NARROW_PHONE, "light")
