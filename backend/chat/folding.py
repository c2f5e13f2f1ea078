"""Folding: the forms in which names and message text are compared, so that what looks alike is
alike. Pure functions, no Django.

- ``is_invisible``: a code point that draws nothing (or nothing of its own) where it stands.
  Names must not contain one: ``admin`` + U+FE0F is drawn exactly as ``admin``.
- ``skeleton``: Unicode TR39's confusable skeleton of the case-folded NFKC text, invisible code
  points removed. ``аdmin`` (Cyrillic а), ``ＡＤＭＩＮ`` and ``𝐚𝐝𝐦𝐢𝐧`` all become ``admin``. The
  TR39 table and its algorithm come from ``disarm`` (backend/requirements.txt says why that
  library); it is used here only, so replacing it is one function.
- ``name_key``: a name's skeleton without spacing or punctuation: the form reserved names are
  compared in (``A.D.M.I.N`` reads as ``admin``).
- ``fold_text``: a message's skeleton without accents and with white space collapsed: the form
  the word filter matches in (``chat.wordfilter``). ``single_letter_runs`` adds the spaced-out
  evasions (``b a d``, ``b.a.d``) joined up.

A skeleton is a comparison key, never something to show or store in place of what was written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from disarm import skeleton_key

# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt, unchanged from 15.1 to 17.0).
# Python's unicodedata does not expose the property. Most of these are format characters
# (category Cf, already refused as category C), but not all: the variation selectors and the
# combining grapheme joiner are marks (Mn) and the Hangul fillers are letters (Lo), which is how
# `admin`+U+FE0F, `ad`+U+034F+`min` and a name made of U+3164 got past a category check.
DEFAULT_IGNORABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, (non-)joiner, direction marks
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors 1-16
    (0xFEFF, 0xFEFF),  # zero-width no-break space (BOM)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned, reserved as ignorable
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol beam and phrase controls
    (0xE0000, 0xE0FFF),  # tags and variation selectors 17-256
)
# Not default-ignorable, yet drawn as an empty cell: a name made of them looks blank.
BLANK_LOOKALIKES = frozenset({"\u2800"})  # Braille pattern blank
# Combining marks that only decorate a letter (accents, strokes, "zalgo" stacks). Dropped before
# the word filter matches; marks that are part of a script's spelling (Japanese voicing marks,
# Indic vowel signs) are not in these blocks and stay.
_DIACRITIC_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)
_WHITESPACE = re.compile(r"\s+")
_NOT_A_LETTER = re.compile(r"[\W_]+")
# Folding converges in one or two passes; the bound only guards against a table that would not.
_MAX_FOLD_PASSES = 4


def _in_ranges(code_point: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code_point <= high for low, high in ranges)


def is_default_ignorable(char: str) -> bool:
    return _in_ranges(ord(char), DEFAULT_IGNORABLE_RANGES)


def is_invisible(char: str) -> bool:
    """True for a code point a name must not hold: control, format, unassigned, private use and
    surrogates (category C), default-ignorables, line and paragraph separators, blank look-alikes."""
    category = unicodedata.category(char)
    return (
        category.startswith("C") or category in ("Zl", "Zp") or is_default_ignorable(char) or char in BLANK_LOOKALIKES
    )


def strip_invisible(text: str) -> str:
    return "".join(char for char in text if not is_invisible(char))


def skeleton(text: str) -> str:
    """TR39 skeleton of ``text`` case-folded first (NFKC, then casefold), invisibles removed.

    Case is folded before the confusable table runs: the table sends capital ``I`` to ``l``, so
    ``ADMIN`` would otherwise become ``admln``."""
    # White space first: a line break or a tab is a control character, and must part words, not join them.
    spaced = _WHITESPACE.sub(" ", text)
    return skeleton_key(unicodedata.normalize("NFKC", strip_invisible(spaced)).casefold())


def name_key(name: str) -> str:
    """The form reserved names are compared in: the skeleton without white space and punctuation.
    Idempotent, like ``fold_text``."""
    return _fixed_point(_name_key_once, name)


def fold_text(text: str) -> str:
    """The form the word filter matches in: the skeleton without accents, runs of white space
    made one space, no white space at the ends. Idempotent: ``fold_text(fold_text(x))`` is
    ``fold_text(x)``."""
    return _fixed_point(_fold_text_once, text)


def _name_key_once(name: str) -> str:
    return "".join(char for char in skeleton(name) if unicodedata.category(char)[0] not in "PZ")


def _fold_text_once(text: str) -> str:
    return _WHITESPACE.sub(" ", skeleton(_strip_diacritics(text))).strip()


def _fixed_point(fold: Callable[[str], str], text: str) -> str:
    """``fold`` repeated until it changes nothing: dropping a character can leave a mark beside a
    letter it composes with, or a base letter the confusable table maps."""
    folded = fold(text)
    for _ in range(_MAX_FOLD_PASSES):
        again = fold(folded)
        if again == folded:
            break
        folded = again
    return folded


def _strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(char for char in decomposed if not _in_ranges(ord(char), _DIACRITIC_BLOCKS))
    return unicodedata.normalize("NFC", kept)


def single_letter_runs(folded: str) -> list[str]:
    """Spaced-out words joined up: ``"you are b a d"`` → ``["bad"]``, ``"b.a.d"`` → ``["bad"]``.
    Two or more one-character tokens in a row make a run; ordinary words are not touched."""
    runs: list[str] = []
    current: list[str] = []
    for token in _NOT_A_LETTER.split(folded):
        if len(token) == 1:
            current.append(token)
            continue
        if len(current) >= 2:
            runs.append("".join(current))
        current = []
    if len(current) >= 2:
        runs.append("".join(current))
    return runs
