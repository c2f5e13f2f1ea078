"""The proof of work a token request carries: the spam defence that needs no third-party service.

The server hands out a signed, timestamped challenge; the client finds a ``nonce`` such that
``sha256(challenge + ":" + nonce)`` starts with ``bits`` zero bits (2**bits hashes on average, a
second or so in a browser at 16 bits) and sends both with its token request. Cheap for one
visitor, expensive for someone minting thousands of identities. Pure: time is a parameter.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict

from django.core import signing

CHALLENGE_SALT = "backchannel.challenge"
NONCE_MAX_CHARS = 32


def new_challenge(*, now: float) -> str:
    return signing.Signer(salt=CHALLENGE_SALT).sign(f"{secrets.token_urlsafe(12)}.{int(now)}")


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def digest_for(challenge: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def challenge_problem(challenge: object, nonce: object, *, bits: int, now: float, ttl_secs: int) -> str | None:
    """Why this solution is refused, or None when it is a valid, fresh, solved challenge."""
    if not isinstance(challenge, str) or not isinstance(nonce, str):
        return "'challenge' and 'nonce' must be strings"
    if not 1 <= len(nonce) <= NONCE_MAX_CHARS:
        return f"'nonce' must be 1-{NONCE_MAX_CHARS} characters"
    try:
        value = signing.Signer(salt=CHALLENGE_SALT).unsign(challenge)
        issued_at = int(value.rsplit(".", 1)[1])
    except (signing.BadSignature, IndexError, ValueError):
        return "the challenge is not one this server issued; fetch a new one"
    if not 0 <= now - issued_at <= ttl_secs:
        return "the challenge has expired; fetch a new one"
    if leading_zero_bits(digest_for(challenge, nonce)) < bits:
        return f"the nonce does not solve the challenge ({bits} leading zero bits needed)"
    return None


def solve(challenge: str, bits: int) -> str:
    """A nonce that solves ``challenge`` (what the browser does; Python clients and tests use it)."""
    counter = 0
    while leading_zero_bits(digest_for(challenge, str(counter))) < bits:
        counter += 1
    return str(counter)


class SpentChallenges:
    """Challenges already exchanged for a token in this process, so one solution buys one token.
    Bounded: the oldest are forgotten first, and they expire anyway after the challenge TTL."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._spent: OrderedDict[str, None] = OrderedDict()
        self._max_entries = max_entries

    def is_spent(self, challenge: str) -> bool:
        return challenge in self._spent

    def spend(self, challenge: str) -> bool:
        """Mark ``challenge`` spent; False when it already was."""
        if challenge in self._spent:
            return False
        self._spent[challenge] = None
        if len(self._spent) > self._max_entries:
            self._spent.popitem(last=False)
        return True
