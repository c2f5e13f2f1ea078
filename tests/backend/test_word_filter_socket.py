"""The word filter and name tags as a page sees them over the socket: a refused message gets its
error and the socket goes on; a held one waits for a moderator, then reaches the room."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat import moderation, services, wordfilter
from chat.identity import Identity, visitor_tag
from chat.models import BlockedWord, HeldMessage, Message
from tests.backend.sockets import connected, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

approve = database_sync_to_async(moderation.approve_held_message)
reject = database_sync_to_async(moderation.reject_held_message)


@pytest.fixture(autouse=True)
def fresh_filter():
    wordfilter.invalidate()  # a filter compiled by an earlier test must not leak into this one
    yield
    wordfilter.invalidate()


async def block(text: str, action: str = BlockedWord.Action.REFUSE, kind: str = BlockedWord.Kind.WORD) -> None:
    await BlockedWord.objects.acreate(text=text, action=action, kind=kind)


async def test_a_blocked_word_is_refused_with_its_code_and_the_socket_goes_on():
    await block("badword")
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.take("presence")  # Bob arrived
        for evasion in ("b a d w o r d", "ｂａｄｗｏｒｄ", "b\u0430d\u200bword"):
            client_id = await ann.post("lobby", f"you {evasion}")
            error = await ann.error()
            assert (error["code"], error["room"], error["client_id"]) == ("blocked_word", "lobby", client_id)
        assert await bob.silent(), "nothing reached the room"
        assert (await ann.say("lobby", "sorry, all good"))["text"] == "sorry, all good"
        assert (await bob.expect("message"))["text"] == "sorry, all good"
    assert await Message.objects.acount() == 1


async def test_a_new_entry_applies_to_the_next_message_on_this_process():
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "spam spam")
        await block("spam")  # the admin saves it: this process drops its compiled filter at once
        await ann.post("lobby", "more spam")
        assert (await ann.error())["code"] == "blocked_word"
        await BlockedWord.objects.all().adelete()
        await ann.say("lobby", "more spam")


async def test_a_held_message_waits_for_a_moderator_then_reaches_the_room():
    await block("crypto", BlockedWord.Action.HOLD)
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.take("presence")
        client_id = await ann.post("lobby", "free CRYPTO here")
        held_error = await ann.error()
        assert (held_error["code"], held_error["client_id"]) == ("held_for_review", client_id)
        await ann.post("lobby", "free CRYPTO here", client_id=client_id)  # the outbox resends it
        assert (await ann.error())["code"] == "held_for_review"
        assert await bob.silent()
        held = await HeldMessage.objects.aget()
        assert (held.author, held.matched, held.status) == ("Ann", "crypto", HeldMessage.Status.HELD)

        assert await approve(held=held, by="mod")
        for socket in (ann, bob):
            message = await socket.expect("message")
            assert (message["text"], message["client_id"], message["author"]) == ("free CRYPTO here", client_id, "Ann")
            assert message["tag"] == ann.me["tag"]
        assert not await approve(held=held, by="mod"), "approved once"
        # A later resend of the same message is only acked: it is in the log now.
        await ann.post("lobby", "free CRYPTO here", client_id=client_id)
        acked = await ann.expect("ack")
        assert acked["seq"] == message["seq"]


async def test_a_rejected_message_is_never_shown_and_its_resend_is_refused():
    await block(r"buy\s+now", BlockedWord.Action.HOLD, BlockedWord.Kind.PATTERN)
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.take("presence")
        client_id = await ann.post("lobby", "BUY   NOW")
        assert (await ann.error())["code"] == "held_for_review"
        assert await reject(held=await HeldMessage.objects.aget(), by="mod")
        assert await bob.silent()
        await ann.post("lobby", "BUY   NOW", client_id=client_id)
        assert (await ann.error())["code"] == "blocked_word"
    assert await Message.objects.acount() == 0


async def test_staff_are_not_filtered():
    await block("badword")
    post = database_sync_to_async(services.post_message)
    staff = Identity(visitor="staff-1", name="Mod", staff=True)
    assert (await post(room_name="lobby", identity=staff, text="do not write badword", client_id="s1")).created
    with pytest.raises(services.PostRefused) as refused:
        await post(room_name="lobby", identity=Identity("v-ann", "Ann"), text="badword", client_id="a1")
    assert refused.value.code == "blocked_word"


async def test_two_people_of_one_name_differ_by_their_tags_everywhere():
    async with connected(token=token_for("Dan")) as dan, connected(token=token_for("Dan")) as other_dan:
        assert dan.me["tag"] == visitor_tag(dan.me["visitor"])
        assert dan.me["tag"] != other_dan.me["tag"]
        await dan.join("lobby")
        joined = await other_dan.join("lobby")
        people = joined["presence"]["people"]
        assert [person["name"] for person in people] == ["Dan", "Dan"]
        assert {person["tag"] for person in people} == {dan.me["tag"], other_dan.me["tag"]}
        arrival = await dan.expect("presence")
        assert arrival["change"]["person"]["tag"] == other_dan.me["tag"]
        await other_dan.send(type="typing", room="lobby")
        assert (await dan.expect("typing"))["tag"] == other_dan.me["tag"]
        message = await dan.say("lobby", "which Dan am I?")
        assert (await other_dan.expect("message"))["tag"] == message["tag"] == dan.me["tag"]
