"""Who is online in which room: one ``Presence`` row per joined socket, shared by every process
through the database. Plain synchronous functions (services and selectors); the consumer turns
their results into ``presence`` events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction

from chat.identity import Identity
from chat.models import Presence


@dataclass(frozen=True)
class Person:
    visitor: str
    name: str
    staff: bool


@dataclass(frozen=True)
class Snapshot:
    online_count: int
    people: list[Person] | None  # None when the room is over the list limit


@dataclass(frozen=True)
class Departure:
    room: str
    person: Person


def enter(*, room: str, channel_name: str, identity: Identity, now: datetime) -> bool:
    """Record the socket in the room; True when the person was not online there before."""
    with transaction.atomic():
        _one_at_a_time(room, identity.visitor)
        already_here = Presence.objects.filter(room_name=room, visitor=identity.visitor).exists()
        Presence.objects.update_or_create(
            room_name=room,
            channel_name=channel_name,
            defaults={"visitor": identity.visitor, "name": identity.name, "staff": identity.staff, "last_seen": now},
        )
    return not already_here


def leave(*, room: str, channel_name: str) -> Person | None:
    """Forget the socket in the room; the person when this was their last socket there."""
    with transaction.atomic():
        row = Presence.objects.filter(room_name=room, channel_name=channel_name).first()
        if row is None:
            return None
        _one_at_a_time(room, row.visitor)
        deleted, _ = Presence.objects.filter(pk=row.pk).delete()
        if not deleted:
            return None  # another leave of this socket (the sweep, say) removed it and told the room
        still_here = Presence.objects.filter(room_name=room, visitor=row.visitor).exists()
    return None if still_here else Person(row.visitor, row.name, row.staff)


def _one_at_a_time(room: str, visitor: str) -> None:
    """In a transaction: wait until no other enter or leave of this person in this room is under
    way. SQLite's transactions (IMMEDIATE) already run one at a time; PostgreSQL's run side by
    side, and two tabs opened (closed) at the same moment would each see the other still absent
    (still there): both announced as arrivals, or no departure at all. A transaction-scoped
    advisory lock on the (room, visitor) pair serialises just those."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"presence:{room}:{visitor}"])


def leave_all(*, channel_name: str) -> list[Departure]:
    """Forget a closed socket everywhere; who is gone from which room as a result."""
    rooms = list(Presence.objects.filter(channel_name=channel_name).values_list("room_name", flat=True))
    departures = []
    for room in rooms:
        person = leave(room=room, channel_name=channel_name)
        if person is not None:
            departures.append(Departure(room, person))
    return departures


def touch(*, channel_name: str, now: datetime) -> None:
    """The socket is alive (it pinged): keep its rows from being swept."""
    Presence.objects.filter(channel_name=channel_name).update(last_seen=now)


def sweep_stale(*, now: datetime, stale_secs: int) -> list[Departure]:
    """Remove rows of sockets not seen for ``stale_secs`` (their process died without cleaning up)."""
    cutoff = now - timedelta(seconds=stale_secs)
    departures = []
    for room, channel_name in Presence.objects.filter(last_seen__lt=cutoff).values_list("room_name", "channel_name"):
        person = leave(room=room, channel_name=channel_name)
        if person is not None:
            departures.append(Departure(room, person))
    return departures


def snapshot(*, room: str, list_limit: int) -> Snapshot:
    rows = Presence.objects.filter(room_name=room)
    online_count = rows.values("visitor").distinct().count()
    if online_count > list_limit:
        return Snapshot(online_count, None)
    people: dict[str, Person] = {}
    for visitor, name, staff in rows.values_list("visitor", "name", "staff"):
        people.setdefault(visitor, Person(visitor, name, staff))
    return Snapshot(len(people), sorted(people.values(), key=lambda person: (person.name.casefold(), person.visitor)))
