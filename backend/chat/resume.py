"""The resume rule, pure: catch a rejoining client up message by message, or replace its view?"""

from __future__ import annotations


def should_resume(*, after_seq: int | None, latest_seq: int, resume_limit: int) -> bool:
    """Resume only when the client says what it has, is not ahead of the log (a log that was reset
    under it), and is missing at most ``resume_limit`` messages."""
    return after_seq is not None and after_seq <= latest_seq and latest_seq - after_seq <= resume_limit
