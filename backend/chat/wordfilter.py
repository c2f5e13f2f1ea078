"""The word filter: blocked words and patterns that moderators keep in the admin
(``chat.models.BlockedWord``), matched in folded text (``chat.folding.fold_text``).

Each entry refuses a message (``blocked_word``: nothing stored) or holds it for review
(``held_for_review``: stored as a ``HeldMessage``, posted once a moderator approves it). When
entries of both kinds match, refusing wins.

The compiled filter is kept per process: every ``send`` asks, and the entries change rarely.
Saving or deleting an entry (the admin, a shell) drops this process's copy at once (signals); other
processes reload theirs within ``CACHE_TTL_SECS``. A short TTL rather than a layer message keeps
one mechanism for every deployment, Redis or not; a new entry is late by seconds, not messages.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from chat import selectors
from chat.folding import fold_text, single_letter_runs
from chat.models import BlockedWord

logger = logging.getLogger(__name__)

# How long a process trusts its compiled filter before reading the entries again (other processes'
# admin changes arrive within this; its own at once).
CACHE_TTL_SECS = 10.0
# A pattern runs on every message; a long one is more likely a mistake (and slower).
MAX_PATTERN_CHARS = 200
WORD, PATTERN = BlockedWord.Kind.WORD, BlockedWord.Kind.PATTERN
REFUSE, HOLD = BlockedWord.Action.REFUSE, BlockedWord.Action.HOLD
# Scripts written without spaces between words: a blocked word in them is found inside longer
# runs of text. Elsewhere a word matches only as a whole word ("ass" is not found in "class").
_NO_WORD_SPACES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


@dataclass(frozen=True)
class Entry:
    text: str  # as the moderator wrote it (shown to moderators on a held message)
    kind: str  # WORD or PATTERN
    action: str  # REFUSE or HOLD


@dataclass(frozen=True)
class Verdict:
    action: str  # REFUSE or HOLD
    entry: Entry


@dataclass(frozen=True)
class _Compiled:
    entry: Entry
    in_text: re.Pattern[str]  # searched in the folded text
    in_runs: re.Pattern[str] | None  # searched in spaced-out letters joined up ("b a d" → "bad")


class WordFilter:
    """Compiled entries. Pure: built from entries, asked about texts."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        compiled = [_compile(entry) for entry in entries]
        usable = [item for item in compiled if item is not None]
        # Refusing entries are tried first: a text that matches both kinds is refused.
        self._entries = sorted(usable, key=lambda item: item.entry.action != REFUSE)

    def __len__(self) -> int:
        return len(self._entries)

    def verdict(self, text: str) -> Verdict | None:
        """What the filter does with ``text``: None when no entry matches."""
        if not self._entries:
            return None
        folded = fold_text(text)
        runs = single_letter_runs(folded)
        for item in self._entries:
            if item.in_text.search(folded) or (item.in_runs and any(item.in_runs.search(run) for run in runs)):
                return Verdict(item.entry.action, item.entry)
        return None


def entry_problem(text: str, kind: str) -> str | None:
    """Why an entry cannot be used, or None (the admin form shows it)."""
    if kind == PATTERN:
        if len(text) > MAX_PATTERN_CHARS:
            return f"a pattern has at most {MAX_PATTERN_CHARS} characters"
        try:
            compiled = re.compile(text, re.IGNORECASE)
        except re.error as error:
            return f"not a regular expression: {error}"
        if compiled.search(""):
            return "this pattern matches empty text, so it would match every message"
        return None
    if not fold_text(text):
        return "this word has no letters left once folded (only spaces or invisible characters)"
    return None


def _compile(entry: Entry) -> _Compiled | None:
    problem = entry_problem(entry.text, entry.kind)
    if problem:  # stored outside the admin's validation (a shell, an import): skipped, not fatal
        logger.warning("word filter entry %r skipped: %s", entry.text, problem)
        return None
    if entry.kind == PATTERN:
        pattern = re.compile(entry.text, re.IGNORECASE)
        return _Compiled(entry, pattern, pattern)
    word = fold_text(entry.text)
    before = "" if written_without_spaces(word[0]) else r"(?<!\w)"
    after = "" if written_without_spaces(word[-1]) else r"(?!\w)"
    in_text = re.compile(before + re.escape(word) + after)
    # In a run of spaced-out letters the word may sit anywhere ("a b a d" holds "bad").
    letters = re.sub(r"[\W_]+", "", word)
    in_runs = re.compile(re.escape(letters)) if len(letters) >= 2 else None
    return _Compiled(entry, in_text, in_runs)


def written_without_spaces(char: str) -> bool:
    """Whether ``char`` is of a script written without spaces between words (Japanese, Thai...)."""
    return any(low <= ord(char) <= high for low, high in _NO_WORD_SPACES)


# --- The process's filter --------------------------------------------------------------------

_lock = threading.Lock()
_cached: tuple[float, WordFilter] | None = None
# Bumped by every invalidation: a filter read before a change is not kept after it.
_generation = 0


def active_filter() -> WordFilter:
    """This process's compiled filter, read from the database at most every ``CACHE_TTL_SECS``.
    Called from the database thread (``chat.db.db_call``) or the admin."""
    global _cached
    now = time.monotonic()
    with _lock:
        if _cached is not None and now - _cached[0] < CACHE_TTL_SECS:
            return _cached[1]
        generation = _generation
    compiled = WordFilter(Entry(row.text, row.kind, row.action) for row in selectors.blocked_words())
    with _lock:
        if generation == _generation:
            _cached = (now, compiled)
    return compiled


def invalidate() -> None:
    """Forget this process's filter: the next message reads the entries again."""
    global _cached, _generation
    with _lock:
        _cached = None
        _generation += 1


@receiver(post_save, sender="chat.BlockedWord")
@receiver(post_delete, sender="chat.BlockedWord")
def _entry_changed(**kwargs: object) -> None:
    invalidate()
