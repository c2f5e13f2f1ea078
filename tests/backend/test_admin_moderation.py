"""The admin as a moderator on a busy day uses it: newest first, whole timestamps, names on every
sanction, a reason asked before every action, protected people left alone with a clear message,
reports with counts and one-click actions."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async

from chat import moderation
from chat.models import Message, Report, Sanction
from tests.backend.sockets import connected, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def post(client, path: str, data: dict):
    response = await sync_to_async(client.post)(path, data, secure=True, follow=True)
    assert response.status_code == 200, response
    return response


async def get(client, path: str, **query: str):
    response = await sync_to_async(client.get)(path, query, secure=True)
    assert response.status_code == 200, response
    return response.content.decode()


def action(name: str, pks: list[int], **extra: str) -> dict:
    return {"action": name, "_selected_action": [str(pk) for pk in pks], "index": "0", **extra}


async def test_messages_are_newest_first_with_whole_timestamps(admin_client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "first")
        await ann.say("lobby", "second")
    page = await get(admin_client, "/admin/chat/message/")
    assert page.index("second") < page.index("first")
    assert re.search(r"white-space:nowrap\">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<", page)
    assert "Ann" in (await get(admin_client, "/admin/chat/message/", q=ann.me["visitor"]))


async def test_every_action_asks_for_a_reason_first(admin_client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "spam")
        message = await Message.objects.aget(text="spam")
        asked = await post(admin_client, "/admin/chat/message/", action("mute_author_hour", [message.pk]))
        assert b'name="reason"' in asked.content and b"Ann #" in asked.content
        unexplained = action("mute_author_hour", [message.pk], confirmed="yes", reason="  ")
        assert b"Give a reason" in (await post(admin_client, "/admin/chat/message/", unexplained)).content
        assert await ann.silent() and not await Sanction.objects.aexists()
        explained = action("mute_author_hour", [message.pk], confirmed="yes", reason="flooding")
        await post(admin_client, "/admin/chat/message/", explained)
        assert (await ann.next())["reason"] == "flooding"
    listing = await get(admin_client, "/admin/chat/sanction/")
    assert "flooding" in listing and "Ann" in listing


async def test_staff_are_left_alone_with_a_clear_message(admin_client):
    async with connected("Boss", staff=True) as boss:
        await boss.join("lobby")
        await boss.say("lobby", "house rules")
        message = await Message.objects.aget(text="house rules")
        done = await post(
            admin_client, "/admin/chat/message/", action("ban_author_day", [message.pk], confirmed="yes", reason="x")
        )
        assert b"Boss was not banned: staff are never muted or banned. Nothing was done." in done.content
        assert await boss.silent()
        form = {"kind": "ban", "visitor": boss.me["visitor"], "reason": "x"}
        refused = await sync_to_async(admin_client.post)("/admin/chat/sanction/add/", form, secure=True)
        assert refused.status_code == 200 and b"Not allowed: staff are never muted or banned" in refused.content
    assert not await Sanction.objects.aexists()


async def test_sanctions_show_and_find_every_name_the_visitor_went_by(admin_client):
    async with connected(token=token_for("Ann", visitor="v-ann")) as ann:
        await ann.join("lobby")
        await ann.say("lobby", "as Ann")
    async with connected(token=token_for("Annie", visitor="v-ann")) as annie:
        await annie.join("lobby")
        await annie.say("lobby", "as Annie")
    await sync_to_async(moderation.impose)(kind=Sanction.Kind.MUTE, visitor="v-ann")
    listing = await get(admin_client, "/admin/chat/sanction/")
    assert "Annie, Ann" in listing and "(none given)" in listing
    assert "v-ann" in await get(admin_client, "/admin/chat/sanction/", q="Ann")
    assert "v-ann" not in await get(admin_client, "/admin/chat/sanction/", q="Bob")


async def test_reports_are_listed_newest_first_with_counts_and_act_in_one_go(admin_client, client):
    async with connected("Eve") as eve:
        await eve.join("lobby")
        await eve.say("lobby", "buy pills")
        await eve.say("lobby", "cheap pills")
        for name, seq, reason in (("Bob", 1, "advertising"), ("Cy", 1, "spam"), ("Bob", 2, "again")):
            response = await sync_to_async(client.post)(
                "/api/reports/",
                {"room": "lobby", "seq": seq, "reason": reason},
                content_type="application/json",
                secure=True,
                HTTP_AUTHORIZATION=f"Bearer {token_for(name, visitor=f'v-{name}')}",
            )
            assert response.status_code == 201
        listing = await get(admin_client, "/admin/chat/report/")
        rows = re.findall(r'<tr><td class="action-checkbox">.*?</tr>', listing, flags=re.DOTALL)
        assert ["again" in rows[0], "spam" in rows[1], "advertising" in rows[2]] == [True, True, True]
        counts = [re.search(r'field-reports_on_message">(\d+)<', row).group(1) for row in rows]
        assert counts == ["1", "2", "2"]
        assert "cheap pills" in rows[0] and "Eve" in rows[0]

        first = [report.pk async for report in Report.objects.filter(message__seq=1)]
        asked = await post(admin_client, "/admin/chat/report/", action("mute_author_day", first))
        assert b"reported: " in asked.content, "the reports' reasons are offered as the reason"
        await post(
            admin_client, "/admin/chat/report/", action("mute_author_day", first, confirmed="yes", reason="reported")
        )
        assert (await eve.next())["action"] == "muted"
        await post(admin_client, "/admin/chat/report/", action("dismiss", first))
    assert await Report.objects.filter(dismissed_at__isnull=False, dismissed_by="admin").acount() == 2
    assert await Report.objects.acount() == 3, "dismissing keeps the record"
