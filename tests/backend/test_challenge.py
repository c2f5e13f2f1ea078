"""The proof-of-work challenge, pure: time is a parameter."""

from __future__ import annotations

import hashlib

import pytest
from django.core import signing

from chat.challenge import (
    CHALLENGE_SALT,
    SpentChallenges,
    challenge_problem,
    digest_for,
    leading_zero_bits,
    new_challenge,
    solve,
)

NOW = 1_800_000_000.0
TTL = 300
BITS = 8


def problem(challenge: object, nonce: object, *, bits: int = BITS, now: float = NOW) -> str | None:
    return challenge_problem(challenge, nonce, bits=bits, now=now, ttl_secs=TTL)


@pytest.mark.parametrize(
    ("digest", "bits"),
    [
        (b"\xff", 0),
        (b"\x80\x00", 0),
        (b"\x7f", 1),
        (b"\x01", 7),
        (b"\x00\x80", 8),
        (b"\x00\x00\x01", 23),
        (b"\x00\x00", 16),
        (b"", 0),
    ],
)
def test_leading_zero_bits(digest, bits):
    assert leading_zero_bits(digest) == bits


def test_a_solved_challenge_is_accepted():
    challenge = new_challenge(now=NOW)
    nonce = solve(challenge, BITS)
    assert leading_zero_bits(hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()) >= BITS
    assert problem(challenge, nonce) is None
    assert problem(challenge, nonce, now=NOW + TTL) is None


def test_a_wrong_nonce_is_refused():
    challenge = new_challenge(now=NOW)
    wrong = next(str(n) for n in range(10_000) if leading_zero_bits(digest_for(challenge, str(n))) < BITS)
    assert "does not solve" in problem(challenge, wrong)


def test_zero_bits_accepts_any_nonce_but_still_needs_a_real_challenge():
    assert problem(new_challenge(now=NOW), "anything", bits=0) is None
    assert "not one this server issued" in problem("made-up.123", "anything", bits=0)


def test_an_expired_challenge_is_refused():
    challenge = new_challenge(now=NOW)
    nonce = solve(challenge, BITS)
    assert "expired" in problem(challenge, nonce, now=NOW + TTL + 1)
    assert "expired" in problem(challenge, nonce, now=NOW - 5)  # from the future: not ours to trust


def test_a_challenge_signed_elsewhere_is_refused(settings):
    settings.SECRET_KEY = "someone-elses-key-" + "y" * 40
    foreign = new_challenge(now=NOW)
    settings.SECRET_KEY = "test-only-secret-key-" + "x" * 40
    assert "not one this server issued" in problem(foreign, solve(foreign, BITS))


@pytest.mark.parametrize("value", ["no-dot", "abc.notatime", ""])
def test_a_signed_value_of_the_wrong_shape_is_refused(value):
    challenge = signing.Signer(salt=CHALLENGE_SALT).sign(value)
    assert "not one this server issued" in problem(challenge, solve(challenge, BITS))


@pytest.mark.parametrize(("challenge", "nonce"), [(None, "1"), ("c", 1), ("c", ""), ("c", "x" * 33)])
def test_malformed_fields_are_refused(challenge, nonce):
    assert problem(challenge if challenge != "c" else new_challenge(now=NOW), nonce)


def test_each_challenge_is_new():
    assert new_challenge(now=NOW) != new_challenge(now=NOW)


def test_a_challenge_is_spent_once_and_memory_stays_bounded():
    spent = SpentChallenges(max_entries=3)
    assert spent.spend("a") and not spent.spend("a")
    for key in "bcd":
        assert spent.spend(key)
    assert spent.spend("a"), "the oldest is forgotten beyond max_entries (it has expired by then)"
    assert not spent.spend("d")
