"""The theme's README documents every custom property of the widget's stylesheet, with the
defaults the stylesheet really has, in the light and the dark scheme.

The stylesheet (assets/backchannel/css/backchannel.css, inside the widget's shadow root) reads
each public property once, in its ``:host`` block, into a private one:

    :host { --_accent: var(--bc-accent, #2456c7); ... }                      the light default
    :host([data-bc-scheme="dark"]) { --_accent: var(--bc-accent, #7fa7ff); }  the dark default

and uses only the private ``--_*`` names everywhere else. The README's table lists each
``--bc-*`` property with those two defaults ("same" when the dark block does not set it)."""

from __future__ import annotations

import re

from scripts.site import REPO_ROOT

THEME_DIR = REPO_ROOT / "themes" / "backchannel"
STYLESHEET = THEME_DIR / "assets" / "backchannel" / "css" / "backchannel.css"
README = THEME_DIR / "README.md"

# Unindented, so that a :host rule nested in @supports or @media is not taken for the defaults.
LIGHT_BLOCK = re.compile(r"^:host\s*\{([^}]*)\}", re.M)
DARK_BLOCK = re.compile(r'^:host\(\[data-bc-scheme="dark"\]\)\s*\{([^}]*)\}', re.M)
# `--_accent: var(--bc-accent, #2456c7);`: the default may hold parentheses (`min(40em, 85vh)`).
DEFAULT = re.compile(r"(--_[\w-]+)\s*:\s*var\(\s*(--bc-[\w-]+)\s*,\s*([^;]+?)\)\s*;")


def stylesheet_text() -> str:
    return re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(encoding="utf-8"), flags=re.S)


def defaults(block: str) -> dict[str, str]:
    """{"--bc-accent": "#2456c7", ...} of one block, checking that each private property mirrors
    the public one's name (--_accent reads --bc-accent)."""
    found = {}
    for private, public, value in DEFAULT.findall(block):
        assert private == "--_" + public.removeprefix("--bc-"), f"{private} reads {public}"
        found[public] = " ".join(value.split())
    return found


def stylesheet_defaults() -> tuple[dict[str, str], dict[str, str]]:
    """The ``:host`` defaults, and the dark scheme's overrides of them."""
    css = stylesheet_text()
    light_block = LIGHT_BLOCK.search(css)
    dark_block = DARK_BLOCK.search(css)
    assert light_block and dark_block, f'{STYLESHEET}: no :host and :host([data-bc-scheme="dark"]) defaults'
    return defaults(light_block.group(1)), defaults(dark_block.group(1))


def readme_table() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`(--bc-[\w-]+)`\s*\|\s*(.+?)\s*\|\s*(.+?)\s*\|", line)
        if match:
            name, light, dark = match.groups()
            rows[name] = (light.strip("`"), dark.strip("`"))
    return rows


def test_the_readme_lists_every_custom_property_with_its_defaults() -> None:
    light, dark = stylesheet_defaults()
    table = readme_table()
    assert light, "no --_x: var(--bc-x, default) declarations in the :host block"
    assert set(dark) <= set(light), "the dark scheme sets a property without a light default"
    assert sorted(table) == sorted(light), "README.md 'Custom properties' and backchannel.css list different properties"
    for name, (light_cell, dark_cell) in table.items():
        assert light_cell == light[name], name
        assert dark_cell == dark.get(name, "same"), name


def test_every_custom_property_the_widget_uses_has_a_default() -> None:
    css = stylesheet_text()
    light, _ = stylesheet_defaults()
    # Every public property read anywhere (an @supports variant too) is one the table documents.
    assert set(re.findall(r"var\(\s*(--bc-[\w-]+)", css)) <= set(light)
    # Every private property used is one the :host block sets from a public one.
    private = {"--_" + name.removeprefix("--bc-") for name in light}
    assert set(re.findall(r"var\(\s*(--_[\w-]+)", css)) <= private
