"""Moderation (chat.moderation, what the admin calls) as open pages see it: at once over the
socket, and again after a reload."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async

from chat import moderation
from chat.models import Message, Room, Sanction
from tests.backend.sockets import Socket, communicator_for, connected, opened, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

impose = database_sync_to_async(moderation.impose)
lift = database_sync_to_async(moderation.lift)
delete_message = database_sync_to_async(moderation.delete_message)
set_room_state = database_sync_to_async(moderation.set_room_state)


async def test_a_ban_closes_the_visitors_open_sockets_and_refuses_them_later():
    token = token_for("Ann")
    async with connected(token=token) as ann, connected(token=token) as ann_tab, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await impose(kind=Sanction.Kind.BAN, visitor=ann.me["visitor"], reason="spam", duration=timedelta(days=1))
        for socket in (ann, ann_tab):
            banned = await socket.expect("moderated")
            assert (banned["action"], banned["reason"]) == ("banned", "spam")
            assert banned["until"].endswith("Z")
            assert await socket.close_code() == 4003
        assert await bob.silent(), "Bob is not banned"

    async with opened() as again:
        await again.send(type="auth", token=token)
        error = await again.error()
        assert error["code"] == "banned" and "spam" in error["message"]
        assert await again.close_code() == 4003


async def test_a_ban_refuses_posting_even_if_the_socket_outlived_it():
    # A socket that missed the notice (e.g. a channel-layer hiccup) is still refused on send.
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await Sanction.objects.acreate(kind=Sanction.Kind.BAN, visitor=ann.me["visitor"])
        await ann.post("lobby", "still here?")
        assert (await ann.error())["code"] == "banned"
        assert await ann.close_code() == 4003
    assert await Message.objects.acount() == 0


async def test_an_ip_ban_closes_open_sockets_from_the_address_and_refuses_new_ones():
    async with connected("Ann", ip="10.0.0.5") as ann, opened(ip="10.0.0.5") as anonymous:
        async with connected("Bob", ip="10.0.0.6") as bob:
            await impose(kind=Sanction.Kind.BAN, ip="10.0.0.5")
            for socket in (ann, anonymous):
                assert (await socket.next())["action"] == "banned"
                assert await socket.close_code() == 4003
            assert await bob.silent()

    refused = Socket(communicator_for(ip="10.0.0.5"))
    assert (await refused.communicator.connect())[0]
    error = await refused.error()
    assert error["code"] == "banned" and "until a moderator lifts it" in error["message"]
    assert await refused.close_code() == 4003
    await refused.communicator.disconnect()


async def test_a_lifted_ban_lets_the_visitor_back():
    token = token_for("Ann", visitor="v-ann")
    sanction = await impose(kind=Sanction.Kind.BAN, visitor="v-ann")
    await lift(sanction=sanction)
    async with opened() as socket:
        assert (await socket.auth(token))["visitor"] == "v-ann"


async def test_a_deleted_message_disappears_from_open_pages_and_stays_a_tombstone():
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.take("presence")  # Bob arrived
        first = await ann.say("lobby", "fine")
        await ann.say("lobby", "nasty")
        await ann.say("lobby", "fine again")
        await bob.take("message", "message", "message")
        message = await Message.objects.select_related("room").aget(text="nasty")
        assert await delete_message(message=message, by="mod") is True
        for socket in (ann, bob):
            assert await socket.next() == {"type": "deleted", "room": "lobby", "seq": 2}
        assert await delete_message(message=message, by="mod") is False, "deleting twice tells nobody twice"
        assert await ann.silent() and await bob.silent()

    async with connected("Cy") as cy:
        history = (await cy.join("lobby"))["history"]
        assert [message["seq"] for message in history] == [1, 2, 3], "seq stays gapless"
        tombstone = history[1]
        assert (tombstone["deleted"], tombstone["author"], tombstone["text"], tombstone["visitor"]) == (
            True,
            "",
            "",
            "",
        )
        assert history[0] == {**first, "deleted": False}
        resumed = (await cy.join("lobby", after_seq=1, arrives=False))["history"]
        assert [(message["seq"], message["deleted"]) for message in resumed] == [(2, True), (3, False)]
        await cy.send(type="load_older", room="lobby", before_seq=3)
        older = await cy.next()
        assert [(message["seq"], message["text"]) for message in older["messages"]] == [(1, "fine"), (2, "")]


async def test_room_state_changes_reach_the_room_and_the_next_join():
    async with connected("Ann") as ann, connected("Eve") as eve:
        await ann.join("lobby")
        await eve.join("elsewhere")
        await ann.say("lobby", "hi")
        room = await Room.objects.aget(name="lobby")
        await set_room_state(room=room, locked=True, slow_mode_secs=15)
        assert await ann.next() == {"type": "room_state", "room": "lobby", "locked": True, "slow_mode_secs": 15}
        assert await eve.silent()
        joined = await ann.join("lobby", arrives=False)
        assert (joined["locked"], joined["slow_mode_secs"]) == (True, 15)


async def test_a_lifted_mute_is_announced_and_the_visitor_may_post_again():
    async with connected("Ann") as ann:
        await ann.join("lobby")
        mute = await impose(kind=Sanction.Kind.MUTE, visitor=ann.me["visitor"], duration=timedelta(hours=1))
        muted = await ann.next()
        assert (muted["action"], muted["until"] is not None) == ("muted", True)
        await ann.post("lobby", "hello?")
        assert (await ann.error())["code"] == "muted"
        await lift(sanction=mute)
        assert await ann.next() == {"type": "moderated", "action": "unmuted", "reason": "", "until": None}
        await ann.say("lobby", "I am back")
