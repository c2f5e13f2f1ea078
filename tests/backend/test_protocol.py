"""The protocol module alone: no socket, no database."""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from chat.names import display_name_problem
from chat.protocol import (
    MAX_JSON_DEPTH,
    Auth,
    ErrorCode,
    Join,
    Leave,
    Limits,
    LoadOlder,
    Ping,
    ProtocolError,
    Send,
    Typing,
    encode_event,
    error_event,
    format_timestamp,
    parse_client_event,
)
from chat.resume import should_resume
from chat.rooms import is_valid_room_name

LIMITS = Limits(max_text_chars=20, max_frame_bytes=300)
ROOM_NAMES = json.loads((Path(__file__).parents[1] / "fixtures" / "room_names.json").read_text())


def parse(payload) -> object:
    return parse_client_event(json.dumps(payload), None, LIMITS)


def error_code_of(text_data, bytes_data=None) -> ErrorCode:
    with pytest.raises(ProtocolError) as caught:
        parse_client_event(text_data, bytes_data, LIMITS)
    return caught.value.code


@pytest.mark.parametrize("name", ROOM_NAMES["valid"])
def test_room_rule_accepts(name):
    assert is_valid_room_name(name)


@pytest.mark.parametrize("name", ROOM_NAMES["invalid"])
def test_room_rule_refuses(name):
    assert not is_valid_room_name(name)


def test_valid_events_parse_to_their_types():
    assert parse({"type": "auth", "token": "abc"}) == Auth(token="abc")
    assert parse({"type": "join", "room": "lobby"}) == Join(room="lobby")
    assert parse({"type": "leave", "room": "lobby"}) == Leave(room="lobby")
    assert parse({"type": "send", "room": "lobby", "text": "hi", "client_id": "c-1_A"}) == Send(
        room="lobby", text="hi", client_id="c-1_A"
    )
    assert parse({"type": "join", "room": "lobby", "after_seq": 0}) == Join(room="lobby", after_seq=0)
    assert parse({"type": "typing", "room": "lobby"}) == Typing(room="lobby")
    assert parse({"type": "load_older", "room": "lobby", "before_seq": 7}) == LoadOlder(room="lobby", before_seq=7)
    assert parse({"type": "ping"}) == Ping()


def test_unknown_fields_are_ignored():
    assert parse({"type": "ping", "future": [1, 2]}) == Ping()
    # A v1 client's `name` (or an `author`) is just an unknown field: it names nobody.
    assert parse({"type": "join", "room": "lobby", "name": "Admin"}) == Join(room="lobby")
    assert parse({"type": "send", "room": "r", "text": "hi", "client_id": "a", "author": "Admin"}) == Send(
        room="r", text="hi", client_id="a"
    )


@pytest.mark.parametrize(
    ("text_data", "bytes_data", "code"),
    [
        (None, b'{"type":"ping"}', ErrorCode.BINARY_FRAME),
        ("x" * 301, None, ErrorCode.FRAME_TOO_LARGE),
        ("é" * 151, None, ErrorCode.FRAME_TOO_LARGE),  # 151 characters but 302 UTF-8 bytes
        ("{not json", None, ErrorCode.BAD_JSON),
        ("", None, ErrorCode.BAD_JSON),
        ("[1, 2]", None, ErrorCode.BAD_EVENT),
        ('"join"', None, ErrorCode.BAD_EVENT),
        ("{}", None, ErrorCode.BAD_EVENT),
        ('{"type": 7}', None, ErrorCode.BAD_EVENT),
        ('{"type": "shout"}', None, ErrorCode.UNKNOWN_TYPE),
        ('{"type": "join"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "join", "room": 5}', None, ErrorCode.BAD_FIELD),
        ('{"type": "join", "room": "Lobby!"}', None, ErrorCode.INVALID_ROOM),
        ('{"type": "auth"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "auth", "token": 12}', None, ErrorCode.BAD_FIELD),
        ('{"type": "typing"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "client_id": "a"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": null, "client_id": "a"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": "hi"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": " \\n\\t ", "client_id": "a"}', None, ErrorCode.TEXT_EMPTY),
        (
            json.dumps({"type": "send", "room": "lobby", "text": "x" * 21, "client_id": "a"}),
            None,
            ErrorCode.TEXT_TOO_LONG,
        ),
        ('{"type": "join", "room": "lobby", "after_seq": true}', None, ErrorCode.BAD_FIELD),
        ('{"type": "join", "room": "lobby", "after_seq": 1.5}', None, ErrorCode.BAD_FIELD),
        ('{"type": "join", "room": "lobby", "after_seq": 9223372036854775808}', None, ErrorCode.BAD_FIELD),
        ('{"type": "load_older", "room": "lobby", "before_seq": 1' + "0" * 25 + "}", None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": "\\ud800", "client_id": "a"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "ping", "x": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}", None, ErrorCode.BAD_JSON),
        ("[" * 200, None, ErrorCode.BAD_JSON),
        ('{"type": "ping", "x": "\ud800"}', None, ErrorCode.BAD_JSON),  # a raw lone surrogate: not UTF-8
        ('{"type": "load_older", "room": "lobby", "before_seq": 0}', None, ErrorCode.BAD_FIELD),
        ('{"type": "load_older", "room": "lobby"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": "hi", "client_id": "has space"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": "hi", "client_id": 12}', None, ErrorCode.BAD_FIELD),
        ('{"type": "leave", "room": "../etc"}', None, ErrorCode.INVALID_ROOM),
    ],
)
def test_malformed_frames_get_stable_error_codes(text_data, bytes_data, code):
    assert error_code_of(text_data, bytes_data) == code


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "join", "room": "lobby", "after_seq": 1' + "0" * 5000 + "}",
        '{"type": "load_older", "room": "lobby", "before_seq": -' + "9" * 5000 + "}",
        '{"type": "load_older", "room": "lobby", "before_seq": ' + "9" * 4300 + "}",
    ],
)
def test_a_number_past_pythons_digit_limit_is_bad_field_not_bad_json(frame):
    assert error_code_of_frame(frame) == ErrorCode.BAD_FIELD


def test_a_huge_number_in_a_field_nobody_reads_does_not_spoil_the_frame():
    frame = '{"type": "ping", "x": 1' + "0" * 5000 + "}"
    assert parse_client_event(frame, None, Limits(max_text_chars=20, max_frame_bytes=32768)) == Ping()


def error_code_of_frame(frame: str) -> ErrorCode:
    with pytest.raises(ProtocolError) as refused:
        parse_client_event(frame, None, Limits(max_text_chars=20, max_frame_bytes=32768))
    return refused.value.code


def test_the_largest_seq_is_still_read_as_a_number():
    frame = json.dumps({"type": "load_older", "room": "lobby", "before_seq": 2**63 - 1})
    assert parse_client_event(frame, None, LIMITS) == LoadOlder(room="lobby", before_seq=2**63 - 1)


def test_nesting_is_counted_outside_strings_only():
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    assert parse_client_event('{"type": "ping", "x": ' + nested + "}", None, LIMITS) == Ping()
    text = '[{"\\' + "[" * 60
    assert parse({"type": "send", "room": "r", "text": text[:20], "client_id": "a"}).text == text[:20]
    wide = Limits(max_text_chars=200, max_frame_bytes=1000)
    brackets = '"quoted" {[(' * 15
    assert parse_client_event(
        json.dumps({"type": "send", "room": "r", "text": brackets, "client_id": "a"}), None, wide
    ) == Send(room="r", text=brackets, client_id="a")


def test_error_events_carry_what_the_client_needs():
    error = ProtocolError(ErrorCode.RATE_LIMITED, "slow down", "lobby", "c1", retry_after_secs=2.345)
    assert error_event(error) == {
        "type": "error",
        "code": "rate_limited",
        "message": "slow down",
        "room": "lobby",
        "client_id": "c1",
        "retry_after_secs": 2.4,  # rounded up: waiting what it says is always enough
    }
    assert error_event(ProtocolError(ErrorCode.SLOW_MODE, "wait", retry_after_secs=0.04))["retry_after_secs"] == 0.1
    assert error_event(ProtocolError(ErrorCode.SLOW_MODE, "wait", retry_after_secs=3.0))["retry_after_secs"] == 3.0
    plain = error_event(ProtocolError(ErrorCode.BAD_JSON, "no"))
    assert plain == {"type": "error", "code": "bad_json", "message": "no"}


def test_text_length_counts_characters_not_bytes():
    # 20 four-byte characters are within a 20-character limit.
    assert parse({"type": "send", "room": "r", "text": "😀" * 20, "client_id": "a"}).text == "😀" * 20


def test_errors_about_a_send_name_the_room_and_the_client_id():
    with pytest.raises(ProtocolError) as caught:
        parse({"type": "send", "room": "lobby", "text": "", "client_id": "c-9"})
    assert (caught.value.room, caught.value.client_id) == ("lobby", "c-9")


@pytest.mark.parametrize(
    ("after_seq", "latest_seq", "resume"),
    [
        (None, 0, False),
        (None, 9, False),
        (0, 0, True),
        (0, 500, True),
        (0, 501, False),
        (10, 510, True),
        (10, 511, False),
        (12, 12, True),
        (13, 12, False),
    ],
)
def test_resume_window(after_seq, latest_seq, resume):
    assert should_resume(after_seq=after_seq, latest_seq=latest_seq, resume_limit=500) is resume


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Ann", True),
        ("Ann Lee", True),
        ("山田", True),
        ("a" * 32, True),
        ("a" * 33, False),
        (" Ann", False),
        ("Ann\n", False),
        ("\u202eAnn", False),
        ("", False),
    ],
)
def test_display_names(name, ok):
    assert (display_name_problem(name) is None) is ok


def test_timestamps_are_utc_with_milliseconds():
    moment = datetime(2026, 1, 2, 5, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2026-01-02T03:04:05.678Z"
    assert format_timestamp(moment.astimezone(UTC)) == "2026-01-02T03:04:05.678Z"


def test_encoding_keeps_unicode_as_text():
    assert encode_event({"type": "left", "room": "日本"}) == '{"type":"left","room":"日本"}'
