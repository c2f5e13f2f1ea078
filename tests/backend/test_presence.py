"""Who is online, and who is typing: presence and typing events as a room's members see them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Presence
from tests.backend.sockets import connected, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def person(socket) -> dict:
    return {k: socket.me[k] for k in ("visitor", "name", "staff", "tag")}


async def test_joined_lists_who_is_there_and_the_room_hears_of_the_newcomer():
    async with connected("Bob") as bob, connected("ann") as ann, connected("Mod", staff=True) as mod:
        joined = await bob.join("lobby")
        assert joined["presence"] == {"online_count": 1, "people": [person(bob)], "readers": 0}
        await ann.join("lobby")
        joined = await mod.join("lobby")
        # Sorted by name, case-insensitively.
        assert joined["presence"] == {
            "online_count": 3,
            "people": [person(ann), person(bob), person(mod)],
            "readers": 0,
        }
        ann_arrived = (await bob.next())["change"]
        assert ann_arrived == {"kind": "joined", "person": person(ann)}
        for socket in (bob, ann):
            assert await socket.next() == {
                "type": "presence",
                "room": "lobby",
                "online_count": 3,
                "people": [person(ann), person(bob), person(mod)],
                "readers": 0,
                "change": {"kind": "joined", "person": person(mod)},
            }


async def test_one_person_with_two_tabs_counts_once():
    token = token_for("Ann")
    async with connected("Bob") as bob:
        await bob.join("lobby")
        async with connected(token=token) as tab1:
            await tab1.join("lobby")
            assert (await bob.next())["online_count"] == 2
            async with connected(token=token) as tab2:
                joined = await tab2.join("lobby", arrives=False)
                assert joined["presence"]["online_count"] == 2
                assert await bob.silent(), "a second tab is nobody new"
            assert await bob.silent(), "closing one of two tabs: still online"
        left = await bob.next()
        assert (left["change"], left["online_count"], left["people"]) == (
            {"kind": "left", "person": person(tab1)},
            1,
            [person(bob)],
        )
    assert await Presence.objects.acount() == 0


async def test_leaving_and_disconnecting_tell_the_room():
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.join("other")
        async with connected("Bob") as bob:
            await bob.join("lobby")
            await bob.join("other")
            await ann.take("presence", "presence")  # Bob arrived in both rooms
            await bob.send(type="leave", room="lobby")
            assert (await bob.next())["type"] == "left"
            event = await ann.next()
            assert (event["room"], event["change"]["kind"], event["online_count"]) == ("lobby", "left", 1)
            assert await bob.silent(), "Bob left: he hears no more of lobby"
        event = await ann.next()
        assert (event["room"], event["change"]["kind"], event["people"]) == ("other", "left", [person(ann)])


async def test_a_big_room_sends_only_the_count_and_not_too_often(settings):
    settings.BACKCHANNEL_PRESENCE_LIST_LIMIT = 1
    settings.BACKCHANNEL_PRESENCE_COUNT_INTERVAL_SECS = 60
    async with connected("Ann") as ann, connected("Bob") as bob, connected("Cy") as cy:
        await ann.join("lobby")
        await bob.send(type="join", room="lobby")
        joined = await bob.next()
        assert joined["presence"] == {"online_count": 2, "people": None, "readers": 0}
        count = await ann.next()
        assert count == {"type": "presence", "room": "lobby", "online_count": 2, "people": None, "readers": 0}
        assert (await bob.next()) == count
        await cy.send(type="join", room="lobby")
        assert (await cy.next())["presence"]["online_count"] == 3
        assert await ann.silent(), "one count update per interval"


async def test_typing_reaches_the_others_only_and_is_throttled(settings):
    settings.BACKCHANNEL_TYPING_INTERVAL_SECS = 0.3
    async with connected("Ann") as ann, connected("Bob") as bob, connected("Eve") as eve:
        await ann.join("lobby")
        await bob.join("lobby")
        await eve.join("elsewhere")
        await ann.take("presence")  # Bob arrived
        await ann.send(type="typing", room="lobby")
        assert await bob.next() == {
            "type": "typing",
            "room": "lobby",
            "visitor": ann.me["visitor"],
            "name": "Ann",
            "tag": ann.me["tag"],
        }
        await ann.send(type="typing", room="lobby")
        await ann.send(type="typing", room="lobby")
        assert await ann.silent(), "nothing to the sender"
        assert await bob.silent(), "extra typing frames are dropped"
        assert await eve.silent()
        await asyncio.sleep(0.3)
        await ann.send(type="typing", room="lobby")
        assert (await bob.next())["type"] == "typing"


async def test_typing_is_not_relayed_in_a_big_room(settings):
    settings.BACKCHANNEL_PRESENCE_LIST_LIMIT = 1
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.send(type="join", room="lobby")
        await bob.take("joined", "presence")  # a count-only update: nobody is named
        await ann.take("presence")
        await bob.send(type="typing", room="lobby")
        assert await ann.silent()


async def test_a_ping_sweeps_people_whose_process_died(settings):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        # A socket of a process that died: its row is never refreshed again.
        await Presence.objects.acreate(
            room_name="lobby",
            channel_name="gone!abc",
            visitor="v-ghost",
            name="Ghost",
            last_seen=timezone.now() - timedelta(seconds=settings.BACKCHANNEL_PRESENCE_STALE_SECS + 1),
        )
        await ann.send(type="ping")
        events = await ann.until("pong", "presence")
        [left] = [event for event in events if event["type"] == "presence"]
        assert (left["change"]["person"]["name"], left["people"]) == ("Ghost", [person(ann)])
    assert not await Presence.objects.filter(visitor="v-ghost").aexists()
