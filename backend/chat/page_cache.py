"""Each room's latest history page, kept in the process: a join storm into one room reads the log
once, not once per join.

A join that is not a resume (no ``after_seq``, or a gap the resume rule refuses) gets the room's
latest ``history_limit`` messages. Every such join read the same page again. Here the page is kept
per room together with the room's ``(last_seq, last_rev, pruned_seq)`` read just before it; a join
reads those three (one indexed row, which it reads anyway) and uses the kept page only when they
are still the same. Every post takes a new ``last_seq``, every change (an edit, a reaction, a
deletion, a reply's quote removed) a new ``last_rev``, every prune a new ``pruned_seq``, each in the
transaction that makes it: so a kept page is never older than what the join would read, whichever
process wrote (the check holds without the layer). The page is read after the bounds, so it is at
least as new as they are.

On top of that, the fan-out drops a room's page when a frame that may announce a log change
reaches the process for the room (``chat.fanout``: every room frame but presence and typing), so
an idle room's page does not outlive its next change in memory. Resumes (``after_seq``) read
exactly what they need from the database, as before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chat.rooms import group_name_for

if TYPE_CHECKING:
    from chat.protocol import MessageEvent

# Rooms kept at most (the least recently filled go first): a storm is into a few rooms at once,
# and each entry holds up to a page of messages and their encoded events (tens of KiB).
MAX_ROOMS = 128


@dataclass
class Entry:
    bounds: tuple[int, int, int]  # (last_seq, last_rev, pruned_seq) the page was read at
    limit: int
    page: object  # chat.selectors.Page
    # The page as events, per protocol version, cut to the page budget (chat.events.newest_that_fit:
    # the events, and whether any were left out), filled by the first join that needs them.
    events: dict[int, tuple[list[MessageEvent], bool]] = field(default_factory=dict)
    # Those events as JSON, per protocol version: every `joined` from this page carries it as is
    # (chat.events.encode_with_encoded), not encoded again per join.
    events_json: dict[int, str] = field(default_factory=dict)


_lock = threading.Lock()
_entries: dict[str, Entry] = {}  # group name -> entry


def get(room: str, *, bounds: tuple[int, int, int], limit: int) -> Entry | None:
    entry = _entries.get(group_name_for(room))
    if entry is None or entry.bounds != bounds or entry.limit != limit:
        return None
    return entry


def put(room: str, *, bounds: tuple[int, int, int], limit: int, page: object) -> Entry:
    entry = Entry(bounds=bounds, limit=limit, page=page)
    with _lock:
        group = group_name_for(room)
        _entries.pop(group, None)
        _entries[group] = entry
        while len(_entries) > MAX_ROOMS:
            _entries.pop(next(iter(_entries)))
    return entry


def forget(group: str) -> None:
    _entries.pop(group, None)


def clear() -> None:
    with _lock:
        _entries.clear()
