"""The abuse limits as a visitor meets them on the socket: rate limits, flooding, too many
sockets, duplicates, and the room rules moderators set (lock, slow mode, mute)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import moderation
from chat.models import Message, Presence, Room, Sanction
from tests.backend.sockets import Socket, communicator_for, connected, opened, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def stored_texts() -> list[str]:
    return [text async for text in Message.objects.order_by("seq").values_list("text", flat=True)]


async def set_room_state(room: str, *, locked: bool = False, slow_mode_secs: int = 0) -> None:
    state = database_sync_to_async(moderation.set_room_state)
    await state(room=await Room.objects.aget(name=room), locked=locked, slow_mode_secs=slow_mode_secs)


async def test_over_the_message_rate_is_refused_with_a_wait_and_nothing_stored(settings):
    settings.BACKCHANNEL_MESSAGE_BURST = 2
    settings.BACKCHANNEL_MESSAGE_PER_SEC = 0.5
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await ann.say("lobby", "one")
        await ann.say("lobby", "two")
        await ann.post("lobby", "three", client_id="c3")
        error = await ann.error()
        assert (error["code"], error["room"], error["client_id"]) == ("rate_limited", "lobby", "c3")
        assert 1.5 < error["retry_after_secs"] <= 2.1
        # The limit is per identity: someone else in the room still talks.
        await bob.join("lobby")
        await bob.say("lobby", "bob")
    assert await stored_texts() == ["one", "two", "bob"]


async def test_the_message_rate_holds_across_one_visitors_sockets(settings):
    settings.BACKCHANNEL_MESSAGE_BURST = 1
    settings.BACKCHANNEL_MESSAGE_PER_SEC = 0.01
    token = token_for("Ann")
    async with connected(token=token) as tab1, connected(token=token) as tab2:
        await tab1.join("lobby")
        await tab2.join("lobby", arrives=False)
        await tab1.say("lobby", "one")
        await tab2.take("message")
        await tab2.post("lobby", "two")
        assert (await tab2.error())["code"] == "rate_limited"


async def test_the_message_rate_per_address_covers_every_identity_from_it(settings):
    settings.BACKCHANNEL_IP_MESSAGE_BURST = 2
    settings.BACKCHANNEL_IP_MESSAGE_PER_SEC = 0.01
    async with connected("Ann", ip="10.0.0.1") as ann, connected("Bob", ip="10.0.0.1") as bob:
        async with connected("Cy", ip="10.0.0.2") as cy:
            for socket in (ann, bob, cy):
                await socket.join("lobby")
            await ann.say("lobby", "a")
            await bob.say("lobby", "b")
            await bob.post("lobby", "c")
            assert (await bob.error())["code"] == "rate_limited"
            await cy.say("lobby", "other address")
    assert await stored_texts() == ["a", "b", "other address"]


async def test_sending_on_after_rate_limited_closes_the_socket_with_4008(settings):
    settings.BACKCHANNEL_MESSAGE_BURST = 1
    settings.BACKCHANNEL_MESSAGE_PER_SEC = 0.01
    settings.BACKCHANNEL_FLOOD_STRIKES = 3
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "one")
        for number in range(3):
            await ann.post("lobby", f"flood {number}")
            assert (await ann.error())["code"] == "rate_limited"
        assert await ann.close_code() == 4008
    assert await stored_texts() == ["one"]


async def test_strikes_count_only_refusals_in_a_row(settings):
    settings.BACKCHANNEL_MESSAGE_BURST = 1
    settings.BACKCHANNEL_MESSAGE_PER_SEC = 0.01
    settings.BACKCHANNEL_FLOOD_STRIKES = 2
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "one")
        for _ in range(3):
            await ann.post("lobby", "again")
            assert (await ann.error())["code"] == "rate_limited"
            await ann.send(type="ping")  # a frame handled in between: the client listened
            assert (await ann.next())["type"] == "pong"
        assert await ann.silent(), "still open"


async def test_every_frame_counts_against_the_socket_frame_rate(settings):
    settings.BACKCHANNEL_FRAME_BURST = 2
    settings.BACKCHANNEL_FRAME_PER_SEC = 0.01
    settings.BACKCHANNEL_FLOOD_STRIKES = 2
    async with opened() as socket:
        await socket.auth(token_for("Ann"))
        await socket.send(type="ping")
        await socket.send(type="join", room="lobby")  # the third frame: not handled
        assert (await socket.next())["type"] == "pong"
        error = await socket.error()
        assert error["code"] == "rate_limited" and error["retry_after_secs"] > 0
        assert await Presence.objects.acount() == 0, "the refused join was not handled"
        await socket.send(type="ping")
        assert (await socket.error())["code"] == "rate_limited"
        assert await socket.close_code() == 4008


async def test_too_many_sockets_from_one_address_are_refused_with_4029(settings):
    settings.BACKCHANNEL_MAX_SOCKETS_PER_IP = 2
    async with opened(ip="10.0.0.1"), opened(ip="10.0.0.1"):
        async with opened(ip="10.0.0.2"):
            pass  # another address is not affected
        third = Socket(communicator_for(ip="10.0.0.1"))
        assert (await third.communicator.connect())[0]
        error = await third.error()
        assert error["code"] == "too_many_sockets"
        assert await third.close_code() == 4029
        await third.communicator.disconnect()
    # All closed: the address may connect again.
    async with opened(ip="10.0.0.1") as again:
        await again.auth(token_for("Ann"))


async def test_the_same_text_twice_is_refused_as_duplicate(settings):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "Buy cheap stuff")
        await ann.post("lobby", "buy   CHEAP stuff", client_id="d2")
        error = await ann.error()
        assert (error["code"], error["client_id"]) == ("duplicate_text", "d2")
    assert await stored_texts() == ["Buy cheap stuff"]


async def test_slow_mode_refuses_with_the_time_left_and_spares_staff():
    async with connected("Ann") as ann, connected("Mod", staff=True) as mod:
        await ann.join("lobby")
        await ann.say("lobby", "first")
        await set_room_state("lobby", slow_mode_secs=30)
        assert (await ann.next())["type"] == "room_state"
        await ann.post("lobby", "second")
        error = await ann.error()
        assert error["code"] == "slow_mode" and 28 < error["retry_after_secs"] <= 30
        await mod.join("lobby")
        await mod.say("lobby", "staff one")
        await mod.say("lobby", "staff two")
    assert await stored_texts() == ["first", "staff one", "staff two"]


async def test_a_locked_room_refuses_visitors_but_not_staff():
    async with connected("Ann") as ann, connected("Mod", staff=True) as mod:
        await ann.join("lobby")
        await ann.say("lobby", "before")
        await set_room_state("lobby", locked=True)
        await ann.take("room_state")
        await ann.post("lobby", "after")
        assert (await ann.error())["code"] == "room_locked"
        joined = await mod.join("lobby")
        assert joined["locked"] is True
        await mod.say("lobby", "staff may")
        assert (await ann.expect("message"))["text"] == "staff may", "a locked room is still readable"
    assert await stored_texts() == ["before", "staff may"]


async def test_a_muted_visitor_reads_but_cannot_post():
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.take("presence")  # Bob arrived
        await database_sync_to_async(moderation.impose)(kind=Sanction.Kind.MUTE, visitor=ann.me["visitor"])
        muted = await ann.next()
        assert (muted["type"], muted["action"], muted["until"]) == ("moderated", "muted", None)
        assert await bob.silent(), "only the muted visitor is told"
        await ann.post("lobby", "let me talk")
        error = await ann.error()
        assert error["code"] == "muted" and "until a moderator lifts it" in error["message"]
        await bob.say("lobby", "hello Ann")
        assert (await ann.next())["text"] == "hello Ann"
    assert await stored_texts() == ["hello Ann"]
