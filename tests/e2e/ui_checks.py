"""What the UI report (scripts/ui_report.py) and the UI tests (test_accessibility.py,
test_screenshots.py) share: axe-core run inside a page, the room put into the states they look
at (name picker, two or three people chatting), and measurements of a rendered page.

axe-core comes from the PyPI package ``axe-playwright-python`` (pinned in requirements-dev.txt),
which ships ``axe.min.js``; only that file is used. It is evaluated through the DevTools protocol
(``page.evaluate``), which the pages' strict CSP (``script-src 'self'``) does not apply to, so the
page is checked with its real CSP in force (no ``bypass_csp``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.support import enter_room_as, message_texts, send

AXE_PACKAGE = "axe-playwright-python"
AXE_INSTALL_HINT = (
    f"axe-core is missing: it comes with the PyPI package {AXE_PACKAGE} (pinned in requirements-dev.txt). "
    "Run `make install` (or `.venv/bin/pip install -r requirements-dev.txt`)."
)
COLOR_SCHEMES = ("light", "dark")


class AxeMissing(RuntimeError):
    """axe-core's script is not installed; the message says how to install it."""


def axe_script_path() -> Path:
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or spec.origin is None:
        raise AxeMissing(AXE_INSTALL_HINT)
    path = Path(spec.origin).parent / "axe.min.js"
    if not path.is_file():
        raise AxeMissing(f"{path} is missing. {AXE_INSTALL_HINT}")
    return path


_axe_source: str | None = None


def axe_source() -> str:
    global _axe_source
    if _axe_source is None:
        _axe_source = axe_script_path().read_text(encoding="utf-8")
    return _axe_source


def axe_version() -> str:
    first_line = axe_source().split("\n", 1)[0]  # "/*! axe v4.12.1"
    return first_line.removeprefix("/*!").strip()


# Wait for web fonts and for every running CSS transition/animation (a colour-scheme switch may
# fade colours): axe's contrast check and a screenshot must see the final colours.
_SETTLE_JS = """async () => {
  await document.fonts.ready;
  await Promise.all(document.getAnimations()
    .filter(animation => animation.effect && animation.effect.getComputedTiming().iterations !== Infinity)
    .map(animation => animation.finished.catch(() => null)));
  await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}"""


def settle(page: Page) -> None:
    page.evaluate(_SETTLE_JS)


def set_color_scheme(page: Page, scheme: str) -> None:
    """Emulate ``prefers-color-scheme: scheme`` on an open page and wait for the new colours."""
    assert scheme in COLOR_SCHEMES, scheme
    page.emulate_media(color_scheme=scheme)
    settle(page)


def run_axe(page: Page) -> list[dict]:
    """axe-core's violations on the page as it is now (every rule axe runs by default: WCAG 2.x
    A/AA and best practices). Each violation is axe's dict: id, impact, help, helpUrl, nodes."""
    settle(page)
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    return page.evaluate("""async () => {
      const results = await axe.run(document, {resultTypes: ["violations"]});
      return results.violations;
    }""")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe_violations(violations: Sequence[dict], *, max_nodes: int = 6) -> str:
    """axe's violations as lines a developer can act on: the rule, its impact and help page, and
    for each element its selector and what is wrong with it."""
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation.get('impact') or 'n/a'}): {violation['help']}"
            f"  <{violation.get('helpUrl', '')}>"
        )
        for node in violation["nodes"][:max_nodes]:
            target = " >>> ".join(str(part) for part in node.get("target", []))
            summary = _one_line(node.get("failureSummary") or "")
            summary = summary.replace("Fix any of the following: ", "").replace("Fix all of the following: ", "")
            lines.append(f"    {target}: {summary}")
        if len(violation["nodes"]) > max_nodes:
            lines.append(f"    ... and {len(violation['nodes']) - max_nodes} more elements")
    return "\n".join(lines)


# --- The room in the states the checks look at -----------------------------------------------

# Two visitors talking: the chatting state the accessibility checks run on.
TWO_PEOPLE_CHAT = [
    ("Ann", "Hi Bob, are you coming to the meetup tonight?"),
    ("Bob", "Yes! I'll be a bit late though."),
    ("Ann", "No problem, we start at 7."),
    ("Bob", "See you there 👋"),
]

# Three people, several messages each: consecutive messages by one person, a multi-line message,
# a URL, a long unbroken word (the screenshots' conversation). The first speaker is the viewer.
THREE_PEOPLE_CHAT = [
    ("Ann", "Morning all! Has anyone tried the new build yet?"),
    ("Bob", "Just now. The room list loads instantly 🎉"),
    ("Bob", "The reconnect after sleeping the laptop worked too."),
    ("Chloé", "I'm still on the old one, updating now"),
    ("Ann", "Release notes are here: https://example.com/backchannel/releases/2024-05-01#whats-new"),
    (
        "Chloé",
        "Three things I noticed:\n1. names keep their case\n2. the typing line no longer jumps\n3. links are clickable",
    ),
    ("Bob", "Nice. Did the long-word bug get fixed? Supercalifragilisticexpialidocious-antidisestablishmentarianism"),
    ("Ann", "It did."),
    ("Ann", "Lunch at 12:30?"),
    ("Chloé", "👍"),
]


def enter_people(open_page: Callable[[str], Page], room_url: str, names: Iterable[str]) -> dict[str, Page]:
    """Each of ``names`` opens ``room_url`` in a page of its own and enters under that name."""
    pages = {}
    for name in names:
        pages[name] = open_page(room_url)
        enter_room_as(pages[name], name)
    return pages


def play(pages: dict[str, Page], conversation: Sequence[tuple[str, str]]) -> None:
    """Each line sent by its speaker's page, one after the other in order; returns once every
    page shows every line."""
    for count, (speaker, text) in enumerate(conversation, start=1):
        send(pages[speaker], text)
        # In order: the next line waits until this one has reached everyone.
        for page in pages.values():
            expect(message_texts(page)).to_have_count(count)


# --- Measurements of a rendered page ----------------------------------------------------------

_OVERFLOW_JS = """() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const offenders = [];
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
      const classes = typeof element.className === "string" && element.className.trim()
        ? "." + element.className.trim().split(/\\s+/).join(".") : "";
      const edges = `left ${Math.round(box.left)}, right ${Math.round(box.right)}`;
      offenders.push(`${element.tagName.toLowerCase()}${classes} (${edges})`);
    }
  }
  return {scrollWidth: root.scrollWidth, clientWidth: width, offenders: offenders.slice(0, 10)};
}"""


def horizontal_overflow(page: Page) -> dict:
    """``{"scrollWidth", "clientWidth", "offenders"}``: the page overflows sideways when
    scrollWidth > clientWidth; offenders are the first elements that reach past the viewport."""
    return page.evaluate(_OVERFLOW_JS)


def relative_luminance(red: float, green: float, blue: float) -> float:
    """WCAG relative luminance of an sRGB colour given as 0-255 channels (0 black, 1 white)."""

    def linear(channel: float) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


_BACKGROUND_JS = """() => {
  // The colour a visitor sees behind the page: the first opaque background of body, then html.
  for (const element of [document.body, document.documentElement]) {
    const colour = getComputedStyle(element).backgroundColor;
    const channels = colour.match(/[\\d.]+/g).map(Number);
    if (channels.length < 4 || channels[3] > 0) return {element: element.tagName, colour, rgb: channels.slice(0, 3)};
  }
  // Both transparent: the browser's canvas, dark only where the page opts in with color-scheme.
  const dark = matchMedia("(prefers-color-scheme: dark)").matches
    && getComputedStyle(document.documentElement).colorScheme.includes("dark");
  return dark ? {element: "canvas", colour: "rgb(18, 18, 18)", rgb: [18, 18, 18]}
              : {element: "canvas", colour: "rgb(255, 255, 255)", rgb: [255, 255, 255]};
}"""


def page_background(page: Page) -> dict:
    """``{"element", "colour", "rgb", "luminance"}`` of the page's background as computed."""
    background = page.evaluate(_BACKGROUND_JS)
    background["luminance"] = relative_luminance(*background["rgb"])
    return background
