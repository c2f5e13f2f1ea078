"""The protocol module alone: no socket, no database."""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from chat.names import display_name_problem
from chat.protocol import (
    ErrorCode,
    Join,
    Leave,
    Limits,
    LoadOlder,
    Ping,
    ProtocolError,
    Send,
    encode_event,
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
    assert parse({"type": "join", "room": "lobby", "name": "Ann"}) == Join(room="lobby", name="Ann")
    assert parse({"type": "leave", "room": "lobby"}) == Leave(room="lobby")
    assert parse({"type": "send", "room": "lobby", "text": "hi", "client_id": "c-1_A"}) == Send(
        room="lobby", text="hi", client_id="c-1_A"
    )
    assert parse({"type": "join", "room": "lobby", "name": "Ann", "after_seq": 0}) == Join(
        room="lobby", name="Ann", after_seq=0
    )
    assert parse({"type": "load_older", "room": "lobby", "before_seq": 7}) == LoadOlder(room="lobby", before_seq=7)
    assert parse({"type": "ping"}) == Ping()


def test_unknown_fields_are_ignored():
    assert parse({"type": "ping", "future": [1, 2]}) == Ping()


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
        ('{"type": "join", "name": "Ann"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "join", "room": 5, "name": "Ann"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "join", "room": "lobby"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "join", "room": "Lobby!", "name": "Ann"}', None, ErrorCode.INVALID_ROOM),
        ('{"type": "join", "room": "lobby", "name": ""}', None, ErrorCode.INVALID_NAME),
        ('{"type": "join", "room": "lobby", "name": "a\\u200bb"}', None, ErrorCode.INVALID_NAME),
        ('{"type": "send", "room": "lobby", "client_id": "a"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": null, "client_id": "a"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": "hi"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": " \\n\\t ", "client_id": "a"}', None, ErrorCode.TEXT_EMPTY),
        (json.dumps({"type": "send", "room": "lobby", "text": "x" * 21, "client_id": "a"}), None,
         ErrorCode.TEXT_TOO_LONG),
        ('{"type": "join", "room": "lobby", "name": "A", "after_seq": true}', None, ErrorCode.BAD_FIELD),
        ('{"type": "join", "room": "lobby", "name": "A", "after_seq": 1.5}', None, ErrorCode.BAD_FIELD),
        ('{"type": "load_older", "room": "lobby", "before_seq": 0}', None, ErrorCode.BAD_FIELD),
        ('{"type": "load_older", "room": "lobby"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": "hi", "client_id": "has space"}', None, ErrorCode.BAD_FIELD),
        ('{"type": "send", "room": "lobby", "text": "hi", "client_id": 12}', None, ErrorCode.BAD_FIELD),
        ('{"type": "leave", "room": "../etc"}', None, ErrorCode.INVALID_ROOM),
    ],
)
def test_malformed_frames_get_stable_error_codes(text_data, bytes_data, code):
    assert error_code_of(text_data, bytes_data) == code


def test_text_length_counts_characters_not_bytes():
    # 20 four-byte characters are within a 20-character limit.
    assert parse({"type": "send", "room": "r", "text": "😀" * 20, "client_id": "a"}).text == "😀" * 20


def test_errors_about_a_send_name_the_room_and_the_client_id():
    with pytest.raises(ProtocolError) as caught:
        parse({"type": "send", "room": "lobby", "text": "", "client_id": "c-9"})
    assert (caught.value.room, caught.value.client_id) == ("lobby", "c-9")


@pytest.mark.parametrize(
    ("after_seq", "latest_seq", "resume"),
    [(None, 0, False), (None, 9, False), (0, 0, True), (0, 500, True), (0, 501, False), (10, 510, True),
     (10, 511, False), (12, 12, True), (13, 12, False)],
)
def test_resume_window(after_seq, latest_seq, resume):
    assert should_resume(after_seq=after_seq, latest_seq=latest_seq, resume_limit=500) is resume


@pytest.mark.parametrize(
    ("name", "ok"),
    [("Ann", True), ("Ann Lee", True), ("山田", True), ("a" * 32, True), ("a" * 33, False), (" Ann", False),
     ("Ann\n", False), ("\u202eAnn", False), ("", False)],
)
def test_display_names(name, ok):
    assert (display_name_problem(name) is None) is ok


def test_timestamps_are_utc_with_milliseconds():
    moment = datetime(2026, 1, 2, 5, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2026-01-02T03:04:05.678Z"
    assert format_timestamp(moment.astimezone(UTC)) == "2026-01-02T03:04:05.678Z"


def test_encoding_keeps_unicode_as_text():
    assert encode_event({"type": "left", "room": "日本"}) == '{"type":"left","room":"日本"}'
