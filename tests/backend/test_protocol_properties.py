"""Property: ``parse_client_event`` takes any text a socket can carry and either refuses it with a
``ProtocolError`` (which becomes an `error` event) or returns an event whose fields are exactly
what the frame said. Nothing else may escape: any other exception would drop the socket."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chat.protocol import (
    CLIENT_ID_PATTERN,
    MAX_JSON_DEPTH,
    MAX_SEQ,
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
    parse_client_event,
)
from chat.rooms import is_valid_room_name
from tests.selection import examples

LIMITS = Limits(max_text_chars=200, max_frame_bytes=4096)
EXAMPLES = settings(max_examples=examples(300), deadline=None)

# Any code point, lone surrogates included (JSON can spell them as \ud800).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
TYPES = st.sampled_from(["auth", "join", "leave", "send", "typing", "load_older", "ping", "Join", "", "x"])
ROOMS = st.one_of(st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?", fullmatch=True), ANY_TEXT)
CLIENT_IDS = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), ANY_TEXT)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    ANY_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=20,
)
FIELD_VALUES = st.one_of(
    JSON_VALUES,
    st.integers(min_value=-2, max_value=MAX_SEQ + 2),
    st.sampled_from([0, 1, MAX_SEQ, MAX_SEQ + 1, 2**64, -1, 1.0, True, "1"]),
)
SEQS = st.integers(min_value=0, max_value=MAX_SEQ)
VALID_ROOMS = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?", fullmatch=True)
# Well-formed events of every type (the text may still be empty, too long or not text)...
WELL_FORMED = st.one_of(
    st.builds(lambda token: {"type": "auth", "token": token}, ANY_TEXT),
    st.builds(lambda room: {"type": "join", "room": room}, VALID_ROOMS),
    st.builds(lambda room, seq: {"type": "join", "room": room, "after_seq": seq}, VALID_ROOMS, SEQS),
    st.builds(lambda room: {"type": "leave", "room": room}, VALID_ROOMS),
    st.builds(lambda room: {"type": "typing", "room": room}, VALID_ROOMS),
    st.builds(
        lambda room, text, client_id: {"type": "send", "room": room, "text": text, "client_id": client_id},
        VALID_ROOMS,
        st.one_of(ANY_TEXT, st.text(min_size=190, max_size=210)),
        st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    ),
    st.builds(lambda room, seq: {"type": "load_older", "room": room, "before_seq": seq}, VALID_ROOMS, SEQS),
    st.just({"type": "ping"}),
)
FIELD_NAMES = st.sampled_from(["type", "room", "text", "client_id", "token", "after_seq", "before_seq", "name"])
NOISE = st.dictionaries(st.one_of(FIELD_NAMES, ANY_TEXT), FIELD_VALUES, max_size=3)
# ...and the same with unknown fields added, or with fields replaced by anything at all.
EVENTS = st.one_of(
    WELL_FORMED,
    st.builds(lambda event, noise: {**noise, **event}, WELL_FORMED, NOISE),
    st.builds(lambda event, noise: {**event, **noise}, WELL_FORMED, NOISE),
    st.fixed_dictionaries({"type": st.one_of(TYPES, JSON_VALUES)}, optional={"room": ROOMS, "text": ANY_TEXT}),
)


def encoded(value: object, ascii_only: bool) -> str:
    # ensure_ascii=True spells lone surrogates as \ud800 escapes: the form a hostile client sends.
    return json.dumps(value, ensure_ascii=ascii_only)


def parse_or_refuse(text_data: str):
    try:
        return parse_client_event(text_data, None, LIMITS)
    except ProtocolError as error:
        assert error.code and error.message
        json.dumps({"message": error.message, "room": error.room, "client_id": error.client_id})
        assert error.message.encode("utf-8"), "an error message must itself be sendable"
        return None


def is_text(value: object) -> bool:
    return isinstance(value, str) and not any(0xD800 <= ord(char) <= 0xDFFF for char in value)


def is_message_text(value: object) -> bool:
    """Text a message may carry: no NUL either, which PostgreSQL's text type cannot store."""
    return is_text(value) and "\x00" not in value


def check_round_trip(event: object, payload: dict) -> None:
    """An accepted event says exactly what the frame said, and only valid things."""
    match event:
        case Auth(token=token):
            assert payload["type"] == "auth" and token == payload["token"] and is_text(token)
        case Join(room=room, after_seq=after_seq):
            assert payload["type"] == "join" and room == payload["room"] and is_valid_room_name(room)
            assert after_seq == payload.get("after_seq")
            assert after_seq is None or (type(after_seq) is int and 0 <= after_seq <= MAX_SEQ)
        case Leave(room=room) | Typing(room=room):
            assert payload["type"] in ("leave", "typing") and room == payload["room"] and is_valid_room_name(room)
        case Send(room=room, text=text, client_id=client_id):
            assert payload["type"] == "send"
            assert (room, text, client_id) == (payload["room"], payload["text"], payload["client_id"])
            assert is_valid_room_name(room) and CLIENT_ID_PATTERN.fullmatch(client_id)
            assert is_message_text(text) and text.strip() and len(text) <= LIMITS.max_text_chars
            text.encode("utf-8")  # storable and sendable
        case LoadOlder(room=room, before_seq=before_seq):
            assert payload["type"] == "load_older" and (room, before_seq) == (payload["room"], payload["before_seq"])
            assert type(before_seq) is int and 1 <= before_seq <= MAX_SEQ
        case Ping():
            assert payload["type"] == "ping"
        case _:
            raise AssertionError(f"unexpected result {event!r}")


@EXAMPLES
@given(st.one_of(ANY_TEXT, st.text(max_size=300), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))))
def test_arbitrary_text_is_refused_cleanly_or_parsed(text_data):
    event = parse_or_refuse(text_data)
    if event is not None:
        check_round_trip(event, json.loads(text_data))


@EXAMPLES
@given(EVENTS, st.booleans())
def test_event_like_json_round_trips_or_is_refused_cleanly(payload, ascii_only):
    text_data = encoded(payload, ascii_only)
    event = parse_or_refuse(text_data)
    if event is not None:
        check_round_trip(event, payload)


@EXAMPLES
@given(JSON_VALUES, st.booleans())
def test_any_json_value_is_refused_cleanly_or_parsed(value, ascii_only):
    event = parse_or_refuse(encoded(value, ascii_only))
    if event is not None:
        check_round_trip(event, value)


@EXAMPLES
@given(
    st.integers(min_value=0, max_value=200),
    st.sampled_from(["[", '{"a":', '[{"b":']),
    st.sampled_from(['{"type":"ping","x":', '{"type":"send","room":"r","client_id":"a","text":"[{","x":']),
)
def test_nesting_up_to_the_limit_parses_and_deeper_is_bad_json(depth, opener, prefix):
    closer = {"[": "]", '{"a":': "}", '[{"b":': "}]"}[opener]
    levels = 1 + depth * opener.count("[") + depth * opener.count("{")  # the event object is one level
    text_data = prefix + opener * depth + "1" + closer * depth + "}"
    if levels <= MAX_JSON_DEPTH:
        check_round_trip(parse_client_event(text_data, None, LIMITS), json.loads(text_data))
    else:
        try:
            parse_client_event(text_data, None, LIMITS)
        except ProtocolError as error:
            assert error.code == ErrorCode.BAD_JSON
        else:
            raise AssertionError(f"{levels} levels were accepted")


@EXAMPLES
@given(
    st.one_of(
        st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=250),
        st.text('[]{}"\\ :,a\n', min_size=1, max_size=250),  # JSON's own syntax, as text
    )
)
def test_any_send_text_is_either_a_message_or_a_clean_refusal(text):
    payload = {"type": "send", "room": "lobby", "text": text, "client_id": "c1"}
    sendable = is_message_text(text) and bool(text.strip()) and len(text) <= LIMITS.max_text_chars
    for ascii_only in (True, False):
        event = parse_or_refuse(encoded(payload, ascii_only))
        assert (event is not None) is sendable, (text, event)
        if event is not None:
            check_round_trip(event, payload)
