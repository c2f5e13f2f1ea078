"""The theme's README documents every custom property of the widget's stylesheet, with the
defaults the stylesheet really has, in the light and the dark scheme."""

from __future__ import annotations

import re

from scripts.site import REPO_ROOT

THEME_DIR = REPO_ROOT / "themes" / "backchannel"
STYLESHEET = THEME_DIR / "assets" / "backchannel" / "css" / "backchannel.css"
README = THEME_DIR / "README.md"
DARK_MEDIA = "@media (prefers-color-scheme: dark)"


def declarations(block: str) -> dict[str, str]:
    return {name: " ".join(value.split()) for name, value in re.findall(r"(--bc-[\w-]+)\s*:\s*([^;]+);", block)}


def stylesheet_defaults() -> tuple[dict[str, str], dict[str, str]]:
    """The ``:where(:root)`` defaults, and the dark scheme's overrides of them."""
    css = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(encoding="utf-8"), flags=re.S)
    dark_at = css.index(DARK_MEDIA)
    light_block = re.search(r":where\(:root\)\s*\{([^}]*)\}", css[:dark_at])
    dark_block = re.search(r":where\(:root\)\s*\{([^}]*)\}", css[dark_at:])
    assert light_block and dark_block, f"{STYLESHEET}: no :where(:root) defaults for both schemes"
    return declarations(light_block.group(1)), declarations(dark_block.group(1))


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
    assert set(dark) <= set(light), "the dark scheme sets a property without a light default"
    assert sorted(table) == sorted(light), "README.md 'Custom properties' and backchannel.css list different properties"
    for name, (light_cell, dark_cell) in table.items():
        assert light_cell == light[name], name
        assert dark_cell == dark.get(name, "same"), name


def test_every_custom_property_the_widget_uses_has_a_default() -> None:
    css = STYLESHEET.read_text(encoding="utf-8")
    light, _ = stylesheet_defaults()
    assert set(re.findall(r"var\((--bc-[\w-]+)", css)) <= set(light)
