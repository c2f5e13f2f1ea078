"""Moderation in the Django admin: each action changes the database AND reaches open sockets.

The admin is sync and tells sockets through async_to_sync; the test client therefore runs in a
worker thread (sync_to_async) while the test's event loop serves the sockets and the layer.
"""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async

from chat import moderation
from chat.models import Message, Room, Sanction
from tests.backend.sockets import connected

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def admin_action(client, model: str, action: str, pks: list[int], **extra: object):
    """Run an admin action as a moderator does: the action, then its confirmation page's form
    (every moderation action asks for a reason first)."""
    data = {
        "action": action,
        "_selected_action": [str(pk) for pk in pks],
        "index": "0",
        "confirmed": "yes",
        "reason": "breaking the rules",
        **extra,
    }
    response = await sync_to_async(client.post)(f"/admin/chat/{model}/", data, secure=True)
    assert response.status_code in (200, 302), response
    return response


async def test_delete_for_everyone_leaves_a_tombstone_and_tells_the_room(admin_client):
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.take("presence")  # Bob arrived
        await ann.say("lobby", "nasty")
        await bob.take("message")
        message = await Message.objects.aget(text="nasty")
        await admin_action(admin_client, "message", "delete_for_everyone", [message.pk])
        for socket in (ann, bob):
            assert await socket.next() == {"type": "deleted", "room": "lobby", "seq": 1}
    message = await Message.objects.aget(pk=message.pk)
    assert message.deleted_at is not None and message.deleted_by == "admin"


async def test_mute_author_for_an_hour(admin_client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "spam")
        message = await Message.objects.aget(text="spam")
        await admin_action(admin_client, "message", "mute_author_hour", [message.pk])
        muted = await ann.next()
        assert (muted["type"], muted["action"]) == ("moderated", "muted")
        assert muted["until"] is not None
        await ann.post("lobby", "more spam")
        assert (await ann.error())["code"] == "muted"
    sanction = await Sanction.objects.aget()
    assert (sanction.kind, sanction.visitor, sanction.ip, sanction.created_by) == (
        "mute",
        ann.me["visitor"],
        None,
        "admin",
    )


async def test_ban_author_for_a_day_bans_the_identity_only(admin_client):
    async with connected("Ann", ip="10.0.0.7") as ann, connected("Ann2", ip="10.0.0.7") as same_address:
        await ann.join("lobby")
        await ann.say("lobby", "spam")
        message = await Message.objects.aget(text="spam")
        await admin_action(admin_client, "message", "ban_author_day", [message.pk])
        banned = await ann.expect("moderated")
        assert banned["action"] == "banned" and banned["until"] is not None
        assert banned["reason"] == "breaking the rules"
        assert await ann.close_code() == 4003
        assert await same_address.silent(), "someone else on the same address is not banned"
    sanction = await Sanction.objects.aget()
    assert (sanction.kind, sanction.visitor, sanction.ip) == ("ban", ann.me["visitor"], None)
    assert sanction.visitor_name == "Ann"


async def test_ban_with_the_address_is_a_choice_of_its_own(admin_client):
    async with connected("Ann", ip="10.0.0.7") as ann, connected("Ann2", ip="10.0.0.7") as same_address:
        await ann.join("lobby")
        await ann.say("lobby", "spam")
        message = await Message.objects.aget(text="spam")
        await admin_action(admin_client, "message", "ban_author_and_address_day", [message.pk])
        for socket in (ann, same_address):
            banned = await socket.expect("moderated")
            assert banned["action"] == "banned" and banned["until"] is not None
            assert await socket.close_code() == 4003
    sanction = await Sanction.objects.aget()
    assert (sanction.kind, sanction.visitor, sanction.ip) == ("ban", ann.me["visitor"], "10.0.0.7")


async def test_staff_messages_are_not_sanctioned(admin_client):
    async with connected("Mod", staff=True) as mod:
        await mod.join("lobby")
        await mod.say("lobby", "rules")
        message = await Message.objects.aget(text="rules")
        await admin_action(admin_client, "message", "ban_author_day", [message.pk])
        assert await mod.silent()
    assert await Sanction.objects.acount() == 0


async def test_lock_a_room(admin_client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "hi")
        room = await Room.objects.aget(name="lobby")
        await admin_action(admin_client, "room", "lock", [room.pk])
        assert await ann.next() == {"type": "room_state", "room": "lobby", "locked": True, "slow_mode_secs": 0}
        await admin_action(admin_client, "room", "slow_mode_30s", [room.pk])
        assert await ann.next() == {"type": "room_state", "room": "lobby", "locked": True, "slow_mode_secs": 30}
    assert await Room.objects.filter(name="lobby", locked=True, slow_mode_secs=30).aexists()


async def test_editing_a_room_in_its_form_tells_the_room(admin_client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "hi")
        room = await Room.objects.aget(name="lobby")
        form = {"name": "lobby", "created_at_0": "2026-01-01", "created_at_1": "00:00:00", "slow_mode_secs": "10"}
        response = await sync_to_async(admin_client.post)(f"/admin/chat/room/{room.pk}/change/", form, secure=True)
        assert response.status_code == 302, response.content
        assert await ann.next() == {"type": "room_state", "room": "lobby", "locked": False, "slow_mode_secs": 10}


async def test_lifting_a_mute_unmutes_the_open_page_and_keeps_the_record(admin_client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "spam")
        message = await Message.objects.aget(text="spam")
        await admin_action(admin_client, "message", "mute_author_hour", [message.pk])
        assert (await ann.next())["action"] == "muted"
        sanction = await Sanction.objects.aget()
        asked = await admin_action(admin_client, "sanction", "lift_selected", [sanction.pk], confirmed="")
        assert b"Yes, lift" in asked.content, "lifting asks first"
        assert await ann.silent()
        await admin_action(admin_client, "sanction", "lift_selected", [sanction.pk], reason="apologised")
        assert await ann.next() == {"type": "moderated", "action": "unmuted", "reason": "", "until": None}
        await ann.say("lobby", "sorry")
    sanction = await Sanction.objects.aget()
    assert sanction.lifted_at is not None
    assert (sanction.lifted_by, sanction.lifted_reason) == ("admin", "apologised")
    assert sanction.reason == "breaking the rules"
    delete_page = await sync_to_async(admin_client.get)(f"/admin/chat/sanction/{sanction.pk}/delete/", secure=True)
    assert delete_page.status_code == 403, "a sanction is never deleted"


async def test_a_sanction_added_in_the_admin_is_announced(admin_client):
    async with connected("Ann") as ann:
        form = {"kind": "mute", "visitor": ann.me["visitor"], "reason": "cool down"}
        response = await sync_to_async(admin_client.post)("/admin/chat/sanction/add/", form, secure=True)
        assert response.status_code == 302, response.content
        assert await ann.next() == {"type": "moderated", "action": "muted", "reason": "cool down", "until": None}
    assert (await Sanction.objects.aget()).created_by == "admin"


async def test_the_admin_pages_render(admin_client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "hi")
    for path in ("/admin/chat/message/", "/admin/chat/room/", "/admin/chat/sanction/", "/admin/chat/presence/"):
        response = await sync_to_async(admin_client.get)(path, secure=True)
        assert response.status_code == 200, path


async def test_a_message_page_shows_its_edit_history_to_moderators(admin_client):
    """Edits by their author (the text before and after), reactions, a deletion: each change with
    who made it, oldest first; a reply's page also shows its original's deletion."""
    async with connected("Ann", protocol=3) as ann, connected("Bob", protocol=3) as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.say("lobby", "meet at 5")
        for client_id, event in [
            ("e1", {"type": "edit", "seq": 1, "text": "meet at 6 <b>sharp</b>"}),
            ("e2", {"type": "edit", "seq": 1, "text": "meet at 7"}),
        ]:
            await ann.send(room="lobby", client_id=client_id, **event)
            await ann.expect("ack")
        await bob.send(type="react", room="lobby", seq=1, emoji="👍", on=True, client_id="r1")
        await bob.expect("ack")
        await bob.send(type="send", room="lobby", text="ok!", client_id="b1", reply_to=1)
        await bob.expect("ack")
    original = await Message.objects.select_related("room").aget(seq=1)
    await sync_to_async(moderation.delete_message)(message=original, by="mod", reason="wrong room")
    reply = await Message.objects.aget(seq=2)

    page = (await sync_to_async(admin_client.get)(f"/admin/chat/message/{original.pk}/change/", secure=True)).content
    history = page.decode().split("field-history", 1)[1]
    rows = re.findall(r"<tr><td>(\d+)</td><td>.*?</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", history)
    assert [(rev, what) for rev, what, _, _ in rows] == [("1", "edit"), ("2", "edit"), ("3", "react"), ("4", "delete")]
    assert "<del>meet at 5</del> → <ins>meet at 6 &lt;b&gt;sharp&lt;/b&gt;</ins>" in rows[0][3]  # escaped, not bold
    assert "<del>meet at 6 &lt;b&gt;sharp&lt;/b&gt;</del> → <ins>meet at 7</ins>" in rows[1][3]
    assert rows[0][2].startswith("Ann <small>#") and ann.me["visitor"] in rows[0][2]
    assert rows[2][2].startswith("Bob <small>#") and rows[2][3] == "👍"
    assert (rows[3][2], rows[3][3]) == ("mod", "wrong room")

    page = (await sync_to_async(admin_client.get)(f"/admin/chat/message/{reply.pk}/change/", secure=True)).content
    assert "<td>original deleted</td><td>mod</td><td>#1 deleted; this reply's quote shows it removed" in page.decode()
    untouched = await sync_to_async(Message.objects.create)(room=original.room, seq=3, author="Cy", text="hm")
    page = (await sync_to_async(admin_client.get)(f"/admin/chat/message/{untouched.pk}/change/", secure=True)).content
    assert "no edits, deletions or reactions" in page.decode()
