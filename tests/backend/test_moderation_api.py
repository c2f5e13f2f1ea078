"""Moderation from the chat page (the moderation API) and what it means for the people it hits:
at once on their open sockets, after a reload, with a new name from the same address, and for
the staff and bystanders it must never hit. Sockets are channels' communicator on the real ASGI
app; the API is Django's test client in a worker thread, so the test's loop serves both."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from chat import limits, moderation
from chat.challenge import solve
from chat.models import Message, Report, Sanction
from chat.runtime import reset_runtime
from tests.backend.sockets import Socket, communicator_for, connected, opened, staff_token_for, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

MODERATOR_IP = "10.9.9.9"
POW_BITS = 2


@pytest.fixture
def mod(transactional_db):
    """A staff token (and its user) whose account is active staff."""
    return staff_token_for("Mod")


async def call(client, method: str, path: str, body: object = None, *, token: str | None = None, ip=MODERATOR_IP):
    headers = {"REMOTE_ADDR": ip}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if method == "GET":
        return await sync_to_async(client.get)(path, body or {}, secure=True, **headers)
    data = body if isinstance(body, str) else json.dumps(body)
    return await sync_to_async(client.post)(path, data, content_type="application/json", secure=True, **headers)


async def act(client, token: str, **body: object):
    return await call(client, "POST", "/api/moderation/actions/", {"room": "lobby", **body}, token=token)


def code_of(response) -> str:
    return response.json()["error"]["code"]


# --- Who may moderate --------------------------------------------------------------------------


async def test_only_staff_tokens_of_accounts_still_staff_may_moderate(client, mod):
    token, user = mod
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "hello")
    visitor = await act(client, token_for("Eve"), action="delete", seq=1)
    assert (visitor.status_code, code_of(visitor)) == (403, "not_staff")
    missing = await call(client, "POST", "/api/moderation/actions/", {"room": "lobby", "action": "delete", "seq": 1})
    assert (missing.status_code, code_of(missing), missing["WWW-Authenticate"]) == (401, "bad_token", "Bearer")
    forged = await act(client, token + "x", action="delete", seq=1)
    assert (forged.status_code, code_of(forged)) == (401, "bad_token")
    expired = await act(client, (await sync_to_async(staff_token_for)("Old", age_secs=7200))[0], action="delete", seq=1)
    assert (expired.status_code, code_of(expired)) == (401, "token_expired")

    user.is_staff = False
    await sync_to_async(user.save)()
    demoted = await act(client, token, action="delete", seq=1)
    assert (demoted.status_code, code_of(demoted)) == (403, "not_staff"), "staff status is re-checked every call"
    address = await call(client, "GET", "/api/moderation/address/", {"room": "lobby", "seq": "1"}, token=token)
    assert (address.status_code, code_of(address)) == (403, "not_staff")
    assert not await Message.objects.filter(deleted_at__isnull=False).aexists()


async def test_bodies_are_json_and_every_field_is_checked(client, mod):
    token, _ = mod
    plain = await sync_to_async(client.post)(
        "/api/moderation/actions/",
        '{"room": "lobby", "action": "delete", "seq": 1}',
        content_type="text/plain",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {token}",
        REMOTE_ADDR=MODERATOR_IP,
    )
    assert (plain.status_code, code_of(plain)) == (415, "unsupported_media_type")
    for body in (
        {"action": "delete"},  # a delete names its message
        {"action": "explode", "seq": 1},
        {"action": "mute"},  # neither seq nor visitor
        {"action": "mute", "seq": 1, "visitor": "v1"},  # both
        {"action": "ban", "seq": 1, "duration_secs": 0},
        {"action": "ban", "seq": 1, "duration_secs": "3600"},
        {"action": "ban", "seq": 1, "scope": "planet"},
        {"action": "mute", "seq": 1, "reason": "x" * 201},
        {"action": "delete", "seq": True},
        {"action": "delete", "room": "Lobby!", "seq": 1},
    ):
        response = await act(client, token, **body)
        assert (response.status_code, code_of(response)) == (400, "bad_field"), body
    huge = '{"room": "lobby", "action": "delete", "seq": 1' + "0" * 4000 + "}"
    response = await call(client, "POST", "/api/moderation/actions/", huge, token=token)
    assert (response.status_code, code_of(response)) == (400, "bad_field"), "a number of any length is bad_field"


async def test_unknown_rooms_messages_and_visitors_are_not_found(client, mod):
    token, _ = mod
    assert code_of(await act(client, token, action="delete", seq=1)) == "not_found"  # no such room
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "hello")
        for body in ({"action": "delete", "seq": 9}, {"action": "mute", "visitor": "nobody-here"}):
            response = await act(client, token, **body)
            assert (response.status_code, code_of(response)) == (404, "not_found"), body


async def test_a_moderator_who_clicks_without_pause_is_slowed_down(client, mod, monkeypatch):
    monkeypatch.setattr(limits, "MODERATION_ACTIONS_PER_SEC", 0.001)  # no refill while the test runs
    reset_runtime()
    token, _ = mod
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "hello")
    answers = [(await act(client, token, action="delete", seq=1)).status_code for _ in range(31)]
    assert answers[:30] == [200] * 30 and answers[30] == 429
    limited = await act(client, token, action="delete", seq=1)
    assert code_of(limited) == "rate_limited" and int(limited["Retry-After"]) >= 1


# --- What it does to open pages ----------------------------------------------------------------


async def test_delete_mute_and_ban_reach_open_pages_at_once(client, mod):
    token, _ = mod
    async with connected("Ann", ip="10.0.0.1") as ann, connected("Bob", ip="10.0.0.2") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.take("presence")  # Bob arrived
        await bob.say("lobby", "buy pills")
        await ann.take("message")

        deleted = await act(client, token, action="delete", seq=1, reason="spam")
        assert deleted.json() == {"action": "delete", "affected_online": 2}
        for socket in (ann, bob):
            assert await socket.next() == {"type": "deleted", "room": "lobby", "seq": 1}
        assert (await Message.objects.aget(seq=1)).deleted_reason == "spam"

        muted = await act(client, token, action="mute", seq=1, duration_secs=3600, reason="cool down")
        assert muted.json() == {"action": "mute", "affected_online": 1}
        notice = await bob.next()
        assert (notice["type"], notice["action"], notice["reason"]) == ("moderated", "muted", "cool down")
        assert notice["until"].endswith("Z")
        await bob.post("lobby", "more pills")
        assert (await bob.error())["code"] == "muted"
        assert await ann.silent(), "Ann is neither muted nor told"

        banned = await act(client, token, action="ban", visitor=bob.me["visitor"], duration_secs=None)
        assert banned.json() == {"action": "ban", "affected_online": 1}
        notice = await bob.expect("moderated")
        assert (notice["action"], notice["until"]) == ("banned", None)
        assert await bob.close_code() == 4003
    sanctions = [s async for s in Sanction.objects.order_by("created_at")]
    assert [(s.kind, s.visitor, s.ip, s.visitor_name, s.created_by) for s in sanctions] == [
        ("mute", bob.me["visitor"], None, "Bob", "Mod"),
        ("ban", bob.me["visitor"], None, "Bob", "Mod"),
    ], "identity only unless the moderator chose the address"


async def test_an_address_ban_is_a_choice_that_counts_and_hits_everyone_on_it(client, mod):
    token, _ = mod
    async with (
        connected("Eve", ip="10.0.0.5") as eve,
        connected("Eve2", ip="10.0.0.5") as twin,
        opened(ip="10.0.0.5") as reader,
        connected("Bob", ip="10.0.0.6") as bob,
    ):
        for socket in (eve, twin, bob):
            await socket.join("lobby")
        await reader.join("lobby", arrives=False)
        await eve.say("lobby", "spam")
        count = await call(client, "GET", "/api/moderation/address/", {"room": "lobby", "seq": "1"}, token=token)
        assert count.json() == {"online_from_address": 3, "protected": False}, "two people and a reader"
        by_visitor = {"room": "lobby", "visitor": eve.me["visitor"]}
        assert (await call(client, "GET", "/api/moderation/address/", by_visitor, token=token)).json() == count.json()

        banned = await act(client, token, action="ban", seq=1, duration_secs=86400, scope="address")
        assert banned.json() == {"action": "ban", "affected_online": 3}
        for socket in (eve, twin, reader):
            assert (await socket.expect("moderated"))["action"] == "banned"
            assert await socket.close_code() == 4003
        assert (await bob.expect("message"))["text"] == "spam", "Bob, elsewhere, reads on"
    sanction = await Sanction.objects.aget()
    assert (sanction.visitor, sanction.ip) == (eve.me["visitor"], "10.0.0.5")


async def test_staff_and_the_addresses_of_signed_in_staff_are_never_sanctioned(client, mod):
    token, _ = mod
    async with (
        connected("Boss", staff=True, ip="10.0.0.8") as boss,
        connected("Ann", ip="10.0.0.8") as ann,
        connected("Cy", ip="10.0.0.3") as cy,
    ):
        for socket in (boss, ann, cy):
            await socket.join("lobby")
        await boss.say("lobby", "house rules")
        await ann.say("lobby", "spam")
        await cy.say("lobby", "hi")
        staff_message = await act(client, token, action="ban", seq=1)
        assert (staff_message.status_code, code_of(staff_message)) == (409, "protected")
        assert code_of(await act(client, token, action="mute", visitor=boss.me["visitor"])) == "protected"
        shared = await act(client, token, action="ban", seq=2, scope="address")
        assert (shared.status_code, code_of(shared)) == (409, "protected"), "Boss is signed in from 10.0.0.8"
        count = await call(client, "GET", "/api/moderation/address/", {"room": "lobby", "seq": "2"}, token=token)
        assert count.json() == {"online_from_address": 2, "protected": True}
        own_address = {"room": "lobby", "action": "ban", "seq": 3, "scope": "address"}
        own = await call(client, "POST", "/api/moderation/actions/", own_address, token=token, ip="10.0.0.3")
        assert code_of(own) == "protected", "a moderator never bans their own address"
        assert (await act(client, token, action="ban", seq=2)).status_code == 200, "Ann's identity alone: fine"
        assert (await ann.expect("moderated"))["action"] == "banned"
        await boss.say("lobby", "still here")
    assert await Sanction.objects.acount() == 1


async def test_a_staff_socket_ignores_a_ban_of_an_address_it_shares():
    async with connected("Boss", staff=True, ip="10.0.0.8") as boss, connected("Ann", ip="10.0.0.8") as ann:
        # No staff was in a room (no presence row) when the address was banned, so nothing refused it.
        await database_sync_to_async(moderation.impose)(kind=Sanction.Kind.BAN, ip="10.0.0.8")
        assert (await ann.next())["action"] == "banned"
        assert await boss.silent()
        await boss.join("lobby")


# --- After a reload, a new name, a lift ----------------------------------------------------------


async def test_a_muted_visitor_learns_it_on_auth_after_a_reload(client, mod):
    token, _ = mod
    ann_token = token_for("Ann")
    async with connected(token=ann_token) as ann:
        await ann.join("lobby")
        await ann.say("lobby", "spam")
        assert ann.me["muted"] is None
        await act(client, token, action="mute", seq=1, duration_secs=3600, reason="cool down")
        assert (await ann.next())["action"] == "muted"
    async with opened() as reloaded:
        me = await reloaded.auth(ann_token)
        assert me["muted"]["reason"] == "cool down" and me["muted"]["until"].endswith("Z")


async def ask_identity(client, name: str, ip: str):
    challenge = (await sync_to_async(client.get)("/api/identity/challenge/", secure=True)).json()["challenge"]
    body = {"name": name, "challenge": challenge, "nonce": solve(challenge, POW_BITS)}
    return await call(client, "POST", "/api/identity/", body, ip=ip)


async def test_a_new_name_from_the_muted_visitors_address_is_muted_too(client, mod, settings):
    settings.BACKCHANNEL_IDENTITY_POW_BITS = POW_BITS
    token, _ = mod
    async with connected("Eve", ip="10.0.0.5") as eve:
        await eve.join("lobby")
        await eve.say("lobby", "spam")
        await act(client, token, action="mute", seq=1, duration_secs=3600, reason="cool down")
    # Eve clears storage and picks a new name; someone elsewhere picks one too.
    fresh = await ask_identity(client, "Evelyn", "10.0.0.5")
    elsewhere = await ask_identity(client, "Dan", "10.0.0.6")
    assert fresh.status_code == elsewhere.status_code == 200
    async with opened(ip="10.0.0.5") as evelyn, opened(ip="10.0.0.6") as dan:
        me = await evelyn.auth(fresh.json()["token"])
        assert me["visitor"] != eve.me["visitor"]
        assert me["muted"] is not None and me["muted"]["reason"] == "cool down"
        await evelyn.join("lobby")
        await evelyn.post("lobby", "spam again")
        assert (await evelyn.error())["code"] == "muted"
        assert (await dan.auth(elsewhere.json()["token"]))["muted"] is None

    # Lifting the original lifts the copy, and keeps both records.
    original = await Sanction.objects.aget(carried_from__isnull=True)
    await database_sync_to_async(moderation.lift)(sanction=original, by="Mod")
    async with opened(ip="10.0.0.5") as evelyn:
        assert (await evelyn.auth(fresh.json()["token"]))["muted"] is None
    assert await Sanction.objects.filter(lifted_at__isnull=False, lifted_by="Mod").acount() == 2


async def test_carrying_stops_after_its_window_and_a_ban_refuses_the_new_name(client, mod, settings):
    settings.BACKCHANNEL_IDENTITY_POW_BITS = POW_BITS
    token, _ = mod
    async with connected("Eve", ip="10.0.0.5") as eve:
        await eve.join("lobby")
        await eve.say("lobby", "spam")
        await act(client, token, action="ban", seq=1, duration_secs=86400, reason="spam")
    refused = await ask_identity(client, "Evelyn", "10.0.0.5")
    assert (refused.status_code, code_of(refused)) == (403, "banned")
    settings.BACKCHANNEL_SANCTION_ADDRESS_CARRY_SECS = 0
    assert (await ask_identity(client, "Evelyn", "10.0.0.5")).status_code == 200


async def test_a_lifted_mute_is_announced_and_the_record_stays():
    async with connected("Ann") as ann:
        await ann.join("lobby")
        mute = await database_sync_to_async(moderation.impose)(
            kind=Sanction.Kind.MUTE, visitor=ann.me["visitor"], duration=timedelta(hours=1), reason="cool down"
        )
        assert (await ann.next())["action"] == "muted"
        assert await database_sync_to_async(moderation.lift)(sanction=mute, by="Mod", reason="apologised")
        assert await ann.next() == {"type": "moderated", "action": "unmuted", "reason": "", "until": None}
        await ann.say("lobby", "sorry")
        assert not await database_sync_to_async(moderation.lift)(sanction=mute, by="Mod"), "lifted once"
    kept = await Sanction.objects.aget()
    assert (kept.lifted_by, kept.lifted_reason, kept.reason) == ("Mod", "apologised", "cool down")


async def test_a_lifted_ban_lets_the_page_back_in_on_its_next_retry():
    token = token_for("Eve")
    async with connected(token=token, ip="10.0.0.5") as eve:
        ban = await database_sync_to_async(moderation.impose)(
            kind=Sanction.Kind.BAN, visitor=eve.me["visitor"], ip="10.0.0.5"
        )
        assert (await eve.expect("moderated"))["action"] == "banned"
        assert await eve.close_code() == 4003
    refused = Socket(communicator_for(ip="10.0.0.5"))
    assert (await refused.communicator.connect())[0]
    assert (await refused.error())["code"] == "banned"
    assert await refused.close_code() == 4003
    await refused.communicator.disconnect()
    await database_sync_to_async(moderation.lift)(sanction=ban, by="Mod")
    async with opened(ip="10.0.0.5") as retry:
        assert (await retry.auth(token))["visitor"] == eve.me["visitor"]


# --- Reports -----------------------------------------------------------------------------------


async def report(client, token: str, **body: object):
    return await call(client, "POST", "/api/reports/", {"room": "lobby", **body}, token=token, ip="10.0.0.7")


async def test_a_report_is_stored_once_per_visitor_and_message(client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        await ann.say("lobby", "spam")
        own = await report(client, token_for("Ann", visitor=ann.me["visitor"]), seq=1)
        assert (own.status_code, code_of(own)) == (400, "bad_field"), "nobody reports their own message"
    bob = token_for("Bob")
    first = await report(client, bob, seq=1, reason="advertising")
    assert (first.status_code, first.json()) == (201, {})
    again = await report(client, bob, seq=1, reason="still advertising")
    assert (again.status_code, again.json()) == (200, {})
    assert (await report(client, token_for("Cy"), seq=1)).status_code == 201
    assert code_of(await report(client, bob, seq=2)) == "not_found"
    assert code_of(await report(client, "forged", seq=1)) == "bad_token"
    reports = [(r.name, r.reason, r.ip) async for r in Report.objects.order_by("created_at")]
    assert reports == [("Bob", "advertising", "10.0.0.7"), ("Cy", "", "10.0.0.7")]


async def test_reports_are_rate_limited_per_visitor(client):
    async with connected("Ann") as ann:
        await ann.join("lobby")
        for n in range(7):
            await ann.say("lobby", f"spam {n}")
    bob = token_for("Bob")
    answers = [(await report(client, bob, seq=seq)).status_code for seq in range(1, 7)]
    assert answers == [201] * 5 + [429]
    assert (await report(client, token_for("Cy"), seq=7)).status_code == 201, "another visitor is not slowed"


# --- Resume ------------------------------------------------------------------------------------


async def test_a_resume_repairs_a_deletion_the_page_missed():
    async with connected("Ann") as ann:
        await ann.join("lobby")
        for text in ("one", "two", "three"):
            await ann.say("lobby", text)
    # Ann's page shows 1-3 and is offline when a moderator deletes 2 (the live `deleted` is lost).
    message = await Message.objects.select_related("room").aget(seq=2)
    await database_sync_to_async(moderation.delete_message)(message=message, by="Mod")
    async with connected("Bob") as bob:
        await bob.join("lobby")
        await bob.say("lobby", "four")
    async with connected("Ann") as ann:
        joined = await ann.join("lobby", after_seq=3)
        assert joined["resumed"] is True
        assert [(m["seq"], m["deleted"], m["text"]) for m in joined["history"]] == [(2, True, ""), (4, False, "four")]
        again = await ann.join("lobby", after_seq=4, arrives=False)
        assert [(m["seq"], m["deleted"]) for m in again["history"]] == [(2, True)], "nothing new, one repair"


async def test_a_resume_with_repairs_too_big_for_a_frame_becomes_a_fresh_view(settings):
    settings.BACKCHANNEL_PAGE_BUDGET_BYTES = 600  # two or three message events
    async with connected("Ann") as ann:
        await ann.join("lobby")
        for n in range(8):
            await ann.say("lobby", f"message {n}")
    for seq in (1, 2, 3, 4, 5, 6):
        message = await Message.objects.select_related("room").aget(seq=seq)
        await database_sync_to_async(moderation.delete_message)(message=message, by="Mod")
    async with connected("Ann") as ann:
        joined = await ann.join("lobby", after_seq=7)
        assert joined["resumed"] is False and joined["has_older"] is True
        assert [m["seq"] for m in joined["history"]] == [8], "the latest that fit, with no tombstone before it"


async def test_a_bad_carry_window_is_refused_by_a_system_check(settings):
    from chat.checks import check_moderation
    from chat.conf import DEFAULT_SANCTION_ADDRESS_CARRY_SECS, conf

    assert check_moderation() == []
    for bad in (-5, "a day", 1.5):
        settings.BACKCHANNEL_SANCTION_ADDRESS_CARRY_SECS = bad
        [error] = check_moderation()
        assert error.id == "backchannel.E006" and "SANCTION_ADDRESS_CARRY_SECS" in error.msg
        assert conf.SANCTION_ADDRESS_CARRY_SECS == DEFAULT_SANCTION_ADDRESS_CARRY_SECS
