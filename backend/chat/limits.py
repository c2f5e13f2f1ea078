"""The abuse limits one process enforces, in one place (ARCHITECTURE.md "Limits").

Created from the settings on first use; tests that change a limit call ``reset_process_limits``.
"""

from __future__ import annotations

from chat.challenge import SpentChallenges
from chat.conf import conf
from chat.ratelimit import BucketMap, Counter, TokenBucket


class ProcessLimits:
    def __init__(self) -> None:
        self.messages_per_identity = BucketMap(burst=conf.MESSAGE_BURST, per_sec=conf.MESSAGE_PER_SEC)
        self.messages_per_ip = BucketMap(burst=conf.IP_MESSAGE_BURST, per_sec=conf.IP_MESSAGE_PER_SEC)
        # Only requests that mint a new visitor id count: not a challenge, not a renewal of a known
        # identity (same visitor id, so nothing to gain), not a refused request.
        self.new_identities_per_ip = BucketMap(burst=conf.IDENTITY_BURST, per_sec=conf.IDENTITY_PER_MIN / 60)
        # Every staff sign-in counts, refused ones first (password guessing); a bucket of its own so
        # a classroom picking names does not lock its teacher out of signing in, or the reverse.
        self.staff_sign_ins_per_ip = BucketMap(burst=conf.IDENTITY_BURST, per_sec=conf.IDENTITY_PER_MIN / 60)
        self.sockets_per_ip = Counter()
        self.spent_challenges = SpentChallenges()

    def message_wait_secs(self, *, visitor: str, ip: str | None, now: float) -> float:
        """0 when one more message is allowed (and counted), else how long to wait."""
        wait = self.messages_per_identity.take(visitor, now)
        if wait:
            return wait
        return self.messages_per_ip.take(ip, now) if ip else 0.0


def frame_bucket() -> TokenBucket:
    """Each socket's own bucket over every frame it sends."""
    return TokenBucket(conf.FRAME_BURST, conf.FRAME_PER_SEC)


_current: ProcessLimits | None = None


def process_limits() -> ProcessLimits:
    global _current
    if _current is None:
        _current = ProcessLimits()
    return _current


def reset_process_limits() -> None:
    global _current
    _current = None
