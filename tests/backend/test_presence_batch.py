"""A join batch's new presence rows are written in one statement (``presence.enter_fresh_many``):
each row as ``presence.enter`` would write it, each person announced once however many of their
tabs join together, readers always, and two processes' batches of the same people at once still
announce each person once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chat import presence, selectors
from chat.identity import Identity
from chat.models import Presence
from tests.backend.concurrency import side_by_side


@pytest.fixture(autouse=True)
def _not_on_mysql(request):
    """MySQL's batches write each row on its own (its named locks), not through enter_fresh_many."""
    if "two_processes" not in request.node.name and connection.vendor == "mysql":
        pytest.skip("MySQL batches use presence.enter per row")


ANN = Identity(visitor="v-ann", name="Ann")
BOB = Identity(visitor="v-bob", name="Bob", staff=True)


def entering(room: str, socket: str, identity: Identity | None, ip: str | None = None) -> presence.Entering:
    return presence.Entering(room=room, channel_name=socket, identity=identity, now=timezone.now(), ip=ip)


@pytest.mark.django_db
def test_rows_are_written_as_enter_writes_them_and_each_person_arrives_once():
    earlier = timezone.now() - timedelta(minutes=5)
    presence.enter(room="lobby", channel_name="socket.old", identity=BOB, now=earlier)
    with transaction.atomic():
        arrived = presence.enter_fresh_many(
            [
                entering("lobby", "socket.1", ANN, ip="2001:DB8::0:1"),
                entering("lobby", "socket.2", ANN),  # Ann's second tab
                entering("lobby", "socket.3", BOB),  # Bob is there already
                entering("lobby", "socket.4", None, ip="192.0.2.7"),  # a reader
                entering("lobby", "socket.5", None),  # another reader
                entering("garden", "socket.6", ANN),  # Ann somewhere else
            ]
        )
    assert arrived == [True, False, False, True, True, True]
    rows = {row.channel_name: row for row in Presence.objects.all()}
    assert (rows["socket.1"].visitor, rows["socket.1"].name, rows["socket.1"].staff) == ("v-ann", "Ann", False)
    assert rows["socket.1"].ip == "2001:db8::1"  # normalised as the model field does
    assert (rows["socket.3"].name, rows["socket.3"].staff) == ("Bob", True)
    assert (rows["socket.4"].visitor, rows["socket.4"].ip) == (presence.READER, "192.0.2.7")
    assert rows["socket.6"].room_name == "garden"
    assert abs(rows["socket.5"].last_seen - timezone.now()) < timedelta(minutes=1)
    snapshot = presence.snapshot(room="lobby", list_limit=10)
    assert (snapshot.online_count, snapshot.readers) == (2, 2)
    assert [person.name for person in snapshot.people] == ["Ann", "Bob"]


@pytest.mark.django_db
def test_more_rows_than_one_statement_takes_are_all_written():
    count = 2 * 999 // 7 + 5  # three statements' worth
    with transaction.atomic():
        arrived = presence.enter_fresh_many(
            [entering("lobby", f"socket.{n}", Identity(visitor=f"v-{n}", name=f"P{n}")) for n in range(count)]
        )
    assert arrived == [True] * count
    assert presence.snapshot(room="lobby", list_limit=10).online_count == count


@pytest.mark.django_db(transaction=True)
def test_a_row_there_after_all_fails_the_whole_statement():
    """The join batch then makes each join again on its own, not fresh (tests/backend/test_join_batch.py)."""
    presence.enter(room="lobby", channel_name="socket.1", identity=ANN, now=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        presence.enter_fresh_many([entering("lobby", "socket.2", BOB), entering("lobby", "socket.1", ANN)])
    assert list(Presence.objects.values_list("channel_name", flat=True)) == ["socket.1"]


@pytest.mark.django_db(transaction=True)
def test_two_processes_fresh_batches_of_the_same_people_announce_each_arrival_once():
    """As in test_presence_races, with the sockets new to the room (a join storm's batches):
    every person arrives once, whichever batch wrote first, and neither deadlocks the other."""
    for round_number in range(10):
        room = f"room-{round_number}"
        people = [Identity(visitor=f"p-{number}", name=f"P{number}") for number in range(6)]

        def batch(process: int, room: str = room, people: list[Identity] = people) -> list[bool]:
            joins = [
                {
                    "room_name": room,
                    "channel_name": f"socket.{process}-{person.visitor}",
                    "identity": person,
                    "now": timezone.now(),
                    "ip": None,
                    "fresh": True,
                    "after_seq": None,
                    "history_limit": 5,
                    "resume_limit": 50,
                    "presence_list_limit": 100,
                }  # fmt: skip
                for person in (people if process == 0 else list(reversed(people)))
            ]
            return [arrived for arrived, _ in selectors.enter_and_view_many(joins=joins)]

        first, second = side_by_side(batch, 2)
        assert [a or b for a, b in zip(first, reversed(second), strict=True)] == [True] * len(people)
        assert sum(first) + sum(second) == len(people), f"round {round_number}: {first} {second}"
        assert presence.snapshot(room=room, list_limit=100).online_count == len(people)
