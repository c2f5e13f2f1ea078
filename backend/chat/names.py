"""Display names: what a visitor is shown as. Mirrored by ``isValidDisplayName`` in rooms.js
(the server is the authority: the client's check only saves a round trip)."""

from __future__ import annotations

from functools import lru_cache

from chat.folding import is_invisible, name_key

DISPLAY_NAME_MAX_CHARS = 32


def display_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be shown as an author, or None when it can."""
    if not name or name != name.strip():
        return "a name must not be empty or start or end with white space"
    if len(name) > DISPLAY_NAME_MAX_CHARS:
        return f"a name has at most {DISPLAY_NAME_MAX_CHARS} characters"
    # Control, format (zero-width, bidi overrides), unassigned and private-use code points, and
    # the default-ignorable ones that are not format characters (variation selectors, Hangul
    # fillers): a name with one can be drawn exactly as another name, or as nothing at all.
    if any(is_invisible(char) for char in name):
        return "a name must not contain control or invisible characters"
    return None


def fold_name(name: str) -> str:
    """The form names are compared in: case, width and styled letters folded, look-alikes from
    other scripts folded to their prototype (TR39 skeleton), spacing and punctuation dropped."""
    return name_key(name)


def is_reserved_name(name: str, reserved: list[str]) -> bool:
    """True when ``name`` reads as one of ``reserved``: "ADMIN", "Ａｄｍｉｎ", "аdmin" (Cyrillic а),
    "ad min" and "admin" alike."""
    return fold_name(name) in _folded(tuple(reserved))


@lru_cache(maxsize=8)
def _folded(words: tuple[str, ...]) -> frozenset[str]:
    """The reserved words, folded once (folding one costs about 25 µs; every token request asks)."""
    return frozenset(fold_name(word) for word in words)
