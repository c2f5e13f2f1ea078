"""The chat socket's message path: join, send, history, resume, older pages, pong, bad input."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator

from backchannel.asgi import application
from chat.models import Message
from chat.outbox import BOUNDED_WRITES_SCOPE_KEY
from tests.backend.sockets import (
    REPLY_TIMEOUT_SECS,
    SITE_ORIGIN,
    Socket,
    communicator_for,
    connected,
    of_type,
    opened,
    token_for,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_ready_announces_protocol_2_and_the_limits(settings):
    settings.BACKCHANNEL_AUTH_TIMEOUT_SECS = 3
    settings.BACKCHANNEL_TYPING_INTERVAL_SECS = 1.5
    async with opened() as socket:
        assert socket.ready == {
            "type": "ready",
            "protocol": 2,
            "max_text_chars": 2000,
            "max_rooms": 10,
            "history_limit": 50,
            "resume_limit": 500,
            "auth_timeout_secs": 3,
            "typing_interval_secs": 1.5,
            "read_without_auth": True,
        }


async def bounded_socket(name: str) -> Socket:
    """An authenticated socket whose scope says what backchannel.serve's does: the server bounds
    its writes (no outbox, and so no outbox task)."""
    socket = Socket(communicator_for())
    socket.communicator.scope[BOUNDED_WRITES_SCOPE_KEY] = True
    assert (await socket.communicator.connect(timeout=REPLY_TIMEOUT_SECS))[0]
    assert (await socket.next())["type"] == "ready"
    await socket.auth(token_for(name))
    return socket


async def test_an_idle_member_under_our_daphne_costs_only_the_task_its_socket_runs_in():
    """Idle memory per socket (issue 19, bench/README.md): the consumer reads its socket in the
    socket's own task, without a reading task per socket (channels' await_many_dispatch)."""
    ann = await bounded_socket("Ann")
    await ann.join("lobby")
    tasks_before = len(asyncio.all_tasks())
    bob = await bounded_socket("Bob")
    await bob.join("lobby")
    await ann.expect("presence")
    await bob.post("lobby", "hi", client_id="m1")
    await bob.until("message", "ack")
    assert (await ann.expect("message"))["text"] == "hi"
    # The communicator's task for Bob's socket; nothing else of his is left running.
    assert len(asyncio.all_tasks()) - tasks_before == 1
    for socket in (ann, bob):
        await socket.communicator.disconnect()


async def test_join_then_send_reaches_every_member_of_the_room_only():
    async with connected("Ann") as ann, connected("Bob") as bob, connected("Eve") as eve:
        await ann.join("lobby")
        await bob.join("lobby")
        await eve.join("elsewhere")
        assert (await ann.next())["change"]["person"]["name"] == "Bob"

        await ann.post("lobby", "hello", client_id="m1")

        ann_events = await ann.until("message", "ack")
        assert of_type(ann_events, "ack") == [{"type": "ack", "room": "lobby", "client_id": "m1", "seq": 1}]
        for message in (of_type(ann_events, "message")[0], await bob.next()):
            sent_at = message.pop("sent_at")
            assert sent_at.endswith("Z")
            assert message == {
                "type": "message",
                "room": "lobby",
                "seq": 1,
                "author": "Ann",
                "visitor": ann.me["visitor"],
                "staff": False,
                "tag": ann.me["tag"],
                "text": "hello",
                "client_id": "m1",
                "deleted": False,
            }
        assert await eve.silent()


async def test_staff_messages_say_so():
    async with connected("Mod", staff=True) as mod:
        await mod.join("lobby")
        message = await mod.say("lobby", "welcome")
        assert (message["author"], message["staff"]) == ("Mod", True)


async def test_messages_are_stored_in_order_and_returned_as_history_on_join():
    async with connected("Ann") as ann:
        await ann.join("lobby")
        for text in ("one", "two", "three"):
            await ann.say("lobby", text)
    async with connected("Bob") as bob:
        joined = await bob.join("lobby")
    assert [(event["seq"], event["text"], event["author"]) for event in joined["history"]] == [
        (1, "one", "Ann"),
        (2, "two", "Ann"),
        (3, "three", "Ann"),
    ]
    assert {event["type"] for event in joined["history"]} == {"message"}
    assert (joined["latest_seq"], joined["resumed"], joined["has_older"]) == (3, False, False)
    assert (joined["locked"], joined["slow_mode_secs"]) == (False, 0)
    assert await Message.objects.acount() == 3


async def test_a_resent_client_id_is_stored_once_and_acked_again():
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.next()  # Bob arrived
        await ann.post("lobby", "only once", client_id="dup-1")
        await ann.until("message", "ack")
        assert (await bob.next())["seq"] == 1

        # The same client_id again from another tab of Ann's, e.g. an outbox replayed after a reconnect.
        async with connected(token=token_for("Ann", visitor=ann.me["visitor"])) as ann_again:
            await ann_again.join("lobby", arrives=False)  # Ann is already online there
            await ann_again.post("lobby", "only once", client_id="dup-1")
            events = await ann_again.until("message", "ack")
            assert of_type(events, "ack") == [{"type": "ack", "room": "lobby", "client_id": "dup-1", "seq": 1}]
            assert of_type(events, "message")[0]["seq"] == 1
        assert await bob.silent()
    assert await Message.objects.filter(client_id="dup-1").acount() == 1


async def test_rejoining_with_after_seq_gets_exactly_the_missed_messages():
    async with connected("Ann") as ann:
        await ann.join("lobby")
        for number in range(1, 6):
            await ann.say("lobby", f"m{number}")
    async with connected("Bob") as bob:
        joined = await bob.join("lobby", after_seq=3)
    assert joined["resumed"] is True
    assert [event["seq"] for event in joined["history"]] == [4, 5]
    assert (joined["latest_seq"], joined["has_older"]) == (5, True)


async def test_a_gap_over_the_resume_limit_gets_the_latest_page_instead(settings):
    settings.BACKCHANNEL_RESUME_LIMIT = 2
    settings.BACKCHANNEL_HISTORY_LIMIT = 2
    async with connected("Ann") as ann:
        await ann.join("lobby")
        for number in range(1, 7):
            await ann.say("lobby", f"m{number}")
        for after_seq, resumed, seqs in ((4, True, [5, 6]), (3, False, [5, 6]), (9, False, [5, 6]), (6, True, [])):
            joined = await ann.join("lobby", after_seq=after_seq, arrives=False)
            assert (joined["resumed"], [event["seq"] for event in joined["history"]]) == (resumed, seqs), after_seq


async def test_load_older_pages_back_to_the_beginning(settings):
    settings.BACKCHANNEL_HISTORY_LIMIT = 2
    async with connected("Ann") as ann:
        await ann.join("lobby")
        for number in range(1, 6):
            await ann.say("lobby", f"m{number}")
        pages = []
        before_seq = 4
        while True:
            await ann.send(type="load_older", room="lobby", before_seq=before_seq)
            older = await ann.next()
            assert older["type"] == "older"
            pages.append([event["seq"] for event in older["messages"]])
            if not older["has_older"]:
                break
            before_seq = older["messages"][0]["seq"]
        assert pages == [[2, 3], [1]]


async def test_pong_reports_the_latest_seq_of_each_joined_room():
    async with connected("Ann") as ann:
        await ann.send(type="ping")
        assert await ann.next() == {"type": "pong", "rooms": {}}
        await ann.join("lobby")
        await ann.join("empty")
        await ann.say("lobby", "hi")
        await ann.send(type="ping")
        assert await ann.next() == {"type": "pong", "rooms": {"lobby": 1, "empty": 0}}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"text_data": "not json"}, "bad_json"),
        ({"bytes_data": b"\x00\x01"}, "binary_frame"),
        ({"text_data": "x" * (40 * 1024)}, "frame_too_large"),
        ({"text_data": "[]"}, "bad_event"),
        ({"text_data": '{"no": "type"}'}, "bad_event"),
        ({"text_data": '{"type": "dance"}'}, "unknown_type"),
        ({"text_data": '{"type": "send", "room": "lobby", "text": 5, "client_id": "a"}'}, "bad_field"),
        ({"text_data": '{"type": "join", "room": "Not A Room"}'}, "invalid_room"),
        ({"text_data": '{"type": "send", "room": "lobby", "text": "   ", "client_id": "a"}'}, "text_empty"),
        (
            {"text_data": json.dumps({"type": "send", "room": "lobby", "text": "y" * 2001, "client_id": "a"})},
            "text_too_long",
        ),
        ({"text_data": '{"type": "send", "room": "lobby", "text": "no id"}'}, "bad_field"),
        ({"text_data": '{"type": "send", "room": "other", "text": "hi", "client_id": "a"}'}, "not_joined"),
        ({"text_data": '{"type": "join", "room": "lobby", "after_seq": -1}'}, "bad_field"),
        ({"text_data": '{"type": "load_older", "room": "lobby", "before_seq": "5"}'}, "bad_field"),
        ({"text_data": '{"type": "load_older", "room": "other", "before_seq": 5}'}, "not_joined"),
        ({"text_data": '{"type": "typing", "room": "other"}'}, "not_joined"),
        ({"text_data": '{"type": "leave", "room": "other"}'}, "not_joined"),
    ],
)
async def test_bad_input_gets_an_error_event_and_the_socket_stays_usable(frame, code):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.send_raw(**frame)
        error = await ann.error()
        assert error["code"] == code
        assert error["message"]
        if code in ("not_joined", "text_empty", "text_too_long") and "client_id" in str(frame):
            assert error["client_id"] == "a", "a refused send names its client_id so the client can mark it"
        # Still open and still in the room: a good frame right after works.
        assert (await ann.say("lobby", "still here"))["text"] == "still here"
    assert await Message.objects.filter(text__in=["y" * 2001, "   "]).acount() == 0


async def test_text_full_of_brackets_is_a_message_not_bad_json():
    # Brackets inside a JSON string do not nest anything: ASCII art and code are fine.
    async with connected("Ann") as ann:
        await ann.join("lobby")
        text = "[" * 40 + "{" * 40 + " hi"
        assert (await ann.say("lobby", text))["text"] == text


async def test_a_lone_surrogate_in_the_text_is_refused_and_the_socket_stays_usable():
    # "\ud800" is valid JSON but no Unicode text: it could not be stored or sent on as UTF-8.
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.send_raw('{"type": "send", "room": "lobby", "text": "a\\ud800b", "client_id": "s1"}')
        error = await ann.error()
        assert (error["code"], error["client_id"]) == ("bad_field", "s1")
        assert (await ann.say("lobby", "fine"))["seq"] == 1
    assert await Message.objects.acount() == 1


async def test_a_nul_in_the_text_is_refused_and_the_socket_stays_usable():
    # "\u0000" is valid JSON and Unicode, but PostgreSQL's text type cannot store it: refused on
    # every database alike (on Postgres it used to fail the insert: a server_error, and a retry loop).
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.send_raw('{"type": "send", "room": "lobby", "text": "a\\u0000b", "client_id": "n1"}')
        error = await ann.error()
        assert (error["code"], error["client_id"]) == ("bad_field", "n1")
        assert (await ann.say("lobby", "fine"))["seq"] == 1
    assert await Message.objects.acount() == 1


async def test_leave_stops_delivery_and_tells_the_room():
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.next()  # Bob arrived
        await bob.send(type="leave", room="lobby")
        assert await bob.next() == {"type": "left", "room": "lobby"}
        left = await ann.next()
        assert (left["type"], left["change"]["kind"], left["online_count"]) == ("presence", "left", 1)
        await ann.say("lobby", "gone?")
        assert await bob.silent()


async def test_a_socket_joins_a_bounded_number_of_rooms(settings):
    settings.BACKCHANNEL_MAX_ROOMS_PER_SOCKET = 2
    async with connected("Ann") as ann:
        await ann.join("one")
        await ann.join("two")
        await ann.join("two", arrives=False)  # joining again is not a new room
        await ann.send(type="join", room="three")
        error = await ann.error()
        assert (error["code"], error["room"]) == ("too_many_rooms", "three")


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"https://localhost:1313",
        b"http://localhost:1314",
        b"null",
        b"http://localhost:1313.evil",
        # Near misses a URL parser would forgive: the comparison is exact (chat/origins.py).
        b"http://localhost:1313?",
        b"http://localhost:1313#",
        b"http://localhost:1313/",
        b"HTTP://localhost:1313",
        b"http://LOCALHOST:1313",
        b"http://localhost:1313 ",
        b" http://localhost:1313",
        b"http://localhost:1313\t",
    ],
)
async def test_a_handshake_from_another_origin_is_refused(origin):
    communicator = communicator_for(origin=origin)
    accepted, _ = await communicator.connect(timeout=REPLY_TIMEOUT_SECS)
    # Refused before accept; daphne turns that into HTTP 403 (asserted against a real daphne
    # in tests/e2e/test_backend_live.py).
    assert not accepted


async def test_a_handshake_without_origin_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/")
    accepted, _ = await communicator.connect(timeout=REPLY_TIMEOUT_SECS)
    assert not accepted


async def test_a_handshake_with_two_origin_headers_is_refused_even_if_one_is_the_site():
    communicator = WebsocketCommunicator(
        application, "/ws/", headers=[(b"origin", b"http://evil.example"), (b"origin", SITE_ORIGIN)]
    )
    accepted, _ = await communicator.connect(timeout=REPLY_TIMEOUT_SECS)
    assert not accepted


async def test_socket_ids_are_unique_and_carry_this_process_tag():
    # Presence rows of every process share one table: an id must not repeat within a process, nor
    # across processes and restarts (each draws its own random tag).
    from chat.consumers import next_socket_id

    ids = [next_socket_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    tags = {socket_id.split(".")[1] for socket_id in ids}
    assert len(tags) == 1 and len(tags.pop()) == 16
