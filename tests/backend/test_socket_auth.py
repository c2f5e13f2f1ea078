"""A socket's identity: the `auth` frame, its refusals, the auth deadline and token refresh."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from chat.identity import Identity, verify_token
from chat.models import Message
from tests.backend.sockets import connected, opened, staff_token_for, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "send", "room": "lobby", "text": "hi", "client_id": "a"},
        {"type": "typing", "room": "lobby"},
    ],
)
async def test_writing_needs_auth(frame):
    """Reading does not (tests/backend/test_reading.py); a message or a typing notice needs a name."""
    async with opened() as socket:
        await socket.send(**frame)
        error = await socket.error()
        assert (error["code"], error["room"]) == ("not_authenticated", "lobby")
        await socket.auth(token_for("Ann"))  # still open, and auth still works
    assert await Message.objects.acount() == 0


async def test_an_old_client_that_authenticates_first_sees_what_it_always_saw():
    """Protocol 2 clients from before reading without a name: auth, join, send, as before. The new
    `ready` field and the presence objects' `readers` are extra fields, which they ignore."""
    async with opened() as socket, connected("Bob") as bob:
        assert socket.ready["protocol"] == 2
        me = await socket.auth(token_for("Ann"))
        joined = await socket.join("lobby")
        ann = {"visitor": me["visitor"], "name": "Ann", "staff": False, "tag": me["tag"]}
        assert joined["presence"]["people"] == [ann]
        await bob.join("lobby")
        assert (await socket.next())["change"]["person"]["name"] == "Bob"
        message = await socket.say("lobby", "hi")
        assert (message["author"], message["seq"]) == ("Ann", 1)
        assert (await bob.expect("message"))["text"] == "hi"


async def test_authenticated_says_who_the_token_names():
    token, user = await sync_to_async(staff_token_for)("Mod")
    async with opened() as socket:
        me = await socket.auth(token)
        assert (me["name"], me["visitor"], me["staff"]) == ("Mod", f"staff-{user.pk}", True)
        assert await socket.silent(), "a fresh token is not refreshed"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("garbage", "bad_token"),
        (token_for("Ann") + "x", "bad_token"),
        ("", "bad_token"),
        (token_for("Ann", age_secs=3601), "token_expired"),
    ],
)
async def test_a_refused_token_leaves_the_socket_open_for_another_auth(token, code):
    async with opened() as socket:
        await socket.send(type="auth", token=token)
        error = await socket.error()
        assert error["code"] == code and error["message"]
        await socket.send(type="send", room="lobby", text="hi", client_id="c1")
        assert (await socket.error())["code"] == "not_authenticated"
        me = await socket.auth(token_for("Ann"))
        assert me["name"] == "Ann"


async def test_a_socket_authenticates_once():
    async with connected("Ann") as ann:
        await ann.send(type="auth", token=token_for("Bob"))
        assert (await ann.error())["code"] == "already_authenticated"
        await ann.join("lobby")
        assert (await ann.say("lobby", "hi"))["author"] == "Ann"


async def test_the_author_is_the_tokens_name_whatever_the_frames_claim():
    async with connected("Ann") as ann:
        await ann.send(type="join", room="lobby", name="Admin")
        assert (await ann.next())["type"] == "joined"
        presence = await ann.next()
        assert presence["change"]["person"]["name"] == "Ann"
        await ann.send(type="send", room="lobby", text="hi", client_id="x", name="Admin", author="Admin", staff=True)
        message = await ann.expect("message")
        assert (message["author"], message["visitor"], message["staff"]) == ("Ann", ann.me["visitor"], False)
    stored = await Message.objects.aget(client_id="x")
    assert (stored.author, stored.staff) == ("Ann", False)


async def test_a_socket_that_does_not_authenticate_in_time_is_closed_with_4001(settings):
    settings.BACKCHANNEL_AUTH_TIMEOUT_SECS = 0.2
    async with opened() as socket:
        assert socket.ready["auth_timeout_secs"] == 0.2
        await socket.send(type="auth", token="garbage")  # a failed auth does not stop the clock
        assert (await socket.error())["code"] == "bad_token"
        assert (await socket.error())["code"] == "auth_timeout"
        assert await socket.close_code() == 4001


async def test_an_authenticated_socket_is_not_closed_by_the_auth_deadline(settings):
    settings.BACKCHANNEL_AUTH_TIMEOUT_SECS = 0.1
    async with connected("Ann") as ann:
        await asyncio.sleep(0.2)
        await ann.send(type="ping")
        assert (await ann.next())["type"] == "pong"


async def test_a_token_past_half_its_life_is_replaced_on_auth_and_on_ping(settings):
    settings.BACKCHANNEL_TOKEN_TTL_SECS = 100
    async with opened() as socket:
        await socket.auth(token_for("Ann", visitor="v-ann", age_secs=51))
        fresh = await socket.next()
        assert fresh["type"] == "token" and fresh["expires_in_secs"] == 100
        verified = verify_token(fresh["token"], now=time.time(), max_age_secs=100)
        assert verified.identity == Identity(visitor="v-ann", name="Ann")
        assert time.time() - verified.issued_at < 5

        await socket.send(type="ping")
        assert (await socket.next())["type"] == "pong"
        assert await socket.silent(), "the socket's token is fresh now"


async def test_a_long_lived_socket_gets_a_fresh_token_on_ping(settings):
    settings.BACKCHANNEL_TOKEN_TTL_SECS = 100
    async with opened() as socket:
        await socket.auth(token_for("Ann", age_secs=40))
        await socket.send(type="ping")
        assert (await socket.next())["type"] == "pong"
        assert await socket.silent()
        settings.BACKCHANNEL_TOKEN_TTL_SECS = 60  # the same age is now past half the life
        await socket.send(type="ping")
        events = [await socket.next(), await socket.next()]
        assert [event["type"] for event in events] == ["pong", "token"]
        assert events[1]["expires_in_secs"] == 60


# --- Staff status is re-checked, not taken from the token ----------------------------------------


def demote(user: User, how: str) -> None:
    if how == "deleted":
        user.delete()
    else:
        setattr(user, {"no longer staff": "is_staff", "deactivated": "is_active"}[how], False)
        user.save()


DEMOTIONS = ["no longer staff", "deactivated", "deleted"]


@pytest.mark.parametrize("how", DEMOTIONS)
async def test_a_staff_token_of_a_demoted_account_is_refused_at_auth(how):
    token, user = await sync_to_async(staff_token_for)("Mod")
    await sync_to_async(demote)(user, how)
    async with opened() as socket:
        await socket.send(type="auth", token=token)
        error = await socket.error()
        assert (error["code"], error["message"]) == ("bad_token", "this account is no longer staff; sign in again")
        await socket.auth(token_for("Ann"))  # the socket stays open for another identity


async def test_a_staff_token_without_a_staff_account_behind_it_is_refused():
    async with opened() as socket:
        await socket.send(type="auth", token=token_for("Mod", visitor="staff-999999", staff=True))
        assert (await socket.error())["code"] == "bad_token"


@pytest.mark.parametrize("how", DEMOTIONS)
async def test_an_open_staff_socket_loses_staff_within_the_recheck_interval(settings, how):
    """Without any frame from the client: one that never pings is re-checked all the same."""
    settings.BACKCHANNEL_STAFF_RECHECK_SECS = 0.2
    token, user = await sync_to_async(staff_token_for)("Mod")
    async with connected(token=token) as mod:
        await mod.join("lobby")
        await sync_to_async(demote)(user, how)
        demoted_at = time.monotonic()
        error = await mod.error()
        assert error["code"] == "bad_token"
        assert await mod.close_code() == 1000
        assert time.monotonic() - demoted_at < 0.2 + 1.0


async def test_a_demoted_account_is_handed_no_fresh_staff_token(settings):
    # Refreshed from 5 s on. A token's time is whole seconds: this one is 3 to 4 s old at auth.
    settings.BACKCHANNEL_TOKEN_TTL_SECS = 10
    settings.BACKCHANNEL_STAFF_RECHECK_SECS = 3600  # only the refresh checks here
    token, user = await sync_to_async(staff_token_for)("Mod", age_secs=3)
    async with connected(token=token) as mod:
        assert await mod.silent(), "not yet due"
        await sync_to_async(demote)(user, "no longer staff")
        await asyncio.sleep(2.1)
        await mod.send(type="ping")
        events = [await mod.next(), await mod.next()]
        assert [event["type"] for event in events] == ["pong", "error"], events
        assert events[1]["code"] == "bad_token"
        assert await mod.close_code() == 1000


async def test_staff_in_good_standing_keep_getting_fresh_tokens(settings):
    settings.BACKCHANNEL_TOKEN_TTL_SECS = 10  # refreshed from 5 s on; this token is 6 to 7 s old
    settings.BACKCHANNEL_STAFF_RECHECK_SECS = 0.2
    token, _ = await sync_to_async(staff_token_for)("Mod", age_secs=6)
    async with opened() as mod:
        await mod.send(type="auth", token=token)
        assert [event["type"] for event in [await mod.next(), await mod.next()]] == ["authenticated", "token"]
        await asyncio.sleep(0.5)  # rechecked twice meanwhile
        await mod.send(type="ping")
        assert (await mod.next())["type"] == "pong"
