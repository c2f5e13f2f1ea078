"""Who is online in which room: one ``Presence`` row per joined socket, shared by every process
through the database. Plain synchronous functions (services and selectors); the consumer turns
their results into ``presence`` events.

A socket that joined without authenticating (a reader, ARCHITECTURE.md "Reading without a name")
has a row too, with ``visitor`` set to ``READER``: readers are counted across processes and swept
like everyone else, but they are nobody in ``people`` or ``online_count``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import Count, Q

from chat.identity import Identity
from chat.models import Presence, column_of


@dataclass(frozen=True)
class Person:
    visitor: str
    name: str
    staff: bool


# The ``visitor`` of a reader's row. Visitor ids are never empty (chat.identity), so no person has it.
READER = ""


@dataclass(frozen=True)
class Snapshot:
    online_count: int
    people: list[Person] | None  # None when the room is over the list limit
    readers: int = 0  # sockets in the room without a name


@dataclass(frozen=True)
class Departure:
    room: str
    person: Person | None  # None: a reader stopped reading (nobody the room lists went)


def enter(
    *,
    room: str,
    channel_name: str,
    identity: Identity | None,
    now: datetime,
    ip: str | None = None,
    fresh: bool = False,
) -> bool:
    """Record the socket in the room, as a reader when ``identity`` is None. True when that changes
    what the room shows: the person was not online there before, or the reader is a new one.
    A reader's socket that authenticates enters again with its identity: its row becomes the
    person's. ``fresh``: the socket has no row in the room (it was not in it; its leaves are
    written before its next frame is read), so the row is inserted without looking for it (a row
    there after all fails the insert: the caller tries again without ``fresh``)."""
    if identity is None:
        if fresh:
            return _put_row(room, channel_name, fresh, visitor=READER, name="", staff=False, ip=ip, last_seen=now)
        with transaction.atomic():  # one commit for the two statements
            return _put_row(room, channel_name, fresh, visitor=READER, name="", staff=False, ip=ip, last_seen=now)
    with _one_at_a_time(room, identity.visitor):
        already_here = Presence.objects.filter(room_name=room, visitor=identity.visitor).exists()
        _put_row(
            room, channel_name, fresh,
            visitor=identity.visitor, name=identity.name, staff=identity.staff, ip=ip, last_seen=now,
        )  # fmt: skip
    return not already_here


@dataclass(frozen=True)
class Entering:
    """One socket entering a room in which it has no row yet (a join's ``fresh`` entry)."""

    room: str
    channel_name: str
    identity: Identity | None  # None: a reader
    now: datetime
    ip: str | None = None


def enter_fresh_many(entering: list[Entering]) -> list[bool]:
    """``enter(..., fresh=True)`` for many sockets at once, in the caller's transaction: one read
    of who is already in each room and one multi-row insert, instead of a savepoint, a read and an
    insert per socket (a join storm's database thread spent most of its time there). Answers, in
    order, whether each is an arrival: a reader always (a new reader), a person when nobody of that
    visitor id was in the room before (the first of several tabs in the list only).

    The caller holds a transaction: SQLite's (IMMEDIATE) is the only writer; on PostgreSQL the
    per-person locks of ``_one_at_a_time`` are taken here, in (room, visitor) order, so two
    processes' batches cannot deadlock and see each other's rows once they hold them. MySQL's named
    locks outlive no transaction: there the caller uses ``enter`` per socket instead. A row that
    exists after all fails the insert: the caller tries again one socket at a time, not fresh."""
    assert connection.vendor != "mysql" and connection.in_atomic_block, "a transaction, not on MySQL"
    named: dict[str, set[str]] = {}  # room -> visitors entering it
    for entry in entering:
        if entry.identity is not None:
            named.setdefault(entry.room, set()).add(entry.identity.visitor)
    if connection.vendor == "postgresql":
        lock_people({(room, visitor) for room, visitors in named.items() for visitor in visitors})
    here: set[tuple[str, str]] = set()  # (room, visitor) with a row before these
    table = connection.ops.quote_name(Presence._meta.db_table)
    for room, visitors in named.items():  # written out, as in snapshot()
        listed = ", ".join(["%s"] * len(visitors))
        sql = f"SELECT DISTINCT visitor FROM {table} WHERE room_name = %s AND visitor IN ({listed})"
        with connection.cursor() as cursor:
            cursor.execute(sql, [room, *visitors])
            here.update((room, visitor) for (visitor,) in cursor.fetchall())
    arrived = []
    rows: list[Any] = []  # each row's values, as the database adapter takes them
    adapt_time = connection.ops.adapt_datetimefield_value
    ip_field = Presence._meta.get_field("ip")
    for entry in entering:
        identity = entry.identity
        if identity is None:
            arrived.append(True)
            visitor, name, staff = READER, "", False
        else:
            visitor, name, staff = identity.visitor, identity.name, identity.staff
            arrived.append((entry.room, visitor) not in here)
            here.add((entry.room, visitor))
        ip = None if entry.ip is None else ip_field.get_db_prep_save(entry.ip, connection)
        rows += (entry.room, entry.channel_name, visitor, name, staff, ip, adapt_time(entry.now))
    # Written out: the ORM's bulk_create spent three times as long preparing the values (field by
    # field, row by row) as the database took to insert them.
    for start in range(0, len(entering), _INSERT_ROWS_AT_MOST):
        chunk = rows[start * len(_ROW_COLUMNS) : (start + _INSERT_ROWS_AT_MOST) * len(_ROW_COLUMNS)]
        count = len(chunk) // len(_ROW_COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute(_insert_rows_sql(count), chunk)
    return arrived


_ROW_COLUMNS = ("room_name", "channel_name", "visitor", "name", "staff", "ip", "last_seen")
# Rows per INSERT: SQLite builds before 3.32 take at most 999 parameters in one statement.
_INSERT_ROWS_AT_MOST = 999 // len(_ROW_COLUMNS)


def _insert_rows_sql(count: int) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column_of(Presence, column)) for column in _ROW_COLUMNS)
    values = ", ".join(["(" + ", ".join(["%s"] * len(_ROW_COLUMNS)) + ")"] * count)
    return f"INSERT INTO {quote(Presence._meta.db_table)} ({columns}) VALUES {values}"


def _put_row(room: str, channel_name: str, fresh: bool, **fields: object) -> bool:
    """The socket's row in the room, with ``fields``; True when it is a new row. Only this socket
    writes its rows (one frame at a time), so the update and the insert need no lock between them:
    cheaper than ``update_or_create`` (a select, a savepoint and the insert) on every join."""
    if not fresh and Presence.objects.filter(room_name=room, channel_name=channel_name).update(**fields):
        return False
    Presence.objects.create(room_name=room, channel_name=channel_name, **fields)
    return True


def leave(*, room: str, channel_name: str) -> Departure | None:
    """Forget the socket in the room. What the room must be told: the person, when this was their
    last socket there; a departure without a person for a reader; None when nothing changed."""
    row = Presence.objects.filter(room_name=room, channel_name=channel_name).first()
    if row is None:
        return None
    if row.visitor == READER:  # readers have no first-in, last-out decision to serialise
        deleted, _ = Presence.objects.filter(pk=row.pk).delete()
        return Departure(room, None) if deleted else None
    with _one_at_a_time(room, row.visitor):
        deleted, _ = Presence.objects.filter(pk=row.pk).delete()
        if not deleted:
            return None  # another leave of this socket (the sweep, say) removed it and told the room
        still_here = Presence.objects.filter(room_name=room, visitor=row.visitor).exists()
    return None if still_here else Departure(room, Person(row.visitor, row.name, row.staff))


# How long a MySQL/MariaDB presence change waits for another change of the same person in the same
# room (each holds the lock for a few milliseconds); past it the change fails like any database error.
NAMED_LOCK_TIMEOUT_SECS = 10


# PostgreSQL: the transaction-scoped lock on one (room, visitor) pair's presence.
LOCK_PERSON_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


def lock_people(pairs: set[tuple[str, str]]) -> None:
    """PostgreSQL: ``_one_at_a_time``'s lock on each (room, visitor) pair, in sorted order (a global
    order: two transactions taking overlapping sets cannot deadlock), until the transaction ends.
    Taking a lock the transaction holds already does not wait."""
    with connection.cursor() as cursor:
        for room, visitor in sorted(pairs):
            cursor.execute(LOCK_PERSON_SQL, [f"presence:{room}:{visitor}"])


@contextmanager
def _one_at_a_time(room: str, visitor: str) -> Iterator[None]:
    """A transaction in which no other enter or leave of this person in this room is under way.
    SQLite's transactions (IMMEDIATE) already run one at a time; PostgreSQL's and MySQL's run side
    by side, and two tabs opened (closed) at the same moment would each see the other still absent
    (still there): both announced as arrivals, or no departure at all. So those two take a lock on
    the (room, visitor) pair: PostgreSQL a transaction-scoped advisory lock; MySQL/MariaDB a named
    lock (GET_LOCK), which belongs to the connection, not the transaction, so it is released
    after the commit (or rollback) in ``finally``."""
    key = f"presence:{room}:{visitor}"
    if connection.vendor != "mysql":
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(LOCK_PERSON_SQL, [key])
            yield
        return
    # Lock names are at most 64 characters; a room name and a visitor id together may be longer.
    name = "backchannel:" + hashlib.sha256(key.encode()).hexdigest()[:48]
    with connection.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, %s)", [name, NAMED_LOCK_TIMEOUT_SECS])
        (granted,) = cursor.fetchone()
    if granted != 1:
        raise OperationalError(f"presence: no lock on {key} within {NAMED_LOCK_TIMEOUT_SECS} s")
    try:
        with transaction.atomic():
            yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT RELEASE_LOCK(%s)", [name])


def leave_all(*, channel_name: str) -> list[Departure]:
    """Forget a closed socket everywhere; who is gone from which room as a result."""
    rooms = list(Presence.objects.filter(channel_name=channel_name).values_list("room_name", flat=True))
    departures = [leave(room=room, channel_name=channel_name) for room in rooms]
    return [departure for departure in departures if departure is not None]


def leave_many(*, channel_names: list[str]) -> list[str]:
    """Forget many sockets at once (a process shutting down): one delete, not one transaction per
    socket and room. The rooms they were in, each to be told once who is left."""
    rows = Presence.objects.filter(channel_name__in=channel_names)
    rooms = sorted(set(rows.values_list("room_name", flat=True)))
    rows.delete()
    return rooms


def touch(*, channel_name: str, now: datetime) -> None:
    """The socket is alive (it pinged): keep its rows from being swept."""
    Presence.objects.filter(channel_name=channel_name).update(last_seen=now)


def sweep_stale(*, now: datetime, stale_secs: int) -> list[Departure]:
    """Remove rows of sockets not seen for ``stale_secs`` (their process died without cleaning up)."""
    cutoff = now - timedelta(seconds=stale_secs)
    stale = Presence.objects.filter(last_seen__lt=cutoff).values_list("room_name", "channel_name")
    departures = [leave(room=room, channel_name=channel_name) for room, channel_name in stale]
    return [departure for departure in departures if departure is not None]


def snapshot(*, room: str, list_limit: int) -> Snapshot:
    """Who is in the room. Every join reads one: the counts are two statements over the
    (room_name, visitor) index, written out (the ORM spent longer building its aggregate than the
    database counting); the list only when the room is within ``list_limit``."""
    table = connection.ops.quote_name(Presence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE room_name = %s AND visitor = %s", [room, READER])
        (readers,) = cursor.fetchone()
        people_sql = f"SELECT DISTINCT visitor FROM {table} WHERE room_name = %s AND visitor <> %s"
        cursor.execute(f"SELECT COUNT(*) FROM ({people_sql}) people", [room, READER])
        (online,) = cursor.fetchone()
    if online > list_limit:
        return Snapshot(online, None, readers)
    people: dict[str, Person] = {}
    rows = Presence.objects.filter(room_name=room).exclude(visitor=READER)
    for visitor, name, staff in rows.values_list("visitor", "name", "staff"):
        people.setdefault(visitor, Person(visitor, name, staff))
    by_name = sorted(people.values(), key=lambda person: (person.name.casefold(), person.visitor))
    return Snapshot(len(people), by_name, readers)


def online_counts(*, rooms: list[str]) -> dict[str, int]:
    """``online_count`` of each room (as in ``snapshot``; 0 for an empty or unknown room), in one query."""
    counted = (
        Presence.objects.filter(room_name__in=rooms)
        .exclude(visitor=READER)
        .values("room_name")
        .annotate(online=Count("visitor", distinct=True))
        .values_list("room_name", "online")
    )
    found = dict(counted)
    return {room: found.get(room, 0) for room in rooms}


# --- What moderators need to know (chat.moderation) ----------------------------------------------


def staff_addresses() -> set[str]:
    """Addresses signed-in staff are online from: never banned or muted (an office, a campus)."""
    addresses = Presence.objects.filter(staff=True, ip__isnull=False).values_list("ip", flat=True).distinct()
    return {ip for ip in addresses if ip is not None}  # none is; the filter is in SQL


def online_from_address(*, ip: str) -> int:
    """People (distinct named visitors) plus readers (sockets without a name) online from ``ip``."""
    counts = Presence.objects.filter(ip=ip).aggregate(
        people=Count("visitor", distinct=True, filter=~Q(visitor=READER)),
        readers=Count("channel_name", distinct=True, filter=Q(visitor=READER)),
    )
    return counts["people"] + counts["readers"]


def sockets_of(*, visitor: str, ip: str | None) -> int:
    """Open sockets (that joined a room) of ``visitor``, or from ``ip`` as well when given."""
    target = Q(visitor=visitor) if ip is None else Q(visitor=visitor) | Q(ip=ip)
    return Presence.objects.filter(target).values("channel_name").distinct().count()


def sockets_in_room(*, room: str) -> int:
    """Open sockets reading ``room``, people and readers alike."""
    return Presence.objects.filter(room_name=room).count()
