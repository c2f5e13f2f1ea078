"""Reading without a name: a socket that has not authenticated may join, leave, load older pages and
ping (a reader); it sees history, presence and live messages, is nobody in the room's people, and
may authenticate later to write (ARCHITECTURE.md "Reading without a name")."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat import moderation
from chat.models import Message, Presence, Sanction
from tests.backend.sockets import Socket, communicator_for, connected, opened, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def every_reader_announced(settings):
    """Readers coming and going are announced at most every PRESENCE_COUNT_INTERVAL_SECS; 0 here so
    each test sees every change (test_reader_updates_are_throttled sets it back)."""
    settings.BACKCHANNEL_PRESENCE_COUNT_INTERVAL_SECS = 0


def person(socket: Socket) -> dict:
    return {k: socket.me[k] for k in ("visitor", "name", "staff", "tag")}


async def read(socket: Socket, room: str) -> dict:
    """Join ``room`` without a name: its `joined`, after which the room hears of one more reader."""
    await socket.send(type="join", room=room)
    joined = await socket.next()
    assert joined["type"] == "joined", joined
    update = await socket.next()
    assert update["type"] == "presence" and "change" not in update, update
    return joined


async def test_a_first_time_visitor_sees_history_and_who_is_online_without_a_name():
    async with connected("Bob") as bob:
        await bob.join("lobby")
        for text in ("one", "two"):
            await bob.say("lobby", text)
        async with opened() as visitor:
            assert visitor.ready["read_without_auth"] is True
            joined = await read(visitor, "lobby")
            assert [(message["seq"], message["author"], message["text"]) for message in joined["history"]] == [
                (1, "Bob", "one"),
                (2, "Bob", "two"),
            ]
            assert joined["latest_seq"] == 2
            assert joined["presence"] == {"online_count": 1, "people": [person(bob)], "readers": 1}

            update = await bob.next()
            assert update == {"type": "presence", "room": "lobby", "online_count": 1, "people": [person(bob)],
                              "readers": 1}  # fmt: skip

            await bob.say("lobby", "three")
            live = await visitor.next()
            assert (live["type"], live["seq"], live["author"], live["text"]) == ("message", 3, "Bob", "three")

            await visitor.send(type="load_older", room="lobby", before_seq=2)
            older = await visitor.next()
            assert [message["text"] for message in older["messages"]] == ["one"]
            await visitor.send(type="ping")
            assert await visitor.next() == {"type": "pong", "rooms": {"lobby": 3}}
        left = await bob.next()
        assert (left["readers"], left["online_count"], "change" in left) == (0, 1, False)
    assert await Presence.objects.acount() == 0


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "send", "room": "lobby", "text": "hi", "client_id": "c1"},
        {"type": "typing", "room": "lobby"},
    ],
)
async def test_a_reader_cannot_write_and_keeps_reading(frame):
    async with connected("Bob") as bob, opened() as visitor:
        await bob.join("lobby")
        await read(visitor, "lobby")
        await bob.next()  # the reader count
        await visitor.send(**frame)
        error = await visitor.error()
        assert (error["code"], error["room"]) == ("not_authenticated", "lobby")
        assert await bob.silent(), "nothing reached the room"
        message = await bob.say("lobby", "still there?")
        assert (await visitor.next())["seq"] == message["seq"]
    assert await Message.objects.acount() == 1


async def test_a_reader_is_nobody_in_the_room_and_cannot_be_counted_twice():
    async with connected("Bob") as bob, opened() as one, opened() as two:
        await bob.join("lobby")
        await read(one, "lobby")
        joined = await read(two, "lobby")
        assert joined["presence"] == {"online_count": 1, "people": [person(bob)], "readers": 2}
        await two.send(type="join", room="lobby", after_seq=0)  # joining again fills a gap: no new reader
        assert (await two.next())["type"] == "joined"
        assert await two.silent()
        await two.send(type="leave", room="lobby")
        assert (await two.next())["type"] == "left"
        assert [event["readers"] for event in await bob.take("presence", "presence", "presence")] == [1, 2, 1]
        assert [event["readers"] for event in await one.take("presence", "presence")] == [2, 1]


async def test_a_reader_outlives_the_auth_deadline_and_an_idle_socket_does_not(settings):
    settings.BACKCHANNEL_AUTH_TIMEOUT_SECS = 0.2
    async with opened() as reader, opened() as idle:
        await read(reader, "lobby")
        await idle.send(type="ping")  # pinging is not reading a room
        assert (await idle.next())["type"] == "pong"
        assert (await idle.error())["code"] == "auth_timeout"
        assert await idle.close_code() == 4001
        await asyncio.sleep(0.3)
        await reader.send(type="ping")
        assert await reader.next() == {"type": "pong", "rooms": {"lobby": 0}}


async def test_a_reader_that_leaves_its_last_room_gets_the_deadline_again(settings):
    settings.BACKCHANNEL_AUTH_TIMEOUT_SECS = 0.2
    async with opened() as reader:
        await read(reader, "lobby")
        await asyncio.sleep(0.3)
        await reader.send(type="leave", room="lobby")
        assert (await reader.next())["type"] == "left"
        assert await reader.silent(), "a full deadline from the leave, not the one long past"
        assert (await reader.error())["code"] == "auth_timeout"
        assert await reader.close_code() == 4001


async def test_a_reader_who_picks_a_name_enters_every_room_it_reads_and_may_write():
    async with connected("Bob") as bob, opened() as visitor:
        await bob.join("lobby")
        await bob.join("help")
        await read(visitor, "help")
        await read(visitor, "lobby")
        await bob.take("presence", "presence")  # a reader in each room
        me = await visitor.auth(token_for("Ann"))
        ann = {"visitor": me["visitor"], "name": "Ann", "staff": False, "tag": me["tag"]}
        for room in ("help", "lobby"):  # rooms in name order
            for socket in (visitor, bob):
                arrival = await socket.next()
                assert arrival == {
                    "type": "presence",
                    "room": room,
                    "online_count": 2,
                    "people": [ann, person(bob)],
                    "readers": 0,
                    "change": {"kind": "joined", "person": ann},
                }
        message = await visitor.say("lobby", "hello, I am Ann now")
        assert (message["author"], message["visitor"]) == ("Ann", me["visitor"])
        assert (await bob.expect("message"))["text"] == "hello, I am Ann now"
    assert await Presence.objects.filter(visitor="").acount() == 0


async def test_a_named_tab_and_a_reader_tab_of_one_person_count_once():
    token = token_for("Ann")
    async with connected(token=token) as tab1, connected("Bob") as bob, opened() as tab2:
        await tab1.join("lobby")
        await bob.join("lobby")
        await tab1.next()  # Bob arrived
        await read(tab2, "lobby")
        await tab1.next()  # a reader
        await bob.next()
        await tab2.auth(token)
        update = await bob.next()  # one reader fewer, nobody new
        assert (update["online_count"], update["readers"], "change" in update) == (2, 0, False)


async def test_reader_updates_are_throttled(settings):
    settings.BACKCHANNEL_PRESENCE_COUNT_INTERVAL_SECS = 60
    async with connected("Bob") as bob, opened() as one, opened() as two:
        await bob.join("lobby")
        await read(one, "lobby")
        assert (await bob.next())["readers"] == 1
        await two.send(type="join", room="lobby")
        assert (await two.next())["presence"]["readers"] == 2, "joined counts exactly"
        assert await bob.silent(), "at most one reader count update per interval"


async def test_readers_take_their_addresses_socket_slots_and_frame_budget(settings):
    settings.BACKCHANNEL_MAX_SOCKETS_PER_IP = 1
    settings.BACKCHANNEL_FRAME_BURST = 2
    settings.BACKCHANNEL_FRAME_PER_SEC = 0.01
    async with opened(ip="10.0.0.7") as reader:
        await read(reader, "lobby")  # its join was the first frame
        await reader.send(type="ping")
        assert (await reader.next())["type"] == "pong"
        await reader.send(type="ping")
        assert (await reader.error())["code"] == "rate_limited"

        second = Socket(communicator_for(ip="10.0.0.7"))
        assert (await second.communicator.connect())[0]
        assert (await second.error())["code"] == "too_many_sockets"
        assert await second.close_code() == 4029
        await second.communicator.disconnect()


async def test_an_address_ban_closes_its_readers_and_refuses_new_ones():
    async with opened(ip="10.0.0.9") as reader:
        await read(reader, "lobby")
        await database_sync_to_async(moderation.impose)(kind=Sanction.Kind.BAN, ip="10.0.0.9")
        assert (await reader.next())["action"] == "banned"
        assert await reader.close_code() == 4003
    refused = Socket(communicator_for(ip="10.0.0.9"))
    assert (await refused.communicator.connect())[0]
    assert (await refused.error())["code"] == "banned"
    assert await refused.close_code() == 4003
    await refused.communicator.disconnect()
