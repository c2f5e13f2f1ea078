"""Joins that arrive together share one trip to the database thread (chat.join_batch): each still
gets its own exact `joined`, each person's arrival is announced once, and a failed trip is made
again one join at a time."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from django.db import OperationalError

from chat import selectors
from tests.backend.sockets import connected, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trips(monkeypatch):
    """The size of every batch taken to the database thread."""
    sizes: list[int] = []
    real = selectors.enter_and_view_many

    def counted(*, joins):
        sizes.append(len(joins))
        return real(joins=joins)

    monkeypatch.setattr(selectors, "enter_and_view_many", counted)
    return sizes


async def join_together(sockets, room: str = "lobby") -> list[dict]:
    for socket in sockets:
        await socket.send(type="join", room=room)
    joined = []
    for socket in sockets:
        events = await socket.until("joined")
        joined.append(events[-1])
    return joined


async def test_joins_together_share_trips_and_each_person_arrives_once(trips):
    ann_token = token_for("Ann")
    async with AsyncExitStack() as stack:
        watcher = await stack.enter_async_context(connected("Watcher"))
        await watcher.join("lobby")
        sockets = [await stack.enter_async_context(connected(token=ann_token)) for _ in range(2)]  # two tabs
        sockets += [await stack.enter_async_context(connected(f"P{number}")) for number in range(8)]
        trips.clear()
        joined = await join_together(sockets)

        assert sum(trips) == len(sockets) and len(trips) < len(sockets), f"batches: {trips}"
        # Each `joined` counts at least the people up to itself, and the last one sees everyone.
        for event in joined:
            assert event["presence"]["online_count"] >= 2  # the watcher and this socket's person
        assert max(event["presence"]["online_count"] for event in joined) == 1 + 1 + 8
        arrivals = []
        while len(arrivals) < 9:
            event = await watcher.expect("presence")
            arrivals.append(event["change"]["person"]["name"])
        assert sorted(arrivals) == sorted(["Ann", *(f"P{number}" for number in range(8))])
        assert await watcher.silent(), "Ann's second tab is no second arrival"


async def test_a_failed_trip_is_made_again_one_join_at_a_time(monkeypatch):
    def failing(*, joins):
        raise OperationalError("database is locked")

    monkeypatch.setattr(selectors, "enter_and_view_many", failing)
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connected(f"P{number}")) for number in range(4)]
        joined = await join_together(sockets)
        assert [event["type"] for event in joined] == ["joined"] * 4
        assert max(event["presence"]["online_count"] for event in joined) == 4


async def test_a_quiet_process_sends_a_join_at_once(trips):
    async with connected("Ann") as ann:
        await asyncio.wait_for(ann.join("lobby"), timeout=1)
    assert trips == [1]


async def test_a_fresh_join_whose_row_was_there_after_all_is_written_again_as_an_update():
    from django.utils import timezone

    from chat.identity import Identity
    from chat.models import Presence
    from chat.runtime import runtime

    await Presence.objects.acreate(room_name="lobby", channel_name="socket.x", visitor="v-x", name="Old")
    arrived, view = await runtime().loop().join_batcher.enter_and_view(
        room_name="lobby", channel_name="socket.x", identity=Identity(visitor="v-x", name="New"),
        now=timezone.now(), ip=None, fresh=True, after_seq=None, history_limit=5, resume_limit=50,
        presence_list_limit=100,
    )  # fmt: skip
    assert arrived is False and [person.name for person in view.presence.people] == ["New"]
    assert await Presence.objects.filter(channel_name="socket.x").acount() == 1
