"""The sanctions in force, kept in each process (chat.sanction_cache): connect's address check and
auth's check read the process's copy, which every sanction written anywhere drops (here at once,
elsewhere through the layer's `sanctions` group), as does a layer reconnect."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from chat import moderation, sanction_cache
from chat.models import Sanction
from chat.runtime import runtime
from tests.backend.sockets import Socket, communicator_for, connected, opened, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

impose = database_sync_to_async(moderation.impose)
lift = database_sync_to_async(moderation.lift)


async def refused_at_connect(ip: str) -> bool:
    """True when a socket from ``ip`` is refused with 4003, False when it gets `ready`."""
    socket = Socket(communicator_for(ip=ip))
    assert (await socket.communicator.connect())[0]
    first = await socket.next()
    if first["type"] == "ready":
        await socket.communicator.disconnect()
        return False
    assert first["type"] == "error" and first["code"] == "banned", first
    assert await socket.close_code() == 4003
    await socket.communicator.disconnect()
    return True


@sync_to_async
def ban_as_another_process_would(**fields: object) -> None:
    """A ban written where this process's signal receivers do not run (another process): rows only."""
    Sanction.objects.bulk_create([Sanction(kind=Sanction.Kind.BAN, **fields)])


async def test_a_ban_of_a_cached_address_refuses_the_next_connect_and_its_lift_admits_it():
    assert not await refused_at_connect("10.1.0.1")  # the address's (empty) sanctions are now kept
    ban = await impose(kind=Sanction.Kind.BAN, ip="10.1.0.1")
    assert await refused_at_connect("10.1.0.1")
    await lift(sanction=ban)
    assert not await refused_at_connect("10.1.0.1")


async def test_a_ban_of_a_cached_identity_refuses_its_next_auth_and_a_mute_shows_on_the_next():
    token = token_for("Ann", visitor="v-cached")
    async with connected(token=token):
        pass  # v-cached's sanctions (none) are kept
    await impose(kind=Sanction.Kind.MUTE, visitor="v-cached", reason="calm down")
    async with connected(token=token) as again:
        assert again.me["muted"]["reason"] == "calm down"
    await impose(kind=Sanction.Kind.BAN, visitor="v-cached")
    async with opened() as socket:
        await socket.send(type="auth", token=token)
        assert (await socket.error())["code"] == "banned"


async def test_a_sanction_written_by_another_process_reaches_this_one_through_the_layer():
    assert not await refused_at_connect("10.1.0.2")
    await ban_as_another_process_would(ip="10.1.0.2")
    assert not await refused_at_connect("10.1.0.2"), "kept: the database was not read again"
    # What the other process publishes after writing it.
    await get_channel_layer().group_send(
        sanction_cache.GROUP, {"type": sanction_cache.CHANGED, "group": sanction_cache.GROUP, "frame": ""}
    )
    for _ in range(100):
        if sanction_cache.cached_in_force(visitor="", ip="10.1.0.2", now=timezone.now()) is None:
            break
        await asyncio.sleep(0.01)
    assert await refused_at_connect("10.1.0.2")


async def test_a_process_whose_layer_reconnected_forgets_what_it_kept():
    assert not await refused_at_connect("10.1.0.3")
    await ban_as_another_process_would(ip="10.1.0.3")  # its announcement lost in the outage
    fanout = runtime().loop().fanout
    fanout._resubscribe_when_back()  # what the Redis layer's reconnect listener calls
    assert sanction_cache.cached_in_force(visitor="", ip="10.1.0.3", now=timezone.now()) is None
    assert await refused_at_connect("10.1.0.3")


async def test_a_ban_that_runs_out_ends_on_time_without_any_announcement():
    now = timezone.now()
    await ban_as_another_process_would(ip="10.1.0.4", until=now + timedelta(hours=1))
    assert await refused_at_connect("10.1.0.4")  # now kept, with its end
    kept = sanction_cache.cached_in_force(visitor="", ip="10.1.0.4", now=now + timedelta(hours=2))
    assert kept == {}, "ended"


@sync_to_async
def read_racing_an_invalidation() -> tuple[bool, bool]:
    sanction_cache.listening(True)
    try:

        def changed_meanwhile(execute, sql, params, many, context):
            sanction_cache.clear()  # a sanction written elsewhere while this read ran
            return execute(sql, params, many, context)

        with connection.execute_wrapper(changed_meanwhile):
            sanction_cache.read_in_force(visitor="v-race", ip=None, now=timezone.now())
        raced = sanction_cache.cached_in_force(visitor="v-race", ip=None, now=timezone.now()) is None
        sanction_cache.in_force(visitor="v-race", ip=None, now=timezone.now())
        kept = sanction_cache.cached_in_force(visitor="v-race", ip=None, now=timezone.now()) is not None
        return raced, kept
    finally:
        sanction_cache.listening(False)


async def test_a_read_that_an_invalidation_overtook_is_not_kept():
    raced, kept = await read_racing_an_invalidation()
    assert raced, "what was read before the change must not be kept"
    assert kept, "a read with nothing overtaking it is kept"


@sync_to_async
def strongest_as_the_database_orders_them() -> tuple[dict, dict]:
    now = timezone.now()
    Sanction.objects.create(kind=Sanction.Kind.MUTE, visitor="v-order", until=now + timedelta(hours=1), reason="h")
    Sanction.objects.create(kind=Sanction.Kind.MUTE, visitor="v-order", reason="for ever")
    Sanction.objects.create(kind=Sanction.Kind.MUTE, ip="10.1.0.5", until=now + timedelta(days=1), reason="d")
    Sanction.objects.create(kind=Sanction.Kind.BAN, ip="10.1.0.5", until=now + timedelta(days=1), reason="b")
    expected = moderation.sanctions_in_force(visitor="v-order", ip="10.1.0.5", now=now)
    sanction_cache.listening(True)
    try:
        sanction_cache.in_force(visitor="v-order", ip="10.1.0.5", now=now)
        cached = sanction_cache.cached_in_force(visitor="v-order", ip="10.1.0.5", now=now)
    finally:
        sanction_cache.listening(False)
    return ({kind: s.pk for kind, s in expected.items()}, {kind: s.pk for kind, s in (cached or {}).items()})


async def test_the_kept_copy_answers_what_the_database_answers():
    expected, cached = await strongest_as_the_database_orders_them()
    assert cached == expected


@sync_to_async
def lift_by_hand(ip: str) -> None:
    """What an operator's UPDATE in the database does: no signal, no announcement."""
    Sanction.objects.filter(ip=ip).update(lifted_at=timezone.now())


async def test_a_kept_ban_is_read_again_before_refusing_so_a_lift_by_hand_lets_the_page_in():
    await ban_as_another_process_would(ip="10.1.0.6")
    assert await refused_at_connect("10.1.0.6")  # the ban is now in the copy
    await lift_by_hand("10.1.0.6")
    assert not await refused_at_connect("10.1.0.6")


@sync_to_async
def fill_with(count: int) -> int:
    sanction_cache.listening(True)
    try:
        now = timezone.now()
        for number in range(count):
            sanction_cache.in_force(visitor=f"v-many-{number}", ip=None, now=now)
        return len(sanction_cache._by_visitor)
    finally:
        sanction_cache.listening(False)


async def test_the_copy_is_bounded(monkeypatch):
    monkeypatch.setattr(sanction_cache, "MAX_ENTRIES", 5)
    monkeypatch.setattr(sanction_cache, "MAX_WHOLE_ROWS", -1)  # never all of them: per visitor id
    assert await fill_with(12) == 5
