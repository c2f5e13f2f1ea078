"""Identity tokens and display names, pure: no socket, no database (time is a parameter)."""

from __future__ import annotations

import base64
import json

import pytest
from django.core import signing

from chat.conf import DEFAULT_RESERVED_NAMES
from chat.identity import (
    TOKEN_SALT,
    Identity,
    TokenError,
    TokenProblem,
    issue_token,
    needs_refresh,
    new_visitor_id,
    verify_token,
)
from chat.names import display_name_problem, fold_name, is_reserved_name

NOW = 1_800_000_000.0
TTL = 3600
ANN = Identity(visitor="v-ann", name="Ann")


def problem_of(token: object, *, now: float = NOW, max_age_secs: int = TTL) -> TokenProblem:
    with pytest.raises(TokenError) as caught:
        verify_token(token, now=now, max_age_secs=max_age_secs)
    assert caught.value.message
    return caught.value.problem


def signed(payload: object) -> str:
    """A correctly signed token around any payload: what a bug in issue_token could produce."""
    return signing.Signer(salt=TOKEN_SALT).sign_object(payload)


class TestTokens:
    @pytest.mark.parametrize(
        "identity",
        [ANN, Identity(visitor="staff-7", name="Mod", staff=True), Identity(visitor="v", name="山田 ✨")],
    )
    def test_round_trip(self, identity):
        verified = verify_token(issue_token(identity, now=NOW), now=NOW + 10, max_age_secs=TTL)
        assert (verified.identity, verified.issued_at) == (identity, int(NOW))

    def test_a_token_signed_with_another_key_is_refused(self, settings):
        settings.SECRET_KEY = "someone-elses-key-" + "y" * 40
        forged = issue_token(Identity(visitor="v-ann", name="Ann", staff=True), now=NOW)
        settings.SECRET_KEY = "test-only-secret-key-" + "x" * 40
        assert problem_of(forged) == TokenProblem.BAD

    def test_a_token_for_another_purpose_is_refused(self):
        # Same key, other salt (e.g. a proof-of-work challenge): not an identity.
        other = signing.Signer(salt="backchannel.challenge").sign_object({"v": "x", "n": "Ann", "s": True, "t": NOW})
        assert problem_of(other) == TokenProblem.BAD

    def test_a_tampered_payload_is_refused(self):
        token = issue_token(ANN, now=NOW)
        payload, signature = token.rsplit(":", 1)
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        data["s"] = True  # promote Ann to staff
        tampered = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
        assert problem_of(f"{tampered}:{signature}") == TokenProblem.BAD

    @pytest.mark.parametrize(
        "token",
        [None, 5, "", "x" * 1001, "no-signature", ["list"], "abc:def", "\ud800:x"],
    )
    def test_malformed_tokens_are_refused(self, token):
        assert problem_of(token) == TokenProblem.BAD

    @pytest.mark.parametrize(
        "payload",
        [
            {"v": "x", "n": "Ann", "s": "yes", "t": int(NOW)},
            {"v": "x", "n": "Ann", "s": False, "t": "now"},
            {"v": 1, "n": "Ann", "s": False, "t": int(NOW)},
            {"v": "x", "n": None, "s": False, "t": int(NOW)},
            {"v": "", "n": "Ann", "s": False, "t": int(NOW)},
            {"v": "x", "n": "", "s": False, "t": int(NOW)},
            {"v": "x", "n": "Ann", "s": False},
            ["x", "Ann", False, int(NOW)],
            "Ann",
        ],
    )
    def test_a_signed_payload_of_the_wrong_shape_is_refused(self, payload):
        assert problem_of(signed(payload)) == TokenProblem.BAD

    def test_expiry(self):
        token = issue_token(ANN, now=NOW)
        assert verify_token(token, now=NOW + TTL, max_age_secs=TTL).identity == ANN
        assert problem_of(token, now=NOW + TTL + 1) == TokenProblem.EXPIRED

    def test_refresh_is_due_past_half_the_life(self):
        verified = verify_token(issue_token(ANN, now=NOW), now=NOW, max_age_secs=TTL)
        assert not needs_refresh(verified, now=NOW + TTL / 2 - 1, ttl_secs=TTL)
        assert needs_refresh(verified, now=NOW + TTL / 2, ttl_secs=TTL)

    def test_visitor_ids_are_unguessable_and_safe_in_group_names(self):
        ids = {new_visitor_id() for _ in range(100)}
        assert len(ids) == 100
        assert all(len(visitor) == 16 and visitor.replace("-", "").replace("_", "").isalnum() for visitor in ids)


class TestNames:
    @pytest.mark.parametrize("name", ["Ann", "Ann Lee", "山田", "Zoë", "a" * 32, "🙂", "Mod-erator"])
    def test_good_names(self, name):
        assert display_name_problem(name) is None

    @pytest.mark.parametrize(
        "name",
        ["", " ", " Ann", "Ann ", "a" * 33, "Ann\n", "An\tn", "\u202eAnn", "A\u200bnn", "\x00", "Ann\ud800"],
    )
    def test_bad_names(self, name):
        assert display_name_problem(name)

    @pytest.mark.parametrize(
        "name", ["admin", "Admin", "ADMIN", "Ａｄｍｉｎ", "ａｄｍｉｎ", "Moderator", "SYSTEM", "ſtaff"]
    )
    def test_reserved_names_in_any_case_or_width(self, name):
        assert is_reserved_name(name, DEFAULT_RESERVED_NAMES)

    @pytest.mark.parametrize("name", ["Ann", "admin2", "the admin", "Adm1n", "moderators"])
    def test_names_that_only_resemble_reserved_ones(self, name):
        assert not is_reserved_name(name, DEFAULT_RESERVED_NAMES)

    def test_the_reserved_list_itself_may_use_any_case(self):
        assert is_reserved_name("ann", ["ANN"])
        assert fold_name("Ｓｔａｆｆ") == fold_name("staff") == "staff"
