"""The chat socket through channels' WebsocketCommunicator: the real ASGI app (Origin check
included), the in-memory channel layer and the test database; no network."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest
from backchannel.asgi import application
from channels.testing import WebsocketCommunicator
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


async def test_join_then_send_reaches_every_member_of_the_room_only():
    async with connected() as ann, connected() as bob, connected() as eve:
        await join(ann, "lobby", "Ann")
        await join(bob, "lobby", "Bob")
        await join(eve, "elsewhere", "Eve")

        await ann.send_json_to({"type": "send", "room": "lobby", "text": "hello", "client_id": "m1"})

        for member in (ann, bob):
            message = await reply(member)
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
            await ann.send_json_to({"type": "send", "room": "lobby", "text": text})
            await reply(ann)
    async with connected() as bob:
        joined = await join(bob, "lobby", "Bob")
    assert [(event["seq"], event["text"]) for event in joined["history"]] == [(1, "one"), (2, "two"), (3, "three")]
    assert [event["type"] for event in joined["history"]] == ["message"] * 3
    assert await Message.objects.acount() == 3


async def test_author_is_the_name_the_socket_joined_with_not_a_field_of_send():
    async with connected() as ann:
        await join(ann, "lobby", "Ann")
        await ann.send_json_to({"type": "send", "room": "lobby", "text": "hi", "author": "Admin"})
        assert (await reply(ann))["author"] == "Ann"


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
        ({"text_data": '{"type": "send", "room": "lobby", "text": "   "}'}, "text_empty"),
        ({"text_data": json.dumps({"type": "send", "room": "lobby", "text": "y" * 2001})}, "text_too_long"),
        ({"text_data": '{"type": "send", "room": "other", "text": "hi"}'}, "not_joined"),
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
        # Still open and still in the room: a good frame right after works.
        await ann.send_json_to({"type": "send", "room": "lobby", "text": "still here"})
        message = await reply(ann)
        assert (message["type"], message["text"]) == ("message", "still here")
    assert await Message.objects.filter(text__in=["y" * 2001, "   "]).acount() == 0


async def test_leave_stops_delivery():
    async with connected() as ann, connected() as bob:
        await join(ann, "lobby")
        await join(bob, "lobby", "Bob")
        await bob.send_json_to({"type": "leave", "room": "lobby"})
        assert await reply(bob) == {"type": "left", "room": "lobby"}
        await ann.send_json_to({"type": "send", "room": "lobby", "text": "gone?"})
        await reply(ann)
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
        assert await reply(ann) == {"type": "pong"}


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
