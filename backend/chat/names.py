"""Display names: what a visitor is shown as. Mirrored by ``isValidDisplayName`` in rooms.js."""

from __future__ import annotations

import unicodedata

DISPLAY_NAME_MAX_CHARS = 32


def display_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be shown as an author, or None when it can."""
    if not name or name != name.strip():
        return "a name must not be empty or start or end with white space"
    if len(name) > DISPLAY_NAME_MAX_CHARS:
        return f"a name has at most {DISPLAY_NAME_MAX_CHARS} characters"
    # Category C* covers control, format (zero-width, bidi overrides), unassigned and private use.
    if any(unicodedata.category(char).startswith("C") for char in name):
        return "a name must not contain control or invisible characters"
    return None


def fold_name(name: str) -> str:
    """The form names are compared in: full-width and styled letters folded (NFKC), case folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def is_reserved_name(name: str, reserved: list[str]) -> bool:
    """True when ``name`` reads as one of ``reserved`` ("ADMIN", "Ａｄｍｉｎ" and "admin" alike)."""
    folded = fold_name(name)
    return any(folded == fold_name(word) for word in reserved)
