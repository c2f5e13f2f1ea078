"""The chat socket through channels' WebsocketCommunicator: the real ASGI app (Origin check
included), the in-memory channel layer and the test database; no network."""

from __future__ import annotations

import itertools
import json
from contextlib import asynccontextmanager

import pytest
from channels.testing import WebsocketCommunicator

from backchannel.asgi import application
from chat.models import Message

SITE_ORIGIN = b"http://localhost:1313"
# Small timeouts keep the suite fast; the in-memory layer answers in microseconds.
REPLY_TIMEOUT_SECS = 1
SILENCE_TIMEOUT_SECS = 0.1

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@asynccontextmanager
async def connected(origin: bytes = SITE_ORIGIN):
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", origin)])
    connected_ok, _ = await communicator.connect(timeout=REPLY_TIMEOUT_SECS)
    assert connected_ok
    ready = await communicator.receive_json_from(timeout=REPLY_TIMEOUT_SECS)
    assert ready["type"] == "ready" and ready["protocol"] == 1
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def reply(communicator: WebsocketCommunicator) -> dict:
    return await communicator.receive_json_from(timeout=REPLY_TIMEOUT_SECS)


async def join(communicator: WebsocketCommunicator, room: str, name: str = "Ann") -> dict:
    await communicator.send_json_to({"type": "join", "room": room, "name": name})
    joined = await reply(communicator)
    assert joined["type"] == "joined", joined
    return joined


_client_ids = itertools.count(1)


async def send_text(communicator: WebsocketCommunicator, room: str, text: str, client_id: str | None = None) -> str:
    client_id = client_id or f"c{next(_client_ids)}"
    await communicator.send_json_to({"type": "send", "room": room, "text": text, "client_id": client_id})
    return client_id


async def events_until(communicator: WebsocketCommunicator, done) -> list[dict]:
    """Receive events until ``done(events)`` is true (each receive bounded by the reply timeout)."""
    events: list[dict] = []
    while not done(events):
        events.append(await reply(communicator))
    return events


def counts(*wanted: str):
    """``done`` for events_until: at least one event of each wanted type has arrived."""
    return lambda events: all(any(event["type"] == kind for event in events) for kind in wanted)


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event["type"] == kind]


async def test_join_then_send_reaches_every_member_of_the_room_only():
    async with connected() as ann, connected() as bob, connected() as eve:
        await join(ann, "lobby", "Ann")
        await join(bob, "lobby", "Bob")
        await join(eve, "elsewhere", "Eve")

        await send_text(ann, "lobby", "hello", client_id="m1")

        ann_events = await events_until(ann, counts("message", "ack"))
        assert of_type(ann_events, "ack") == [{"type": "ack", "room": "lobby", "client_id": "m1", "seq": 1}]
        for message in (of_type(ann_events, "message")[0], await reply(bob)):
            assert message["type"] == "message"
            assert (message["room"], message["seq"], message["author"], message["text"], message["client_id"]) == (
                "lobby", 1, "Ann", "hello", "m1"
            )
            assert message["sent_at"].endswith("Z")
        assert await eve.receive_nothing(timeout=SILENCE_TIMEOUT_SECS)


async def test_messages_are_stored_in_order_and_returned_as_history_on_join():
    async with connected() as ann:
        await join(ann, "lobby")
        for text in ("one", "two", "three"):
            await send_text(ann, "lobby", text)
            await events_until(ann, counts("message", "ack"))
    async with connected() as bob:
        joined = await join(bob, "lobby", "Bob")
    assert [(event["seq"], event["text"]) for event in joined["history"]] == [(1, "one"), (2, "two"), (3, "three")]
    assert [event["type"] for event in joined["history"]] == ["message"] * 3
    assert (joined["latest_seq"], joined["resumed"], joined["has_older"]) == (3, False, False)
    assert await Message.objects.acount() == 3


async def test_author_is_the_name_the_socket_joined_with_not_a_field_of_send():
    async with connected() as ann:
        await join(ann, "lobby", "Ann")
        await ann.send_json_to({"type": "send", "room": "lobby", "text": "hi", "client_id": "x", "author": "Admin"})
        events = await events_until(ann, counts("message"))
        assert of_type(events, "message")[0]["author"] == "Ann"


async def test_a_resent_client_id_is_stored_once_and_acked_again():
    async with connected() as ann, connected() as bob:
        await join(ann, "lobby", "Ann")
        await join(bob, "lobby", "Bob")
        await send_text(ann, "lobby", "only once", client_id="dup-1")
        await events_until(ann, counts("message", "ack"))
        assert (await reply(bob))["seq"] == 1

        # The same client_id again, e.g. an outbox replayed after a reconnect, from another tab.
        async with connected() as ann_again:
            await join(ann_again, "lobby", "Ann")
            await send_text(ann_again, "lobby", "only once", client_id="dup-1")
            events = await events_until(ann_again, counts("message", "ack"))
            assert of_type(events, "ack") == [{"type": "ack", "room": "lobby", "client_id": "dup-1", "seq": 1}]
            assert of_type(events, "message")[0]["seq"] == 1
        assert await bob.receive_nothing(timeout=SILENCE_TIMEOUT_SECS)
    assert await Message.objects.filter(client_id="dup-1").acount() == 1


async def test_rejoining_with_after_seq_gets_exactly_the_missed_messages():
    async with connected() as ann:
        await join(ann, "lobby", "Ann")
        for number in range(1, 6):
            await send_text(ann, "lobby", f"m{number}")
            await events_until(ann, counts("message", "ack"))
    async with connected() as bob:
        await bob.send_json_to({"type": "join", "room": "lobby", "name": "Bob", "after_seq": 3})
        joined = await reply(bob)
    assert joined["resumed"] is True
    assert [event["seq"] for event in joined["history"]] == [4, 5]
    assert (joined["latest_seq"], joined["has_older"]) == (5, True)


async def test_a_gap_over_the_resume_limit_gets_the_latest_page_instead(settings):
    settings.BACKCHANNEL_RESUME_LIMIT = 2
    settings.BACKCHANNEL_HISTORY_LIMIT = 2
    async with connected() as ann:
        await join(ann, "lobby", "Ann")
        for number in range(1, 7):
            await send_text(ann, "lobby", f"m{number}")
            await events_until(ann, counts("message", "ack"))
        for after_seq, resumed, seqs in ((4, True, [5, 6]), (3, False, [5, 6]), (9, False, [5, 6]), (6, True, [])):
            await ann.send_json_to({"type": "join", "room": "lobby", "name": "Ann", "after_seq": after_seq})
            joined = await reply(ann)
            assert (joined["resumed"], [event["seq"] for event in joined["history"]]) == (resumed, seqs), after_seq


async def test_load_older_pages_back_to_the_beginning(settings):
    settings.BACKCHANNEL_HISTORY_LIMIT = 2
    async with connected() as ann:
        await join(ann, "lobby", "Ann")
        for number in range(1, 6):
            await send_text(ann, "lobby", f"m{number}")
            await events_until(ann, counts("message", "ack"))
        pages = []
        before_seq = 4
        while True:
            await ann.send_json_to({"type": "load_older", "room": "lobby", "before_seq": before_seq})
            older = await reply(ann)
            pages.append([event["seq"] for event in older["messages"]])
            if not older["has_older"]:
                break
            before_seq = older["messages"][0]["seq"]
        assert pages == [[2, 3], [1]]


async def test_pong_reports_the_latest_seq_of_each_joined_room():
    async with connected() as ann:
        await join(ann, "lobby", "Ann")
        await join(ann, "empty", "Ann")
        await send_text(ann, "lobby", "hi")
        await events_until(ann, counts("message", "ack"))
        await ann.send_json_to({"type": "ping"})
        assert await reply(ann) == {"type": "pong", "rooms": {"lobby": 1, "empty": 0}}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"text_data": "not json"}, "bad_json"),
        ({"bytes_data": b"\x00\x01"}, "binary_frame"),
        ({"text_data": "x" * (40 * 1024)}, "frame_too_large"),
        ({"text_data": "[]"}, "bad_event"),
        ({"text_data": '{"no": "type"}'}, "bad_event"),
        ({"text_data": '{"type": "dance"}'}, "unknown_type"),
        ({"text_data": '{"type": "send", "room": "lobby", "text": 5}'}, "bad_field"),
        ({"text_data": '{"type": "join", "room": "Not A Room", "name": "Ann"}'}, "invalid_room"),
        ({"text_data": '{"type": "join", "room": "lobby", "name": "\\u0007bell"}'}, "invalid_name"),
        ({"text_data": '{"type": "send", "room": "lobby", "text": "   ", "client_id": "a"}'}, "text_empty"),
        ({"text_data": json.dumps({"type": "send", "room": "lobby", "text": "y" * 2001, "client_id": "a"})},
         "text_too_long"),
        ({"text_data": '{"type": "send", "room": "lobby", "text": "no id"}'}, "bad_field"),
        ({"text_data": '{"type": "send", "room": "other", "text": "hi", "client_id": "a"}'}, "not_joined"),
        ({"text_data": '{"type": "join", "room": "lobby", "name": "Ann", "after_seq": -1}'}, "bad_field"),
        ({"text_data": '{"type": "load_older", "room": "lobby", "before_seq": "5"}'}, "bad_field"),
        ({"text_data": '{"type": "leave", "room": "other"}'}, "not_joined"),
    ],
)
async def test_bad_input_gets_an_error_event_and_the_socket_stays_usable(frame, code):
    async with connected() as ann:
        await join(ann, "lobby")
        await ann.send_to(**frame)
        error = await reply(ann)
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        if code in ("not_joined", "text_empty", "text_too_long") and "client_id" in str(frame):
            assert error["client_id"] == "a", "a refused send names its client_id so the client can mark it"
        # Still open and still in the room: a good frame right after works.
        await send_text(ann, "lobby", "still here")
        events = await events_until(ann, counts("message", "ack"))
        assert of_type(events, "message")[0]["text"] == "still here"
    assert await Message.objects.filter(text__in=["y" * 2001, "   "]).acount() == 0


async def test_leave_stops_delivery():
    async with connected() as ann, connected() as bob:
        await join(ann, "lobby")
        await join(bob, "lobby", "Bob")
        await bob.send_json_to({"type": "leave", "room": "lobby"})
        assert await reply(bob) == {"type": "left", "room": "lobby"}
        await send_text(ann, "lobby", "gone?")
        await events_until(ann, counts("message", "ack"))
        assert await bob.receive_nothing(timeout=SILENCE_TIMEOUT_SECS)


async def test_a_socket_joins_a_bounded_number_of_rooms(settings):
    settings.BACKCHANNEL_MAX_ROOMS_PER_SOCKET = 2
    async with connected() as ann:
        await join(ann, "one")
        await join(ann, "two")
        await join(ann, "two")  # joining again is not a new room
        await ann.send_json_to({"type": "join", "room": "three", "name": "Ann"})
        error = await reply(ann)
        assert (error["code"], error["room"]) == ("too_many_rooms", "three")


async def test_ping_gets_pong():
    async with connected() as ann:
        await ann.send_json_to({"type": "ping"})
        assert await reply(ann) == {"type": "pong", "rooms": {}}


@pytest.mark.parametrize(
    "origin",
    [b"http://evil.example", b"https://localhost:1313", b"http://localhost:1314", b"null", b"http://localhost:1313.evil"],
)
async def test_a_handshake_from_another_origin_is_refused(origin):
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", origin)])
    connected_ok, _ = await communicator.connect(timeout=REPLY_TIMEOUT_SECS)
    # Refused before accept; daphne turns that into HTTP 403 (asserted against a real daphne
    # in tests/e2e/test_backend_live.py).
    assert not connected_ok


async def test_a_handshake_without_origin_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/")
    connected_ok, _ = await communicator.connect(timeout=REPLY_TIMEOUT_SECS)
    assert not connected_ok
