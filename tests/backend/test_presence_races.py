"""Presence under concurrent sockets of one person (two tabs opened or closed at the same moment,
possibly on two processes): exactly one arrival and one departure are announced.

SQLite runs write transactions one at a time (IMMEDIATE); PostgreSQL runs them side by side, so
these tests are what keeps the "first tab in, last tab out" decision right there."""

from __future__ import annotations

import pytest
from django.utils import timezone

from chat import presence, selectors
from chat.identity import Identity
from tests.backend.concurrency import side_by_side

ROUNDS = 15
TABS = 2


@pytest.mark.django_db(transaction=True)
def test_tabs_opened_and_closed_together_announce_one_arrival_and_one_departure():
    for round_number in range(ROUNDS):
        ann = Identity(visitor=f"ann-{round_number}", name="Ann")

        def channel(tab: int, round_number: int = round_number) -> str:
            return f"socket.{round_number}-{tab}"

        def enter(tab: int, ann: Identity = ann) -> bool:
            return presence.enter(room="lobby", channel_name=channel(tab), identity=ann, now=timezone.now())

        arrivals = side_by_side(enter, TABS)
        assert sorted(arrivals) == [False] * (TABS - 1) + [True], f"round {round_number}: {arrivals}"
        departures = side_by_side(lambda tab: presence.leave(room="lobby", channel_name=channel(tab)), TABS)
        gone = [departure.person for departure in departures if departure is not None]
        assert [person.visitor for person in gone] == [ann.visitor], f"round {round_number}: {departures}"


@pytest.mark.django_db(transaction=True)
def test_two_processes_batches_of_the_same_people_announce_each_arrival_once():
    """Join batches (chat.join_batch) of two processes at once, with the same people in each in
    opposite orders: every person arrives once, and neither batch deadlocks the other."""
    people = [Identity(visitor=f"p-{number}", name=f"P{number}") for number in range(6)]

    def batch(process: int) -> list[bool]:
        joins = [
            {
                "room_name": "lobby",
                "channel_name": f"socket.{process}-{person.visitor}",
                "identity": person,
                "now": timezone.now(),
                "ip": None,
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
    assert sum(first) + sum(second) == len(people)
    assert presence.snapshot(room="lobby", list_limit=100).online_count == len(people)
