"""Protocol version 3 on the socket: negotiation, edits, deletions by their author, reactions,
replies, `changed` events, resume by rev; and a version-2 client beside it, unaffected."""

from __future__ import annotations

import importlib
import itertools
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps as django_apps
from django.core import checks
from django.utils import timezone

from chat import changes, moderation, services
from chat.identity import Identity
from chat.models import Message, MessageChange, Reaction, Room
from chat.protocol import REACTION_NAMES_SHOWN
from tests.backend.sockets import Socket, connected, of_type, opened

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

V2_MESSAGE_KEYS = {
    "type", "room", "seq", "author", "visitor", "staff", "tag", "text", "sent_at", "client_id", "deleted",
}  # fmt: skip
_ids = itertools.count(1)


async def change(socket: Socket, kind: str, room: str = "lobby", **fields: object) -> dict:
    """Send an edit, delete or react; every event up to its answer (an ack or an error), which is last."""
    client_id = fields.pop("client_id", None) or f"x{next(_ids)}"
    await socket.send(type=kind, room=room, client_id=client_id, **fields)
    events = []
    while not events or not (events[-1]["type"] in {"ack", "error"} and events[-1].get("client_id") == client_id):
        events.append(await socket.next())
    return {"answer": events[-1], "events": events[:-1], "client_id": client_id}


async def changed(socket: Socket) -> dict:
    return await socket.expect("changed")


# --- Negotiation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("asked", "spoken"), [(None, 2), (2, 2), (3, 3), (9, 3), (1, 2)])
async def test_the_socket_speaks_the_lower_of_the_versions(asked, spoken):
    async with opened(protocol=asked) as socket:
        assert socket.ready["protocol"] == spoken
        if spoken == 3:
            assert socket.ready["reaction_emoji"] == ["👍", "❤️", "😂", "😮", "😢", "🎉"]
            assert socket.ready["edit_window_secs"] == 900
        else:
            assert "reaction_emoji" not in socket.ready and "edit_window_secs" not in socket.ready


async def test_a_version_2_client_is_unaffected_by_version_3_beside_it():
    async with connected("Ann", protocol=3) as ann, connected("Old") as old:
        await ann.join("lobby")
        await old.join("lobby")
        await ann.next()  # Old's arrival
        first = await ann.say("lobby", "hello")
        message = await old.expect("message")
        assert set(message) == V2_MESSAGE_KEYS
        await ann.send(type="send", room="lobby", text="a reply", client_id="r1", reply_to=first["seq"])
        await ann.until("ack")
        reply = await old.expect("message")
        assert set(reply) == V2_MESSAGE_KEYS and reply["text"] == "a reply"

        # Edits and reactions reach version 2 at its next join, not live; a deletion as `deleted`.
        assert (await change(ann, "edit", seq=1, text="hello!"))["answer"]["rev"] == 1
        assert (await change(ann, "react", seq=2, emoji="👍", on=True))["answer"]["rev"] == 2
        assert await old.silent()
        assert (await change(ann, "delete", seq=1))["answer"]["rev"] == 3
        assert await old.next() == {"type": "deleted", "room": "lobby", "seq": 1}
        assert await old.silent()

        # Version 3's events are unknown types to version 2, and its fields are ignored.
        await old.send(type="edit", room="lobby", seq=2, text="mine now", client_id="e1")
        assert (await old.error())["code"] == "unknown_type"
        await old.send(type="ping")
        pong = await old.expect("pong")
        assert pong == {"type": "pong", "rooms": {"lobby": 2}}
        rejoined = await old.join("lobby", after_seq=0, arrives=False, after_rev=0)
        assert "latest_rev" not in rejoined and "changes" not in rejoined
        assert [set(each) for each in rejoined["history"]] == [V2_MESSAGE_KEYS] * 2
        assert [each["text"] for each in rejoined["history"]] == ["", "a reply"]


# --- Messages in their current state, replies -----------------------------------------------------


async def test_version_3_messages_carry_their_state_and_replies_quote_the_original():
    async with connected("Ann", protocol=3) as ann:
        await ann.join("lobby")
        first = await ann.say("lobby", "x" * 150)
        assert (first["rev"], first["edited"], first["reply_to"], first["reactions"]) == (0, False, None, [])
        await ann.send(type="send", room="lobby", text="yes", client_id="r1", reply_to=1)
        reply = await ann.expect("message")
        assert reply["reply_to"] == {"seq": 1, "author": "Ann", "excerpt": "x" * 100, "deleted": False}
        await ann.expect("ack")

        await ann.send(type="send", room="lobby", text="to nothing", client_id="r2", reply_to=99)
        error = await ann.error()
        assert (error["code"], error["client_id"]) == ("not_found", "r2")
        assert await sync_to_async(Message.objects.count)() == 2


# --- Edits -------------------------------------------------------------------------------------


async def test_an_edit_reaches_every_version_3_page_once_and_a_repeat_applies_nothing():
    async with connected("Ann", protocol=3) as ann, connected("Bob", protocol=3) as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.next()
        await ann.say("lobby", "helo")
        await bob.expect("message")

        done = await change(ann, "edit", seq=1, text="hello", client_id="e1")
        assert done["answer"] == {"type": "ack", "room": "lobby", "client_id": "e1", "rev": 1}
        for event in [*of_type(done["events"], "changed"), await changed(bob)]:
            assert (event["rev"], event["message"]["text"], event["message"]["edited"]) == (1, "hello", True)
            assert event["message"]["rev"] == 1
            assert "parts" not in event, "a rev of one change is one part"

        repeat = await change(ann, "edit", seq=1, text="hello", client_id="e1")
        assert repeat["answer"]["rev"] == 1
        # The sender gets the state again, as a copy that does not count towards rev 1.
        assert [event["parts"] for event in of_type(repeat["events"], "changed")] == [0]
        assert await bob.silent()
        assert await sync_to_async(MessageChange.objects.count)() == 1
        assert (await sync_to_async(Room.objects.get)(name="lobby")).last_rev == 1


async def test_only_the_author_edits_and_only_within_the_window(settings):
    async with connected("Ann", protocol=3) as ann, connected("Bob", protocol=3) as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.next()
        await ann.say("lobby", "mine")
        refused = await change(bob, "edit", seq=1, text="yours")
        assert refused["answer"]["code"] == "not_author"
        refused = await change(bob, "delete", seq=1)
        assert refused["answer"]["code"] == "not_author"

        long_ago = timezone.now() - timedelta(seconds=901)
        await sync_to_async(Message.objects.filter(seq=1).update)(sent_at=long_ago)
        late = await change(ann, "edit", seq=1, text="too late")
        assert late["answer"]["code"] == "edit_window_passed"
        settings.BACKCHANNEL_EDIT_WINDOW_SECS = 3600
        assert (await change(ann, "edit", seq=1, text="in time"))["answer"]["rev"] == 1

        # Nothing refused took a rev: the log of changes stays gapless.
        assert await sync_to_async(list)(MessageChange.objects.values_list("rev", flat=True)) == [1]
        missing = await change(ann, "edit", seq=7, text="?")
        assert missing["answer"]["code"] == "not_found"


async def test_a_bad_edit_window_is_reported_by_its_check(settings):
    settings.BACKCHANNEL_EDIT_WINDOW_SECS = -5
    found = [message.id for message in checks.run_checks()]
    assert "backchannel.E007" in found
    settings.BACKCHANNEL_EDIT_WINDOW_SECS = 600
    assert "backchannel.E007" not in [message.id for message in checks.run_checks()]


# --- Reactions ---------------------------------------------------------------------------------


async def test_reactions_count_once_per_person_toggle_and_refuse_other_emoji():
    async with connected("Ann", protocol=3) as ann, connected("Bob", protocol=3) as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.next()
        await ann.say("lobby", "cake?")
        await bob.expect("message")

        assert (await change(ann, "react", seq=1, emoji="🎉", on=True))["answer"]["rev"] == 1
        assert (await change(bob, "react", seq=1, emoji="🎉", on=True))["answer"]["rev"] == 2
        assert (await change(bob, "react", seq=1, emoji="👍", on=True))["answer"]["rev"] == 3
        state = (await changed(ann))["message"]
        while state["rev"] < 3:
            state = (await changed(ann))["message"]
        # Who reacted, by name and by public visitor id (a reloaded page finds its own reaction).
        ann_id, bob_id = ann.me["visitor"], bob.me["visitor"]
        assert state["reactions"] == [
            {"emoji": "👍", "count": 1, "names": ["Bob"], "visitors": [bob_id]},
            {"emoji": "🎉", "count": 2, "names": ["Ann", "Bob"], "visitors": [ann_id, bob_id]},
        ]

        # Already on: nothing changes, the answer is the message's rev, and only Ann hears of it.
        again = await change(ann, "react", seq=1, emoji="🎉", on=True)
        assert again["answer"]["rev"] == 3
        assert of_type(again["events"], "changed")[0]["message"]["rev"] == 3

        off = await change(ann, "react", seq=1, emoji="🎉", on=False)
        assert off["answer"]["rev"] == 4
        event = await changed(bob)
        while event["rev"] < 4:
            event = await changed(bob)
        assert event["message"]["reactions"] == [
            {"emoji": "👍", "count": 1, "names": ["Bob"], "visitors": [bob_id]},
            {"emoji": "🎉", "count": 1, "names": ["Bob"], "visitors": [bob_id]},
        ]

        bad = await change(ann, "react", seq=1, emoji="💩", on=True)
        assert bad["answer"]["code"] == "bad_emoji"
        assert await sync_to_async(Reaction.objects.count)() == 2


async def test_reactor_ids_follow_the_names_in_order_and_in_their_cut():
    def react_22_times() -> list[dict]:
        post = services.store_message(
            room_name="lobby", identity=Identity("v-0", "Ann"), text="cake", client_id="c", ip=None, now=timezone.now()
        )
        for number in range(1, 23):
            changes.react(
                room_name="lobby", identity=Identity(f"v-{number}", f"P{number}"), seq=post.message.seq, emoji="🎉",
                on=True, client_id=f"r{number}",
            )  # fmt: skip
        return Message.objects.get(seq=1).reactions

    [party] = await sync_to_async(react_22_times)()
    assert party["count"] == 22
    assert party["names"] == [f"P{number}" for number in range(1, REACTION_NAMES_SHOWN + 1)]
    assert party["visitors"] == [f"v-{number}" for number in range(1, REACTION_NAMES_SHOWN + 1)]


async def test_summaries_stored_before_reactor_ids_get_them_from_the_migration():
    add_reactor_ids = importlib.import_module("chat.migrations.0008_search_retention_reactor_ids").add_reactor_ids

    def stored_before_then_migrated() -> list[dict]:
        message = services.store_message(
            room_name="lobby", identity=Identity("v-0", "Ann"), text="cake", client_id="c", ip=None, now=timezone.now()
        ).message
        for visitor, name, emoji in [("v-1", "Bob", "🎉"), ("v-2", "Cy", "👍"), ("v-3", "Di", "🎉")]:
            Reaction.objects.create(message=message, emoji=changes.emoji_key(emoji), visitor=visitor, name=name)
        old_summary = [
            {"emoji": "👍", "count": 1, "names": ["Cy"]},
            {"emoji": "🎉", "count": 2, "names": ["Bob", "Di"]},
        ]
        Message.objects.filter(pk=message.pk).update(reactions=old_summary)
        add_reactor_ids(django_apps, None)
        return Message.objects.get(pk=message.pk).reactions

    assert await sync_to_async(stored_before_then_migrated)() == [
        {"emoji": "👍", "count": 1, "names": ["Cy"], "visitors": ["v-2"]},
        {"emoji": "🎉", "count": 2, "names": ["Bob", "Di"], "visitors": ["v-1", "v-3"]},
    ]


# --- Deletions ---------------------------------------------------------------------------------


async def test_an_author_deletes_their_message_at_any_time_once():
    async with connected("Ann", protocol=3) as ann:
        await ann.join("lobby")
        await ann.say("lobby", "oops")
        await sync_to_async(Message.objects.update)(sent_at=timezone.now() - timedelta(days=30))
        done = await change(ann, "delete", seq=1, client_id="d1")
        assert done["answer"]["rev"] == 1
        tombstone = of_type(done["events"], "changed")[0]["message"]
        assert (tombstone["deleted"], tombstone["text"], tombstone["author"], tombstone["rev"]) == (True, "", "", 1)
        assert (await change(ann, "delete", seq=1, client_id="d1"))["answer"]["rev"] == 1
        assert (await change(ann, "delete", seq=1, client_id="d2"))["answer"]["rev"] == 1
        assert await sync_to_async(MessageChange.objects.count)() == 1
        assert (await change(ann, "edit", seq=1, text="back"))["answer"]["code"] == "not_found"


async def test_a_moderator_delete_clears_reactions_and_the_quotes_of_replies():
    async with connected("Ann", protocol=3) as ann, connected("Bob", protocol=3) as bob, connected("Old") as old:
        await ann.join("lobby")
        await bob.join("lobby")
        await old.join("lobby")
        await ann.say("lobby", "spam")
        await bob.send(type="send", room="lobby", text="what?", client_id="b1", reply_to=1)
        await bob.until("ack")
        await change(bob, "react", seq=1, emoji="😮", on=True)

        message = await sync_to_async(Message.objects.select_related("room").get)(seq=1)
        assert await sync_to_async(moderation.delete_message)(message=message, by="mod", reason="spam")

        states = {}
        while len(states) < 2 or min(event["rev"] for event in states.values()) < 2:
            event = await changed(ann)
            states[event["message"]["seq"]] = event
        assert states[1]["message"]["deleted"] and states[1]["message"]["reactions"] == []
        assert states[2]["rev"] == 2  # the deletion's rev: the reply's quote changed with it
        assert states[2]["message"]["reply_to"] == {"seq": 1, "author": "", "excerpt": "", "deleted": True}
        # Each says the rev came in two parts, so a page knows when it has the whole deletion.
        assert (states[1]["parts"], states[2]["parts"]) == (2, 2)
        assert await sync_to_async(Reaction.objects.count)() == 0
        kinds = await sync_to_async(list)(MessageChange.objects.values_list("rev", "kind", "payload"))
        assert kinds == [(1, "react", {"emoji": "😮"}), (2, "delete", {"by": "mod", "reason": "spam"})]

        old_events = [await old.next() for _ in range(3)]
        assert [event["type"] for event in old_events] == ["message", "message", "deleted"]
        assert await old.silent()


# --- Resume by rev, pong -----------------------------------------------------------------------


async def test_a_resume_carries_each_changed_message_once_by_rev_and_pong_tells_the_rev():
    async with connected("Ann", protocol=3) as ann:
        await ann.join("lobby")
        for text in ("one", "two", "three", "four"):
            await ann.say("lobby", text)
        await change(ann, "react", seq=1, emoji="👍", on=True)
        async with connected("Bob", protocol=3) as bob:
            seen = await bob.join("lobby")
            assert seen["latest_rev"] == 1 and "changes" not in seen
            await bob.send(type="leave", room="lobby")
            await bob.expect("left")
            await change(ann, "edit", seq=3, text="THREE")
            await change(ann, "react", seq=2, emoji="❤️", on=True)
            await change(ann, "edit", seq=3, text="3")
            await ann.say("lobby", "five")

            resumed = await bob.join("lobby", after_seq=4, after_rev=1, first_seq=2, arrives=False)
            assert resumed["resumed"] and resumed["latest_rev"] == 4
            assert [message["seq"] for message in resumed["history"]] == [5]
            assert [(each["seq"], each["rev"]) for each in resumed["changes"]] == [(2, 3), (3, 4)]
            assert resumed["changes"][1]["text"] == "3" and resumed["changes"][1]["edited"]

            await bob.send(type="ping")
            pong = await bob.expect("pong")
            assert pong["rooms"] == {"lobby": 5} and pong["revs"] == {"lobby": 4}


async def test_too_many_changes_or_a_rev_ahead_of_the_log_is_not_a_resume(settings):
    settings.BACKCHANNEL_RESUME_LIMIT = 2
    async with connected("Ann", protocol=3) as ann:
        await ann.join("lobby")
        for text in ("one", "two", "three"):
            await ann.say("lobby", text)
        for seq in (1, 2, 3):
            await change(ann, "react", seq=seq, emoji="👍", on=True)
        replaced = await ann.join("lobby", after_seq=3, after_rev=0, arrives=False)
        assert not replaced["resumed"] and "changes" not in replaced
        assert [message["rev"] for message in replaced["history"]] == [1, 2, 3]
        ahead = await ann.join("lobby", after_seq=3, after_rev=9, arrives=False)
        assert not ahead["resumed"]
        fine = await ann.join("lobby", after_seq=3, after_rev=1, arrives=False)
        assert fine["resumed"] and [each["seq"] for each in fine["changes"]] == [2, 3]
