"""The resume rule, pure: catch a rejoining client up message by message, or replace its view?"""

from __future__ import annotations


def should_resume(*, after_seq: int | None, latest_seq: int, resume_limit: int, pruned_seq: int = 0) -> bool:
    """Resume only when the client says what it has, is not ahead of the log (a log that was reset
    under it), is missing at most ``resume_limit`` messages, and is missing none the retention
    removed (``pruned_seq``: the log starts after it). A client whose next message was removed
    would see a hole it could never fill: it gets the latest page instead, which starts the log
    afresh for it (``after_seq`` 0 included: the log's start is gone)."""
    return after_seq is not None and pruned_seq <= after_seq <= latest_seq and latest_seq - after_seq <= resume_limit
