"""Every error the backend answers a client with is a ``BackchannelError``: one ``except`` catches
them all, and each carries the code, message and wait its answer shows (chat.errors)."""

from __future__ import annotations

import pytest

from chat import changes, moderation, services
from chat.errors import BackchannelError
from chat.identity import TokenError, TokenProblem
from chat.moderation_views import Invalid
from chat.protocol import ErrorCode, ProtocolError, error_event
from chat.shared_limits import LIMITS_UNAVAILABLE_RETRY_SECS, LimitsUnavailable

ERRORS = {
    "ProtocolError": (ProtocolError(ErrorCode.RATE_LIMITED, "slow down", retry_after_secs=2.5), "rate_limited"),
    "PostRefused": (services.PostRefused(ErrorCode.MUTED, "you are muted", 60.0), "muted"),
    "ChangeRefused": (changes.ChangeRefused(ErrorCode.NOT_FOUND, "no such message"), "not_found"),
    "Refused": (moderation.Refused("'seq' is missing"), "bad_field"),
    "NotFound": (moderation.NotFound("no message 9"), "not_found"),
    "Protected": (moderation.Protected("staff are never muted or banned"), "protected"),
    "TokenError": (TokenError(TokenProblem.EXPIRED, "the token expired"), "token_expired"),
    "LimitsUnavailable": (LimitsUnavailable("connection refused"), "server_error"),
    "Invalid": (Invalid(ErrorCode.NOT_STAFF, "only signed-in staff may moderate", status=403), "not_staff"),
}


@pytest.mark.parametrize("name", ERRORS)
def test_every_refusal_is_a_backchannel_error_with_its_wire_code(name):
    error, code = ERRORS[name]
    with pytest.raises(BackchannelError) as caught:
        raise error
    assert caught.value.code == code
    assert caught.value.message and str(caught.value) == caught.value.message


def test_a_socket_error_event_shows_the_code_message_and_wait_of_the_error():
    error, _ = ERRORS["ProtocolError"]
    event = error_event(error)
    assert (event["code"], event["message"], event["retry_after_secs"]) == ("rate_limited", "slow down", 2.5)


def test_limits_unavailable_tells_the_client_when_to_come_back_and_keeps_redis_words_for_the_log():
    error = LimitsUnavailable("Error 111 connecting to 10.0.0.1:6380. Connection refused.")
    assert error.retry_after_secs == LIMITS_UNAVAILABLE_RETRY_SECS
    assert "10.0.0.1" not in error.message and "10.0.0.1" in error.detail


def test_an_api_refusal_is_answered_with_its_status_and_headers():
    unauthorized = Invalid(ErrorCode.BAD_TOKEN, "send 'Authorization: Bearer <token>'", status=401).response
    assert unauthorized.status_code == 401 and unauthorized["WWW-Authenticate"] == "Bearer"
    slowed = Invalid(ErrorCode.RATE_LIMITED, "too many reports; slow down", status=429, retry_after_secs=0.2).response
    assert slowed.status_code == 429 and slowed["Retry-After"] == "1"
    assert b'"retry_after_secs": 0.2' in slowed.content
